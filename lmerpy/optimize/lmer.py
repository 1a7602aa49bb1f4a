"""The optimizer stage of lmer and glmer (R: ``lme4::optimizeLmer``, ``lme4:::optimizeGlmer``,
``lme4:::optwrap``, ``lme4:::check.boundary``).

``devfun`` is any callable θ -> deviance (``lmerpy.pls.LmmDeviance`` for lmer); when it has a
``gradient(θ)`` method the gradient-based optimizers (``"lbfgsb"``; ``"newton_ai"``, which
also needs the LMM's average-information matrix, :mod:`lmerpy.optimize.newton`) and the
analytic post-fit derivatives use it. After :func:`optimize_lmer` returns, the last call to ``devfun`` was at the optimum (unless
``use_last_params``), so its internal state (factor, β̂, û) belongs to θ̂, as in lme4.
"""
from __future__ import annotations

import time

import numpy as np

from ..warnings import ConvergenceWarning, warn
from .control import Control, ControlError, glmerControl, lmerControl
from ..design.scales import start_par
from .coords import ScaledDeviance, coordinate_scale, to_model_coordinates
from .derivs import compute_derivs, fd_gradient, has_gradient
from .laplace import LaplaceFailed, has_laplace_gradient, laplace_derivs, minimize_laplace
from .minimize import DEFAULT_SETTINGS, MinimizeResult, minimize_bounded
from .newton import NEWTON_SETTINGS, model_derivatives, trust_newton
from .optsum import OptSummary
from .polish import continue_from, kkt_restart_point, newton_polish, theta_columns

__all__ = ["optimize_lmer", "optimize_glmer", "optimizer_settings", "lme4_start",
           "lme4_start_theta", "lmer_optimizer", "RESTART_EDGE_STEP"]

#: Step of restart_edge's one-sided difference into the interior (lme4's ``btol``).
RESTART_EDGE_STEP = 1e-5
#: Gradient-based fits of models with at least this many random effects take the post-fit
#: Hessian from forward differences of the analytic gradient (k gradients, each a large
#: factorisation); smaller ones from central differences (2k, cheap), accurate to δ² rather
#: than δ: lme4's checks then see a ridge's zero eigenvalue (double_bar_factor's is -2e-7
#: centrally, 1e-3 forwards, which would pass as a regular optimum).
FORWARD_DIFFERENCE_MIN_Q = 1000
#: How far into the interior a gradient-based optimizer is restarted by restart_edge.
GRADIENT_RESTART_STEP = 1e-2
#: The polish keeps the Hessian (and refreshes only the gradient) when its Newton steps moved
#: θ by at most this much; farther, the derivatives are computed afresh at the final point.
REDIFFERENCE_STEP = 1e-3

_NM_KEYS = {"maxfun": "maxeval", "FtolAbs": "ftol_abs", "FtolRel": "ftol_rel",
            "XtolRel": "xtol_rel", "xst": "initial_step", "xt": "xtol_abs",
            "MinfMax": "stopval"}
_NM_IGNORED = {"iprint", "verbose", "warnOnly"}
_BOBYQA_IGNORED = {"iprint", "npt", "obstop", "force.start", "force_start"}
_NLOPTWRAP_KEYS = {"algorithm", "xtol_abs", "ftol_abs", "xtol_rel", "ftol_rel", "maxeval",
                   "maxtime", "stopval", "initial_step", "population"}
_NLOPTWRAP_IGNORED = {"print_level"}
_LBFGSB_KEYS = {"ftol", "gtol", "maxiter", "maxfun", "maxcor", "maxls"}
_GRADIENT_METHODS = ("lbfgsb", "newton_ai")


def _reject(optimizer, unknown, allowed):
    raise ControlError(f"optCtrl: unknown setting(s) {', '.join(sorted(unknown))} for optimizer "
                       f"{optimizer!r}; allowed: {', '.join(sorted(allowed))}")


