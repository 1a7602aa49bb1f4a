"""lmerpy.optimize on analytic functions: optimizers, controls, checks, OptSummary.

Exact optima are known in closed form here, so tolerances are the optimizers' own.
The message texts are lme4 1.1-31's (R: lme4:::checkConv, lme4:::checkHess).
"""
import json
import warnings

import numpy as np
import pytest

from lmerpy.errors import ConvergenceWarning, FitError, LmerpyError
from lmerpy.optimize import (OptSummary, check_conv, check_hess, deriv12, derivs_analytic,
                             glmerControl, lmerControl, minimize_bounded, optimize_glmer,
                             optimize_lmer, optimizer_settings)


class Quadratic:
    """f(x) = (x - c)' A (x - c) / 2 + f0 with an analytic gradient."""

    def __init__(self, A, c, f0=0.0):
        self.A, self.c, self.f0 = np.asarray(A, float), np.asarray(c, float), f0
        self.n_evals = 0

    def __call__(self, x):
        self.n_evals += 1
        d = np.asarray(x, float) - self.c
        return 0.5 * d @ self.A @ d + self.f0

    def gradient(self, x):
        return self.A @ (np.asarray(x, float) - self.c)


A3 = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])


def bounded_problem():
    # f = (x0+1)^2 + 2(x1-2)^2 + 0.5 x0 x1, x0 >= 0: optimum (0, 2), f = 1 (KKT: df/dx0 = 3 > 0)
    def f(x):
        return (x[0] + 1) ** 2 + 2 * (x[1] - 2) ** 2 + 0.5 * x[0] * x[1]

    def g(x):
        return np.array([2 * (x[0] + 1) + 0.5 * x[1], 4 * (x[1] - 2) + 0.5 * x[0]])
    f.gradient = g
    return f


# ----------------------------------------------------------------------------- optimizers

@pytest.mark.parametrize("method", ["bobyqa", "nelder_mead", "lbfgsb", "nlopt_lbfgs",
                                    "LN_SBPLX"])
def test_interior_optimum(method):
    f = Quadratic(A3, [0.7, -0.3, 1.2], f0=5.0)
    res = minimize_bounded(f, [1.0, 0.0, 1.0], lower=[0, -np.inf, 0], method=method,
                           grad=f.gradient)
    assert np.max(np.abs(res.x - f.c)) < 1e-4
    assert abs(res.fun - 5.0) < 1e-8
    assert res.status > 0
    assert res.feval == len(res.fitlog) == f.n_evals


@pytest.mark.parametrize("method", ["bobyqa", "nelder_mead", "lbfgsb"])
def test_active_lower_bound(method):
    f = bounded_problem()
    res = minimize_bounded(f, [1.0, 0.0], lower=[0.0, -np.inf], method=method, grad=f.gradient)
    assert res.x[0] == pytest.approx(0.0, abs=1e-6)
    assert res.x[1] == pytest.approx(2.0, abs=1e-4)
    assert res.fun == pytest.approx(1.0, abs=1e-8)
    assert np.all(res.x >= [0.0, -np.inf])


def test_active_upper_bound():
    f = Quadratic(np.eye(2), [3.0, -1.0])
    res = minimize_bounded(f, [0.0, 0.0], lower=[-5, -5], upper=[1.0, 5.0])
    assert res.x == pytest.approx([1.0, -1.0], abs=1e-6)
    assert res.fun == pytest.approx(2.0, abs=1e-10)


def test_fitlog_records_every_evaluation():
    f = Quadratic(A3, [0.7, -0.3, 1.2])
    res = minimize_bounded(f, [1.0, 0.0, 1.0], lower=[0, -np.inf, 0])
    assert len(res.fitlog) == res.feval
    assert res.fitlog[0][0] == pytest.approx([1.0, 0.0, 1.0])
    for x, v in res.fitlog:
        assert v == f(x)
    assert res.fun == min(v for _, v in res.fitlog)


