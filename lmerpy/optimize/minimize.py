"""Generic bounded minimization: NLopt (BOBYQA, any NLopt algorithm), lme4's Nelder-Mead and
L-BFGS-B.

:func:`minimize_bounded` knows nothing about mixed models: it minimizes ``fun(x)`` over a box,
records every evaluation, and reports NLopt-style status codes and nloptr's messages. The
lme4-specific layer (optimizer names, lme4's settings, restart_edge, boundary snapping) is in
:mod:`lmerpy.optimize.lmer`.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import numpy as np

from ..errors import LmerpyError
from ..threads import refresh_pools

__all__ = ["minimize_bounded", "MinimizeResult", "NLOPT_MESSAGES", "METHODS", "Recorder",
           "DEFAULT_SETTINGS"]

#: nloptr's status messages (R: ``nloptr()$message``), by NLopt status code.
NLOPT_MESSAGES = {
    1: "NLOPT_SUCCESS: Generic success return value.",
    2: "NLOPT_STOPVAL_REACHED: Optimization stopped because stopval (above) was reached.",
    3: "NLOPT_FTOL_REACHED: Optimization stopped because ftol_rel or ftol_abs (above) was "
       "reached.",
    4: "NLOPT_XTOL_REACHED: Optimization stopped because xtol_rel or xtol_abs (above) was "
       "reached.",
    5: "NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval (above) was reached.",
    6: "NLOPT_MAXTIME_REACHED: Optimization stopped because maxtime (above) was reached.",
    -1: "NLOPT_FAILURE: Generic failure code.",
    -2: "NLOPT_INVALID_ARGS: Invalid arguments (e.g. lower bounds are bigger than upper "
        "bounds, an unknown algorithm was specified, etcetera).",
    -3: "NLOPT_OUT_OF_MEMORY: Ran out of memory.",
    -4: "NLOPT_ROUNDOFF_LIMITED: Roundoff errors led to a breakdown of the optimization "
        "algorithm. In this case, the returned minimum may still be useful. (e.g. this error "
        "occurs in NEWUOA if one tries to achieve a tolerance too close to machine precision.)",
    -5: "NLOPT_FORCED_STOP: Halted because of a forced termination: the user called "
        "nlopt_force_stop(opt) or nlopt_opt::force_stop() from the user's objective function.",
}

#: Methods of :func:`minimize_bounded` (any NLopt algorithm name such as ``"LN_SBPLX"`` or
#: ``"NLOPT_LN_SBPLX"`` is accepted as well).
METHODS = ("bobyqa", "nelder_mead", "lbfgsb", "nlopt_lbfgs")

#: Default settings of each method (lme4's nloptwrap settings for BOBYQA; lme4's Nelder_Mead
#: tolerances for Nelder-Mead).
DEFAULT_SETTINGS = {
    "bobyqa": {"xtol_abs": 1e-8, "ftol_abs": 1e-8, "xtol_rel": 1e-4, "maxeval": 100000},
    # lme4's Nelder_Mead stops on x only (its FtolAbs/FtolRel are set but never tested), so
    # the f-tolerances are off here; NLopt's would stop it early, short of the optimum.
    "nelder_mead": {"initial_step": 0.02, "xtol_abs": 1e-5, "ftol_abs": 0.0,
                    "ftol_rel": 0.0, "xtol_rel": 1e-7, "maxeval": 10000},
    "nlopt": {"xtol_abs": 1e-8, "ftol_abs": 1e-8, "xtol_rel": 1e-4, "maxeval": 100000},
    "nlopt_lbfgs": {"ftol_rel": 1e-12, "xtol_abs": 1e-10, "maxeval": 10000},
    "lbfgsb": {"ftol": 1e-13, "gtol": 1e-6, "maxiter": 15000, "maxfun": 15000, "maxcor": 10},
}

_NLOPT_KEYS = {"xtol_abs", "ftol_abs", "xtol_rel", "ftol_rel", "maxeval", "maxtime", "stopval",
               "initial_step", "algorithm", "population"}
_LBFGSB_KEYS = {"ftol", "gtol", "maxiter", "maxfun", "maxcor", "maxls", "eps"}


class OptimizerError(LmerpyError, ValueError):
    """Bad arguments to the optimizer (unknown method or setting, start outside the bounds).

    Attributes
    ----------
    parameter : int or None
        0-based index of the parameter at fault, when there is one (a Nelder–Mead simplex
        that cannot be built around it).
    """

    def __init__(self, message, parameter=None):
        super().__init__(message)
        self.parameter = parameter


@dataclass
class MinimizeResult:
    """What :func:`minimize_bounded` returns.

    Attributes
    ----------
    x : ndarray
        The best point found (never worse than any evaluated point).
    fun : float
        ``fun(x)``.
    feval : int
        Number of evaluations of ``fun`` (each L-BFGS evaluation also computes the gradient).
    status : int
        NLopt's status code (positive = success; 5 = maxeval reached; negative = failure); for
        L-BFGS-B: 4 converged (projected gradient), 3 converged (relative reduction of f),
        5 evaluation/iteration limit, -4 line search failed.
    message : str
        nloptr's message for ``status`` (or scipy's, prefixed the same way; lme4's own for
        ``"nelder_mead"``).
    method : str
    settings : dict
        The settings in effect.
    fitlog : list of (ndarray, float)
        Every evaluation, in order.
    elapsed : float
        Seconds spent.
    """

    x: np.ndarray
    fun: float
    feval: int
    status: int
    message: str
    method: str
    settings: Dict[str, Any]
    fitlog: List[Tuple[np.ndarray, float]] = field(default_factory=list)
    elapsed: float = 0.0


def _as_bounds(x0, lower, upper):
    x0 = np.array(x0, dtype=float).ravel()
    n = x0.size
    if n == 0:
        raise OptimizerError("nothing to optimize: the parameter vector is empty")
    lo = np.full(n, -np.inf) if lower is None else np.array(lower, dtype=float).ravel()
    hi = np.full(n, np.inf) if upper is None else np.array(upper, dtype=float).ravel()
    if lo.size == 1 and n > 1:
        lo = np.repeat(lo, n)
    if hi.size == 1 and n > 1:
        hi = np.repeat(hi, n)
    if lo.size != n or hi.size != n:
        raise OptimizerError(f"bounds have length {lo.size}/{hi.size} but the start has {n}")
    lo = np.where(np.isnan(lo), -np.inf, lo)
    hi = np.where(np.isnan(hi), np.inf, hi)
    if np.any(lo > hi):
        k = int(np.argmax(lo > hi))
        raise OptimizerError(f"lower bound {lo[k]} > upper bound {hi[k]} for parameter {k + 1}")
    if not np.all(np.isfinite(x0)):
        raise OptimizerError(f"the start {x0.tolist()} has non-finite values")
    if np.any(x0 < lo) or np.any(x0 > hi):
        k = int(np.argmax((x0 < lo) | (x0 > hi)))
        raise OptimizerError(f"start value {x0[k]} of parameter {k + 1} is outside its bounds "
                             f"[{lo[k]}, {hi[k]}]")
    return x0, lo, hi


class Recorder:
    """Wraps ``fun``: counts, logs, prints (verbose) and remembers the best point."""

    def __init__(self, fun, verbose=0, fitlog=None, label=None):
        self.fun = fun
        self.verbose = int(verbose or 0)
        self.fitlog = [] if fitlog is None else fitlog
        self.start_len = len(self.fitlog)
        self.best_x = None
        self.best_f = math.inf
        self.error = None
        self.label = label

    @property
    def count(self):
        return len(self.fitlog) - self.start_len

    def __call__(self, x):
        x = np.array(x, dtype=float)
        f = float(self.fun(x.copy()))
        self.fitlog.append((x, f))
        if f < self.best_f or self.best_x is None:
            self.best_f, self.best_x = f, x     # x is this call's own copy, never modified
        if self.verbose:
            k = self.count
            print(f"iteration: {k}")
            if self.verbose >= 3:
                print("\tx = ( " + ", ".join(f"{v:f}" for v in x) + " )")
            print(f"\tf(x) = {f:f}")
        return f


def _nlopt_algorithm(method):
    import nlopt
    table = {"BOBYQA": "LN_BOBYQA", "NELDER_MEAD": "LN_NELDERMEAD",
             "NLOPT_LBFGS": "LD_LBFGS"}
    name = table.get(method.upper(), method.upper())
    if name.startswith("NLOPT_"):
        name = name[6:]
    alg = getattr(nlopt, name, None)
    if not isinstance(alg, int) or not name[:3] in ("LN_", "LD_", "GN_", "GD_"):
        raise OptimizerError(f"unknown optimization method {method!r}; use one of "
                             f"{', '.join(METHODS)} or an NLopt algorithm name such as "
                             "'LN_SBPLX'")
    return alg, name


def _run_nlopt(rec, grad, x0, lo, hi, method, settings):
    import nlopt
    alg, algname = _nlopt_algorithm(settings.get("algorithm", method))
    needs_grad = algname.startswith(("LD_", "GD_"))
    if needs_grad and grad is None:
        raise OptimizerError(f"NLopt algorithm {algname} needs a gradient function")
    n = x0.size
    opt = nlopt.opt(alg, n)
    opt.set_lower_bounds(lo)
    opt.set_upper_bounds(hi)
    for key in ("xtol_rel", "ftol_rel", "ftol_abs", "maxtime", "stopval"):
        if key in settings and settings[key] is not None:
            getattr(opt, "set_" + key)(float(settings[key]))
    if settings.get("xtol_abs") is not None:
        xa = np.broadcast_to(np.asarray(settings["xtol_abs"], dtype=float), (n,))
        opt.set_xtol_abs(np.array(xa))
    if settings.get("maxeval") is not None:
        opt.set_maxeval(int(settings["maxeval"]))
    if settings.get("initial_step") is not None:
        st = np.broadcast_to(np.asarray(settings["initial_step"], dtype=float), (n,))
        opt.set_initial_step(np.array(st))
    if settings.get("population"):
        opt.set_population(int(settings["population"]))

    def objective(x, g):
        try:
            f = rec(x)
            if g.size > 0:
                g[:] = np.asarray(grad(np.array(x, dtype=float)), dtype=float)
            return f
        except BaseException as e:  # noqa: BLE001 - re-raised after NLopt unwinds
            rec.error = e
            raise nlopt.ForcedStop() from e

    opt.set_min_objective(objective)
    status = None
    try:
        xopt = opt.optimize(x0)
        status = int(opt.last_optimize_result())
    except nlopt.ForcedStop:
        if rec.error is not None:
            raise rec.error
        status = nlopt.FORCED_STOP
    except nlopt.RoundoffLimited:
        status = nlopt.ROUNDOFF_LIMITED
    except MemoryError:
        status = nlopt.OUT_OF_MEMORY
    except ValueError as e:
        if rec.error is not None:
            raise rec.error
        raise OptimizerError(f"NLopt rejected the problem: {e}") from None
    except RuntimeError:
        if rec.error is not None:
            raise rec.error
        status = nlopt.FAILURE
    if rec.best_x is None:  # failed before any evaluation
        f0 = rec(x0)
        return x0, f0, status
    if status is not None and status > 0:
        xopt = np.asarray(xopt, dtype=float)
        # NLopt returns the best point; take ours when they differ (never worse)
        if not np.array_equal(xopt, rec.best_x):
            return rec.best_x.copy(), rec.best_f, status
        return xopt, rec.best_f, status
    return rec.best_x.copy(), rec.best_f, status


def _run_lbfgsb(rec, grad, x0, lo, hi, settings):
    if grad is None:
        raise OptimizerError("method 'lbfgsb' needs a gradient function (devfun.gradient)")
    bounds = [(None if not np.isfinite(a) else a, None if not np.isfinite(b) else b)
              for a, b in zip(lo, hi)]
    opts = {k: settings[k] for k in _LBFGSB_KEYS if k in settings}

    def fg(x):
        f = rec(x)
        return f, np.asarray(grad(np.array(x, dtype=float)), dtype=float)

    direct = _lbfgsb_direct(fg, x0, lo, hi, opts)
    if direct is not None:
        warnflag, msg = direct
    else:
        fresh = "scipy.optimize" not in sys.modules
        from scipy.optimize import minimize
        if fresh:   # scipy.optimize loads CHOLMOD's BLAS/OpenMP when scikit-sparse is installed
            refresh_pools()
        res = minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=bounds, options=opts)
        warnflag, msg = res.status, str(res.message)
    if warnflag == 0:
        status = 4 if "PROJ" in msg.upper() else 3
    elif warnflag == 1:
        status = 5
    else:
        status = -4
    text = {4: "LBFGSB_GTOL_REACHED: projected gradient below gtol",
            3: "LBFGSB_FTOL_REACHED: relative reduction of f below ftol",
            5: "LBFGSB_MAXEVAL_REACHED: iteration or evaluation limit reached",
            -4: "LBFGSB_LINESEARCH_FAILED: the line search could not reduce f"}[status]
    return rec.best_x.copy(), rec.best_f, status, f"{text} ({msg})"


#: setulb's signature in the SciPy releases whose L-BFGS-B is the C translation (1.15 on),
#: the one :func:`_lbfgsb_direct` drives
_SETULB_SIGNATURE = "setulb(m,x,l,u,nbd,f,g,factr,pgtol,wa,iwa,task,lsave,isave,dsave,maxls," \
                    "ln_task)"


#: the SciPy releases (major, minor) whose ``setulb`` :func:`_lbfgsb_direct` is checked
#: against (tests/test_optimize_minimize.py); any other takes ``minimize`` until checked
_SETULB_VERIFIED = ((1, 15), (1, 17))


#: the messages of SciPy's L-BFGS-B for the codes an ordinary run ends with (the same text as
#: ``scipy.optimize._lbfgsb_py``'s tables: tests/test_optimize_minimize.py); any other code
#: reads SciPy's own table
_LBFGSB_STATUS = {4: "CONVERGENCE", 5: "STOP", 6: "WARNING", 7: "ERROR", 8: "ABNORMAL"}
_LBFGSB_TASK = {0: "", 401: "NORM OF PROJECTED GRADIENT <= PGTOL",
                402: "RELATIVE REDUCTION OF F <= FACTR*EPSMCH",
                502: "TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT",
                504: "TOTAL NO. OF ITERATIONS REACHED LIMIT",
                601: "ROUNDING ERRORS PREVENT PROGRESS"}

_LBFGSB_MODULE: Any = None
_LBFGSB_LOCK = threading.Lock()


def _lbfgsb_message(status: int, task: int) -> str:
    """SciPy's ``status_messages[status] + ": " + task_messages[task]``."""
    if status in _LBFGSB_STATUS and task in _LBFGSB_TASK:
        return _LBFGSB_STATUS[status] + ": " + _LBFGSB_TASK[task]
    from scipy.optimize._lbfgsb_py import status_messages, task_messages
    return status_messages[status] + ": " + task_messages[task]


