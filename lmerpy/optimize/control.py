"""Fit controls: :func:`lmerControl` and :func:`glmerControl` (R: ``lme4::lmerControl``).

R's dotted argument names become underscores (``boundary.tol`` -> ``boundary_tol``,
``check.conv.grad`` -> ``check_conv_grad``); ``optCtrl``, ``tolPwrss`` and ``nAGQ0initStep`` keep
lme4's spelling. The result is a :class:`Control` dataclass that the optimizer stage
(:func:`lmerpy.optimize.optimize_lmer`, :func:`lmerpy.optimize.check_conv`) and the design stage
(the pre-fit ``check_*`` fields) read.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Dict, Literal, Optional, Sequence, Tuple, Union

import numpy as np

from ..arguments import (COUNT, LOGICAL, LOGICAL_OR_NONE, VERBOSE, Choice, Integer, Number,
                         argument_error)
from ..errors import ArgumentError

__all__ = ["Control", "ConvCheck", "ControlError", "lmerControl", "glmerControl",
           "OPTIMIZERS", "CHECK_ACTIONS", "as_control"]

#: Optimizer names understood by :func:`lmerpy.optimize.optimize_lmer` (a callable is also
#: accepted, see :class:`Control`).
OPTIMIZERS = ("nloptwrap", "bobyqa", "Nelder_Mead", "lbfgsb", "newton_ai")

#: Actions of the post-fit convergence checks (R: ``lme4:::checkCtrlLevels``).
CHECK_ACTIONS = ("ignore", "message", "warning", "stop")

#: ``optimizer=``: a name of :data:`OPTIMIZERS` (any case, R's aliases), a function, or for
#: glmer one per stage
OptimizerArg = Union[str, Callable[..., Any], Sequence[Union[str, Callable[..., Any]]]]
#: a post-fit check: ``(action, tol)``, ``(action, tol, relTol)``, a dict or a ConvCheck
ConvCheckArg = Union[Tuple[Any, ...], Dict[str, Any], "ConvCheck"]
#: a pre-fit check's action
PrefitAction = Literal["ignore", "warning", "message", "stop"]
RankXAction = Literal["message+drop.cols", "silent.drop.cols", "warn+drop.cols", "stop.deficient",
                      "ignore"]
ScaleXAction = Literal["warning", "stop", "silent.rescale", "message+rescale", "warn+rescale",
                       "ignore"]

_ALIASES = {"nelder_mead": "Nelder_Mead", "neldermead": "Nelder_Mead", "nloptr": "nloptwrap",
            "l-bfgs-b": "lbfgsb", "lbfgs": "lbfgsb", "bobyqa": "bobyqa",
            "nloptwrap": "nloptwrap", "lbfgsb": "lbfgsb", "newton_ai": "newton_ai"}


class ControlError(ArgumentError):
    """An invalid control setting (unknown optimizer, bad check action or tolerance...)."""


@dataclass(frozen=True)
class ConvCheck:
    """One post-fit check setting (R: ``lme4:::.makeCC(action, tol, relTol)``).

    Attributes
    ----------
    action : {"ignore", "message", "warning", "stop"}
        What to do when the check fails. ``"message"`` and ``"warning"`` both emit a
        :class:`lmerpy.errors.ConvergenceWarning` (lme4's ``message()`` has no Python
        counterpart a user would see); ``"stop"`` raises :class:`lmerpy.errors.FitError`.
    tol : float
        The check's tolerance.
    relTol : float or None
        Only for the gradient check: also fail when ``max|gradient / theta| > relTol``.
    """

    action: str
    tol: float
    relTol: Optional[float] = None

    @classmethod
    def make(cls, spec: ConvCheckArg, name: str) -> ConvCheck:
        """Build from ``(action, tol)``, ``(action, tol, relTol)``, a dict or a ConvCheck."""
        if isinstance(spec, ConvCheck):
            out = spec
        elif isinstance(spec, dict):
            unknown = set(spec) - {"action", "tol", "relTol"}
            if unknown:
                raise ControlError(f"{name}: unknown entries {sorted(unknown)}; "
                                   "use 'action', 'tol' and (gradient check only) 'relTol'")
            if "action" not in spec or "tol" not in spec:
                raise ControlError(f"{name} needs both 'action' and 'tol'")
            out = cls(spec["action"], spec["tol"], spec.get("relTol"))
        elif isinstance(spec, str):
            raise ControlError(f"{name} must be (action, tol), e.g. ('warning', 0.002); "
                               f"got only the action {spec!r}")
        else:
            try:
                items = tuple(spec)
            except TypeError:
                raise ControlError(f"{name} must be (action, tol); got {spec!r}") from None
            if len(items) not in (2, 3):
                raise ControlError(f"{name} must be (action, tol) or (action, tol, relTol); "
                                   f"got {spec!r}")
            out = cls(*items)
        action = _check(_ACTION, "action", out.action, caller=name)
        tol = _check(_TOL, "tol", out.tol, caller=name)
        rel = _check(_RELTOL, "relTol", out.relTol, caller=name)
        return cls(action, tol, rel)

    def to_dict(self) -> Dict[str, Any]:
        return {"action": self.action, "tol": self.tol, "relTol": self.relTol}


@dataclass(frozen=True)
class Control:
    """Settings of a fit (R: an ``lmerControl``/``glmerControl`` object).

    Build it with :func:`lmerControl` or :func:`glmerControl`, which validate every field.

    Attributes
    ----------
    optimizer : None, str, callable or tuple of two
        None (lmer's default): lmerpy's choice for the model, see :attr:`polish` and
        :attr:`gradient_min_q` (``"newton_ai"`` on the analytic gradient, or lme4's
        ``"nloptwrap"``). ``"nloptwrap"`` (NLopt BOBYQA with lme4's settings: lme4's lmer
        default, so lme4's path), ``"bobyqa"``
        (NLopt BOBYQA with minqa-like settings), ``"Nelder_Mead"`` (NLopt Nelder-Mead with
        lme4-like tolerances), ``"lbfgsb"`` (bounded quasi-Newton on the analytic gradient),
        ``"newton_ai"`` (trust-region Newton on the analytic gradient with the
        average-information matrix, LMMs only; see :mod:`lmerpy.optimize.newton`), or
        a callable ``f(fun, x0, lower, upper, **optCtrl)`` returning an object with ``x`` and
        ``fun`` (and optionally ``feval``, ``return_code``, ``message``). glmer controls hold
        one optimizer per stage: ``("lbfgsb", "lbfgsb")`` by default (L-BFGS-B on the
        Laplace deviance at the mode and its analytic gradient, see :func:`glmerControl`),
        ``("bobyqa", "Nelder_Mead")`` for lme4's path.
    restart_edge, boundary_tol, calc_derivs, use_last_params
        As in lme4 (``restart_edge``, ``boundary.tol``, ``calc.derivs``, ``use.last.params``).
    check_conv_grad, check_conv_singular, check_conv_hess : ConvCheck
        Post-fit checks (R: ``check.conv.*``).
    optCtrl : dict
        Settings passed to the optimizer (NLopt names such as ``maxeval``, ``xtol_abs``,
        ``ftol_abs``, ``xtol_rel``, ``ftol_rel``, ``maxtime``, ``algorithm``; lme4's
        Nelder_Mead / minqa names ``maxfun``, ``FtolAbs``, ``FtolRel``, ``XtolRel``, ``xst``,
        ``xt``, ``rhobeg``, ``rhoend``; L-BFGS-B names ``maxiter``, ``ftol``, ``gtol``;
        ``newton_ai``'s ``tol``, ``xtol``, ``maxiter``, ``delta0``, ``final_step``).
    use_gradient : {"auto", True, False}
        How the post-fit derivatives are computed: ``"auto"`` uses the deviance's analytic
        ``gradient`` when it has one (Hessian by central differences of that gradient, or by
        forward differences after a gradient-based optimizer, where each gradient costs a
        factorisation) and lme4's finite differences of the deviance otherwise; ``True``
        requires the analytic gradient; ``False`` always uses lme4's finite differences
        (``deriv12``).
    restart_unconverged : bool or None
        lmerpy addition: when the derivatives are analytic, the fit is not singular, the
        optimizer reported success and yet the scaled gradient fails lme4's gradient check,
        restart the optimizer once from the optimum and keep the result if the deviance went
        down (so a gradient warning only remains when a restart could not fix it). None (the
        lmer default): the same as ``polish``, so that ``polish=False`` alone gives lme4's
        stopping point and warnings.
    polish : bool
        lmerpy addition (default True): finish the fit at the optimum itself rather than
        where the optimizer stopped (:mod:`lmerpy.optimize.polish`; for glmer, whose
        gradient-based stages end with their own Newton steps, see :func:`glmerControl`).
        With analytic derivatives: (1) when the end point fails the optimality (KKT)
        conditions — a θ on its bound 0 along which the deviance still decreases once the
        sign of its template column is free (ΛΛ' does not depend on it), or a Hessian with a
        negative eigenvalue (lme4's "degenerate Hessian" warning) — the fit is continued from
        there by ``"newton_ai"`` (or the optimizer, for a deviance without an
        average-information matrix); (2) Newton steps on the θ off their bounds, with the
        analytic gradient and its differenced Hessian, each kept only if it lowers the
        deviance, until the predicted decrease is at the criterion's rounding level. BOBYQA
        stops within ``xtol_rel = 1e-4`` of the optimum at a point that depends on its path,
        hence on the last bits of every evaluation (a different BLAS kernel changes them);
        the polished optimum does not: the same fit on any machine, usually for one extra
        evaluation and gradient. With the default optimizer (``optimizer=None``) it also
        selects the optimizer: ``polish=True`` fits every model whose deviance has the
        analytic gradient and the average-information matrix, and whose parameters are θ
        (unstructured terms; structured ones keep BOBYQA, then polished), by ``"newton_ai"``
        from lme4's start (it ends at the optimum itself: on sleepstudy 8 evaluations where BOBYQA
        needs 43 and the polish two more), ``polish=False`` by lme4's ``"nloptwrap"``.
        ``polish=False`` keeps lme4's path and stopping point (``nloptwrap`` follows lme4's
        evaluations; the estimates are lme4's to its printed digits when the arithmetic
        matches R's), and lme4's warnings; so does naming the optimizer
        (``optimizer="nloptwrap"``: lme4's path, then polished at the optimum).
    gradient_min_q : int or None
        lmerpy addition (lmer only; :func:`lmerControl` sets 1000): with ``"nloptwrap"`` (the
        default optimizer or named; empty ``optCtrl``) and a deviance with an analytic
        gradient, models with at least this many random effects (q) are fitted by
        ``"newton_ai"`` (by ``"lbfgsb"`` when the deviance offers no average-information
        matrix) instead of BOBYQA, even with ``polish=False``. On large models one evaluation is a large Cholesky factorisation and the
        gradient costs about two more, yet the Newton method needs 5 (deviance, gradient)
        pairs on InstEval where BOBYQA needs 76 deviances (L-BFGS-B 15), and it stops at the
        optimum itself (BOBYQA stops within its tolerance of it). Smaller models get
        ``"newton_ai"`` from the default optimizer with ``polish=True`` (see :attr:`polish`)
        and keep lme4's BOBYQA path, which reproduces lme4's estimates to the printed
        digit, when ``"nloptwrap"`` is named or ``polish=False``. None: always BOBYQA for
        ``"nloptwrap"`` and the default.
    check_* (pre-fit)
        lme4's design checks with lme4's defaults, for the design stage to read.
    mod_type : {"lmer", "glmer"}
    tolPwrss, compDev, nAGQ0initStep, hessian
        glmer only (``None`` for lmer controls); ``hessian`` is the post-fit Hessian's method
        (``"auto"``, ``"gradient"`` or ``"lme4"``, see :func:`glmerControl`).
    """

    optimizer: Union[None, str, Callable, Tuple[Any, Any]] = None
    restart_edge: bool = True
    boundary_tol: float = 1e-5
    calc_derivs: bool = True
    use_last_params: bool = False
    check_conv_grad: ConvCheck = ConvCheck("warning", 2e-3)
    check_conv_singular: ConvCheck = ConvCheck("message", 1e-4)
    check_conv_hess: ConvCheck = ConvCheck("warning", 1e-6)
    optCtrl: Dict[str, Any] = field(default_factory=dict)
    use_gradient: Union[str, bool] = "auto"
    restart_unconverged: Optional[bool] = None
    polish: bool = True
    gradient_min_q: Optional[int] = None
    check_nobs_vs_rankZ: str = "ignore"
    check_nobs_vs_nlev: str = "stop"
    check_nlev_gtreq_5: str = "ignore"
    check_nlev_gtr_1: str = "stop"
    check_nobs_vs_nRE: str = "stop"
    check_rankX: str = "message+drop.cols"
    check_scaleX: str = "warning"
    check_formula_LHS: str = "stop"
    check_response_not_const: Optional[str] = None
    mod_type: str = "lmer"
    tolPwrss: Optional[float] = None
    compDev: Optional[bool] = None
    nAGQ0initStep: Optional[bool] = None
    hessian: Optional[str] = None

    @property
    def restarts_unconverged(self) -> bool:
        """Whether :attr:`restart_unconverged` is in effect (None follows :attr:`polish`)."""
        r = self.restart_unconverged
        return self.polish if r is None else r

    def stage_optimizer(self, stage: Literal[1, 2] = 1
                        ) -> Union[None, str, Callable[..., Any]]:
        """The optimizer of a stage: glmer controls hold two (stage 1, stage 2); None is
        lmer's default (resolved per model by :func:`lmerpy.optimize.lmer_optimizer`)."""
        opt = self.optimizer
        if isinstance(opt, tuple):
            return opt[0] if stage == 1 else opt[1]
        return opt

    def design_checks(self) -> Dict[str, str]:
        """The pre-fit checks under lme4's names (``{"check.scaleX": "warning", ...}``), for
        the design stage (:func:`lmerpy.design.build_design`'s ``control``)."""
        out = {}
        for name in ("check.nobs.vs.rankZ", "check.nobs.vs.nlev", "check.nlev.gtreq.5",
                     "check.nlev.gtr.1", "check.nobs.vs.nRE", "check.rankX", "check.scaleX",
                     "check.formula.LHS", "check.response.not.const"):
            level = getattr(self, name.replace(".", "_"), None)
            if level is not None:
                out[name] = level
        return out

    def replace(self, **changes: Any) -> Control:
        """A copy with some fields changed (validated like the constructor functions)."""
        return _validated(replace(self, **changes))

    def to_dict(self) -> Dict[str, Any]:
        """Plain-dict form (callable optimizers are shown by name)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, ConvCheck):
                v = v.to_dict()
            elif callable(v):
                v = getattr(v, "__name__", repr(v))
            elif isinstance(v, tuple):
                v = [getattr(x, "__name__", x) if callable(x) else x for x in v]
            elif isinstance(v, dict):
                v = dict(v)
            out[f.name] = v
        return out


_RANKX = ("message+drop.cols", "silent.drop.cols", "warn+drop.cols", "stop.deficient", "ignore")
_SCALEX = ("warning", "stop", "silent.rescale", "message+rescale", "warn+rescale", "ignore")
_PREFIT = ("ignore", "warning", "message", "stop")

# the validators of the settings (lmerpy.arguments), raising ControlError
_ACTION = Choice(CHECK_ACTIONS)
_TOL = Number(lower=0)
_RELTOL = Number(lower=0, none=True)
_POSITIVE = Number(lower=0, open_lower=True)
_GRADIENT_MIN_Q = Integer(lower=0, none=True)
#: glmer's post-fit Hessian (glmerControl(hessian=...))
HESSIAN_METHODS = ("auto", "gradient", "lme4")
_HESSIAN = Choice(HESSIAN_METHODS)
_LOGICAL_FIELDS = ("restart_edge", "calc_derivs", "use_last_params", "polish")
_PREFIT_FIELDS = {"check_nobs_vs_rankZ": Choice(_PREFIT), "check_nobs_vs_nlev": Choice(_PREFIT),
                  "check_nlev_gtreq_5": Choice(_PREFIT), "check_nlev_gtr_1": Choice(_PREFIT),
                  "check_nobs_vs_nRE": Choice(_PREFIT), "check_formula_LHS": Choice(_PREFIT),
                  "check_rankX": Choice(_RANKX), "check_scaleX": Choice(_SCALEX)}
#: optCtrl settings that are counts (evaluations, iterations) and those that are numbers
#: (tolerances, steps, times; scalars or one per parameter)
_OPTCTRL_COUNTS = {"maxfun": Integer(lower=1), "maxiter": Integer(lower=1),
                   "maxcor": Integer(lower=1), "maxls": Integer(lower=1),
                   "maxeval": Integer(), "population": COUNT, "iprint": Integer(),
                   "npt": Integer(lower=1), "print_level": COUNT}
_OPTCTRL_NUMBERS = ("xtol_abs", "ftol_abs", "xtol_rel", "ftol_rel", "maxtime", "stopval",
                    "initial_step", "FtolAbs", "FtolRel", "XtolRel", "xst", "xt", "MinfMax",
                    "rhobeg", "rhoend", "ftol", "gtol", "tol", "xtol", "delta0")
_OPTCTRL_LOGICAL = ("warnOnly", "force.start", "force_start", "obstop", "final_step")


def _check(validator, name, value, caller=None):
    """``validator(name, value, caller)`` with its ArgumentError as a ControlError."""
    try:
        return validator(name, value, caller)
    except ControlError:
        raise
    except ArgumentError as exc:
        raise ControlError(str(exc)) from None


def _norm_optimizer(opt, name="optimizer"):
    if callable(opt):
        return opt
    if not isinstance(opt, str):
        raise ControlError(f"{name} must be a name or a function; got {opt!r}")
    key = _ALIASES.get(opt.lower())
    if key is None:
        raise ControlError(f"unknown optimizer {opt!r}; use one of {', '.join(OPTIMIZERS)} "
                           "or a function")
    return key


def _numbers(name, value, caller=None):
    """An optCtrl tolerance: a number or one per parameter (NaN refused)."""
    if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
        raise argument_error(name, value, "a number (or one per parameter)")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise argument_error(name, value, "a number (or one per parameter)") from None
    if arr.ndim > 1 or np.any(np.isnan(arr)):
        raise argument_error(name, value, "a number (or one per parameter)")
    return value


def _optctrl(optctrl):
    """optCtrl as a dict, its known settings checked for type (unknown names are refused
    by the optimizer that reads them, which knows its own)."""
    if optctrl is None:
        return {}
    if not isinstance(optctrl, dict):
        raise ControlError(f"optCtrl must be a dict; got {type(optctrl).__name__}")
    out = dict(optctrl)
    for k, v in out.items():
        name = f"optCtrl['{k}']"
        if k in _OPTCTRL_COUNTS:
            out[k] = _check(_OPTCTRL_COUNTS[k], name, v)
        elif k in _OPTCTRL_NUMBERS:
            _check(_numbers, name, v)
        elif k in _OPTCTRL_LOGICAL:
            out[k] = _check(LOGICAL, name, v)
        elif k == "verbose":
            out[k] = _check(VERBOSE, name, v)
        elif k == "algorithm" and not isinstance(v, str):
            raise ControlError(f"optCtrl['algorithm'] must be an NLopt algorithm name, "
                               f"not {v!r}")
    return out


def _raw_control(**fields: Any) -> Control:
    """A Control holding the arguments as given, for :func:`_validated` to check and normalise
    (its fields' types are those of a validated Control)."""
    return Control(**fields)


def _validated(ctl):
    opt = ctl.optimizer
    if ctl.mod_type == "glmer":
        if isinstance(opt, (list, tuple)):
            if len(opt) == 1:
                opt = (opt[0], opt[0])
            if len(opt) != 2:
                raise ControlError("glmer needs one optimizer or two (stage 1, stage 2); "
                                   f"got {len(opt)}")
            opt = (_norm_optimizer(opt[0]), _norm_optimizer(opt[1]))
        else:
            o = _norm_optimizer(opt)
            opt = (o, o)
    else:
        if isinstance(opt, (list, tuple)):
            if len(opt) != 1:
                raise ControlError("lmer takes one optimizer; got "
                                   f"{len(opt)} ({', '.join(map(str, opt))})")
            opt = opt[0]
        opt = None if opt is None else _norm_optimizer(opt)
    btol = _check(_TOL, "boundary_tol", ctl.boundary_tol)
    use_gradient = ctl.use_gradient
    if not (isinstance(use_gradient, str) and use_gradient == "auto"):
        try:
            use_gradient = LOGICAL("use_gradient", use_gradient)
        except ArgumentError:
            raise ControlError(f"use_gradient must be 'auto', True or False, not "
                               f"{use_gradient!r}") from None
    checks = {nm: _check(v, nm, getattr(ctl, nm)) for nm, v in _PREFIT_FIELDS.items()}
    logicals = {nm: _check(LOGICAL, nm, getattr(ctl, nm)) for nm in _LOGICAL_FIELDS}
    logicals["restart_unconverged"] = _check(LOGICAL_OR_NONE, "restart_unconverged",
                                             ctl.restart_unconverged)
    gmq = _check(_GRADIENT_MIN_Q, "gradient_min_q", ctl.gradient_min_q)
    glmer_only = {}
    if ctl.mod_type == "glmer":
        glmer_only = {"tolPwrss": _check(_POSITIVE, "tolPwrss", ctl.tolPwrss),
                      "compDev": _check(LOGICAL, "compDev", ctl.compDev),
                      "nAGQ0initStep": _check(LOGICAL, "nAGQ0initStep", ctl.nAGQ0initStep),
                      "hessian": _check(_HESSIAN, "hessian", ctl.hessian),
                      "check_response_not_const": _check(Choice(_PREFIT),
                                                         "check_response_not_const",
                                                         ctl.check_response_not_const)}
    return replace(
        ctl, optimizer=opt, boundary_tol=btol, optCtrl=_optctrl(ctl.optCtrl),
        gradient_min_q=gmq, use_gradient=use_gradient, **checks, **logicals, **glmer_only,
        check_conv_grad=ConvCheck.make(ctl.check_conv_grad, "check_conv_grad"),
        check_conv_singular=ConvCheck.make(ctl.check_conv_singular, "check_conv_singular"),
        check_conv_hess=ConvCheck.make(ctl.check_conv_hess, "check_conv_hess"))


def as_control(control, mod_type, caller=None):
    """``control`` when it is None or a :class:`Control` made for ``mod_type`` (``"lmer"``:
    :func:`lmerControl`, ``"glmer"``: :func:`glmerControl`); a :class:`ControlError` naming
    ``caller`` otherwise."""
    if control is None or (isinstance(control, Control) and control.mod_type == mod_type):
        return control
    maker = f"{mod_type}Control()"
    if isinstance(control, Control):
        where = f"{caller}: " if caller else ""
        raise ControlError(f"{where}control must come from {maker}, not "
                           f"{control.mod_type}Control()")
    raise argument_error("control", control, f"{maker} or None", caller, error=ControlError)


def lmerControl(optimizer: Optional[OptimizerArg] = None, restart_edge: bool = True,
                boundary_tol: float = 1e-5, calc_derivs: bool = True,
                check_conv_grad: ConvCheckArg = ("warning", 2e-3),
                check_conv_singular: ConvCheckArg = ("message", 1e-4),
                check_conv_hess: ConvCheckArg = ("warning", 1e-6),
                optCtrl: Optional[Dict[str, Any]] = None,
                use_gradient: Union[Literal["auto"], bool] = "auto", *,
                use_last_params: bool = False, restart_unconverged: Optional[bool] = None,
                polish: bool = True, gradient_min_q: Optional[int] = 1000,
                check_nobs_vs_rankZ: PrefitAction = "ignore",
                check_nobs_vs_nlev: PrefitAction = "stop",
                check_nlev_gtreq_5: PrefitAction = "ignore",
                check_nlev_gtr_1: PrefitAction = "stop", check_nobs_vs_nRE: PrefitAction = "stop",
                check_rankX: RankXAction = "message+drop.cols",
                check_scaleX: ScaleXAction = "warning",
                check_formula_LHS: PrefitAction = "stop") -> Control:
    """Settings of an :func:`lmer` fit (R: ``lme4::lmerControl``).

    Parameters
    ----------
    optimizer : None, {"nloptwrap", "bobyqa", "Nelder_Mead", "lbfgsb", "newton_ai"} or callable
        None (default): ``"newton_ai"`` when the deviance has the analytic gradient and the
        average-information matrix, its parameters are θ (no structured covariance terms)
        and ``polish`` is on (every such LMM fit by lmer: it ends at the optimum itself, in
        a few evaluations), else ``"nloptwrap"``; see ``polish`` and ``gradient_min_q``.
        ``"nloptwrap"`` (lme4's default, as lme4 >= 1.1-20; lme4's path, for reproducing R's
        printed digits): NLopt BOBYQA with ``xtol_abs = ftol_abs
        = 1e-8``, ``xtol_rel = 1e-4`` (nloptr's default), ``maxeval = 1e5``. ``"lbfgsb"`` and
        ``"newton_ai"`` are lmerpy additions: bounded L-BFGS on the deviance's analytic
        gradient, and trust-region Newton steps on that gradient with the average-information
        matrix as Hessian (what large models get by default, see ``gradient_min_q``).
    restart_edge : bool
        Restart the optimizer once when a θ ends on its bound while the deviance decreases
        into the interior.
    boundary_tol : float
        θ within this distance of its bound is moved onto it when that does not raise the
        deviance (0 turns it off).
    calc_derivs : bool
        Compute the gradient and Hessian at the optimum (needed by the gradient and Hessian
        checks).
    check_conv_grad, check_conv_singular, check_conv_hess : tuple
        ``(action, tol)`` (gradient check also ``(action, tol, relTol)``) or a dict with those
        keys; action is one of "ignore", "message", "warning", "stop".
    optCtrl : dict, optional
        Optimizer settings (see :class:`Control`).
    use_gradient : {"auto", True, False}
        How the post-fit derivatives are computed (see :class:`Control`).
    restart_unconverged : bool or None
        lmerpy addition (see :class:`Control`): restart once when the analytic scaled gradient
        fails lme4's gradient check; None (default): as ``polish``.
    polish : bool
        lmerpy addition (see :class:`Control`): finish at the optimum itself (continue from an
        end point that fails the optimality conditions; Newton steps on the analytic
        gradient; with the default optimizer, ``"newton_ai"`` for the whole fit).
        ``polish=False`` gives lme4's path, stopping point and warnings (the default
        optimizer is then lme4's ``"nloptwrap"``).
    gradient_min_q : int or None
        lmerpy addition (see :class:`Control`): with ``"nloptwrap"`` (named, or the default
        with ``polish=False``), models with at least this many random effects are fitted by
        ``"newton_ai"`` on the analytic gradient (far fewer, costlier evaluations); None keeps
        BOBYQA for every size, with the default optimizer too.
    use_last_params, check_nobs_vs_rankZ, check_nobs_vs_nlev, check_nlev_gtreq_5,
    check_nlev_gtr_1, check_nobs_vs_nRE, check_rankX, check_scaleX, check_formula_LHS
        As lme4's ``use.last.params`` and pre-fit ``check.*`` arguments, same defaults.

    Returns
    -------
    Control
    """
    return _validated(_raw_control(
        optimizer=optimizer, restart_edge=restart_edge, boundary_tol=boundary_tol,
        calc_derivs=calc_derivs, use_last_params=use_last_params,
        restart_unconverged=restart_unconverged, polish=polish, gradient_min_q=gradient_min_q,
        check_conv_grad=check_conv_grad, check_conv_singular=check_conv_singular,
        check_conv_hess=check_conv_hess, optCtrl=optCtrl, use_gradient=use_gradient,
        check_nobs_vs_rankZ=check_nobs_vs_rankZ, check_nobs_vs_nlev=check_nobs_vs_nlev,
        check_nlev_gtreq_5=check_nlev_gtreq_5, check_nlev_gtr_1=check_nlev_gtr_1,
        check_nobs_vs_nRE=check_nobs_vs_nRE, check_rankX=check_rankX,
        check_scaleX=check_scaleX, check_formula_LHS=check_formula_LHS, mod_type="lmer"))


def glmerControl(optimizer: OptimizerArg = ("lbfgsb", "lbfgsb"), restart_edge: bool = False,
                 boundary_tol: float = 1e-5, calc_derivs: bool = True,
                 check_conv_grad: ConvCheckArg = ("warning", 2e-3),
                 check_conv_singular: ConvCheckArg = ("message", 1e-4),
                 check_conv_hess: ConvCheckArg = ("warning", 1e-6),
                 optCtrl: Optional[Dict[str, Any]] = None,
                 use_gradient: Union[Literal["auto"], bool] = "auto", *,
                 tolPwrss: float = 1e-7, compDev: bool = True, nAGQ0initStep: bool = True,
                 hessian: Literal["auto", "gradient", "lme4"] = "lme4", polish: bool = True,
                 use_last_params: bool = False, restart_unconverged: bool = True,
                 check_nobs_vs_rankZ: PrefitAction = "ignore",
                 check_nobs_vs_nlev: PrefitAction = "stop",
                 check_nlev_gtreq_5: PrefitAction = "ignore",
                 check_nlev_gtr_1: PrefitAction = "stop",
                 check_nobs_vs_nRE: PrefitAction = "stop",
                 check_rankX: RankXAction = "message+drop.cols",
                 check_scaleX: ScaleXAction = "warning",
                 check_formula_LHS: PrefitAction = "stop",
                 check_response_not_const: PrefitAction = "stop") -> Control:
    """Settings of a :func:`glmer` fit (R: ``lme4::glmerControl``).

    Same arguments as :func:`lmerControl` with lme4's glmer defaults but the optimizer: one
    optimizer per stage (stage 1 optimizes θ with β inside PIRLS, the nAGQ = 0 fit; stage 2
    optimizes (θ, β)); a single name is used for both stages. ``restart_edge`` defaults to
    False.

    Parameters
    ----------
    optimizer : str, callable, or two of them
        lmerpy's default ``("lbfgsb", "lbfgsb")``: L-BFGS-B on the Laplace deviance at the
        conditional mode with its analytic gradient (:mod:`lmerpy.optimize.laplace`; a few
        dozen evaluations per stage where lme4's path needs hundreds), the fit then reported
        at that point with lme4's deviance and checks (the Hessian: ``hessian``). Its
        criterion is never worse than lme4's by more than 1e-6 relative on lme4's reference
        fits; the estimates differ from lme4's within its optimizers' tolerance (up to 2.5e-3
        in θ, where lme4's deviance, whose log|L|² lags PIRLS's last step, has its optimum
        elsewhere). A stage without an analytic gradient (nAGQ > 1) runs lme4's optimizer.
        lme4's own path, to reproduce R's printed digits: ``optimizer=["bobyqa",
        "Nelder_Mead"]`` (lme4's default).
    tolPwrss : float
        Relative convergence tolerance of PIRLS.
    compDev : bool
        lme4's switch for the compiled deviance (kept for parity; lmerpy always uses its own).
    nAGQ0initStep : bool
        Run the nAGQ = 0 stage first and start stage 2 from it.
    hessian : {"auto", "gradient", "lme4"}
        lmerpy addition: the post-fit Hessian of the Laplace deviance in (θ, β) (standard
        errors, ``vcov``, the Hessian checks). ``"gradient"``: central differences of its
        analytic gradient (step 1e-5, 1 + 2k gradients; standard errors within 1e-7
        relative of a Richardson-extrapolated reference on lme4's reference fits).
        ``"lme4"``: lme4's finite differences of its deviance (``deriv12``, 2k² evaluations;
        standard errors up to 3% off that reference, the amount by which lme4's printed ones
        differ from the Laplace approximation's). ``"lme4"`` is the default, so that standard
        errors are R's to the reference tolerance with either optimizer path. ``"auto"``:
        ``"gradient"`` after the gradient-based optimizer, ``"lme4"`` after lme4's optimizers.
        nAGQ > 1 always uses lme4's. See docs/convergence.md.
    polish : bool
        lmerpy addition: the gradient-based optimizer's final stage (stage 2, or stage 1 when
        ``nAGQ = 0``) ends with Newton steps to the zero of the Laplace deviance's analytic
        gradient (:mod:`lmerpy.optimize.laplace`: in stage 2 with the whitening Hessian
        L-BFGS-B already has, usually 0-2 more evaluations and gradients; a Hessian
        differenced from the gradient where those stop short, and in stage 1). L-BFGS-B
        stops on its own tests, which two paths can meet a step apart when the deviance's
        last bits differ (the same fit on a Dask cluster sums in another order), and whose
        outcome depends on the start; the gradient's zero does not. ``False``: where
        L-BFGS-B stopped. lme4's optimizers are not polished.
    check_response_not_const : str
        Pre-fit check of a constant response.

    Returns
    -------
    Control
    """
    return _validated(_raw_control(
        optimizer=optimizer, restart_edge=restart_edge, boundary_tol=boundary_tol,
        calc_derivs=calc_derivs, use_last_params=use_last_params,
        restart_unconverged=restart_unconverged, polish=polish,
        check_conv_grad=check_conv_grad, check_conv_singular=check_conv_singular,
        check_conv_hess=check_conv_hess, optCtrl=optCtrl, use_gradient=use_gradient,
        check_nobs_vs_rankZ=check_nobs_vs_rankZ, check_nobs_vs_nlev=check_nobs_vs_nlev,
        check_nlev_gtreq_5=check_nlev_gtreq_5, check_nlev_gtr_1=check_nlev_gtr_1,
        check_nobs_vs_nRE=check_nobs_vs_nRE, check_rankX=check_rankX,
        check_scaleX=check_scaleX, check_formula_LHS=check_formula_LHS,
        check_response_not_const=check_response_not_const, mod_type="glmer",
        tolPwrss=tolPwrss, compDev=compDev, nAGQ0initStep=nAGQ0initStep, hessian=hessian))