def test_maxeval_stops_with_nlopt_status_5():
    f = Quadratic(A3, [0.7, -0.3, 1.2])
    res = minimize_bounded(f, [1.0, 0.0, 1.0], settings={"maxeval": 3})
    assert res.feval == 3
    assert res.status == 5
    assert res.message == ("NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval "
                           "(above) was reached.")


def test_bad_arguments_are_lmerpy_errors():
    f = Quadratic(np.eye(2), [0, 0])
    with pytest.raises(LmerpyError, match="outside its bounds"):
        minimize_bounded(f, [-1.0, 0.0], lower=[0, 0])
    with pytest.raises(LmerpyError, match="unknown optimization method"):
        minimize_bounded(f, [1.0, 0.0], method="simulated_annealing")
    with pytest.raises(LmerpyError, match="unknown setting"):
        minimize_bounded(f, [1.0, 0.0], settings={"xtolabs": 1})
    with pytest.raises(LmerpyError, match="needs a gradient"):
        minimize_bounded(f, [1.0, 0.0], method="lbfgsb")


def test_errors_in_the_objective_propagate():
    class Boom(Exception):
        pass

    def f(x):
        if f.calls > 4:
            raise Boom("deviance failed")
        f.calls += 1
        return float(np.sum(np.asarray(x) ** 2))
    f.calls = 0
    with pytest.raises(Boom):
        minimize_bounded(f, [1.0, 1.0])


# ----------------------------------------------------------------------------- controls

def test_lmerControl_defaults_are_lme4s():
    # all lme4's but the optimizer: None, lmerpy's choice per model (lmer_optimizer), with
    # lme4's "nloptwrap" one argument away
    c = lmerControl()
    assert c.optimizer is None and lmerControl(optimizer="nloptwrap").optimizer == "nloptwrap"
    assert c.restart_edge is True and c.boundary_tol == 1e-5 and c.calc_derivs is True
    assert (c.check_conv_grad.action, c.check_conv_grad.tol) == ("warning", 2e-3)
    assert (c.check_conv_singular.action, c.check_conv_singular.tol) == ("message", 1e-4)
    assert (c.check_conv_hess.action, c.check_conv_hess.tol) == ("warning", 1e-6)
    assert c.check_nobs_vs_nlev == "stop" and c.check_rankX == "message+drop.cols"
    method, st, _ = optimizer_settings("nloptwrap", {}, [1.0, 0.0, 1.0])
    # lme4's nloptwrap defaults plus nloptr's default xtol_rel
    assert method == "NLOPT_LN_BOBYQA"
    assert (st["xtol_abs"], st["ftol_abs"], st["maxeval"], st["xtol_rel"]) == \
        (1e-8, 1e-8, 100000, 1e-4)


def test_glmerControl_defaults_are_lme4s():
    c = glmerControl()
    # but the optimizer: lmerpy's gradient-based default; lme4's is one option away
    assert c.optimizer == ("lbfgsb", "lbfgsb")
    assert glmerControl(optimizer=["bobyqa", "Nelder_Mead"]).optimizer == \
        ("bobyqa", "Nelder_Mead")
    assert c.restart_edge is False and c.tolPwrss == 1e-7 and c.nAGQ0initStep is True
    assert glmerControl(optimizer="Nelder_Mead").optimizer == ("Nelder_Mead", "Nelder_Mead")
    assert c.check_response_not_const == "stop"


