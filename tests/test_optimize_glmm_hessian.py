"""glmer's post-fit Hessian (``glmerControl(hessian=...)``, lmerpy.optimize.laplace) against a
high-accuracy reference on lme4's GLMM goldens (every nAGQ = 1 glmer case).

The Hessian is that of the Laplace deviance in (θ, β) at the fit's optimum; it gives vcov's
standard errors and lme4's Hessian convergence checks. Two ways to compute it:

* ``"gradient"`` (on request; ``"auto"`` after the gradient-based optimizer): central
  differences of the analytic gradient with step 1e-5 (1 + 2k gradients);
* ``"lme4"`` (the default, R's standard errors; ``deriv12``): central differences of lme4's
  deviance with
  step 1e-4 (2k² evaluations), whose log|L|² lags PIRLS's last step and whose value carries
  the error of where PIRLS stops.

The reference: Richardson extrapolation of central differences of the analytic gradient with
steps 5e-4 and 2.5e-4 (error O(h⁴)), PIRLS run to convergence at the mode (tolPwrss 1e-12,
every evaluation from the same start). Measured on these goldens, the reference moves by at
most 1.2e-6 (grouseticks) when its steps are doubled, and 8e-8 when halved.

The measure: the standard errors sqrt(diag(2H⁻¹)) of all parameters (θ and β; β's are vcov's),
largest relative difference from the reference's. Measured: "gradient"'s at most 1e-7
(gamma_identity, the gradient's rounding), lme4's from 2.6e-6 (gamma_inverse) to 3.2e-2
(binary_random_slope; cbpp 1.2e-2, VerbAgg 1.3e-2) — the amount by which lme4's printed
standard errors differ from the Laplace approximation's. Asserted: "gradient"'s within 1e-6
of the reference, and closer to it than lme4's on every case.
"""
import warnings

import numpy as np
import pytest
from _reference import case_kwargs, case_params, glmer_cases, load_case_data

import lmerpy
from lmerpy.families import FAMILIES
from lmerpy.optimize import deriv12
from lmerpy.optimize.control import ControlError
from lmerpy.optimize.laplace import laplace_derivs

CASES = [r for r in glmer_cases() if r["fn"] == "glmer"
         and (r.get("nAGQ") is None or int(r["nAGQ"]) == 1)]
#: hessian="gradient"'s standard errors against the reference's (measured at most 1e-7)
DEFAULT_TOL = 1e-6


def _fit(ref, control=None):
    data = load_case_data(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmerpy.glmer(ref["formula"], data,
                            family=FAMILIES[ref["family"]](link=ref["link"]), control=control,
                            **case_kwargs(ref, data))


def _central(dev, x, h):
    n = x.size
    H = np.empty((n, n))
    for j in range(n):
        a, b = x.copy(), x.copy()
        a[j] += h
        b[j] -= h
        H[:, j] = (dev.laplace_gradient(a) - dev.laplace_gradient(b)) / (2 * h)
    return 0.5 * (H + H.T)


def reference_hessian(dev, x, h=5e-4):
    """Richardson-extrapolated central differences of the analytic gradient (steps h, h/2),
    PIRLS at tolPwrss 1e-12."""
    tol = dev.tolPwrss
    dev.tolPwrss = 1e-12
    try:
        return (4 * _central(dev, x, h / 2) - _central(dev, x, h)) / 3
    finally:
        dev.tolPwrss = tol
        dev(x)


def _se(H):
    return np.sqrt(np.diag(2 * np.linalg.inv(H)))


def _err(H, ref):
    return float(np.max(np.abs(_se(H) / _se(ref) - 1)))


@pytest.mark.parametrize("ref", case_params(CASES, slow_nobs=50000))
def test_gradient_hessian_is_the_accurate_one(ref):
    fit = _fit(ref, lmerpy.glmerControl(hessian="gradient"))
    dev = fit.devfun
    x = np.concatenate((fit.par, fit.fixef().to_numpy()))
    assert fit.optsum.derivs["method"] == "laplace gradient"
    H = np.asarray(fit.optsum.derivs["Hessian"], dtype=float)
    H_lme4 = deriv12(dev, x, lower=dev.lower, upper=dev.upper)["Hessian"]
    H_ref = reference_hessian(dev, x)
    err, err_lme4 = _err(H, H_ref), _err(H_lme4, H_ref)
    assert err <= DEFAULT_TOL
    assert err < err_lme4
    # vcov's standard errors are the β block's
    nt = fit.par.size
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov().to_numpy())), _se(H_ref)[nt:],
                               rtol=DEFAULT_TOL)


