"""intervals(lme_fit) and its apVar against nlme 3.1-162 (goldens:
tests/reference/nlme/lme_intervals.json, made by make_nlme_inference.R).

Tolerances: ``RTOL = 1e-5``: apVar to 1e-5 of its largest entry, its parameters to 1e-10, each
block of the intervals (lower, estimate, upper) to 1e-5 of its largest entry. As for gls
(tests/test_nlme_gls.py), apVar and the intervals are compared with nlme's computed from an
accurate Hessian (``*_richardson``: nlme's own ``lmeApVar.fullLmeLogLik`` differentiated as
lmerpy does), since nlme's ``fdHess`` carries 1e-5 to 1e-2 of rounding noise; the fits are
evaluated at nlme's estimates. The printed text is compared with nlme's apVar put into the
intervals (apVar's last digits are rounding noise on either side). nlme's own fdHess apVar
and intervals are kept in the goldens for reference only: their noise reaches 1e-2 here
(dial_power, ortho_rs_ml, ortho_rs_diag), more than any meaningful tolerance.
"""
import json

import numpy as np
import pytest

from lmerpy import nlme
from lmerpy.errors import ArgumentError
from lmerpy.nlme.display import format_intervals
from lmerpy.nlme.lme_intervals import lme_ap_var, lme_interval_blocks

from _nlme_reference import NLME, lme_fit

RTOL = 1e-5
CASES = json.loads((NLME / "lme_intervals.json").read_text())


def _vec(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _blocks(iv):
    """(key, level or None, rows) of an intervals result, comparable with the goldens."""
    out = []
    for key, val in iv.items():
        if key == "reStruct":
            for name, frame in val.items():
                out.append((key, name, frame.to_numpy()))
        else:
            out.append((key, None, np.asarray(val, dtype=float)))
    return out


def _golden_blocks(ref):
    out = []
    for key, val in ref.items():
        if key == "reStruct_levels":
            continue
        if key == "reStruct":
            for name in ref["reStruct_levels"]:
                out.append((key, name, np.array(val[name]["rows"], dtype=float)))
        elif key == "sigma":
            out.append((key, None, np.array(val, dtype=float)))
        else:
            out.append((key, None, np.array(val["rows"], dtype=float)))
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["fit"])
def test_apvar_matches_nlme(case):
    fit = lme_fit(case["fit"], at_nlme=True)
    av, pars, names = lme_ap_var(fit)
    assert names == case["apVar_names"]
    np.testing.assert_allclose(pars, case["apVar_pars"], rtol=1e-10, atol=1e-12)
    assert _vec(av, case["apVar_richardson"]) < RTOL


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["fit"])
def test_intervals_match_nlme(case):
    fit = lme_fit(case["fit"], at_nlme=True)
    iv = nlme.intervals(fit)
    mine = _blocks(iv)
    ref = _golden_blocks(case["intervals_richardson"])
    assert [(k, lv) for k, lv, _ in mine] == [(k, lv) for k, lv, _ in ref]
    for (k, lv, a), (_k, _lv, b) in zip(mine, ref):
        assert _vec(a, b) < RTOL, (k, lv)
    names = {key: list(iv[key].index) for key in iv if key not in ("reStruct", "sigma")}
    for key, val in case["intervals_richardson"].items():
        if key in names:
            assert names[key] == val["names"]
    for name in case["intervals_richardson"]["reStruct_levels"]:
        assert list(iv["reStruct"][name].index) == \
            case["intervals_richardson"]["reStruct"][name]["names"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["fit"])
def test_intervals_text_is_nlme(case):
    fit = lme_fit(case["fit"], at_nlme=True)
    blocks = lme_interval_blocks(fit, 0.95, "all", ap_var=np.array(case["apVar_richardson"]))
    assert format_intervals(blocks, 0.95) == case["intervals_richardson_text"]
    assert str(nlme.intervals(fit, level=0.9, which="fixed")) == case["intervals_fixed_90_text"]


@pytest.mark.parametrize("case_id", ["ortho_rs", "ovary_ri_ar1"])
def test_intervals_at_lmerpy_optimum(case_id):
    case = next(c for c in CASES if c["fit"] == case_id)
    iv = lme_fit(case_id).intervals()
    for (k, lv, a), (_k, _lv, b) in zip(_blocks(iv), _golden_blocks(case["intervals_richardson"])):
        assert _vec(a, b) < RTOL, (k, lv)


def test_intervals_arguments():
    fit = lme_fit("ortho_ri", at_nlme=True)
    assert set(nlme.intervals(fit, which="fixed")) == {"fixed"}
    assert set(nlme.intervals(fit, which="var-cov")) == {"reStruct", "sigma"}
    with pytest.raises(ArgumentError, match="which"):
        nlme.intervals(fit, which="coef")
    with pytest.raises(ArgumentError, match="level"):
        nlme.intervals(fit, level=1.5)