def test_control_forms_and_validation():
    c = lmerControl(check_conv_grad={"action": "stop", "tol": 1e-3},
                    check_conv_singular=("ignore", 1e-4), optimizer="nelder_mead")
    assert c.check_conv_grad.action == "stop" and c.check_conv_grad.tol == 1e-3
    assert c.optimizer == "Nelder_Mead"
    with pytest.raises(LmerpyError, match="check_conv_grad: action must be one of .*, not 'warn'"):
        lmerControl(check_conv_grad=("warn", 1e-3))
    with pytest.raises(LmerpyError, match="check_conv_hess: tol must be a finite number >= 0, not -1"):
        lmerControl(check_conv_hess=("warning", -1))
    with pytest.raises(LmerpyError, match="unknown optimizer 'newuoa'"):
        lmerControl(optimizer="newuoa")
    with pytest.raises(LmerpyError, match="check_rankX"):
        lmerControl(check_rankX="drop")
    f = Quadratic(np.eye(2), [1, 1])
    with pytest.raises(LmerpyError, match="unknown setting.*maxit"):
        optimize_lmer(f, [0.5, 0.5], [0, 0], lmerControl(optCtrl={"maxit": 3}))


def test_polish_and_restart_unconverged_settings():
    # lmer polishes by default; restart_unconverged=None follows polish, so polish=False alone
    # is lme4's stopping point; glmer's polish is the Newton finish of its gradient-based
    # stages (lmerpy.optimize.laplace), and its restart setting does not follow it
    assert lmerControl().polish and lmerControl().restart_unconverged is None
    assert lmerControl().restarts_unconverged
    lme4 = lmerControl(polish=False)
    assert not lme4.polish and not lme4.restarts_unconverged
    assert lmerControl(polish=False, restart_unconverged=True).restarts_unconverged
    assert not lmerControl(restart_unconverged=False).restarts_unconverged
    assert lme4.replace(polish=True).restarts_unconverged        # still follows
    g = glmerControl()
    assert g.polish and g.restarts_unconverged
    assert not glmerControl(polish=False).polish
    assert glmerControl(polish=False).restarts_unconverged
    with pytest.raises(LmerpyError, match="polish must be True or False, not 'yes'"):
        lmerControl(polish="yes")
    with pytest.raises(LmerpyError, match="restart_unconverged must be True or False \\(or "
                                          "None\\), not 'maybe'"):
        lmerControl(restart_unconverged="maybe")


def test_optimizer_settings_follow_lme4():
    # minqa::bobyqa: rhobeg = min(0.95, 0.2 max|par|), rhoend = 1e-6 rhobeg; all-zero start
    # moved to 0.001 by optwrap
    _, st, x0 = optimizer_settings("bobyqa", {}, [2.0, 0.0, 1.0])
    assert st["initial_step"] == pytest.approx(0.4) and st["xtol_abs"] == pytest.approx(4e-7)
    _, st, x0 = optimizer_settings("bobyqa", {}, [0.0, 0.0])
    assert list(x0) == [0.001, 0.001]
    # glmer stage 2 (optwrap adj = TRUE)
    _, st, _ = optimizer_settings("bobyqa", {}, [1.0, 2.0], adj=True)
    assert (st["initial_step"], st["xtol_abs"]) == (2e-4, 2e-7)
    _, st, _ = optimizer_settings("Nelder_Mead", {}, [0.6, -1.4, -1.0], adj=True, n_theta=1,
                                  beta_sd=[0.23, 50.0])
    assert st["initial_step"] == pytest.approx([0.02, 0.046, 2.0])
    assert st["xtol_abs"] == pytest.approx(np.array([0.02, 0.046, 2.0]) * 5e-4)
    _, st, _ = optimizer_settings("Nelder_Mead", {"maxfun": 50, "FtolAbs": 1e-6}, [1.0])
    assert st["maxeval"] == 50 and st["ftol_abs"] == 1e-6 and st["initial_step"][0] == 0.02


@pytest.mark.parametrize("optimizer", ["nloptwrap", "bobyqa", "Nelder_Mead", "lbfgsb"])
def test_optimize_lmer_each_optimizer(optimizer):
    f = bounded_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = optimize_lmer(f, [1.0, 0.0], [0.0, -np.inf], lmerControl(optimizer=optimizer))
    assert opt.theta == pytest.approx([0.0, 2.0], abs=1e-4)
    assert opt.fmin == pytest.approx(1.0, abs=1e-7)
    assert opt.return_code == 0
    assert opt.feval == len(opt.fitlog)
    assert opt.derivs["method"] == "analytic"
    assert opt.derivs["gradient"] == pytest.approx([3.0, 0.0], abs=1e-3)