def optimizer_settings(optimizer, optCtrl, x0, *, adj=False, n_theta=None, beta_sd=None):
    """Translate an lme4 optimizer name and its ``optCtrl`` into a method and NLopt/scipy
    settings (R: the defaults in ``nloptwrap``, ``minqa::bobyqa``, ``lme4::Nelder_Mead`` and
    ``optwrap(adj = TRUE)`` for glmer's second stage; lmerpy's ``"lbfgsb"`` and
    ``"newton_ai"`` with their own defaults).

    Returns
    -------
    method : str
    settings : dict
    x0 : ndarray
        The start (``"bobyqa"`` moves an all-zero start to 0.001, as lme4's optwrap).
    """
    optCtrl = dict(optCtrl or {})
    x0 = np.array(x0, dtype=float).ravel()
    n = x0.size
    if optimizer == "nloptwrap":
        unknown = set(optCtrl) - _NLOPTWRAP_KEYS - _NLOPTWRAP_IGNORED
        if unknown:
            _reject(optimizer, unknown, _NLOPTWRAP_KEYS)
        st = dict(DEFAULT_SETTINGS["bobyqa"])
        st["algorithm"] = "NLOPT_LN_BOBYQA"
        st.update({k: v for k, v in optCtrl.items() if k in _NLOPTWRAP_KEYS})
        method = str(st["algorithm"])
        return method, st, x0
    if optimizer == "bobyqa":
        allowed = {"rhobeg", "rhoend", "maxfun"}
        unknown = set(optCtrl) - allowed - _BOBYQA_IGNORED
        if unknown:
            _reject(optimizer, unknown, allowed)
        if np.all(x0 == 0):
            x0[:] = 0.001
        rhobeg = optCtrl.get("rhobeg")
        rhoend = optCtrl.get("rhoend")
        if adj:
            rhobeg = 2e-4 if rhobeg is None else rhobeg
            rhoend = 2e-7 if rhoend is None else rhoend
        if rhobeg is None:
            rhobeg = min(0.95, 0.2 * float(np.max(np.abs(x0))))
        if rhoend is None:
            rhoend = 1e-6 * rhobeg
        st = {"initial_step": float(rhobeg), "xtol_abs": float(rhoend), "xtol_rel": 0.0,
              "ftol_abs": 0.0,
              "maxeval": int(optCtrl.get("maxfun", 10000))}
        return "bobyqa", st, x0
    if optimizer == "Nelder_Mead":
        unknown = set(optCtrl) - set(_NM_KEYS) - _NM_IGNORED
        if unknown:
            _reject(optimizer, unknown, _NM_KEYS)
        xst = optCtrl.get("xst")
        if xst is None and adj and n_theta is not None:
            bsd = np.full(n - n_theta, 10.0) if beta_sd is None else \
                np.minimum(np.asarray(beta_sd, dtype=float).ravel(), 10.0)
            xst = 0.2 * np.concatenate([np.full(n_theta, 0.1), bsd])
        if xst is None:
            xst = np.full(n, 0.02)
        xst = np.broadcast_to(np.asarray(xst, dtype=float), (n,)).copy()
        xt = optCtrl.get("xt")
        xt = xst * 5e-4 if xt is None else np.broadcast_to(np.asarray(xt, float), (n,)).copy()
        st = dict(DEFAULT_SETTINGS["nelder_mead"])
        st.update({"initial_step": xst, "xtol_abs": xt})
        for k, v in optCtrl.items():
            if k in _NM_KEYS and k not in ("xst", "xt"):
                st[_NM_KEYS[k]] = v
        return "nelder_mead", st, x0
    if optimizer == "lbfgsb":
        unknown = set(optCtrl) - _LBFGSB_KEYS
        if unknown:
            _reject(optimizer, unknown, _LBFGSB_KEYS)
        st = dict(DEFAULT_SETTINGS["lbfgsb"])
        st.update(optCtrl)
        return "lbfgsb", st, x0
    if optimizer == "newton_ai":
        unknown = set(optCtrl) - set(NEWTON_SETTINGS)
        if unknown:
            _reject(optimizer, unknown, NEWTON_SETTINGS)
        st = dict(NEWTON_SETTINGS)
        st.update(optCtrl)
        return "newton_ai", st, x0
    raise ControlError(f"unknown optimizer {optimizer!r}")


def _return_code(optimizer, status):
    """lme4's optimizer convergence code (R: ``optinfo$conv$opt``) from NLopt's status."""
    if optimizer == "nloptwrap":
        return status if (status < 0 or status == 5) else 0
    if optimizer == "bobyqa":
        return 1 if status == 5 else (status if status < 0 else 0)
    if optimizer == "Nelder_Mead":
        return 4 if status == 5 else (status if status < 0 else 0)
    if optimizer in _GRADIENT_METHODS:
        return status if status in (5, -4, -5) else 0
    return 0 if status >= 0 else status


def _run_callable(opt_fun, devfun, x0, lower, upper, optCtrl, verbose, fitlog):
    from .minimize import Recorder
    rec = Recorder(devfun, verbose=verbose, fitlog=fitlog)
    res = opt_fun(rec, x0.copy(), lower.copy(), upper.copy(), **(optCtrl or {}))
    get = (lambda k, d=None: res.get(k, d)) if isinstance(res, dict) else \
        (lambda k, d=None: getattr(res, k, d))
    x = get("x", get("par"))
    if x is None:
        raise ControlError("a custom optimizer must return 'x' (or 'par')")
    x = np.asarray(x, dtype=float).ravel()
    f = get("fun", get("fval"))
    f = float(devfun(x)) if f is None else float(f)
    code = int(get("return_code", get("conv", get("convergence", 0))) or 0)
    return MinimizeResult(x=x, fun=f, feval=int(get("feval", rec.count)), status=code,
                          message=str(get("message", "")),
                          method=getattr(opt_fun, "__name__", "custom"),
                          settings=dict(optCtrl or {}), fitlog=[])


