"""The optimizer stage on lmerpy.pls.LmmDeviance against lme4 1.1-31's reference fits.

lme4's designs (the goldens' ``design`` blocks) -> LmmDeviance -> optimize_lmer from lme4's
start -> check_conv. On lme4's path (``lmerControl(polish=False)``) θ̂ must match lme4's to
1e-4 and the criterion to 1e-6 (never worse than lme4's by more than that), and the
convergence checks must give exactly lme4's messages: no false alarms from the analytic
gradient. lme4's evaluation counts are quoted from R (``fit@optinfo$feval``). The default
finishes at the optimum itself: never above lme4's criterion (beyond 1e-9), with lme4's θ̂ to
its optimizer's ``xtol_rel = 1e-4`` — except where lme4 stopped more than 1e-6 above the
optimum (listed in ``LME4_STOPPED_SHORT``, with the evidence asserted: gradient ~0 and a
positive definite Hessian at lmerpy's optimum).
"""
import warnings

import numpy as np
import pytest

from lmerpy.optimize import (check_conv, lme4_start_theta, lmerControl, optimize_lmer,
                             warning_text)

pls = pytest.importorskip("lmerpy.pls")
from _design_from_json import (design_from_ref, insteval_design,  # noqa: E402
                               lmm_cases_with_design, load_ref)

CASES = lmm_cases_with_design()
LME4_FEVAL = {"sleep_slope": 43, "sleep_slope_ml": 53, "penicillin_crossed": 41,
              "pastes_nested": 36, "dyestuff": 17, "dyestuff2_singular": 10}


#: lme4's criterion minus lmerpy's optimum, where lme4 stopped more than 1e-6 above it
#: (Orthodont REML: BOBYQA's xtol_rel = 1e-4 on a ridge flat in the intercept SD)
LME4_STOPPED_SHORT = {"orthodont": 5.561993e-6}


def criterion(ref):
    return ref["REMLcrit"] if ref["REML"] else ref["deviance"]


@pytest.mark.parametrize("case", CASES)
def test_pls_fit_matches_lme4(case):
    ref = load_ref(case)
    design = design_from_ref(ref)
    dev = pls.LmmDeviance(design, REML=ref["REML"])
    start = lme4_start_theta(design)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        opt = optimize_lmer(dev, start, design.lower, lmerControl(polish=False))
        msgs = check_conv(dev, opt, design.lower, lmerControl())
    assert opt.fmin <= criterion(ref) + 1e-6
    assert opt.fmin == pytest.approx(criterion(ref), abs=1e-6)
    assert opt.theta == pytest.approx(ref["theta"], abs=1e-4)
    assert msgs == list(ref.get("r_messages") or [])
    assert [str(w.message) for w in rec] == [warning_text(m) for m in msgs]
    assert opt.derivs["method"] == "analytic"
    assert opt.feval == len(opt.fitlog)
    if case in LME4_FEVAL:
        # the same NLopt BOBYQA, settings and start as lme4: (nearly) the same path
        assert abs(opt.optimizer_evals - LME4_FEVAL[case]) <= 3
    # the deviance's state is left at the optimum (as lme4's devfun environment)
    assert dev.solve(opt.theta) is not None


@pytest.mark.parametrize("case", CASES)
def test_pls_default_fit_is_the_optimum(case):
    ref = load_ref(case)
    design = design_from_ref(ref)
    dev = pls.LmmDeviance(design, REML=ref["REML"])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        opt = optimize_lmer(dev, lme4_start_theta(design), design.lower)
        msgs = check_conv(dev, opt, design.lower, lmerControl())
    assert msgs == list(ref.get("r_messages") or [])
    assert [str(w.message) for w in rec] == [warning_text(m) for m in msgs]
    assert opt.fmin <= criterion(ref) + 1e-9
    free = opt.theta > design.lower
    g = opt.derivs["gradient"]
    # the optimum to the criterion's rounding: the Newton decrement g'H⁻¹g/2 at most 1e-10
    H = opt.derivs["Hessian"][np.ix_(free, free)]
    assert 0.5 * g[free] @ np.linalg.solve(H, g[free]) < 1e-10
    if case in LME4_STOPPED_SHORT:
        assert criterion(ref) - opt.fmin == pytest.approx(LME4_STOPPED_SHORT[case], abs=1e-9)
        assert np.all(np.linalg.eigvalsh(opt.derivs["Hessian"]) > 0)
        assert np.max(np.abs(g)) < 1e-5
    else:
        assert opt.fmin == pytest.approx(criterion(ref), abs=1e-6)
        assert opt.theta == pytest.approx(ref["theta"], rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("optimizer", ["bobyqa", "Nelder_Mead", "lbfgsb"])
def test_pls_other_optimizers(optimizer):
    ref = load_ref("penicillin_crossed")
    design = design_from_ref(ref)
    dev = pls.LmmDeviance(design, REML=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = optimize_lmer(dev, lme4_start_theta(design), design.lower,
                            lmerControl(optimizer=optimizer))
        assert check_conv(dev, opt, design.lower, lmerControl()) == []
    # lme4's own θ̂ here is ~1e-4 short of the optimum along the flat sample direction (its
    # REML criterion is 8.5e-9 above the minimum), so θ is compared to 1e-4 relative
    assert opt.theta == pytest.approx(ref["theta"], rel=1e-4)
    assert opt.fmin <= criterion(ref) + 1e-8
    assert opt.fmin == pytest.approx(criterion(ref), abs=1e-6)


@pytest.mark.slow
def test_insteval():
    """lme4: 74 evaluations (nloptwrap) + 16 for its finite-difference derivatives; lmerpy
    (q = 4114 >= gradient_min_q): trust-region Newton on the average information, then a
    Hessian from forward differences of the analytic gradient."""
    ref = load_ref("insteval")
    design = insteval_design()
    dev = pls.LmmDeviance(design, REML=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = optimize_lmer(dev, lme4_start_theta(design), design.lower)
        assert check_conv(dev, opt, design.lower, lmerControl()) == []
    assert opt.theta == pytest.approx(ref["theta"], abs=1e-4)
    assert opt.fmin == pytest.approx(criterion(ref), abs=1e-6)
    assert opt.optimizer == "newton_ai"
    assert opt.optimizer_evals <= 10
    assert opt.gradient_evals <= opt.optimizer_evals
    assert opt.derivs_evals == 4          # 1 + k analytic gradients, k = 3 (forward differences)