def test_custom_optimizer_function():
    def my_opt(fun, x0, lower, upper, **kw):
        r = minimize_bounded(fun, x0, lower, upper, method="LN_COBYLA",
                             settings={"xtol_abs": 1e-10, "maxeval": kw.get("n", 500)})
        return {"x": r.x, "fun": r.fun, "message": "cobyla"}
    f = Quadratic(A3, [0.7, -0.3, 1.2])
    opt = optimize_lmer(f, [1.0, 0.0, 1.0], [0, -np.inf, 0],
                        lmerControl(optimizer=my_opt, optCtrl={"n": 800}))
    assert opt.optimizer == "my_opt"
    assert opt.theta == pytest.approx(f.c, abs=1e-4)
    assert opt.feval == len(opt.fitlog) > 0


# ----------------------------------------------------------------------------- derivatives

def test_derivatives_of_a_known_function():
    # f = exp(x0) + x0 x1^2 + sin(x1): exact gradient and Hessian at (0.3, 0.7)
    def f(x):
        return np.exp(x[0]) + x[0] * x[1] ** 2 + np.sin(x[1])

    def g(x):
        return np.array([np.exp(x[0]) + x[1] ** 2, 2 * x[0] * x[1] + np.cos(x[1])])
    f.gradient = g
    x = np.array([0.3, 0.7])
    H = np.array([[np.exp(0.3), 1.4], [1.4, 0.6 - np.sin(0.7)]])
    d = derivs_analytic(f, x)
    assert d["gradient"] == pytest.approx(g(x), abs=1e-14)
    assert d["Hessian"] == pytest.approx(H, abs=1e-8)
    assert d["evals"] == 5
    fd = deriv12(f, x)          # lme4's finite differences, delta = 1e-4
    assert fd["gradient"] == pytest.approx(g(x), abs=1e-7)
    assert fd["Hessian"] == pytest.approx(H, abs=1e-5)
    # at a lower bound: one-sided, never evaluated below it
    seen = []

    def f2(z):
        seen.append(np.array(z))
        return f(z)
    f2.gradient = lambda z: (seen.append(np.array(z)), g(z))[1]
    xb = np.array([0.0, 0.7])
    d = derivs_analytic(f2, xb, lower=[0.0, -np.inf])
    Hb = np.array([[1.0, 1.4], [1.4, -np.sin(0.7)]])
    assert d["Hessian"] == pytest.approx(Hb, abs=1e-7)
    fd = deriv12(f2, xb, lower=[0.0, -np.inf])
    assert fd["gradient"] == pytest.approx(g(xb), abs=1e-7)
    # the stencil is centred delta inside the bound: the Hessian is H(x + delta e0), O(delta)
    assert fd["Hessian"] == pytest.approx(Hb, abs=3e-4)
    assert min(z[0] for z in seen) >= 0.0


# ----------------------------------------------------------------------------- checks

def make_optsum(theta, lower, gradient=None, hessian=None):
    derivs = None if gradient is None else {"gradient": np.asarray(gradient, float),
                                            "Hessian": np.asarray(hessian, float),
                                            "method": "analytic"}
    return OptSummary(optimizer="nloptwrap", settings={}, theta_start=np.ones(len(theta)),
                      theta=np.asarray(theta, float), fmin=1.0, feval=1, return_code=0,
                      message="", lower=np.asarray(lower, float), derivs=derivs)


