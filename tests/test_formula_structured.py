"""lme4 2.x's covariance calls in formulas: ``us()``, ``diag()``, ``cs()``, ``ar1()``.

Expectations from lme4 2.1.0 / reformulas 0.4.5 are in tests/reference/formula_structured.json
(made by tests/reference/r/formula_structured.R; no R at test time): the printed formula
(``deparse`` after ``expandDoubleVerts``), each term's structure, bar, grouping factor, left
side and ``hom`` as lme4's ``findbars_x``/``upReTrms`` read them, the fixed part and the model
frame's variables. Where lme4 silently fits something other than was written (the structure
dropped, an argument ignored), lmerpy stops with a FormulaError naming the culprit; those
cases are tested against the golden too, to show what lme4 would have done.
"""
import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import lmerpy
from lmerpy.design.covariance import STRUCTURES, make_covariance
from lmerpy.errors import FormulaError
from lmerpy.formula import findbars, nobars, parse_formula
from lmerpy.formula.deparse import deparse
from lmerpy.formula.terms import COVARIANCE_CALLS
from lmerpy.inference.reform import NA, parse_re_form
from lmerpy.warnings import DesignWarning

REF = json.loads((Path(__file__).parent / "reference" / "formula_structured.json").read_text())
CASES = {c["formula"]: c for c in REF["cases"]}

#: Formulas lme4 2.1 accepts but reads otherwise than written: the culprit lmerpy's
#: FormulaError names, and the structures lme4 fits instead.
REFUSED = {
    "Reaction ~ Days + diag(Days || Subject)": ("'||' inside 'diag(Days || Subject)'",
                                                ["us", "us"]),
    "Reaction ~ Days + cs(Days || Subject)": ("'||' inside 'cs(Days || Subject)'", ["us", "us"]),
    "Reaction ~ Days + cs((Days | Subject))": ("in parentheses", ["us"]),
    "Reaction ~ Days + cs(hom = TRUE, Days | Subject)": ("'hom' comes before", ["us"]),
    # lme4 ignores the argument (the term is cs all the same)
    "Reaction ~ Days + cs(Days | Subject, foo = 1)": ("unknown argument 'foo'", ["cs"]),
    "Reaction ~ Days + cs(Days | Subject, TRUE)": ("unexpected argument 'TRUE'", ["cs"]),
}
#: lme4 2.1 stops with "'hom' is not TRUE or FALSE in special call"; so does lmerpy.
HOM_ERRORS = {
    "Reaction ~ Days + cs(Days | Subject, hom = 1)": "hom = 1",
    "Reaction ~ Days + cs(Days | Subject, hom = NA)": "hom = NA",
}
#: lme4 2.1 does not evaluate the symbol T (its error); lmerpy reads T/F as TRUE/FALSE.
HOM_T = "Reaction ~ Days + cs(Days | Subject, hom = T)"
ACCEPTED = [f for f in CASES if f not in REFUSED and f not in HOM_ERRORS and f != HOM_T]


def test_reference_is_lme4_2():
    assert REF["lme4_version"].startswith("2.1")
    assert len(ACCEPTED) >= 30
    assert set(REFUSED) | set(HOM_ERRORS) | {HOM_T} <= set(CASES)


def test_the_calls_are_the_covariance_types():
    assert set(COVARIANCE_CALLS) == set(STRUCTURES)


# --------------------------------------------------------------------------- against lme4 2.1


def _bars(f):
    return [{"special": t.structure, "text": f"{t.lhs_text} | {deparse(t.group_expr)}",
             "group": t.group_label, "lhs_labels": list(t.lhs.labels),
             "lhs_intercept": int(t.lhs.intercept), "hom": t.hom} for t in f.random]


@pytest.mark.parametrize("text", ACCEPTED)
def test_terms_match_lme4_findbars_x(text):
    case = CASES[text]
    assert _bars(parse_formula(text)) == case["bars"]