def _run(optimizer, devfun, x0, lower, upper, optCtrl, verbose, fitlog, adj, n_theta,
         beta_sd, finish=False):
    """One optimizer run (R: ``optwrap`` without the derivatives); ``finish``: glmer's
    gradient-based run ends with Newton steps at the gradient's zero
    (:func:`~.laplace.minimize_laplace`)."""
    if callable(optimizer):
        res = _run_callable(optimizer, devfun, x0, lower, upper, optCtrl, verbose, fitlog)
        return res, res.status, res.settings
    method, st, x0 = optimizer_settings(optimizer, optCtrl, x0, adj=adj, n_theta=n_theta,
                                        beta_sd=beta_sd)
    grad = devfun.gradient if has_gradient(devfun) else None
    if method == "lbfgsb" and grad is None and has_laplace_gradient(devfun):
        # glmer: the Laplace deviance at the mode and its gradient (.laplace)
        try:
            res = minimize_laplace(devfun, x0, lower, upper, st, verbose=verbose,
                                   fitlog=fitlog, beta_scale=beta_sd if adj else None,
                                   whiten=adj, finish=finish)
        except LaplaceFailed:
            # PIRLS failed at a quasi-Newton trial point: lme4's optimizer for the stage
            return _run("Nelder_Mead" if adj else "bobyqa", devfun, x0, lower, upper, {},
                        verbose, fitlog, adj, n_theta, beta_sd)
        st = dict(res.settings)
        st["method"] = method
        st["objective"] = "laplace"
        return res, _return_code(optimizer, res.status), st
    if method in _GRADIENT_METHODS and grad is None:
        raise ControlError(f"optimizer {method!r} needs a deviance with a gradient() method")
    derivs2 = model_derivatives(devfun) if method == "newton_ai" else None
    if method == "newton_ai" and derivs2 is None:
        raise ControlError("optimizer 'newton_ai' needs an LMM deviance (lmerpy.pls.LmmDeviance) "
                           "or a deviance with an information() method")
    rectify = (getattr(devfun, "rectify_theta", None)
               if getattr(devfun, "par_is_theta", True) else None)
    lo = lower
    if method in _GRADIENT_METHODS and callable(rectify):
        # Without the bounds at 0: the deviance is even in each column of a term's template,
        # so 0 is a stationary point of every diagonal θ, where a projected gradient method
        # stops for good; unbounded, it passes through, and the signs are fixed afterwards
        # (MixedModels.jl's rectify!)
        lo = np.where(lower == 0, -np.inf, lower)
    if method == "newton_ai":
        if "final_step" not in (optCtrl or {}) and \
                int(getattr(devfun, "q", 0) or 0) >= FORWARD_DIFFERENCE_MIN_Q:
            st["final_step"] = False    # a large model's evaluation costs a large factorisation
        res = trust_newton(devfun, derivs2, x0, lo, upper, settings=st, verbose=verbose,
                           fitlog=fitlog)
    else:
        res = minimize_bounded(devfun, x0, lo, upper, method=method, grad=grad,
                               settings=st, verbose=verbose, fitlog=fitlog)
    if lo is not lower:
        res.x = np.asarray(rectify(res.x), dtype=float)
    st = dict(res.settings)
    st["method"] = method
    return res, _return_code(optimizer, res.status), st


def _gradient_evals(res):
    """Gradient evaluations of one optimizer run (L-BFGS-B: one per evaluation)."""
    if hasattr(res, "gevals"):
        return int(res.gevals)
    return int(res.feval) if getattr(res, "method", "") in ("lbfgsb", "nlopt_lbfgs") else 0


def _gradient_based(optimizer, optCtrl):
    if optimizer in _GRADIENT_METHODS:
        return True
    alg = str((optCtrl or {}).get("algorithm", "")).upper()
    return optimizer == "nloptwrap" and ("_LD_" in alg or alg.startswith("LD_"))