def test_check_hess_messages_are_lme4s():
    assert check_hess(np.diag([3.0, -1.0]), 1e-6) == \
        ([-3], ["Model failed to converge: degenerate  Hessian with 1 negative eigenvalues"])
    assert check_hess(np.diag([3.0, -1.0]), 1e-6, "fixed-effect")[1] == \
        ["Model failed to converge: degenerate fixed-effect Hessian with 1 negative eigenvalues"]
    assert check_hess(np.diag([3.0, 1e-9]), 1e-6) == \
        ([-4], [" Hessian is numerically singular: parameters are not uniquely determined"])
    assert check_hess(np.diag([3e6, 2.0]), 1e-6) == \
        ([2, 3], ["Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?",
                  "Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?"])
    assert check_hess(np.diag([3.0, 2.0]), 1e-6) == ([0], [])
    assert check_hess(np.array([[1.0, np.nan], [np.nan, 1.0]]), 1e-6)[0] == [-6]


def test_gradient_message_uses_scaled_gradient_and_R_number_format():
    # H = 4 I -> scaled gradient s = g / 2; min(|s|, |g|) = |g| / 2
    opt = make_optsum([1.0, 0.5, 1.0], [0, -np.inf, 0], [0.0, 0.00483626, 0.001],
                      4 * np.eye(3))
    with pytest.warns(ConvergenceWarning) as rec:
        msgs = check_conv(None, opt, control=lmerControl())
    assert msgs == ["Model failed to converge with max|grad| = 0.00241813 "
                    "(tol = 0.002, component 2)"]
    assert [str(w.message) for w in rec] == msgs
    assert opt.conv_messages == msgs and opt.conv_code == -1
    # large gradient but tiny scaled gradient (very curved): no warning, as lme4
    opt = make_optsum([1.0], [0.0], [0.5], [[1e6]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_conv(None, opt) == []


def test_unable_to_evaluate_scaled_gradient():
    opt = make_optsum([1.0, 1.0], [0, 0], [0.01, 0.0], [[1.0, 0.0], [0.0, -2.0]])
    with pytest.warns(ConvergenceWarning):
        msgs = check_conv(None, opt)
    assert msgs == ["unable to evaluate scaled gradient",
                    "Model failed to converge: degenerate  Hessian with 1 negative eigenvalues"]


def test_singular_fit_message_and_actions():
    text = "boundary (singular) fit: see help('isSingular')"
    opt = make_optsum([0.5, 0.3, 5e-5], [0, -np.inf, 0], [0.5, 0.5, 0.5], -np.eye(3))
    with pytest.warns(ConvergenceWarning, match=r"boundary \(singular\) fit"):
        assert check_conv(None, opt) == [text]      # nothing else is checked
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # -Inf lower bounds (off-diagonals) never make a fit singular
        assert check_conv(None, make_optsum([0.5, 0.0, 0.5], [0, -np.inf, 0])) == []
        assert check_conv(None, opt, control=lmerControl(
            check_conv_singular=("ignore", 1e-4))) == []  # Hessian checks then skipped: no derivs
    with pytest.raises(FitError, match="isSingular"):
        check_conv(None, opt, control=lmerControl(check_conv_singular=("stop", 1e-4)))


def test_relative_gradient_and_fixed_effect_block():
    opt = make_optsum([1.0, 2.0], [0, -np.inf], [1e-4, 0.05], np.diag([1e3, 1e3]))
    with pytest.warns(ConvergenceWarning):
        msgs = check_conv(None, opt, control=lmerControl(check_conv_grad=("warning", 2e-3, 0.01)))
    assert msgs == ["Model failed to converge with max|relative grad| = 0.025 (tol = 0.01)"]
    opt = make_optsum([1.0, 2.0, 3.0], [0, -np.inf, -np.inf], [0, 0, 0],
                      np.diag([2.0, 3.0, -1.0]))
    with pytest.warns(ConvergenceWarning):
        msgs = check_conv(None, opt, n_theta=1)
    assert msgs[-2:] == [
        "Model failed to converge: degenerate fixed-effect Hessian with 1 negative eigenvalues",
        "Model failed to converge: degenerate  Hessian with 1 negative eigenvalues"]


# ----------------------------------------------------------------------------- OptSummary

def test_optsummary_json_roundtrip():
    f = Quadratic(A3, [0.7, -0.3, 1.2])
    opt = optimize_lmer(f, [1.0, 0.0, 1.0], [0, -np.inf, 0])
    check_conv(f, opt, [0, -np.inf, 0])
    text = json.dumps(opt.to_dict())
    back = OptSummary.from_dict(json.loads(text))
    assert back.optimizer == "nloptwrap" and back.feval == opt.feval == len(back.fitlog)
    assert np.array_equal(back.theta, opt.theta) and back.fmin == opt.fmin
    assert back.lower[1] == -np.inf and np.all(back.upper == np.inf)
    assert np.array_equal(back.derivs["Hessian"], opt.derivs["Hessian"])
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1]
               for a, b in zip(back.fitlog, opt.fitlog))
    assert back.settings["xtol_abs"] == 1e-8
    assert "Function evaluations" in str(back)