@pytest.mark.parametrize("text", ACCEPTED)
def test_printed_formula_matches_lme4(text):
    f = parse_formula(text)
    assert f.deparse_lines() == CASES[text]["deparse"]
    assert f.deparse() == " ".join(CASES[text]["deparse"]) or len(CASES[text]["deparse"]) > 1


@pytest.mark.parametrize("text", ACCEPTED)
def test_fixed_part_and_frame_match_lme4(text):
    case = CASES[text]
    f = parse_formula(text)
    assert list(f.fixed.labels) == case["term_labels"]
    assert int(f.fixed.intercept) == case["intercept"]
    assert nobars(f).deparse_lines() == case["nobars"]
    assert [deparse(v) for v in f.frame_variables] == case["frame_variables"]


@pytest.mark.parametrize("text", ACCEPTED)
def test_printed_formula_parses_back_to_the_same_terms(text):
    f = parse_formula(text)
    again = parse_formula(f.deparse())
    # the same terms (double_bar records the '||' that the printed formula has expanded)
    assert [replace(t, double_bar=False) for t in again.random] == [
        replace(t, double_bar=False) for t in f.random]
    assert again.deparse() == f.deparse()


@pytest.mark.parametrize("text", ACCEPTED)
def test_each_term_deparses_to_a_term_that_parses_back(text):
    for t in parse_formula(text).random:
        (back,) = findbars("~" + t.deparse())
        assert (back.structure, back.hom, back.special) == (t.structure, t.hom, t.special)
        assert (back.lhs, back.group) == (t.lhs, t.group)


@pytest.mark.parametrize("text", sorted(REFUSED))
def test_lme4_would_fit_another_model_lmerpy_refuses(text):
    culprit, lme4_reads = REFUSED[text]
    assert [b["special"] for b in CASES[text]["bars"]] == lme4_reads
    with pytest.raises(FormulaError) as e:
        parse_formula(text)
    assert culprit in str(e.value)


@pytest.mark.parametrize("text", sorted(HOM_ERRORS))
def test_hom_that_is_not_true_or_false_is_lme4s_error(text):
    assert CASES[text]["bars"][0]["hom"] == "error"
    with pytest.raises(FormulaError) as e:
        parse_formula(text)
    assert "'hom' is not TRUE or FALSE in special call" in str(e.value)
    assert HOM_ERRORS[text] in str(e.value)


def test_hom_T_is_read_as_TRUE_where_lme4_stops():
    assert CASES[HOM_T]["bars"][0]["hom"] == "error"
    f = parse_formula(HOM_T)
    assert [(t.structure, t.hom) for t in f.random] == [("cs", True)]
    assert f.deparse() == HOM_T            # printed as written


# --------------------------------------------------------------------------- attributes


@pytest.mark.parametrize("text, structure, hom", [
    ("y ~ (x | g)", "us", None),
    ("y ~ us(x | g)", "us", None),
    ("y ~ diag(x | g)", "diag", None),
    ("y ~ diag(x | g, hom = TRUE)", "diag", True),
    ("y ~ diag(x | g, hom = F)", "diag", False),
    ("y ~ cs(x | g, hom = FALSE)", "cs", False),
    ("y ~ cs(x | g, hom = T)", "cs", True),
    ("y ~ ar1(0 + f | g)", "ar1", None),
    ("y ~ ar1(0 + f | g, hom = FALSE)", "ar1", False),
    ("y ~ ar1(0 + f | g, hom = TRUE)", "ar1", True),
])
def test_structure_and_hom_attributes(text, structure, hom):
    (t,) = parse_formula(text).random
    assert t.structure == structure
    assert t.hom is hom
    assert t.special is (not text.startswith("y ~ ("))


def test_plain_terms_keep_their_attributes_and_the_old_printing():
    f = parse_formula("Reaction ~ Days + (Days || Subject)")
    assert [(t.structure, t.hom, t.special, t.double_bar) for t in f.random] == [
        ("us", None, False, True), ("us", None, False, True)]
    assert not f.has_specials
    assert [t.deparse() for t in f.random] == ["(1 | Subject)", "(0 + Days | Subject)"]