def _snap(f_logged, theta, fval, lower, boundary_tol, upper=None):
    """Boundary snapping (R: ``lme4:::check.boundary``): each parameter within
    ``boundary_tol`` inside its lower bound — or, as lme4 2.x, its upper bound (a correlation
    near ±1) — is put on the bound when that does not raise the deviance."""
    if not boundary_tol > 0:
        return theta, fval
    bdiff = theta - lower
    edge = np.flatnonzero((bdiff > 0) & (bdiff < boundary_tol))
    if upper is not None:
        udiff = upper - theta
        uedge = np.flatnonzero((udiff > 0) & (udiff < boundary_tol))
    else:
        uedge = edge[:0]
    if not edge.size and not uedge.size:
        return theta, fval
    pp = theta.copy()
    for bound, idx in ((lower, edge), (upper, uedge)):
        for i in idx:
            t = theta.copy()
            t[i] = bound[i]
            if f_logged(t) <= fval:
                pp[i] = bound[i]
    if np.array_equal(pp, theta):
        return theta, fval
    fnew = f_logged(pp)
    if fnew <= fval:
        return pp, fnew
    return theta, fval


def _fails_gradient_check(derivs, theta, lower, control, upper=None):
    """Would lme4's scaled-gradient check fail here (on a non-singular fit)?"""
    from .checks import gradient_message, near_bound
    cc = control.check_conv_grad
    sing = control.check_conv_singular
    if near_bound(theta, lower, upper, sing.tol):
        return False
    if not np.all(np.isfinite(derivs["gradient"])):
        return False
    c, msg = gradient_message(derivs, theta, cc)
    return msg is not None and msg.startswith("Model failed")