def _lbfgsb_extension():
    """SciPy's compiled L-BFGS-B module ``scipy.optimize._lbfgsb``. When scipy.optimize is not
    loaded yet, the extension file is loaded on its own: importing it by name runs
    scipy.optimize's ``__init__``, which imports all of scipy.optimize (with scipy.spatial,
    scipy.fft, scipy.sparse.linalg, HiGHS and, where installed, CHOLMOD): ~70 ms of a fresh
    process's first glmer, for one routine. The module is not left in ``sys.modules``, so a
    later ``import scipy.optimize`` loads its own as usual."""
    global _LBFGSB_MODULE
    if _LBFGSB_MODULE is not None:
        return _LBFGSB_MODULE
    with _LBFGSB_LOCK:    # fits in several Python threads (bootMer's threads)
        if _LBFGSB_MODULE is None:
            name = "scipy.optimize._lbfgsb"
            mod = sys.modules.get(name)
            if mod is None and "scipy.optimize" not in sys.modules:
                mod = _load_extension_alone(name)
            if mod is None:
                import importlib
                mod = importlib.import_module(name)
            _LBFGSB_MODULE = mod
    return _LBFGSB_MODULE


def _load_extension_alone(name):
    """The extension module ``name`` of SciPy loaded from its file without importing its
    package, or None where that file is not found or does not load."""
    import importlib.machinery
    import importlib.util
    import os

    import scipy
    package, _, leaf = name.rpartition(".")
    folder = os.path.join(os.path.dirname(scipy.__file__), *package.split(".")[1:])
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, leaf + suffix)
        if os.path.isfile(path):
            break
    else:
        return None
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # pragma: no cover
            return None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except Exception:  # pragma: no cover - then the ordinary import
        return None
    if sys.modules.get(name) is mod:   # a single-phase extension registers itself
        del sys.modules[name]
    return mod