def test_has_specials_for_any_covariance_call_us_included():
    assert parse_formula("y ~ x + us(x | g)").has_specials
    assert parse_formula("y ~ x + (1 | h) + cs(1 | g)").has_specials
    assert not parse_formula("y ~ x + (x | g)").has_specials


def test_structure_changes_equality_of_terms():
    a = parse_formula("y ~ cs(x | g)").random[0]
    b = parse_formula("y ~ (x | g)").random[0]
    c = parse_formula("y ~ cs(x | g, hom = TRUE)").random[0]
    assert a != b and a != c and len({a, b, c}) == 3


def test_term_deparse_keeps_the_call():
    f = parse_formula("y ~ cs(1 + x | g, hom = T) + ar1(0 + f | a/b) + us(x || h)")
    assert [t.deparse() for t in f.random] == [
        "cs(1 + x | g, hom = TRUE)", "ar1(0 + f | b:a)", "ar1(0 + f | a)", "us(1 | h)",
        "us(0 + x | h)"]
    assert [t.double_bar for t in f.random] == [False, False, False, True, True]


# --------------------------------------------------------------------------- order


def test_terms_in_written_order_with_nesting_and_splits_in_place():
    f = parse_formula("y ~ cs(x | g) + (1 | a/b) + us(z || h) + ar1(0 + f | s/t, hom = FALSE)")
    assert [(t.structure, t.group_label, t.lhs_text) for t in f.random] == [
        ("cs", "g", "x"), ("us", "b:a", "1"), ("us", "a", "1"), ("us", "h", "1"),
        ("us", "h", "0 + z"), ("ar1", "t:s", "0 + f"), ("ar1", "s", "0 + f")]
    assert [t.hom for t in f.random] == [None] * 5 + [False, False]


def test_nesting_with_hom_expands_where_lme4_cannot():
    # reformulas' expandAllGrpVar leaves ar1(... | s/t, hom = FALSE) whole (a call of length
    # 3 is not expanded) and lme4 then fails on the grouping factor s/t; lmerpy nests.
    f = parse_formula("y ~ ar1(0 + f | s/t, hom = FALSE)")
    assert [(t.group_label, t.hom) for t in f.random] == [("t:s", False), ("s", False)]


def test_design_orders_mixed_structures_by_levels_as_lme4():
    rng = np.random.default_rng(1)
    n = 400
    import pandas as pd
    d = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                      "site": np.repeat([f"s{i}" for i in range(5)], 80),
                      "item": np.tile([f"i{i:02d}" for i in range(16)], 25),
                      "subj": np.repeat([f"p{i:02d}" for i in range(40)], 10),
                      "time": np.tile([f"t{i}" for i in range(5)], 80)})
    lf = lmerpy.lFormula("y ~ x + diag(1 + x | item) + ar1(0 + time | subj) + (1 | site)", d)
    # mkReTrms: rev(order(nl)) -> subj (40), item (16), site (5)
    assert [t.group_name for t in lf.reterms] == ["subj", "item", "site"]
    assert [t.cnms for t in lf.reterms] == [["timet0", "timet1", "timet2", "timet3", "timet4"],
                                            ["(Intercept)", "x"], ["(Intercept)"]]


STRUCTURED = Path(__file__).parent / "reference" / "structured"
FIT_GOLDENS = [json.loads(p.read_text()) for p in sorted(STRUCTURED.glob("*.json"))]
FIT_GOLDENS = [g for g in FIT_GOLDENS if g.get("kind") == "fit" and "terms" in g]


def _golden_data(name):
    """The oracle's data set: bundled in lmerpy, or structured/data/NAME.csv.gz + levels."""
    path = STRUCTURED / "data" / f"{name}.csv.gz"
    if not path.exists():
        return lmerpy.datasets.load(name)
    import pandas as pd
    df = pd.read_csv(path)
    meta = json.loads((STRUCTURED / "data" / f"{name}.levels.json").read_text())
    for col, levels in meta["levels"].items():
        df[col] = pd.Categorical(df[col].astype(str), categories=list(levels),
                                 ordered=col in (meta.get("ordered") or []))
    return df


