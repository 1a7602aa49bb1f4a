"""Prior weights and offsets against lme4 (goldens in test_pls_goldens.json).

The goldens were made with lme4 1.1-31 by the R script stored in the file itself
(``r_script``): sleepstudy ``Reaction ~ Days + (Days|Subject)`` with weights
w = (0.5, 1, 2) repeating, offset 5·((i mod 7) − 3), and Penicillin crossed with weights
1 + (i mod 4)/2, REML and ML. At lme4's θ̂ the criterion (which includes −Σ log w) must match
to 1e-7 relative, the estimates to 1e-5; the gradient must match finite differences.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from lmerpy.pls import LmmDeviance, available_backends

from _design_from_json import design_from_ref, load_ref
from test_pls_gradient import assert_gradient_matches

BACKENDS = available_backends()
GOLD = json.loads((Path(__file__).parent / "test_pls_goldens.json").read_text())
CRIT_RTOL = 1e-7
EST_RTOL = 1e-5


def _inputs(case):
    if case.startswith("sleep"):
        ref = load_ref("sleep_slope")
        i = np.arange(180)
        w = np.array([0.5, 1.0, 2.0])[i % 3]
        off = 5.0 * ((i % 7) - 3)
        use_w = "_w" in case
        use_off = "off" in case or "_wo" in case
        return ref, (w if use_w else None), (off if use_off else None)
    ref = load_ref("penicillin_crossed")
    i = np.arange(144)
    return ref, 1.0 + (i % 4) / 2.0, None


CASES = [k for k in GOLD if isinstance(GOLD[k], dict)]


def test_golden_cases_present():
    assert set(CASES) == {"sleep_w_reml", "sleep_w_ml", "sleep_off_reml", "sleep_wo_ml",
                          "penicillin_w_reml"}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES)
def test_weighted_offset_fit_matches_lme4(case, backend):
    gold = GOLD[case]
    ref, w, off = _inputs(case)
    des = design_from_ref(ref, weights=w, offset=off)
    dev = LmmDeviance(des, REML=gold["REML"], backend=backend)
    th = gold["theta"]
    np.testing.assert_allclose(dev(th), gold["crit"], rtol=CRIT_RTOL)
    sol = dev.solve(th)
    np.testing.assert_allclose(sol.criterion, gold["crit"], rtol=CRIT_RTOL)
    for key in ("ldL2", "ldRX2", "wrss", "ussq", "pwrss"):
        np.testing.assert_allclose(getattr(sol, key), gold[key], rtol=EST_RTOL, err_msg=key)
    np.testing.assert_allclose(sol.beta, gold["fixef"], rtol=EST_RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(sol.vcov_beta)), gold["se"], rtol=EST_RTOL)
    np.testing.assert_allclose(sol.sigma, gold["sigma"], rtol=EST_RTOL)
    np.testing.assert_allclose(sol.fitted, gold["fitted"], rtol=EST_RTOL)
    for i, t in enumerate(des.reterms):
        rg = gold["ranef"][t.group_name]
        b = sol.b[t.row_offset:t.row_offset + t.n_rows].reshape(t.n_levels, t.n_columns)
        vals = np.asarray(rg["values"], dtype=float).reshape(t.n_levels, t.n_columns)
        np.testing.assert_allclose(b, vals, rtol=EST_RTOL, atol=EST_RTOL * np.abs(vals).max())
        sd = np.sqrt(np.diagonal(sol.cond_var(i), axis1=1, axis2=2))
        np.testing.assert_allclose(sd, np.asarray(rg["condsd"]).reshape(sd.shape),
                                   rtol=EST_RTOL)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ["sleep_wo_ml", "penicillin_w_reml"])
@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_weighted_gradient(case, backend, REML):
    ref, w, off = _inputs(case)
    des = design_from_ref(ref, weights=w, offset=off)
    dev = LmmDeviance(des, REML=REML, backend=backend)
    assert_gradient_matches(dev, des.theta)
    assert_gradient_matches(dev, GOLD[case]["theta"])


def test_zero_weight_gives_infinite_criterion_like_lme4():
    # lme4 1.1-31 subtracts Σ log w, so a zero weight makes the criterion +Inf
    # ("REML criterion at convergence: Inf")
    ref, w, _ = _inputs("sleep_w_reml")
    w = w.copy()
    w[0] = 0.0
    dev = LmmDeviance(design_from_ref(ref, weights=w), REML=True)
    assert dev([1.0, 0.0, 1.0]) == np.inf


def test_negative_weight_is_rejected():
    from lmerpy.errors import DataError
    ref, w, _ = _inputs("sleep_w_reml")
    w = w.copy()
    w[3] = -1.0
    with pytest.raises(DataError, match="non-negative"):
        LmmDeviance(design_from_ref(ref, weights=w))
