"""lmerpy.optimize on real LMM deviances against lme4 1.1-31's fits (tests/reference).

The deviance here is a small dense implementation of lme4's profiled deviance and its analytic
gradient (written for these tests, from lme4's design matrices in the goldens' ``design``
blocks), so the optimizer stage is tested independently of lmerpy.pls.

Tolerances: θ̂ to 1e-4 and the criterion to 1e-6 of lme4's (its optimizer stops at
xtol_rel = 1e-4); lme4's evaluation counts (``fit@optinfo$feval``) are quoted from R.
Tests of lme4's own path (its evaluations, restart_edge, snapping, the gradient restart) run
with ``LME4_PATH = lmerControl(polish=False)``; the default finishes at the optimum itself
(:mod:`lmerpy.optimize.polish`), which is at or below lme4's criterion.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import lmerpy.datasets
from lmerpy.errors import ConvergenceWarning
from lmerpy.warnings import SingularFitWarning
from lmerpy.optimize import (check_conv, derivs_analytic, deriv12, lmerControl,
                             minimize_bounded, optimize_glmer, optimize_lmer)
from lmerpy.optimize.lmer import lme4_start

REF = Path(__file__).parent / "reference"
#: lme4's path and stopping point (no polish, no restart of an unconverged fit)
LME4_PATH = lmerControl(polish=False)


def load(case):
    p = REF / f"{case}.json"
    if not p.exists():
        p = REF / "lmer" / f"{case}.json"
    return json.loads(p.read_text())


class DenseLmm:
    """lme4's profiled deviance (REML or ML) of an LMM, dense, from a golden's design block.

    ML:   d(θ) = log|A| + n (1 + log(2π r²/n)) - Σ log w,  A = Λ'Z'WZΛ + I
    REML: d(θ) = log|A| + log|R_X'R_X| + (n-p)(1 + log(2π r²/(n-p))) - Σ log w
    gradient: d log|A|/dθ_k = tr(A⁻¹ dA_k), dr²/dθ_k = -2 ρ'ZΛ_k û, and for REML
    d log|R_X'R_X|/dθ_k with d(R_X'R_X) = -(X'ZΛ_k C + C'Λ_k'Z'X - C' dA_k C), C = A⁻¹Λ'Z'X.
    """

    def __init__(self, ref, REML=None):
        d = ref["design"]
        zt = d["Zt"]
        Z = np.zeros((zt["ncol"], zt["nrow"]))
        Z[np.asarray(zt["j"]), np.asarray(zt["i"])] = zt["x"]
        n = Z.shape[0]
        X = np.asarray(d["X"], dtype=float).reshape(n, -1)
        if d.get("y") is not None:
            y = np.asarray(d["y"], dtype=float)
        else:
            data = lmerpy.datasets.load(ref["data"])
            y = data[ref["formula"].split("~")[0].strip()].to_numpy(dtype=float)
        off = np.zeros(n) if d.get("offset") is None else np.asarray(d["offset"], float)
        w = np.ones(n) if d.get("prior_weights") is None else np.asarray(d["prior_weights"],
                                                                           float)
        sw = np.sqrt(w)
        self.X, self.Z, self.y = X * sw[:, None], Z * sw[:, None], (y - off) * sw
        self.sumlogw = float(np.sum(np.log(w)))
        lt = d["Lambdat"]
        i, j = np.asarray(lt["i"]), np.asarray(lt["j"])
        order = np.lexsort((i, j))                      # CSC order, as Lind
        self.lt_i, self.lt_j = i[order], j[order]
        self.q = lt["nrow"]
        self.lind = np.asarray(d["Lind"]) - 1
        self.lower = np.array([-np.inf if v is None else v for v in d["lower"]], dtype=float)
        self.theta0 = np.where(self.lower == 0, 1.0, 0.0)
        self.REML = bool(ref["REML"] if REML is None else REML)
        self.n, self.p = self.X.shape
        self.n_evals = 0

    def _lambda(self, theta=None, k=None):
        Lt = np.zeros((self.q, self.q))
        if k is None:
            Lt[self.lt_i, self.lt_j] = np.asarray(theta, float)[self.lind]
        else:
            m = self.lind == k
            Lt[self.lt_i[m], self.lt_j[m]] = 1.0
        return Lt.T

    def _pls(self, theta):
        ZL = self.Z @ self._lambda(theta)
        A = ZL.T @ ZL + np.eye(self.q)
        B = ZL.T @ self.X
        M = np.block([[A, B], [B.T, self.X.T @ self.X]])
        sol = np.linalg.solve(M, np.concatenate([ZL.T @ self.y, self.X.T @ self.y]))
        u, beta = sol[:self.q], sol[self.q:]
        rho = self.y - ZL @ u - self.X @ beta
        C = np.linalg.solve(A, B)
        return ZL, A, C, self.X.T @ self.X - B.T @ C, u, beta, rho, rho @ rho + u @ u

    def __call__(self, theta):
        self.n_evals += 1
        ZL, A, C, RXtRX, u, beta, rho, r2 = self._pls(theta)
        ld = np.linalg.slogdet(A)[1]
        if self.REML:
            m = self.n - self.p
            return ld + np.linalg.slogdet(RXtRX)[1] + m * (1 + np.log(2 * np.pi * r2 / m)) \
                - self.sumlogw
        return ld + self.n * (1 + np.log(2 * np.pi * r2 / self.n)) - self.sumlogw

    def gradient(self, theta):
        ZL, A, C, RXtRX, u, beta, rho, r2 = self._pls(theta)
        Ainv, Minv = np.linalg.inv(A), np.linalg.inv(RXtRX)
        m = self.n - self.p if self.REML else self.n
        g = np.empty(self.lower.size)
        for k in range(g.size):
            ZLk = self.Z @ self._lambda(k=k)
            dA = ZLk.T @ ZL + ZL.T @ ZLk
            g[k] = np.trace(Ainv @ dA) - 2 * (m / r2) * (rho @ (ZLk @ u))
            if self.REML:
                dM = -(self.X.T @ ZLk @ C + C.T @ ZLk.T @ self.X - C.T @ dA @ C)
                g[k] += np.trace(Minv @ dM)
        return g

    def beta_hat(self, theta):
        return self._pls(theta)[5]


def criterion(ref):
    return ref["REMLcrit"] if ref["REML"] else ref["deviance"]


def lme4_messages(ref):
    """lme4's checkConv messages of a golden (r_messages holds optinfo's conv messages)."""
    return list(ref.get("r_messages") or [])


def conv_cases():
    out = []
    for p in sorted(REF.glob("*.json")) + sorted((REF / "lmer").glob("*.json")):
        ref = json.loads(p.read_text())
        if ref.get("fn") == "lmer" and ref.get("design") and ref.get("theta") is not None:
            out.append(ref.get("id", p.stem))
    return out


# ----------------------------------------------------------------------------- the deviance

@pytest.mark.parametrize("case", ["sleep_slope", "sleep_slope_ml", "penicillin_crossed",
                                  "pastes_nested", "weights_column", "offset_term"])
def test_dense_deviance_matches_lme4_and_its_gradient(case):
    ref = load(case)
    f = DenseLmm(ref)
    th = np.asarray(ref["theta"])
    assert f(th) == pytest.approx(criterion(ref), abs=1e-6)
    for x in (f.theta0, th):
        fd = deriv12(f, x, delta=1e-5)["gradient"]
        assert f.gradient(x) == pytest.approx(fd, abs=2e-5 * max(1.0, np.max(np.abs(fd))))


# ----------------------------------------------------------------------------- sleepstudy

@pytest.mark.parametrize("case,lme4_feval,lme4_status", [
    ("sleep_slope", 43, "NLOPT_XTOL_REACHED"), ("sleep_slope_ml", 53, "NLOPT_SUCCESS")])
def test_sleepstudy_reaches_lme4_theta(case, lme4_feval, lme4_status):
    ref = load(case)
    f = DenseLmm(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # no convergence warning of any kind
        opt = optimize_lmer(f, f.theta0, f.lower, LME4_PATH)
        assert check_conv(f, opt, f.lower, lmerControl()) == []
    assert opt.theta == pytest.approx(ref["theta"], abs=1e-4)
    assert opt.fmin == pytest.approx(criterion(ref), abs=1e-6)
    assert opt.return_code == 0 and opt.message.startswith(lme4_status + ": ")
    # the same NLopt BOBYQA with lme4's settings follows lme4's path
    assert opt.optimizer_evals == lme4_feval
    assert opt.feval == len(opt.fitlog) == lme4_feval
    assert np.array_equal(opt.fitlog[0][0], f.theta0)
    assert all(v == pytest.approx(f(t), abs=1e-9) for t, v in opt.fitlog[:5])
    # analytic derivatives at the optimum (lme4's finite differences: 3.2e-4 for REML)
    assert np.max(np.abs(opt.derivs["gradient"])) < 2e-3
    assert np.all(np.linalg.eigvalsh(opt.derivs["Hessian"]) > 0)


@pytest.mark.parametrize("case", ["sleep_slope", "sleep_slope_ml"])
def test_the_default_finishes_at_the_optimum(case):
    """The default: lme4's BOBYQA path, then Newton steps on the analytic gradient (two here:
    the second below the criterion's rounding, kept because the gradient shrinks) to the
    optimum itself, which is below lme4's stopping point (by 1.5e-9 and 2.6e-8)."""
    ref = load(case)
    f = DenseLmm(ref)
    lme4 = optimize_lmer(f, f.theta0, f.lower, LME4_PATH)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = optimize_lmer(f, f.theta0, f.lower)
        assert check_conv(f, opt, f.lower, lmerControl()) == []
    assert opt.optimizer_evals == lme4.optimizer_evals            # the same BOBYQA run
    assert np.array_equal([t for t, _ in opt.fitlog[:lme4.feval]], [t for t, _ in lme4.fitlog])
    assert opt.polish_steps == 2 and not opt.kkt_restart and not opt.retried
    assert opt.feval == lme4.feval + 2                            # the steps' evaluations
    assert opt.fmin < criterion(ref) - 1e-9
    assert np.max(np.abs(opt.derivs["gradient"])) < 1e-6
    assert np.all(np.linalg.eigvalsh(opt.derivs["Hessian"]) > 0)
    assert opt.theta == pytest.approx(ref["theta"], rel=1e-4)   # lme4's xtol_rel