def _lme4_text(t):
    hom = "" if t.hom is None else f", hom = {'TRUE' if t.hom else 'FALSE'}"
    return f"{t.structure}({t.lhs_text} | {deparse(t.group_expr)}{hom})"


@pytest.mark.parametrize("g", FIT_GOLDENS, ids=[g["id"] for g in FIT_GOLDENS])
def test_terms_and_their_order_match_lme4_fits(g):
    f = parse_formula(g["formula"])
    # findbars_x's terms in formula order (a plain term is lme4's default special us)
    assert [_lme4_text(t) for t in f.random] == g["formula_terms"]
    # mkReTrms' order (rev(order(nl))): each term keeps its structure, as lme4 2.0-6 fixed
    # for terms of different types (GH #945)
    reordered = [f.random[i - 1] for i in g["term_order"]]
    want = [(t["group"], t["structure"], t["hom"]) for t in g["terms"]]
    assert [(t.group_label, t.structure, make_covariance(t.structure, 1, t.hom).hom)
            for t in reordered] == want
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DesignWarning)        # ar1 over numeric columns
        data = _golden_data(g["data"])
        lf = (lmerpy.lFormula(g["formula"], data) if g["fn"] == "lmer" else
              lmerpy.glFormula(g["formula"], data, family=g["family"]))
    assert [(t.group_name, list(t.cnms)) for t in lf.reterms] == [
        (t["group"], t["columns"]) for t in g["terms"]]
    by_label = {f"{t.lhs_text} | {t.group_label}": t for t in f.random}
    assert [by_label[t.term_label].structure for t in lf.reterms] == [
        t["structure"] for t in g["terms"]]


ERROR_GOLDENS = [json.loads(p.read_text()) for p in sorted(STRUCTURED.glob("error_*.json"))]


@pytest.mark.parametrize("g", ERROR_GOLDENS, ids=[g["id"] for g in ERROR_GOLDENS])
def test_lme4s_errors_on_bad_calls(g):
    msg = g["expect_error"]
    if g["formula"] == HOM_T:                  # lmerpy reads T as TRUE (see above)
        assert msg == "'hom' is not TRUE or FALSE in special call"
        assert parse_formula(g["formula"]).random[0].hom is True
        return
    with pytest.raises(FormulaError) as e:
        parse_formula(g["formula"])
    if "toep" in g["formula"]:                 # R: could not find function "toep"
        assert msg == 'could not find function "toep"'
        assert "inside the call 'toep()'" in str(e.value)
    else:
        assert msg in str(e.value)


def test_fit_goldens_cover_mixed_structures():
    ids = {g["id"] for g in FIT_GOLDENS}
    assert {"long_mixed_types", "long_mixed_het", "long_nested_ar1"} <= ids
    assert len(ERROR_GOLDENS) >= 4


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("text, culprit", [
    ("y ~ cs(x | g, hom = 1)", "hom = 1"),
    ("y ~ cs(x | g, hom = NA)", "hom = NA"),
    ('y ~ cs(x | g, hom = "TRUE")', 'hom = "TRUE"'),
    ("y ~ cs(x | g, hom = (TRUE))", "hom = (TRUE)"),
    ("y ~ cs(x | g, hom = TRUE | FALSE)", "hom = TRUE | FALSE"),
    ("y ~ ar1(0 + f | g, hom = yes)", "hom = yes"),
])
def test_hom_must_be_a_literal(text, culprit):
    with pytest.raises(FormulaError) as e:
        parse_formula(text)
    msg = str(e.value)
    assert "'hom' is not TRUE or FALSE in special call" in msg and culprit in msg