def _optimize(devfun, x0, lower, upper, control, optimizer, *, verbose, restart_edge,
              boundary_tol, calc_derivs, adj=False, n_theta=None, beta_sd=None, finish=False):
    t0 = time.perf_counter()
    x0 = np.array(x0, dtype=float).ravel()
    n = x0.size
    lower = np.full(n, -np.inf) if lower is None else \
        np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy()
    upper = np.full(n, np.inf) if upper is None else \
        np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy()
    lower = np.where(np.isnan(lower), -np.inf, lower)
    upper = np.where(np.isnan(upper), np.inf, upper)
    fitlog = []
    opt_name = optimizer if isinstance(optimizer, str) else \
        getattr(optimizer, "__name__", "custom")
    verbose = int(verbose or 0)

    def run(start):
        res, code, st = _run(optimizer, devfun, start, lower, upper, control.optCtrl, verbose,
                             fitlog, adj, n_theta, beta_sd, finish)
        warns = []
        if code != 0:
            w = f"convergence code {code} from {opt_name}"
            if res.message:
                w += f": {res.message}"
            warn(w, ConvergenceWarning)
            warns.append(w)
        return res, code, st, warns

    def f_logged(x):
        f = float(devfun(x))
        fitlog.append((np.array(x, dtype=float), f))
        return f

    res, code, st, warns = run(x0)
    gevals = _gradient_evals(res)
    theta, fval = res.x.copy(), res.fun
    restarted = False
    if restart_edge:
        bvals = np.flatnonzero(theta == lower)
        uvals = np.flatnonzero(theta == upper)
        if bvals.size or uvals.size:
            d0 = f_logged(theta)
            # the one-sided difference quotient into the interior, from each bound
            bgrad = []
            for i in bvals:
                t = theta.copy()
                t[i] = lower[i] + RESTART_EDGE_STEP
                bgrad.append((f_logged(t) - d0) / RESTART_EDGE_STEP)
            ugrad = []
            for i in uvals:
                t = theta.copy()
                t[i] = upper[i] - RESTART_EDGE_STEP
                ugrad.append((f_logged(t) - d0) / RESTART_EDGE_STEP)
            neg = bvals[np.asarray(bgrad) < 0]
            uneg = uvals[np.asarray(ugrad) < 0]
            if neg.size or uneg.size:
                if verbose:
                    print("some theta parameters on the boundary, restarting")
                restarted = True
                start = theta.copy()
                if _gradient_based(optimizer, control.optCtrl):
                    # a gradient method would stay put: the projected gradient is zero there
                    start[neg] = np.minimum(lower[neg] + GRADIENT_RESTART_STEP,
                                            0.5 * (lower[neg] + upper[neg]))
                    start[uneg] = np.maximum(upper[uneg] - GRADIENT_RESTART_STEP,
                                             0.5 * (lower[uneg] + upper[uneg]))
                res, code, st, warns2 = run(start)
                gevals += _gradient_evals(res)
                warns += warns2
                theta, fval = res.x.copy(), res.fun
    theta, fval = _snap(f_logged, theta, fval, lower, boundary_tol, upper)
    # gradient-based fits of large models difference the gradient forwards: k gradients, each
    # with a factorisation of its own, instead of 2k; the one at θ̂ is the optimizer's
    gradient_based = _gradient_based(optimizer, control.optCtrl)
    scheme = "forward" if gradient_based and int(getattr(devfun, "q", 0) or 0) >= \
        FORWARD_DIFFERENCE_MIN_Q else "central"
    derivs = None
    t_derivs = time.perf_counter()
    if calc_derivs:
        if verbose > 10:
            print("computing derivatives")
        derivs = _post_fit_derivs(devfun, theta, lower, upper, control, fval, scheme, st)
        derivs_evals = int(derivs.get("evals", 0))
    else:
        derivs_evals = 0
    t_derivs = time.perf_counter() - t_derivs
    # glmer's gradient-based runs end with their own Newton finish (minimize_laplace)
    kkt_restart, polish_steps = False, int(getattr(res, "polish_steps", 0) or 0)
    if (getattr(control, "polish", False) and derivs is not None
            and derivs["method"] == "analytic" and code == 0 and not gradient_based):
        # (a gradient-based optimizer stops on its own gradient test, and passes through 0
        # on the diagonal θ: nothing to finish)
        start = kkt_restart_point(theta, derivs, lower, upper, theta_columns(devfun),
                                  control.check_conv_grad.tol, control.check_conv_hess.tol)
        if start is not None:
            if verbose:
                print("the optimum fails the optimality (KKT) conditions, continuing")
            kkt_restart = True
            x2, f2, g2 = continue_from(devfun, start, lower, upper, verbose=verbose,
                                       fitlog=fitlog)
            gevals += g2
            t2, f2 = _snap(f_logged, x2, f2, lower, boundary_tol) if np.isfinite(f2) else (x2, f2)
            if f2 < fval:
                theta, fval = t2, f2
                t1 = time.perf_counter()
                derivs = compute_derivs(devfun, theta, lower, upper, control.use_gradient,
                                        fx=fval, scheme=scheme)
                derivs_evals += int(derivs.get("evals", 0))
                t_derivs += time.perf_counter() - t1
        theta0 = theta
        theta, fval, g, polish_steps = newton_polish(devfun, f_logged, theta, fval, derivs,
                                                     lower, upper)
        derivs_evals += polish_steps
        if polish_steps:
            t1 = time.perf_counter()
            if np.max(np.abs(theta - theta0)) > REDIFFERENCE_STEP:
                # the derivatives afresh at the final point (over a shorter step the Hessian
                # changes by ~1e-5 relative: Penicillin's step of 1e-4 moves it by 8e-6, less
                # than the error of lme4's finite-difference Hessian there, 2e-6 of its own)
                derivs = compute_derivs(devfun, theta, lower, upper, control.use_gradient,
                                        fx=fval, scheme=scheme)
                derivs_evals += int(derivs.get("evals", 0))
            else:
                derivs = dict(derivs, gradient=g)
            t_derivs += time.perf_counter() - t1
    retried = False
    # (not the Newton method: it stopped on its own test of the gradient with the model
    # Hessian, g'B⁻¹g/2 ≤ tol, which a restart from its end point would only repeat)
    if (control.restarts_unconverged and derivs is not None and derivs["method"] == "analytic"
            and code == 0 and optimizer != "newton_ai"
            and _fails_gradient_check(derivs, theta, lower, control, upper)):
        if verbose:
            print("gradient check failed at the optimum, restarting")
        retried = True
        res2, code2, st2, warns2 = run(theta)
        t2, f2 = _snap(f_logged, res2.x.copy(), res2.fun, lower, boundary_tol, upper)
        warns += warns2
        gevals += _gradient_evals(res2)
        if f2 < fval:
            theta, fval, res, code, st = t2, f2, res2, code2, st2
            t1 = time.perf_counter()
            derivs = compute_derivs(devfun, theta, lower, upper, control.use_gradient, fx=fval,
                                    scheme=scheme)
            derivs_evals += int(derivs.get("evals", 0))
            t_derivs += time.perf_counter() - t1
    elapsed = time.perf_counter() - t0 - t_derivs
    optsum = OptSummary(
        optimizer=opt_name, settings=st, theta_start=x0, theta=theta, fmin=float(fval),
        feval=len(fitlog), return_code=int(code), message=res.message, fitlog=fitlog,
        lower=lower, upper=upper, warnings=warns, status=int(res.status),
        restarted=restarted, retried=retried, kkt_restart=kkt_restart,
        polish_steps=polish_steps, optimizer_evals=int(res.feval),
        derivs_evals=derivs_evals, gradient_evals=gevals, elapsed=elapsed,
        derivs_elapsed=t_derivs)
    if derivs is not None:
        optsum.derivs = {k: derivs[k] for k in ("gradient", "Hessian", "method")}
    last_at_opt = derivs is None and bool(fitlog) and np.array_equal(fitlog[-1][0], theta)
    if not control.use_last_params and not last_at_opt:
        devfun(theta)
    return optsum


