"""anova(fit, Terms=) and anova(fit, L=) against nlme 3.1-162 (goldens:
tests/reference/nlme/anova_terms_L.json, made by make_nlme_inference.R).

F values and p-values to ``RTOL = 1e-5`` relative; printed text identical at nlme's estimates
(the fits are evaluated at nlme's structure parameters, as tests/test_nlme_gls.py does).
nlme's ``Terms`` positions are 1-based; lmerpy's are 0-based (the tests subtract 1).
"""
import json

import numpy as np
import pandas as pd
import pytest

from lmerpy import nlme
from lmerpy.errors import ArgumentError

from _nlme_reference import NLME, gls_fit

RTOL = 1e-5
CASES = json.loads((NLME / "anova_terms_L.json").read_text())
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


@pytest.mark.parametrize("case", OK, ids=lambda c: c["id"])
def test_terms_and_L_match_nlme(case):
    a = _call(case, gls_fit(case["fit"], at_nlme=True))
    assert list(a["numDF"]) == case["numDF"]
    np.testing.assert_allclose(a["F-value"], case["F"], rtol=RTOL)
    np.testing.assert_allclose(a["p-value"], case["p"], rtol=RTOL, atol=1e-300)
    assert str(a) == case["text"]


@pytest.mark.parametrize("case", OK[:4], ids=lambda c: c["id"])
def test_terms_and_L_at_lmerpy_optimum(case):
    a = _call(case, gls_fit(case["fit"]))
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
    fit = gls_fit(case["fit"], at_nlme=True)
    word = {"err_terms_range": "between 0 and 2", "err_terms_name": "nope",
            "err_L_columns": "at most 3 columns", "err_L_name": "nope"}[case["id"]]
    with pytest.raises(ArgumentError, match=word):
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