def test_verbose_prints_like_nloptr(capsys):
    f = Quadratic(A3, [0.7, -0.3, 1.2])
    opt = optimize_lmer(f, [1.0, 0.0, 1.0], [0, -np.inf, 0], verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "iteration: 1"
    assert out[1] == f"\tf(x) = {opt.fitlog[0][1]:f}"
    # the optimizer's evaluations, as nloptr prints them (not the polish's Newton step)
    assert sum(line.startswith("iteration: ") for line in out) == opt.optimizer_evals
    assert opt.feval == opt.optimizer_evals + opt.polish_steps == opt.optimizer_evals + 1
    optimize_lmer(f, [1.0, 0.0, 1.0], [0, -np.inf, 0], verbose=3)
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "\tx = ( 1.000000, 0.000000, 1.000000 )"


def test_optimize_glmer_stages():
    # stage 1: theta only, no derivatives; stage 2: (theta, beta) with adjusted NM steps
    f1 = Quadratic(np.eye(1) * 3, [0.6])
    lme4_path = glmerControl(optimizer=["bobyqa", "Nelder_Mead"])
    o1 = optimize_glmer(f1, [1.0], [0.0], stage=1, control=lme4_path)
    assert o1.optimizer == "bobyqa" and o1.derivs is None
    assert o1.theta == pytest.approx([0.6], abs=1e-5)
    f2 = Quadratic(A3, [0.6, -1.4, -1.0])
    o2 = optimize_glmer(f2, [0.6, -1.3, -1.1], [0, -np.inf, -np.inf], stage=2, n_theta=1,
                        beta_sd=[0.23, 0.3], control=lme4_path)
    assert o2.optimizer == "Nelder_Mead"
    assert o2.theta == pytest.approx(f2.c, abs=1e-3)
    assert o2.derivs is not None


def test_without_derivatives_only_the_singular_check_runs():
    # glmer with nAGQ = 0: its only stage computes no derivatives (lme4: checkConv(NULL, ...))
    f = Quadratic(np.diag([1.0, -1.0]), [0.5, 0.5])    # a saddle: Hessian checks would fail
    with pytest.warns(ConvergenceWarning, match="^convergence code 1 from bobyqa: NLOPT_MAXEVAL"):
        opt = optimize_glmer(f, [0.5, 0.5], [0.0, -np.inf], stage=1, nAGQ=0,
                             control=glmerControl(optimizer=["bobyqa", "Nelder_Mead"],
                                                  optCtrl={"maxfun": 20}))
    assert opt.derivs is None and opt.return_code == 1 and opt.feval == 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_conv(f, opt) == []
    with pytest.warns(ConvergenceWarning) as rec:
        msgs = check_conv(f, opt, compute_missing=True)
    assert opt.derivs is not None
    assert msgs == ["unable to evaluate scaled gradient",
                    "Model failed to converge: degenerate  Hessian with 1 negative eigenvalues"]
    assert [str(w.message) for w in rec] == msgs
