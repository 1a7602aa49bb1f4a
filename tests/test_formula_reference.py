"""lmerpy.formula against R and lme4 (expectations in tests/reference/formula_terms.json,
made by tests/reference/r/formula_terms.R with R 4.2 and lme4 1.1-31; no R at test time).

Every comparison is exact: term labels, the intercept, offsets and variables are R's
``terms(nobars(f))``; the bars are lme4's ``findbars(f)``; the printed formula is
``deparse(expandDoubleVerts(f))`` line for line; the model-frame variables are
``terms(subbars(f))``.
"""
import json
from pathlib import Path

import pytest

from lmerpy.formula import expand_dot, nobars, parse_formula
from lmerpy.formula.deparse import deparse, deparse_formula_expr, format_number
from lmerpy.formula.terms import BinOp, Name, Number, UnaryOp

REF = json.loads((Path(__file__).parent / "reference" / "formula_terms.json").read_text())
CASES = REF["cases"]


def _parsed(case):
    f = parse_formula(case["formula"])
    if case["data_columns"]:
        f = expand_dot(f, case["data_columns"])
    return f


def test_reference_has_enough_cases():
    assert len(CASES) >= 40
    assert REF["lme4_version"].startswith("1.1")


@pytest.mark.parametrize("case", CASES, ids=[c["formula"] for c in CASES])
def test_fixed_terms_match_r(case):
    f = _parsed(case)
    assert list(f.fixed.labels) == case["term_labels"]
    assert int(f.fixed.intercept) == case["intercept"]
    assert [deparse(o) for o in f.fixed.offsets] == case["offsets"]
    assert [deparse(v) for v in f.fixed.variables] == case["variables"]
    expected_response = case["response"]
    assert (deparse(f.response) if f.response is not None else None) == expected_response
    assert not f.fixed.has_dot


@pytest.mark.parametrize("case", CASES, ids=[c["formula"] for c in CASES])
def test_bars_match_lme4_findbars(case):
    f = _parsed(case)
    got = [(r.deparse(), r.group_label, list(r.lhs.labels), int(r.lhs.intercept))
           for r in f.random]
    want = [("(" + b["text"] + ")", b["group"], b["lhs_labels"], b["lhs_intercept"])
            for b in case["bars"]]
    assert got == want


@pytest.mark.parametrize("case", CASES, ids=[c["formula"] for c in CASES])
def test_printed_formula_matches_r_deparse(case):
    f = _parsed(case)
    assert f.deparse_lines() == case["deparse"]
    if len(case["deparse"]) == 1:
        assert f.deparse() == case["deparse"][0]
    assert nobars(f).deparse_lines() == case["nobars"]


@pytest.mark.parametrize("case", CASES, ids=[c["formula"] for c in CASES])
def test_model_frame_variables_match_subbars(case):
    f = _parsed(case)
    assert [deparse(v) for v in f.frame_variables] == case["frame_variables"]


@pytest.mark.parametrize("item", REF["numbers"], ids=[n["deparse"] for n in REF["numbers"]])
def test_number_formatting_matches_r(item):
    assert format_number(float(item["value"])) == item["deparse"]


def _build(spec):
    if isinstance(spec, list):
        op, *args = spec
        args = [_build(a) for a in args]
        if len(args) == 1 and op in ("-", "+", "!", "~"):
            return UnaryOp(op, args[0])
        if len(args) == 2:
            return BinOp(op, args[0], args[1])
        from lmerpy.formula.terms import Call
        return Call(op, tuple(args))
    if isinstance(spec, str):
        return Name(spec)
    return Number(float(spec), format_number(float(spec)))


@pytest.mark.parametrize("item", REF["constructed"], ids=[c["deparse"] for c in REF["constructed"]])
def test_parentheses_added_like_r_needsparens(item):
    assert deparse_formula_expr(_build(item["spec"])) == item["deparse"]
