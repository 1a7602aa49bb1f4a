"""Property: random formulas drawn from the grammar parse, and parsing the printed formula
gives the same model (response, fixed terms, intercept, offsets, random terms)."""
from hypothesis import given, settings
from hypothesis import strategies as st

from lmerpy.formula import parse_formula

NAMES = ["x", "z", "w", "a", "b", "f", "total.fruits", "x_1", "`my var`", "T", ".hidden"]
GROUPS = ["g", "h", "Subject", "`my g`", "batch", "cask"]
CALLS = [
    "log({})", "log({} + 1)", "exp({})", "sqrt({})", "abs({})", "scale({})", "factor({})",
    "I({}^2)", "I({} * 2L)", "I(-{})", "poly({}, 2)", "poly({}, 2, raw = TRUE)",
    "I(({} + 1)^2)", "I({} > 0)", "splines::ns({}, df = 3)", "I({}^-1)", "I({} %% 3)",
    "I(1e5 * {})", "interaction({}, z)",
]

name = st.sampled_from(NAMES)
atom = st.one_of(name, st.builds(str.format, st.sampled_from(CALLS), name))


def op(symbol):
    return st.sampled_from([symbol, f" {symbol} ", f"{symbol} "])


def _join(*parts):
    return st.tuples(*parts).map("".join)


term = st.recursive(
    atom,
    lambda inner: st.one_of(
        _join(inner, op(":"), inner),
        _join(inner, op("*"), inner),
        _join(inner, op("/"), inner),
        _join(inner, st.just(" %in% "), inner),
        _join(st.just("("), inner, op("+"), inner, st.just(")")),
        _join(st.just("("), inner, op("+"), inner, st.just(")"), st.sampled_from(["^2", "^3"])),
    ),
    max_leaves=4)

LHS = ["1", "0 + {0}", "{0}", "1 + {0}", "{0} + {1}", "{0} - 1", "log({0})", "{0}:{1}",
       "{0} * {1}"]
GROUPINGS = ["{0}", "{0}:{1}", "{0}/{1}", "{0}/{1}/{2}", "({0})"]
bar = st.builds(
    lambda lhs, names, sep, grouping, groups:
        "(" + lhs.format(*names) + sep + grouping.format(*groups) + ")",
    st.sampled_from(LHS), st.lists(name, min_size=2, max_size=2),
    st.sampled_from(["|", "||", " | ", " || "]), st.sampled_from(GROUPINGS),
    st.lists(st.sampled_from(GROUPS), min_size=3, max_size=3))

item = st.one_of(
    _join(op("+"), term), _join(op("+"), term), _join(op("+"), bar), _join(op("-"), term),
    st.sampled_from(["+ 0", "- 1", "+ 1", "- 0", "+ .", " + ."]),
    st.builds("+ offset(log({}))".format, name))

formula = st.builds(
    lambda response, first, rest, prefix:
        ("" if response is None else response + " ") + "~ " + prefix + first + "".join(rest),
    st.sampled_from([None, "y", "log(y)", "cbind(s, n - s)", "s/n", "I(y/10)", "`y var`"]),
    st.one_of(term, bar), st.lists(item, max_size=4),
    st.sampled_from(["", "", "0 + ", "1 + ", "-1 + "]))


def _model(f):
    return (f.response, f.fixed,
            [(r.lhs, r.group, r.lhs_text, r.group_label) for r in f.random])


@settings(max_examples=200, deadline=None)
@given(formula)
def test_printed_formula_parses_to_the_same_model(text):
    f = parse_formula(text)
    again = parse_formula(str(f))
    assert _model(again) == _model(f)
    assert again.deparse() == f.deparse()
    # R's multi-line deparse (as lme4 prints long formulas) parses back too
    wrapped = parse_formula(" ".join(f.deparse_lines()))
    assert _model(wrapped) == _model(f)