def _setulb():
    """SciPy's L-BFGS-B routine ``setulb``, or None when this SciPy is not one of the releases
    :func:`_lbfgsb_direct` was checked against, or its routine's signature differs (a private
    routine: its task codes may change unannounced)."""
    import scipy
    try:
        release = tuple(int(v) for v in scipy.__version__.split(".")[:2])
    except ValueError:  # pragma: no cover - an unusual version string
        return None
    if not _SETULB_VERIFIED[0] <= release <= _SETULB_VERIFIED[1]:  # pragma: no cover
        return None
    try:
        lbfgsb = _lbfgsb_extension()
    except ImportError:  # pragma: no cover - an older or newer SciPy: its minimize()
        return None
    setulb = getattr(lbfgsb, "setulb", None)
    doc = (getattr(setulb, "__doc__", None) or "").replace(" ", "")
    if not doc.startswith(_SETULB_SIGNATURE):  # pragma: no cover
        return None
    return setulb


def _lbfgsb_direct(fg, x0, lo, hi, opts):
    """``scipy.optimize.minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=...,
    options=opts)``'s iteration without its wrappers: the same calls of SciPy's ``setulb``
    with the same arguments — the start clipped into the bounds, ``fg`` called at the start
    and at each new point the routine asks for (a repeated point answered from the last
    values, as SciPy's memoisation does), its iteration and evaluation limits — so the same
    points and values, bit for bit (tests/test_optimize_minimize.py), without some 50 µs of
    SciPy's set-up per call and ~20 µs per iteration (a quarter of a small GLMM's first
    stage outside its deviance). Returns (warnflag, message) as ``minimize`` reports them
    (``res.status``, ``res.message``), or None where this SciPy's routine is not the one it
    was written for, or a parameter is fixed by its bounds (``minimize`` then removes it).
    """
    setulb = _setulb()
    if setulb is None:
        return None
    x0 = np.atleast_1d(np.asarray(x0, dtype=float)).ravel()
    n = x0.shape[0]
    lo = np.broadcast_to(np.asarray(lo, dtype=float), (n,))
    hi = np.broadcast_to(np.asarray(hi, dtype=float), (n,))
    if n == 0 or np.any(lo > hi) or np.any(lo == hi):
        return None
    m = int(opts.get("maxcor", 10))
    pgtol = float(opts.get("gtol", 1e-5))
    factr = float(opts.get("ftol", 2.2204460492503131e-09)) / np.finfo(float).eps
    maxiter = int(opts.get("maxiter", 15000))
    maxfun = int(opts.get("maxfun", 15000))
    maxls = int(opts.get("maxls", 20))
    if not maxls > 0:
        return None
    x0 = np.clip(x0, lo, hi)
    nbd = np.zeros(n, np.int32)
    low_bnd = np.zeros(n, np.float64)
    upper_bnd = np.zeros(n, np.float64)
    for i in range(n):
        fl, fu = np.isfinite(lo[i]), np.isfinite(hi[i])
        if fl:
            low_bnd[i] = lo[i]
        if fu:
            upper_bnd[i] = hi[i]
        nbd[i] = (2 if fu else 1) if fl else (3 if fu else 0)
    # SciPy's ScalarFunction evaluates at the start when it is made
    x_at = x0.astype(np.float64)
    f_at, g_at = fg(np.copy(x_at))
    g_at = np.atleast_1d(g_at)
    nfev = 1
    x = np.array(x0, dtype=np.float64)
    f = np.array(0.0, dtype=np.float64)
    g = np.zeros((n,), dtype=np.float64)
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, dtype=np.int32)
    task = np.zeros(2, dtype=np.int32)
    ln_task = np.zeros(2, dtype=np.int32)
    lsave = np.zeros(4, dtype=np.int32)
    isave = np.zeros(44, dtype=np.int32)
    dsave = np.zeros(29, dtype=np.float64)
    n_iterations = 0
    while True:
        g = g.astype(np.float64)
        setulb(m, x, low_bnd, upper_bnd, nbd, f, g, factr, pgtol, wa, iwa, task, lsave,
               isave, dsave, maxls, ln_task)
        if task[0] == 3:
            if not np.array_equal(x, x_at):
                x_at = x.astype(np.float64)
                f_at, g_at = fg(np.copy(x_at))
                g_at = np.atleast_1d(g_at)
                nfev += 1
            f, g = f_at, g_at
        elif task[0] == 1:
            n_iterations += 1
            if n_iterations >= maxiter:
                task[0] = 5
                task[1] = 504
            elif nfev > maxfun:
                task[0] = 5
                task[1] = 502
        else:
            break
    if task[0] == 4:
        warnflag = 0
    elif nfev > maxfun or n_iterations >= maxiter:
        warnflag = 1
    else:
        warnflag = 2
    return warnflag, _lbfgsb_message(int(task[0]), int(task[1]))