def glmer_hessian(control, devfun, st):
    """The post-fit Hessian's method of a glmer stage (``glmerControl(hessian=...)``):
    ``"gradient"`` (central differences of the Laplace deviance's analytic gradient) or
    ``"lme4"`` (lme4's finite differences of the fit's deviance); None for lmer controls.
    ``"auto"`` is ``"gradient"`` when the stage's optimizer minimised the Laplace deviance
    with that gradient (glmer's default path), ``"lme4"`` otherwise (lme4's optimizers, so
    that their path reproduces lme4's standard errors); ``"gradient"`` falls back to
    ``"lme4"`` where the deviance has no analytic gradient (nAGQ > 1)."""
    choice = getattr(control, "hessian", None)
    if choice is None:
        return None
    if choice == "auto":
        choice = "gradient" if st.get("objective") == "laplace" else "lme4"
    if choice == "gradient" and not has_laplace_gradient(devfun):
        choice = "lme4"
    return choice


def _post_fit_derivs(devfun, theta, lower, upper, control, fval, scheme, st):
    """The gradient and Hessian at the optimum (:func:`compute_derivs`; for glmer by the
    method :func:`glmer_hessian` picks)."""
    laplace = st.get("objective") == "laplace"
    if glmer_hessian(control, devfun, st) == "gradient":
        derivs = laplace_derivs(devfun, theta, lower, upper)
        if not laplace:
            # lme4's optimizer stopped near lme4's deviance's optimum: its gradient check
            # looks at that function's gradient (central differences, 2k evaluations)
            g, n = fd_gradient(devfun, theta, derivs["Hessian"], lower=lower, upper=upper)
            derivs["gradient"] = g
            derivs["evals"] += n
        derivs["gradient_of"] = "laplace" if laplace else "deviance"
        return derivs
    derivs = compute_derivs(devfun, theta, lower, upper, control.use_gradient, fx=fval,
                            scheme=scheme)
    if laplace:
        # the optimizer minimised the Laplace deviance at the mode: the gradient lme4's
        # check looks at is that function's (analytic); lme4's deviance, whose log|L|²
        # lags PIRLS's last step, has a gradient of ~1e-2 there (its minimiser differs at
        # second order). The Hessian is lme4's finite differences of lme4's deviance.
        derivs["gradient"] = np.asarray(devfun.laplace_gradient(theta), dtype=float)
        derivs["gradient_of"] = "laplace"
    return derivs


def optimize_lmer(devfun, theta0, lower, control=None, verbose=0, *, upper=None):
    """Minimize the profiled deviance over its parameters (R: ``lme4::optimizeLmer``): θ, or
    lme4 2.x's ``par`` for structured covariances (standard deviations and correlations).

    Runs the control's optimizer from ``theta0``; then, as lme4: ``restart_edge`` (a
    parameter on a bound while the one-sided difference quotient into the interior, step
    1e-5, is negative -> one restart from there), boundary snapping (each parameter within
    ``boundary_tol`` of a bound is moved onto it when that does not raise the deviance), and,
    with ``calc_derivs``, the gradient and Hessian at the optimum. The convergence checks are
    run separately by :func:`lmerpy.optimize.check_conv` (as lme4's ``lmer`` calls
    ``checkConv``). lme4 2.x tests the upper bounds too (restart_edge's test from an upper
    bound here asks the same question as from a lower one — does the deviance fall into the
    interior? — where lme4 2.1's difference quotient there has the opposite sign).

    Parameters
    ----------
    devfun : callable
        par -> deviance (θ -> deviance for unstructured terms); optional ``gradient``.
    theta0 : array_like
        Start (lme4: 1 on diagonals, 0 off them; SDs 1 and correlations 0 for ``par``).
    lower : array_like
        Lower bounds (0 on diagonals, -inf off them).
    control : Control, optional
        :func:`lmerControl` by default.
    verbose : int
        >= 1: each evaluation printed like lme4's nloptwrap output (``iteration: k`` /
        ``f(x) = ...``); >= 3: also θ.
    upper : array_like, optional
        Upper bounds (lme4 1.1: none; lme4 2.x: 1 for a correlation). Default: the
        deviance's ``upper`` when it has one, else none.

    Returns
    -------
    OptSummary
        An optimizer return code other than 0 is also emitted as a ConvergenceWarning
        ``convergence code 5 from nloptwrap: NLOPT_MAXEVAL_REACHED: ...`` (as lme4's optwrap).
    """
    if control is None:
        control = lmerControl()
    if not isinstance(control, Control):
        raise ControlError("control must come from lmerControl(); got "
                           f"{type(control).__name__}")
    if upper is None:
        upper = getattr(devfun, "upper", None)
    optimizer = lmer_optimizer(devfun, control)
    scale = _scale_for(devfun, optimizer, beta=False)
    return _scaled(devfun, theta0, lower, upper, scale, lambda f, x, lo, hi: _optimize(
        f, x, lo, hi, control, optimizer, verbose=verbose, restart_edge=control.restart_edge,
        boundary_tol=control.boundary_tol, calc_derivs=control.calc_derivs))


