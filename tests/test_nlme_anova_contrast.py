"""nlme's anova for gls and lme fits against nlme 3.1-162 (goldens made by
make_nlme_inference.R): ``anova(fit, Terms=)`` and ``anova(fit, L=)`` (anova_terms_L.json), the
sequential and marginal F tables of lme fits with nlme's denominator df (lme_anova.json) and
likelihood-ratio tables of several lme (and gls) fits (lme_anova_lrt.json).

F values and p-values to ``RTOL = 1e-5`` relative; printed text identical at nlme's estimates
(the fits are evaluated at nlme's structure parameters, as tests/test_nlme_gls.py does).
nlme's ``Terms`` positions are 1-based; lmerpy's are 0-based (the tests subtract 1).
"""
import json

import numpy as np
import pandas as pd
import pytest

from lmerpy import nlme
from lmerpy.errors import ArgumentError, LmerpyError

from _nlme_reference import NLME, gls_fit, lme_fit

RTOL = 1e-5
CASES = json.loads((NLME / "anova_terms_L.json").read_text())
LME_TABLES = json.loads((NLME / "lme_anova.json").read_text())
LRT = json.loads((NLME / "lme_anova_lrt.json").read_text())
OK = [c for c in CASES if "error" not in c or c["error"] is None]
ERR = [c for c in CASES if c.get("error")]


def _terms(case):
    t = case["Terms"]
    if t is None:
        return None
    return [int(x) - 1 for x in t] if case["Terms_numeric"] else list(t)


def _L(case):
    spec = case["L"]
    if spec is None:
        return None
    rows = np.array(spec["rows"], dtype=float)
    if spec["colnames"] is None:
        if spec["rownames"] is not None:
            return pd.DataFrame(rows, index=spec["rownames"])
        return rows[0] if spec["vector"] else rows
    if spec["vector"]:
        return pd.Series(rows[0], index=spec["colnames"])
    return pd.DataFrame(rows, columns=spec["colnames"], index=spec["rownames"])


def _call(case, fit):
    kw = {}
    if case["Terms"] is not None:
        kw["Terms"] = _terms(case)
    if case["L"] is not None:
        kw["L"] = _L(case)
    return nlme.anova(fit, **kw)


def _fit(case, at_nlme=True):
    return (lme_fit if case["model"] == "lme" else gls_fit)(case["fit"], at_nlme=at_nlme)


@pytest.mark.parametrize("case", OK, ids=lambda c: c["id"])
def test_terms_and_L_match_nlme(case):
    a = _call(case, _fit(case))
    if case.get("denDF") is not None:
        assert list(a["denDF"]) == case["denDF"]
    assert list(a["numDF"]) == case["numDF"]
    np.testing.assert_allclose(a["F-value"], case["F"], rtol=RTOL)
    np.testing.assert_allclose(a["p-value"], case["p"], rtol=RTOL, atol=1e-300)
    assert str(a) == case["text"]


@pytest.mark.parametrize("case", OK[:4], ids=lambda c: c["id"])
def test_terms_and_L_at_lmerpy_optimum(case):
    a = _call(case, _fit(case, at_nlme=False))
    np.testing.assert_allclose(a["F-value"], case["F"], rtol=RTOL)


def test_terms_as_single_name_or_position_agree():
    fit = gls_fit("ovary_ar1", at_nlme=True)
    a = nlme.anova(fit, Terms="cos(2 * pi * Time)")
    b = nlme.anova(fit, Terms=2)
    c = nlme.anova(fit, L={"cos(2 * pi * Time)": 1.0})
    assert a["F-value"].iloc[0] == pytest.approx(b["F-value"].iloc[0], rel=1e-12)
    assert a["F-value"].iloc[0] == pytest.approx(c["F-value"].iloc[0], rel=1e-12)
    # the terms F test equals the marginal test of that term
    m = nlme.anova(fit, type="marginal")
    assert a["F-value"].iloc[0] == pytest.approx(m["F-value"].iloc[2], rel=1e-10)


@pytest.mark.parametrize("case", ERR, ids=lambda c: c["id"])
def test_bad_terms_and_L_are_errors(case):
    fit = _fit(case)
    word = {"err_terms_range": "between 0 and 2", "err_terms_name": "nope",
            "err_L_columns": "at most 3 columns", "err_L_name": "nope",
            "err_lme_terms_ddf": "same denominator DF",
            "err_lme_L_ddf": "same denominator DF"}[case["id"]]
    with pytest.raises(LmerpyError, match=word):
        _call(case, fit)


def test_terms_and_L_need_one_model():
    fit = gls_fit("ovary_ar1", at_nlme=True)
    with pytest.raises(ArgumentError, match="one model"):
        nlme.anova(fit, gls_fit("ovary_ar1_sin", at_nlme=True), Terms=1)
    with pytest.raises(ArgumentError, match="not both"):
        nlme.anova(fit, Terms=1, L=[0, 1, 0])
    with pytest.raises(ArgumentError, match="L"):
        nlme.anova(fit, L=[0, 0, 0])
    with pytest.raises(ArgumentError, match="Terms"):
        nlme.anova(fit, Terms=[])


@pytest.mark.parametrize("case", LME_TABLES, ids=lambda c: f"{c['fit']}-{c['type']}")
def test_lme_anova_tables(case):
    a = nlme.anova(lme_fit(case["fit"], at_nlme=True), type=case["type"])
    assert list(a.index) == case["terms"]
    assert list(a["numDF"]) == case["numDF"] and list(a["denDF"]) == case["denDF"]
    np.testing.assert_allclose(a["F-value"], case["F"], rtol=RTOL)
    # nlme computes 1 - pf(F) (0 below 1e-16); lmerpy the upper tail itself
    np.testing.assert_allclose(a["p-value"], case["p"], rtol=RTOL, atol=1e-15)
    assert str(a) == case["text"]
    # at lmerpy's own optimum: the same F values
    b = nlme.anova(lme_fit(case["fit"]), type=case["type"])
    np.testing.assert_allclose(b["F-value"], case["F"], rtol=RTOL)


def _lrt_fit(kind, case_id, at_nlme=True):
    return (lme_fit if kind == "lme" else gls_fit)(case_id, at_nlme=at_nlme)


@pytest.mark.parametrize("case", LRT, ids=lambda c: c["id"])
def test_lme_likelihood_ratio_tables(case):
    import warnings
    fits = [_lrt_fit(k, i) for k, i in case["fits"]]
    names = [i for _k, i in case["fits"]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = nlme.anova(*fits, names=names)
    assert [str(w.message) for w in caught] == case["warnings"]
    assert list(a["df"]) == case["df"]
    for col, key in (("AIC", "AIC"), ("BIC", "BIC"), ("logLik", "logLik")):
        np.testing.assert_allclose(a[col], case[key], rtol=RTOL)
    if case["L_ratio"] is not None:
        lr = np.array([np.nan if v is None else v for v in case["L_ratio"]], dtype=float)
        np.testing.assert_allclose(a["L.Ratio"], lr, rtol=RTOL)
    assert str(a) == case["text"]


def test_lmerpy_anova_forwards_lme_fits():
    import lmerpy
    fit = lme_fit("ortho_rs", at_nlme=True)
    assert str(lmerpy.anova(fit)) == str(nlme.anova(fit))
    assert str(fit.anova(type="marginal")) == str(nlme.anova(fit, type="marginal"))
    two = lmerpy.anova(lme_fit("ortho_ri_ident_ml", at_nlme=True),
                       lme_fit("ortho_rs_ml", at_nlme=True))
    assert list(two["Model"]) == [1, 2]