@pytest.mark.parametrize("text, culprit", [
    ("y ~ cs(x | g, foo = 1)", "unknown argument 'foo'"),
    ("y ~ diag(x | g, hom = TRUE, n = 2)", "unknown argument 'n'"),
    ("y ~ cs(x | g, TRUE)", "unexpected argument 'TRUE'"),
    ("y ~ ar1(0 + f | g, f)", "unexpected argument 'f'"),
    ("y ~ cs(x | g, hom = TRUE, hom = FALSE)", "argument 'hom' given twice"),
    ("y ~ us(x | g, hom = TRUE)", "us() has no argument 'hom'"),
    ("y ~ cs(hom = TRUE, x | g)", "'hom' comes before the random-effects term"),
    ("y ~ cs((x | g))", "is in parentheses"),
    ("y ~ cs(1 + (x | g))", "not a random-effects term 'x | g' but '1 + (x | g)'"),
    ("y ~ diag((1 | g) + (0 + x | g))", "not a random-effects term"),
    ("y ~ us(1 + (x | g))", "not a random-effects term 'x | g' but '1 + (x | g)'"),
    ("y ~ cs(x || g)", "'||' inside 'cs(x || g)'"),
    ("y ~ diag(x || g)", "'||' inside 'diag(x || g)'"),
    ("y ~ ar1(0 + f || g, hom = TRUE)", "'||' inside 'ar1(0 + f || g, hom = TRUE)'"),
    ("y ~ us(x || g, hom = TRUE)", "us() has no argument 'hom'"),
    ("y ~ x * cs(1 | g)", "'cs(1 | g)' inside 'x * cs(1 | g)' (operator '*')"),
    ("y ~ log(diag(1 | g))", "'diag(1 | g)' inside the call 'log()'"),
    ("y ~ x - cs(1 | g)", "inside the removal '- cs(1 | g)'"),
    ("y ~ cs(x | (a | b))", "nested bars: 'a | b'"),
    ("y ~ us((1 | g) + (x | (a | b)))", "nested bars: 'a | b'"),
    ("cs(x | g) ~ x", "the response 'cs(x | g)'"),
    ("y ~ cs(. | g)", "'.' is not allowed"),
])
def test_bad_covariance_calls_name_the_culprit(text, culprit):
    with pytest.raises(FormulaError) as e:
        parse_formula(text)
    assert culprit in str(e.value)


def test_an_unknown_structure_lists_lme4s():
    with pytest.raises(FormulaError) as e:
        parse_formula("y ~ toep(x | g)")
    msg = str(e.value)
    assert "inside the call 'toep()'" in msg
    assert "us(), diag(), cs(), ar1()" in msg


def test_a_covariance_name_without_a_bar_is_an_ordinary_call():
    f = parse_formula("y ~ cs(x) + diag(z)")
    assert f.random == () and f.fixed.labels == ("cs(x)", "diag(z)")


# --------------------------------------------------------------------------- re_form


def test_re_form_reads_covariance_calls():
    sel = parse_re_form("~cs(1 + Days | Subject, hom = TRUE) + (1 | g)")
    assert [(t.structure, t.hom, t.group_label) for t in sel] == [
        ("cs", True, "Subject"), ("us", None, "g")]
    assert parse_re_form("~ar1(0 + f | g)")[0].structure == "ar1"
    assert parse_re_form("~0") is NA


def test_re_form_with_a_call_selects_as_the_plain_bar():
    sleep = lmerpy.datasets.load("sleepstudy")
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    nd = sleep.iloc[[0, 15, 33]]
    full = fit.predict(nd)
    plain = fit.predict(nd, re_form="~(1 | Subject)")
    for text in ("~us(1 | Subject)", "~cs(1 | Subject)", "~diag(1 | Subject, hom = TRUE)"):
        np.testing.assert_array_equal(fit.predict(nd, re_form=text), plain)
    np.testing.assert_array_equal(fit.predict(nd, re_form="~cs(Days | Subject)"), full)
    assert not np.allclose(plain, full)