def _scale_for(devfun, optimizer, *, beta):
    """Optimizer-coordinate scales for ``devfun``'s design (:mod:`.coords`), None for a
    custom (callable) optimizer, which gets the model's coordinates as lme4's would."""
    design = getattr(devfun, "design", None)
    if design is None or callable(optimizer):
        return None
    return coordinate_scale(design, beta=beta)


def _scaled(devfun, x0, lower, upper, scale, run):
    """``run(devfun, x0, lower, upper)`` in optimizer coordinates x / scale, its OptSummary
    transformed back (see :mod:`.coords`); just ``run`` when ``scale`` is None."""
    if scale is None:
        return run(devfun, x0, lower, upper)
    s = np.asarray(scale, dtype=float)
    x0 = np.asarray(x0, dtype=float).ravel()
    lo = None if lower is None else \
        np.broadcast_to(np.asarray(lower, dtype=float), x0.shape) / s
    hi = None if upper is None else \
        np.broadcast_to(np.asarray(upper, dtype=float), x0.shape) / s
    opt = run(ScaledDeviance(devfun, s), x0 / s, lo, hi)
    return to_model_coordinates(opt, s)


def lmer_optimizer(devfun, control):
    """The optimizer :func:`optimize_lmer` runs (see :class:`lmerpy.optimize.Control`).

    The control's, except for ``"nloptwrap"`` (named, or the default None) with no
    ``optCtrl`` and a deviance with an analytic gradient, while ``control.gradient_min_q`` is
    not None: that becomes ``"newton_ai"`` (``"lbfgsb"`` when the deviance has no
    average-information matrix, i.e. is not an :class:`lmerpy.pls.LmmDeviance`) for models
    with at least ``gradient_min_q`` random effects and, for the default optimizer with
    ``polish`` on, for every model whose deviance has that matrix and whose parameters are θ
    (unstructured terms, the diagonal θ free of their bound 0 for Newton steps). Otherwise
    the default is lme4's ``"nloptwrap"``, then polished: a deviance with only a gradient,
    and lme4 2.x's structured covariances (``cs``, ``ar1``... whose standard deviations and
    correlations keep their bounds, where Newton steps can stall), keep BOBYQA's path and the
    KKT continuation of :mod:`.polish`."""
    opt = control.stage_optimizer(1)
    default = opt is None
    if default:
        opt = "nloptwrap"
    gmq = getattr(control, "gradient_min_q", None)
    if opt != "nloptwrap" or control.optCtrl or gmq is None or not has_gradient(devfun):
        return opt
    newton = callable(getattr(devfun, "information", None))     # model_derivatives is not None
    if int(getattr(devfun, "q", 0) or 0) >= gmq:
        return "newton_ai" if newton else "lbfgsb"
    if default and control.polish and newton and getattr(devfun, "par_is_theta", True):
        return "newton_ai"
    return opt


def _glmer_stage_optimizer(devfun, control, stage):
    """The stage's optimizer: the control's, except that ``"lbfgsb"`` (glmer's default)
    on a deviance without an analytic gradient (the adaptive Gauss–Hermite deviance) runs
    lme4's optimizer for the stage (BOBYQA for stage 1, Nelder–Mead for stage 2)."""
    opt = control.stage_optimizer(stage)
    if opt == "lbfgsb" and not has_gradient(devfun) and not has_laplace_gradient(devfun):
        return "bobyqa" if stage == 1 else "Nelder_Mead"
    return opt