def _run_neldermead(rec, x0, lo, hi, settings):
    """lme4's Nelder-Mead (:mod:`lmerpy.optimize.neldermead`)."""
    from .neldermead import SimplexError, nelder_mead
    n = x0.size
    step = settings.get("initial_step")
    step = np.full(n, 0.02) if step is None else \
        np.broadcast_to(np.asarray(step, dtype=float), (n,))
    if np.any(step == 0) or not np.all(np.isfinite(step)):
        raise OptimizerError(f"Nelder-Mead's initial steps must be finite and nonzero; got "
                             f"{np.asarray(step).tolist()}")
    xt = settings.get("xtol_abs")
    xt = 5e-4 * np.abs(step) if xt is None else \
        np.broadcast_to(np.asarray(xt, dtype=float), (n,))
    xtol_rel = settings.get("xtol_rel")
    stopval = settings.get("stopval")
    try:
        r = nelder_mead(rec, x0, lo, hi, step, xtol_abs=xt,
                        xtol_rel=1e-7 if xtol_rel is None else float(xtol_rel),
                        maxeval=int(settings.get("maxeval") or 0),
                        stopval=-math.inf if stopval is None else float(stopval),
                        maxtime=settings.get("maxtime"))
    except SimplexError as e:
        raise OptimizerError(str(e), parameter=e.parameter) from None
    return r.x, r.fun, r.status, r.message