@pytest.mark.parametrize("optimizer", ["bobyqa", "Nelder_Mead", "lbfgsb"])
@pytest.mark.parametrize("case", ["sleep_slope", "sleep_slope_ml"])
def test_other_optimizers_reach_lme4_theta(case, optimizer):
    ref = load(case)
    f = DenseLmm(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = optimize_lmer(f, f.theta0, f.lower, lmerControl(optimizer=optimizer))
        assert check_conv(f, opt, f.lower, lmerControl()) == []
    assert opt.theta == pytest.approx(ref["theta"], abs=1e-4)
    assert opt.fmin <= criterion(ref) + 1e-6
    assert opt.fmin == pytest.approx(criterion(ref), abs=1e-6)


def test_lbfgsb_uses_far_fewer_evaluations():
    ref = load("sleep_slope")
    f = DenseLmm(ref)
    bob = optimize_lmer(f, f.theta0, f.lower)
    lbf = optimize_lmer(f, f.theta0, f.lower, lmerControl(optimizer="lbfgsb"))
    assert lbf.feval < bob.feval / 1.5
    assert lbf.fmin == pytest.approx(bob.fmin, abs=1e-6)


# ----------------------------------------------------------------------------- crossed, nested

@pytest.mark.parametrize("case,groups,lme4_feval", [
    ("penicillin_crossed", ["plate", "sample"], 41),
    ("pastes_nested", [("cask", "batch"), "batch"], 36)])
def test_lme4_start_and_path_on_scalar_models(case, groups, lme4_feval):
    ref = load(case)
    f = DenseLmm(ref)
    data = lmerpy.datasets.load(ref["data"])
    y = data[ref["formula"].split("~")[0].strip()].to_numpy(float)
    codes = [data[g].astype(str).to_numpy() if isinstance(g, str) else
             (data[g[0]].astype(str) + ":" + data[g[1]].astype(str)).to_numpy() for g in groups]
    start = lme4_start(y, codes, f.lower)
    start = f.theta0 if start is None else start
    opt = optimize_lmer(f, start, f.lower, LME4_PATH)
    assert opt.theta == pytest.approx(ref["theta"], abs=1e-4)
    assert opt.fmin == pytest.approx(criterion(ref), abs=1e-6)
    assert opt.optimizer_evals == lme4_feval


def test_lme4_start_values():
    # R: environment(lmer(..., devFunOnly = TRUE))$pp$theta
    d = lmerpy.datasets.load("Dyestuff2")
    assert lme4_start(d["Yield"], [d["Batch"].cat.codes]) == pytest.approx([0.340883385930185])
    d = lmerpy.datasets.load("Penicillin")
    assert lme4_start(d["diameter"], [d["plate"].cat.codes, d["sample"].cat.codes]) == \
        pytest.approx([1.74491502214429, 3.59401348179836])
    d = lmerpy.datasets.load("Pastes")
    assert lme4_start(d["strength"], [(d["cask"].astype(str) + d["batch"].astype(str)),
                                      d["batch"].cat.codes]) is None     # lme4 keeps 1, 1


# ----------------------------------------------------------------------------- singular, edges

def test_dyestuff2_singular_fit():
    ref = load("dyestuff2_singular")
    f = DenseLmm(ref)
    opt = optimize_lmer(f, f.theta0, f.lower)
    assert opt.theta[0] == 0.0                              # exactly on the bound
    assert opt.fmin == pytest.approx(criterion(ref), abs=1e-6)
    # restart_edge probed the bound: deviance rises into the interior, so no restart
    assert not opt.restarted
    probe = [v for t, v in opt.fitlog if t[0] == 1e-5]
    assert len(probe) == 1 and probe[0] > opt.fmin
    assert opt.derivs["gradient"] == pytest.approx([0.0], abs=1e-8)
    with pytest.warns(SingularFitWarning) as rec:
        msgs = check_conv(f, opt, f.lower, lmerControl())
    assert msgs == lme4_messages(ref) == ["boundary (singular) fit: see help('isSingular')"]
    assert [str(w.message) for w in rec] == [
        "boundary (singular) fit: see help(lmerpy.isSingular) and docs/errors.md"]
    assert [w.category for w in rec] == [SingularFitWarning]


def test_boundary_snapping():
    ref = load("dyestuff2_singular")
    f = DenseLmm(ref)

    def stops_near_zero(fun, x0, lower, upper):
        fun(x0)
        return {"x": [4e-6], "fun": fun([4e-6])}
    ctl = LME4_PATH.replace(optimizer=stops_near_zero)
    opt = optimize_lmer(f, [1.0], f.lower, ctl)
    assert opt.theta[0] == 0.0
    assert opt.fmin == f([0.0]) < f([4e-6])
    assert opt.feval == len(opt.fitlog) == 4      # start, 4e-6, the snap trial, final value
    off = optimize_lmer(f, [1.0], f.lower, ctl.replace(boundary_tol=0))
    assert off.theta[0] == 4e-6
    # not snapped when the bound is farther than boundary_tol
    far = optimize_lmer(f, [1.0], f.lower, ctl.replace(boundary_tol=1e-6))
    assert far.theta[0] == 4e-6
    # the default polishes instead: a Newton step from 4e-6 lands on the optimum, 0
    polished = optimize_lmer(f, [1.0], f.lower, lmerControl(optimizer=stops_near_zero,
                                                            boundary_tol=0))
    assert polished.polish_steps >= 1 and polished.fmin < off.fmin
    assert abs(polished.theta[0]) < 1e-8


def test_restart_edge():
    # lme4's Nelder-Mead from (0.5, 0, 0) ends with the slope's theta on its bound while the
    # deviance decreases into the interior: lme4's restart_edge restarts it and it reaches
    # lme4's optimum
    ref = load("sleep_slope")
    f = DenseLmm(ref)
    start = [0.5, 0.0, 0.0]
    ctl = LME4_PATH.replace(optimizer="Nelder_Mead")
    opt = optimize_lmer(f, start, f.lower, ctl)
    assert opt.restarted
    assert opt.theta == pytest.approx(ref["theta"], abs=1e-4)
    assert opt.fmin == pytest.approx(criterion(ref), abs=1e-6)
    stuck = optimize_lmer(f, start, f.lower, ctl.replace(restart_edge=False))
    assert not stuck.restarted
    assert np.any(stuck.theta == f.lower)
    assert stuck.fmin > criterion(ref) + 1.0
    # without restart_edge, the default's optimality test on the bound restarts it too
    kkt = optimize_lmer(f, start, f.lower, lmerControl(optimizer="Nelder_Mead",
                                                       restart_edge=False))
    assert kkt.kkt_restart and not kkt.restarted
    assert kkt.fmin < criterion(ref) + 1e-6


def test_restart_edge_with_a_gradient_method():
    # a boundary stationary point (zero projected gradient, negative curvature): the
    # gradient-based restart starts inside the bound
    ref = load("orthodont_ml")
    f = DenseLmm(ref)
    first = minimize_bounded(f, f.theta0, f.lower, method="lbfgsb", grad=f.gradient)
    assert first.x[2] == 0.0
    opt = optimize_lmer(f, f.theta0, f.lower, lmerControl(optimizer="lbfgsb"))
    assert opt.restarted and opt.theta[2] > 0.1
    assert opt.fmin <= criterion(ref)


# ----------------------------------------------------------------------------- convergence checks

def test_maxeval_is_a_genuine_non_convergence():
    ref = load("sleep_slope")
    f = DenseLmm(ref)
    ctl = lmerControl(optCtrl={"maxeval": 3})
    with pytest.warns(ConvergenceWarning) as rec:
        opt = optimize_lmer(f, f.theta0, f.lower, ctl)
        msgs = check_conv(f, opt, f.lower, ctl)
    assert opt.feval == 3 and opt.return_code == 5 and not opt.retried
    # lme4 1.1-31, same call: optwrap's warning, then checkConv's two messages
    assert str(rec[0].message) == (
        "convergence code 5 from nloptwrap: NLOPT_MAXEVAL_REACHED: Optimization stopped "
        "because maxeval (above) was reached.")
    assert msgs == ["unable to evaluate scaled gradient",
                    "Model failed to converge: degenerate  Hessian with 1 negative eigenvalues"]
    assert opt.warnings == [str(rec[0].message)]
    assert [str(w.message) for w in rec[1:]] == msgs


def stops_at(theta_stop):
    """A custom optimizer that stops at ``theta_stop`` when started from elsewhere (as BOBYQA
    stopped for lme4) and runs NLopt BOBYQA with lme4's settings when restarted from there."""
    def optimizer(fun, x0, lower, upper):
        if not np.array_equal(x0, theta_stop):
            return {"x": theta_stop, "fun": fun(theta_stop)}
        return minimize_bounded(fun, x0, lower, upper, method="bobyqa")
    return optimizer


def test_restart_when_the_scaled_gradient_fails():
    # Orthodont ML: lme4's BOBYQA stopped short with a warning (its own θ̂ has max|grad| =
    # 0.0116729 by the same scaled test). Where NLopt's BOBYQA stops depends on the last bits of
    # the arithmetic (with this deviance: no warning, 0.0173164 or 0.0107041 under three BLAS
    # kernels), so the optimizer here stops at lme4's θ̂ itself
    ref = load("orthodont_ml")
    f = DenseLmm(ref)
    th = np.asarray(ref["theta"])
    d = derivs_analytic(f, th, f.lower)
    from lmerpy.optimize.checks import gradient_message
    assert gradient_message(d, th, lmerControl().check_conv_grad)[1] == \
        ref["r_messages"][0]   # lme4's message, reproduced from the analytic gradient
    ctl = lmerControl(optimizer=stops_at(th), polish=False)
    with pytest.warns(ConvergenceWarning) as rec:
        lme4 = optimize_lmer(f, f.theta0, f.lower, ctl)      # lme4's behaviour: it warns
        assert check_conv(f, lme4, f.lower, lmerControl()) == ref["r_messages"]
    assert [str(w.message) for w in rec] == ref["r_messages"] and not lme4.retried
    # restart_unconverged: BOBYQA once more from there lowers the deviance by 6.9e-6, yet
    # stops short again on the flat ridge (the polish, below, does not)
    with pytest.warns(ConvergenceWarning, match=r"max\|grad\|") as rec:
        opt = optimize_lmer(f, f.theta0, f.lower, ctl.replace(restart_unconverged=True))
        msgs = check_conv(f, opt, f.lower, lmerControl())
    assert opt.retried and not opt.polish_steps
    assert opt.fmin < criterion(ref) - 5e-6           # better than lme4's optimum
    assert len(msgs) == 1 and float(msgs[0].split("= ")[1].split(" ")[0]) < 0.0116729


def test_the_default_converges_where_lme4_stopped_short():
    # Orthodont ML by default: BOBYQA's path, then the polish; the optimum is the same (to
    # the criterion's rounding) whichever BLAS kernel the arithmetic runs on
    ref = load("orthodont_ml")
    f = DenseLmm(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = optimize_lmer(f, f.theta0, f.lower)
        assert check_conv(f, opt, f.lower, lmerControl()) == []
    assert opt.fmin == pytest.approx(criterion(ref) - 9.990744e-6, abs=1e-11)
    assert np.max(np.abs(opt.derivs["gradient"])) < 2e-6
    assert np.all(np.linalg.eigvalsh(opt.derivs["Hessian"]) > 0)
    # from lme4's own θ̂ as well
    at_lme4 = optimize_lmer(f, f.theta0, f.lower,
                            lmerControl(optimizer=stops_at(np.asarray(ref["theta"]))))
    assert at_lme4.polish_steps >= 1 and not at_lme4.retried
    assert at_lme4.fmin == pytest.approx(opt.fmin, abs=1e-11)
    assert at_lme4.theta == pytest.approx(opt.theta, abs=1e-5)


#: lme4's message that its end point is a saddle or a ridge, not a minimum
NOT_A_MINIMUM = "Model failed to converge: degenerate  Hessian with 1 negative eigenvalues"


@pytest.mark.parametrize("case", conv_cases())
def test_no_false_convergence_warnings(case):
    """On every lme4 golden LMM the checks give lme4's messages, and the fit is at least as
    good as lme4's; where lme4 warned only about a gradient that the polish fixes, none.
    Where lme4 said its end point is not a minimum (double_bar_factor, ``(f||g)`` with an
    intercept: a flat ridge), the fit continues to a lower deviance and the Hessian's
    near-zero eigenvalue there gives one of lme4's two non-identifiability messages."""
    ref = load(case)
    f = DenseLmm(ref)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        opt = optimize_lmer(f, f.theta0, f.lower)
        msgs = check_conv(f, opt, f.lower, lmerControl())
    assert opt.fmin <= criterion(ref) + 1e-6
    if NOT_A_MINIMUM in lme4_messages(ref):
        assert opt.kkt_restart and opt.fmin < criterion(ref) - 1e-7
        assert len(msgs) == 1 and msgs[0] in (
            " Hessian is numerically singular: parameters are not uniquely determined",
            "Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?")
        return
    expected = [m for m in lme4_messages(ref) if not m.startswith("Model failed to converge "
                                                                    "with max|grad|")]
    assert msgs == expected
    assert not opt.kkt_restart


# ----------------------------------------------------------------------------- (θ, β) vector

class JointML:
    """ML deviance over (θ, β) (σ profiled), a stand-in for glmer's second stage."""

    def __init__(self, dense):
        self.d = dense

    def __call__(self, x):
        d = self.d
        nt = d.lower.size
        theta, beta = x[:nt], x[nt:]
        ZL = d.Z @ d._lambda(theta)
        A = ZL.T @ ZL + np.eye(d.q)
        r = d.y - d.X @ beta
        u = np.linalg.solve(A, ZL.T @ r)
        r2 = np.sum((r - ZL @ u) ** 2) + u @ u
        return np.linalg.slogdet(A)[1] + d.n * (1 + np.log(2 * np.pi * r2 / d.n))


def test_joint_theta_beta_optimization():
    ref = load("sleep_slope_ml")
    dense = DenseLmm(ref)
    f = JointML(dense)
    nt = dense.lower.size
    x0 = np.concatenate([ref["theta"], dense.beta_hat(ref["theta"])]) + [0.05, 0, 0.02, 2, -0.5]
    lower = np.concatenate([dense.lower, np.full(2, -np.inf)])
    opt = optimize_glmer(f, x0, lower, stage=2, n_theta=nt,
                         beta_sd=list(ref["se"].values()), control=None)
    assert opt.optimizer == "Nelder_Mead"
    assert opt.theta[:nt] == pytest.approx(ref["theta"], abs=1e-4)
    assert opt.theta[nt:] == pytest.approx(list(ref["fixef"].values()), abs=1e-3)
    assert opt.fmin == pytest.approx(ref["deviance"], abs=1e-6)
    assert opt.derivs["method"] == "finite differences"      # no gradient: lme4's deriv12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_conv(f, opt, lower, n_theta=nt) == []
