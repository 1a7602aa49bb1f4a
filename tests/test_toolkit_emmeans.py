"""emmeans and pairs against emmeans 1.8.4-1 + pbkrtest 0.5.2 with lme4 1.1-31
(tests/reference/toolkit/emmeans, made by make_emmeans.R), at lme4's θ̂.

Tolerances: estimates, SEs and confidence limits 1e-6 relative; Kenward–Roger and
Satterthwaite df 1e-4 relative (the issue's acceptance); t/z ratios 1e-6; p-values 1e-5
relative or 1e-9 absolute (Tukey's from scipy's studentized range, R's ptukey). GLMMs (at
lme4's (θ̂, β̂)): their standard errors come from finite-difference Hessians, lmerpy's and
lme4's, so SEs, z ratios and limits 2e-5 (link-scale limits through their half-width z·SE)
and p-values 1e-3 relative (as test_toolkit_tidy).
"""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy
from _reference import REF, load_case_data
from _toolkit import emmeans_fit, emmeans_ref
from lmerpy.errors import ArgumentError, LmerpyError, UnknownColumnError
from lmerpy.toolkit import contrast, emmeans, pairs

DIR = REF / "toolkit" / "emmeans"
CASES = sorted(p.stem for p in DIR.glob("*.json"))
GLMM_CASES = [c for c in CASES if "family" in json.loads((DIR / f"{c}.json").read_text())]
COLUMN_TOL = {"df": (1e-4, 0.0), "p.value": (1e-5, 1e-9)}


_ref = emmeans_ref
_fit = emmeans_fit


def _em(case, type="link"):
    ref = _ref(case)
    return emmeans(_fit(case), ref["specs"], by=ref["by"], lmer_df=ref["lmer_df"], type=type)


GLMM_TOL = {"SE": (2e-5, 0.0), "z.ratio": (2e-5, 0.0), "asymp.LCL": (2e-5, 0.0),
            "asymp.UCL": (2e-5, 0.0), "p.value": (1e-3, 1e-12)}


def assert_table(got, want, glmm=False):
    assert list(got.columns) == want["names"]
    for name in want["names"]:
        w = want["columns"][name]
        if isinstance(w[0], str):
            assert [str(x) for x in got[name]] == w, name
            continue
        rtol, atol = COLUMN_TOL.get(name, (1e-6, 1e-12))
        if glmm:
            rtol, atol = GLMM_TOL.get(name, (rtol, atol))
        wv = np.array([np.inf if x is None else x for x in w], dtype=float)  # R's Inf df
        gv = got[name].to_numpy(dtype=float)
        if glmm and name in ("asymp.LCL", "asymp.UCL") and "emmean" in want["columns"]:
            # link scale: the half-width z·SE carries the Hessian's error (a limit may be ~0)
            gv = gv - got["emmean"].to_numpy(dtype=float)
            wv = wv - np.array(want["columns"]["emmean"], dtype=float)
        np.testing.assert_allclose(gv, wv, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("case", CASES)
def test_emmeans_table(case):
    ref = _ref(case)
    assert_table(_em(case).table, ref["emmeans"], glmm="family" in ref)


@pytest.mark.parametrize("adjust", ["tukey", "none", "bonferroni"])
@pytest.mark.parametrize("case", CASES)
def test_pairs(case, adjust):
    ref = _ref(case)
    assert_table(pairs(_em(case), adjust=adjust), ref[f"pairs_{adjust}"], glmm="family" in ref)


@pytest.mark.parametrize("case", GLMM_CASES)
def test_emmeans_response_scale(case):
    ref = _ref(case)
    em = _em(case, type="response")
    assert_table(em.table, ref["emmeans_response"], glmm=True)
    assert str(em) == ref["emmeans_response_text"]


def test_contrast_pairwise_is_pairs():
    em = _em("penicillin_treat")
    got = contrast(em, method="pairwise")
    np.testing.assert_array_equal(got["p.value"], pairs(em)["p.value"])
    with pytest.raises(ArgumentError, match="unknown method 'polynomial'"):
        contrast(em, method="polynomial")


@pytest.mark.parametrize("case", CASES)
def test_printed_text_is_emmeans(case):
    # emmeans' own digits rule, column layout, by blocks and annotations, at lme4's optimum
    ref = _ref(case)
    assert str(_em(case)) == ref["emmeans_text"]
    for adjust in ("tukey", "none", "bonferroni"):
        assert str(pairs(_em(case), adjust=adjust)) == ref[f"pairs_{adjust}_text"], adjust


def test_tables_are_dataframes_that_round_to_plain_ones():
    em = _em("penicillin_treat")
    pr = pairs(em)
    assert isinstance(pr, pd.DataFrame) and isinstance(em.table, pd.DataFrame)
    rounded = pr.round(3)
    assert type(rounded) is pd.DataFrame
    assert "contrast" in rounded.to_string()


def test_holm_and_sidak_adjust_the_raw_p_values():
    em = _em("penicillin_treat")
    raw = pairs(em, adjust="none")["p.value"].to_numpy()
    m = raw.size
    np.testing.assert_allclose(pairs(em, adjust="sidak")["p.value"], 1 - (1 - raw) ** m)
    holm = pairs(em, adjust="holm")["p.value"].to_numpy()
    order = np.argsort(raw)
    want = np.maximum.accumulate(np.minimum(1, (m - np.arange(m)) * raw[order]))
    np.testing.assert_allclose(holm[order], want)


@pytest.mark.parametrize("kwargs, error, culprit", [
    ({"specs": "nope"}, UnknownColumnError, "nope"),
    ({"specs": "trt", "at": {"x": "one"}}, ArgumentError, "must be numbers"),
    ({"specs": "trt", "at": {"trt": ["zz"]}}, ArgumentError, "zz is not a level"),
    ({"specs": "trt", "at": {"nope": 1}}, UnknownColumnError, "nope"),
    ({"specs": "trt", "by": 3}, ArgumentError, "by"),
    ({"specs": "trt", "lmer_df": "kr"}, ArgumentError, "lmer_df"),
    ({"specs": "trt", "level": 1.0}, ArgumentError, "level"),
])
def test_bad_arguments(kwargs, error, culprit):
    with pytest.raises(error, match=culprit):
        emmeans(_fit("nested_trt_covariate"), **kwargs)


def test_pairs_bad_arguments():
    with pytest.raises(ArgumentError, match="adjust"):
        pairs(_em("penicillin_treat"), adjust="mvt")
    with pytest.raises(ArgumentError, match="emmeans"):
        pairs("treat")


def test_kenward_roger_needs_reml_and_glmms_refused():
    ref = _ref("nested_trt_covariate")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = lmerpy.lmer(ref["formula"], load_case_data({"data": ref["data"]}), REML=False)
        gm = lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                          lmerpy.datasets.load("cbpp"), family=lmerpy.binomial)
    with pytest.raises(LmerpyError, match="REML"):
        emmeans(ml, "trt")
    assert emmeans(ml, "trt", lmer_df="satterthwaite").table.shape == (3, 6)
    with pytest.raises(ArgumentError, match="lmer_df='kenward-roger' is for linear"):
        emmeans(gm, "period", lmer_df="kenward-roger")
    with pytest.raises(ArgumentError, match="type"):
        emmeans(gm, "period", type="probability")


def test_top_level_names():
    assert lmerpy.emmeans is emmeans and lmerpy.pairs is pairs and lmerpy.contrast is contrast