def minimize_bounded(fun, x0, lower=None, upper=None, method="bobyqa", *, grad=None,
                     settings=None, verbose=0, fitlog=None):
    """Minimize ``fun`` over a box, recording every evaluation.

    R equivalent: the optimizer call inside ``lme4:::optwrap`` (``nloptwrap``, ``bobyqa``,
    ``Nelder_Mead``); generic, so it serves θ for lmer and (θ, β) for glmer's second stage.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float``.
    x0 : array_like
        Start; must lie within the bounds.
    lower, upper : array_like or None
        Bounds (``None``/``nan`` entries mean unbounded).
    method : str
        ``"bobyqa"`` (NLopt LN_BOBYQA), ``"nelder_mead"`` (lme4's own Nelder-Mead, see
        :mod:`lmerpy.optimize.neldermead`; NLopt's is ``"LN_NELDERMEAD"``), ``"lbfgsb"``
        (scipy L-BFGS-B with ``grad``), ``"nlopt_lbfgs"`` (NLopt LD_LBFGS with ``grad``), or
        any NLopt algorithm name (``"LN_SBPLX"``, ``"NLOPT_LN_COBYLA"``...).
    grad : callable, optional
        ``grad(x) -> ndarray``; required by the gradient-based methods.
    settings : dict, optional
        Overrides of :data:`DEFAULT_SETTINGS` for the method. NLopt methods take ``xtol_abs``,
        ``ftol_abs``, ``xtol_rel``, ``ftol_rel``, ``maxeval``, ``maxtime``, ``stopval``,
        ``initial_step`` (scalar or vector; NLopt's default step when absent) and
        ``algorithm``; ``"lbfgsb"`` takes scipy's ``ftol``, ``gtol``, ``maxiter``, ``maxfun``,
        ``maxcor``, ``maxls``. ``"nelder_mead"`` takes the NLopt names with lme4's meanings:
        ``initial_step`` (``xst``), ``xtol_abs`` (``xt``, the simplex size at which it stops),
        ``xtol_rel``, ``maxeval`` (``maxfun``: it stops after ``maxeval + 1`` evaluations, as
        lme4's), ``stopval`` (``MinfMax``), ``maxtime``; ``ftol_abs``/``ftol_rel`` are
        accepted and, as in lme4, never tested; an ``algorithm`` setting runs that NLopt
        algorithm instead.
    verbose : int
        1 or 2 print each evaluation like nloptr's ``print_level = 1`` (``iteration: k`` and
        ``f(x) = ...``); 3 or more also print x, as lme4's ``verbose = 3``.
    fitlog : list, optional
        A list to append ``(x, f)`` pairs to (a new one is made otherwise).

    Returns
    -------
    MinimizeResult
    """
    t0 = time.perf_counter()
    x0, lo, hi = _as_bounds(x0, lower, upper)
    key = method.lower() if isinstance(method, str) else method
    if not isinstance(key, str):
        raise OptimizerError(f"method must be a string; got {method!r}")
    if key in ("nelder_mead", "neldermead"):
        key = "nelder_mead"
    base = DEFAULT_SETTINGS.get(key, DEFAULT_SETTINGS["nlopt"])
    st = dict(base)
    st.update(settings or {})
    allowed = _LBFGSB_KEYS if key == "lbfgsb" else _NLOPT_KEYS
    unknown = sorted(set(st) - allowed)
    if unknown:
        raise OptimizerError(f"unknown setting(s) {', '.join(unknown)} for method {method!r}; "
                             f"allowed: {', '.join(sorted(allowed))}")
    rec = Recorder(fun, verbose=verbose, fitlog=fitlog)
    if key == "lbfgsb":
        x, f, status, msg = _run_lbfgsb(rec, grad, x0, lo, hi, st)
    elif key == "nelder_mead" and "algorithm" not in st:
        x, f, status, msg = _run_neldermead(rec, x0, lo, hi, st)
    else:
        x, f, status = _run_nlopt(rec, grad, x0, lo, hi, key, st)
        msg = NLOPT_MESSAGES.get(status, f"NLopt status {status}")
    log = rec.fitlog[rec.start_len:] if fitlog is not None else rec.fitlog
    return MinimizeResult(x=np.asarray(x, dtype=float), fun=float(f), feval=rec.count,
                          status=int(status), message=msg, method=key, settings=st,
                          fitlog=log, elapsed=time.perf_counter() - t0)