def test_lme4_hessian_by_default(cbpp):
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    assert lmerpy.glmerControl().hessian == "lme4"
    fit = lmerpy.glmer(f, cbpp, family="binomial")
    dev = fit.devfun
    x = np.concatenate((fit.par, fit.fixef().to_numpy()))
    assert fit.optsum.derivs["method"] == "finite differences"
    np.testing.assert_array_equal(fit.optsum.derivs["Hessian"],
                                  deriv12(dev, x, lower=dev.lower, upper=dev.upper)["Hessian"])
    # the gradient the check sees is still the optimised function's (analytic, ~0)
    np.testing.assert_allclose(fit.optsum.derivs["gradient"], dev.laplace_gradient(x),
                               rtol=1e-6, atol=1e-9)


def test_lme4_path_keeps_lme4s_hessian(cbpp):
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    ctl = lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"], hessian="auto")
    fit = lmerpy.glmer(f, cbpp, family="binomial", control=ctl)
    assert fit.optsum.derivs["method"] == "finite differences"


def test_gradient_hessian_on_lme4s_path(cbpp):
    # hessian="gradient" after lme4's optimizers: the accurate Hessian at lme4's optimum, and
    # the gradient lme4's check looks at (lme4's deviance's, by central differences)
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    lme4 = lmerpy.glmer(f, cbpp, family="binomial",
                        control=lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"]))
    fit = lmerpy.glmer(f, cbpp, family="binomial",
                       control=lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"],
                                                   hessian="gradient"))
    dev = fit.devfun
    x = np.concatenate((fit.par, fit.fixef().to_numpy()))
    np.testing.assert_array_equal(x, np.concatenate((lme4.par, lme4.fixef().to_numpy())))
    d = fit.optsum.derivs
    assert d["method"] == "laplace gradient"
    np.testing.assert_allclose(d["gradient"], lme4.optsum.derivs["gradient"], rtol=1e-9,
                               atol=1e-12)
    assert _err(np.asarray(d["Hessian"]), reference_hessian(dev, x)) <= DEFAULT_TOL
    assert fit.optsum.conv_messages == lme4.optsum.conv_messages == []


def test_convergence_checks_on_the_gradient_hessian():
    # grouseticks: lme4's eigenvalue checks fire (a large eigenvalue ratio, HEIGHT's scale);
    # the same messages from either Hessian
    f = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"
    grouseticks = lmerpy.datasets.load("grouseticks")
    msgs = {}
    for h in ("gradient", "lme4"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = lmerpy.glmer(f, grouseticks, family="poisson",
                               control=lmerpy.glmerControl(hessian=h))
        msgs[h] = fit.optsum.conv_messages
    assert msgs["gradient"] == msgs["lme4"]
    assert any("large eigenvalue ratio" in m for m in msgs["gradient"])


def test_hessian_choice_is_validated():
    with pytest.raises(ControlError, match="hessian"):
        lmerpy.glmerControl(hessian="exact")
    assert lmerpy.lmerControl().hessian is None


def test_laplace_derivs_counts_and_symmetry(cbpp):
    fit = lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                       family="binomial")
    dev = fit.devfun
    x = np.concatenate((fit.par, fit.fixef().to_numpy()))
    d = laplace_derivs(dev, x, dev.lower, dev.upper)
    assert d["evals"] == 1 + 2 * x.size
    np.testing.assert_array_equal(d["Hessian"], d["Hessian"].T)
    np.testing.assert_allclose(d["gradient"], dev.laplace_gradient(x), rtol=1e-6, atol=1e-9)