def optimize_glmer(devfun, x0, lower, control=None, verbose=0, *, stage=1, nAGQ=1,
                   n_theta=None, beta_sd=None, upper=None):
    """One stage of glmer's optimization (R: ``lme4:::optimizeGlmer`` as ``glmer`` calls it).

    Stage 1 optimizes θ with β inside PIRLS (the nAGQ = 0 fit) with the control's first
    optimizer, no derivatives, and restart_edge / boundary snapping only when ``nAGQ == 0``
    (it is then the final stage). Stage 2 optimizes (θ, β) with the second optimizer and
    lme4's adjusted settings (``bobyqa``: rhobeg 2e-4, rhoend 2e-7; ``Nelder_Mead``: initial
    steps 0.02 for θ and 0.2·min(SD(β̂), 10) for β, ``xt = 5e-4·xst``), then boundary
    snapping, restart_edge if asked, and the derivatives (``calc_derivs``).

    Parameters
    ----------
    devfun : callable
        Stage 1: θ -> deviance; stage 2: (θ, β) -> deviance.
    x0, lower : array_like
        Start and lower bounds of the stage's parameter vector.
    control : Control, optional
        :func:`glmerControl` by default.
    stage : {1, 2}
    nAGQ : int
    n_theta : int, optional
        Length of θ (stage 2; needed for Nelder_Mead's steps).
    beta_sd : array_like, optional
        Standard errors of β̂ from stage 1 (R: ``sqrt(diag(pp$unsc()))``), for Nelder_Mead.

    Returns
    -------
    OptSummary
    """
    if control is None:
        control = glmerControl()
    if not isinstance(control, Control):
        raise ControlError("control must come from glmerControl(); got "
                           f"{type(control).__name__}")
    if stage == 1:
        final = nAGQ == 0
        optimizer = _glmer_stage_optimizer(devfun, control, 1)
        scale = _scale_for(devfun, optimizer, beta=False)
        return _scaled(devfun, x0, lower, upper, scale, lambda f, x, lo, hi: _optimize(
            f, x, lo, hi, control, optimizer, verbose=verbose,
            restart_edge=control.restart_edge if final else False,
            boundary_tol=control.boundary_tol if final else 0.0, calc_derivs=False,
            finish=final and control.polish))
    if stage != 2:
        raise ControlError(f"stage must be 1 or 2; got {stage!r}")
    optimizer = _glmer_stage_optimizer(devfun, control, 2)
    scale = _scale_for(devfun, optimizer, beta=True)
    if scale is not None and beta_sd is not None:
        nt = np.asarray(x0).size - np.asarray(beta_sd).size
        beta_sd = np.asarray(beta_sd, dtype=float) / scale[nt:]
    return _scaled(devfun, x0, lower, upper, scale, lambda f, x, lo, hi: _optimize(
        f, x, lo, hi, control, optimizer, verbose=verbose, restart_edge=control.restart_edge,
        boundary_tol=control.boundary_tol, calc_derivs=control.calc_derivs, adj=True,
        n_theta=n_theta, beta_sd=beta_sd, finish=control.polish))


def lme4_start(y, groups, lower=None):
    """lme4's starting θ for models whose random terms are all scalar intercepts
    (R: the start chosen inside ``lme4::mkLmerDevfun``), or None when it does not apply.

    θ_i = sqrt(v_i / v_e) with v_i = var(ave(y, f_i)) (the variance of the group means spread
    over the observations) and v_e = var(y) - Σ v_i, used only when v_e > 0; otherwise lme4
    keeps θ = 1.

    Parameters
    ----------
    y : array_like (n,)
        Response.
    groups : list of array_like (n,)
        Integer level codes of each term's grouping factor, in θ order.
    lower : array_like, optional
        Lower bounds of θ (lme4 also requires v_i / v_e >= lower_i²).
    """
    y = np.asarray(y, dtype=float).ravel()
    if y.size < 2 or not groups:
        return None
    v = []
    for codes in groups:
        codes = np.asarray(codes).ravel()
        counts = (np.bincount(codes) if codes.dtype.kind in "iu" and codes.size
                  and codes.min() >= 0 else None)
        if counts is not None and counts.all():
            inv = codes          # every level present: the codes are np.unique's inverse
        else:
            inv = np.unique(codes, return_inverse=True)[1].ravel()
            counts = np.bincount(inv)
        means = np.bincount(inv, weights=y) / counts
        v.append(np.var(means[inv], ddof=1))
    v = np.array(v)
    v_e = np.var(y, ddof=1) - v.sum()
    if not (np.isfinite(v_e) and v_e > 0):
        return None
    v_rel = v / v_e
    lo = np.zeros_like(v_rel) if lower is None else np.asarray(lower, dtype=float).ravel()
    if np.all(v_rel >= np.where(np.isfinite(lo), lo, 0.0) ** 2):
        return np.sqrt(v_rel)
    return None


def lme4_start_theta(design):
    """lme4's starting parameters for a :class:`lmerpy.design.structures.Design` (R: the start
    ``mkLmerDevfun`` sets, then ``mkPar``): :func:`lme4_start` when every random term is a
    scalar intercept on its own grouping factor (one parameter per term), else the design's
    start (θ: 1 on diagonals, 0 off them; ``par``: SDs 1, correlations 0; in the coordinates
    of the rescaled columns when some random-effects column is on an extreme scale,
    :func:`lmerpy.design.scales.start_par`). The result is ``par`` (θ itself for
    unstructured terms)."""
    par = start_par(design)
    layout = getattr(design, "layout", None)
    identity = layout is None or layout.is_identity
    terms = list(design.reterms)
    if not terms or any(list(t.cnms) != ["(Intercept)"] for t in terms):
        return par
    if len({t.group_name for t in terms}) != len(terms) or len(terms) != par.size:
        return par
    y = np.asarray(design.y, dtype=float)
    if y.ndim != 1:
        return par
    start = lme4_start(y, [t.codes for t in terms], design.lower)
    if start is None:
        return par
    return start if identity else layout.theta_to_par(start)
