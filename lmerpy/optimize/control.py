"""Fit controls: :func:`lmerControl` and :func:`glmerControl` (R: ``lme4::lmerControl``).

R's dotted argument names become underscores (``boundary.tol`` -> ``boundary_tol``,
``check.conv.grad`` -> ``check_conv_grad``); ``optCtrl``, ``tolPwrss`` and ``nAGQ0initStep`` keep
lme4's spelling. The result is a :class:`Control` dataclass that the optimizer stage
(:func:`lmerpy.optimize.optimize_lmer`, :func:`lmerpy.optimize.check_conv`) and the design stage
(the pre-fit ``check_*`` fields) read.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Dict, Optional, Tuple, Union

from ..errors import LmerpyError

__all__ = ["Control", "ConvCheck", "ControlError", "lmerControl", "glmerControl",
           "OPTIMIZERS", "CHECK_ACTIONS"]

#: Optimizer names understood by :func:`lmerpy.optimize.optimize_lmer` (a callable is also
#: accepted, see :class:`Control`).
OPTIMIZERS = ("nloptwrap", "bobyqa", "Nelder_Mead", "lbfgsb", "newton_ai")

#: Actions of the post-fit convergence checks (R: ``lme4:::checkCtrlLevels``).
CHECK_ACTIONS = ("ignore", "message", "warning", "stop")

_ALIASES = {"nelder_mead": "Nelder_Mead", "neldermead": "Nelder_Mead", "nloptr": "nloptwrap",
            "l-bfgs-b": "lbfgsb", "lbfgs": "lbfgsb", "bobyqa": "bobyqa",
            "nloptwrap": "nloptwrap", "lbfgsb": "lbfgsb", "newton_ai": "newton_ai"}


class ControlError(LmerpyError, ValueError):
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
    def make(cls, spec, name):
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
        if out.action not in CHECK_ACTIONS:
            raise ControlError(f"{name}: unknown action {out.action!r}; use one of "
                               f"{', '.join(CHECK_ACTIONS)}")
        try:
            tol = float(out.tol)
        except (TypeError, ValueError):
            raise ControlError(f"{name}: must have a numeric 'tol' component") from None
        if not tol >= 0:
            raise ControlError(f"{name}: 'tol' must be number >= 0")
        rel = out.relTol
        if rel is not None:
            try:
                rel = float(rel)
            except (TypeError, ValueError):
                raise ControlError(f"{name}: 'relTol' must be a number >= 0") from None
            if not rel >= 0:
                raise ControlError(f"{name}: 'relTol' must be a number >= 0")
        return cls(out.action, tol, rel)

    def to_dict(self):
        return {"action": self.action, "tol": self.tol, "relTol": self.relTol}


@dataclass(frozen=True)
class Control:
    """Settings of a fit (R: an ``lmerControl``/``glmerControl`` object).

    Build it with :func:`lmerControl` or :func:`glmerControl`, which validate every field.

    Attributes
    ----------
    optimizer : str, callable or tuple of two
        ``"nloptwrap"`` (NLopt BOBYQA with lme4's settings; lmer's default), ``"bobyqa"``
        (NLopt BOBYQA with minqa-like settings), ``"Nelder_Mead"`` (NLopt Nelder-Mead with
        lme4-like tolerances), ``"lbfgsb"`` (bounded quasi-Newton on the analytic gradient),
        ``"newton_ai"`` (trust-region Newton on the analytic gradient with the
        average-information matrix, LMMs only; see :mod:`lmerpy.optimize.newton`), or
        a callable ``f(fun, x0, lower, upper, **optCtrl)`` returning an object with ``x`` and
        ``fun`` (and optionally ``feval``, ``return_code``, ``message``). glmer controls hold
        one optimizer per stage.
    restart_edge, boundary_tol, calc_derivs, use_last_params
        As in lme4 (``restart_edge``, ``boundary.tol``, ``calc.derivs``, ``use.last.params``).
    check_conv_grad, check_conv_singular, check_conv_hess : ConvCheck
        Post-fit checks (R: ``check.conv.*``).
    optCtrl : dict
        Settings passed to the optimizer (NLopt names such as ``maxeval``, ``xtol_abs``,
        ``ftol_abs``, ``xtol_rel``, ``ftol_rel``, ``maxtime``, ``algorithm``; lme4's
        Nelder_Mead / minqa names ``maxfun``, ``FtolAbs``, ``FtolRel``, ``XtolRel``, ``xst``,
        ``xt``, ``rhobeg``, ``rhoend``; L-BFGS-B names ``maxiter``, ``ftol``, ``gtol``;
        ``newton_ai``'s ``tol``, ``xtol``, ``maxiter``, ``delta0``).
    use_gradient : {"auto", True, False}
        How the post-fit derivatives are computed: ``"auto"`` uses the deviance's analytic
        ``gradient`` when it has one (Hessian by central differences of that gradient, or by
        forward differences after a gradient-based optimizer, where each gradient costs a
        factorisation) and lme4's finite differences of the deviance otherwise; ``True``
        requires the analytic gradient; ``False`` always uses lme4's finite differences
        (``deriv12``).
    restart_unconverged : bool
        lmerpy addition: when the derivatives are analytic, the fit is not singular, the
        optimizer reported success and yet the scaled gradient fails lme4's gradient check,
        restart the optimizer once from the optimum and keep the result if the deviance went
        down (so a gradient warning only remains when a restart could not fix it).
    polish : bool
        lmerpy addition: with analytic derivatives, finish with (at most three) Newton steps
        on the parameters off their bounds, using the analytic gradient and its differenced
        Hessian, each kept only if it lowers the deviance. BOBYQA stops where its trust region
        is small, which can leave the last printed digit of a t value to chance on flat
        problems (InstEval); the Newton steps land on the optimum itself for one or two
        extra evaluations. Off by default: lme4's own answers are BOBYQA's stopping points,
        and on flat problems (Orthodont REML) the exact optimum differs from them by ~1e-3 in
        a variance component.
    gradient_min_q : int or None
        lmerpy addition (lmer only; :func:`lmerControl` sets 1000): with the default optimizer
        (``"nloptwrap"``, empty ``optCtrl``) and a deviance with an analytic gradient, models
        with at least this many random effects (q) are fitted by ``"newton_ai"`` (by
        ``"lbfgsb"`` when the deviance offers no average-information matrix) instead of
        BOBYQA. On large models one evaluation is a large Cholesky factorisation and the
        gradient costs about two more, yet the Newton method needs 5 (deviance, gradient)
        pairs on InstEval where BOBYQA needs 76 deviances (L-BFGS-B 15), and it stops at the
        optimum itself (BOBYQA stops within its tolerance of it). Small models keep lme4's
        BOBYQA path, which reproduces lme4's estimates to the printed digit. None: always the
        named optimizer.
    check_* (pre-fit)
        lme4's design checks with lme4's defaults, for the design stage to read.
    mod_type : {"lmer", "glmer"}
    tolPwrss, compDev, nAGQ0initStep
        glmer only (``None`` for lmer controls).
    """

    optimizer: Union[str, Callable, Tuple[Any, Any]] = "nloptwrap"
    restart_edge: bool = True
    boundary_tol: float = 1e-5
    calc_derivs: bool = True
    use_last_params: bool = False
    check_conv_grad: ConvCheck = ConvCheck("warning", 2e-3)
    check_conv_singular: ConvCheck = ConvCheck("message", 1e-4)
    check_conv_hess: ConvCheck = ConvCheck("warning", 1e-6)
    optCtrl: Dict[str, Any] = field(default_factory=dict)
    use_gradient: Union[str, bool] = "auto"
    restart_unconverged: bool = True
    polish: bool = False
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

    def stage_optimizer(self, stage=1):
        """The optimizer of a stage: glmer controls hold two (stage 1, stage 2)."""
        opt = self.optimizer
        if isinstance(opt, tuple):
            return opt[0] if stage == 1 else opt[1]
        return opt

    def design_checks(self):
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

    def replace(self, **changes):
        """A copy with some fields changed (validated like the constructor functions)."""
        return _validated(replace(self, **changes))

    def to_dict(self):
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
        opt = _norm_optimizer(opt)
    try:
        btol = float(ctl.boundary_tol)
    except (TypeError, ValueError):
        raise ControlError(f"boundary_tol must be a number >= 0; got {ctl.boundary_tol!r}") \
            from None
    if not btol >= 0:
        raise ControlError(f"boundary_tol must be a number >= 0; got {ctl.boundary_tol!r}")
    if ctl.use_gradient not in ("auto", True, False):
        raise ControlError(f"use_gradient must be 'auto', True or False; got "
                           f"{ctl.use_gradient!r}")
    optctrl = ctl.optCtrl
    if optctrl is None:
        optctrl = {}
    if not isinstance(optctrl, dict):
        raise ControlError(f"optCtrl must be a dict; got {type(optctrl).__name__}")
    for nm, allowed in (("check_rankX", _RANKX), ("check_scaleX", _SCALEX)):
        if getattr(ctl, nm) not in allowed:
            raise ControlError(f"{nm}: unknown value {getattr(ctl, nm)!r}; use one of "
                               f"{', '.join(allowed)}")
    for nm in ("check_nobs_vs_rankZ", "check_nobs_vs_nlev", "check_nlev_gtreq_5",
               "check_nlev_gtr_1", "check_nobs_vs_nRE", "check_formula_LHS"):
        if getattr(ctl, nm) not in _PREFIT:
            raise ControlError(f"{nm}: unknown value {getattr(ctl, nm)!r}; use one of "
                               f"{', '.join(_PREFIT)}")
    gmq = ctl.gradient_min_q
    if gmq is not None:
        try:
            gmq = int(gmq)
        except (TypeError, ValueError):
            raise ControlError(f"gradient_min_q must be an integer or None; got {gmq!r}") \
                from None
        if gmq < 0:
            raise ControlError(f"gradient_min_q must be >= 0 or None; got {gmq!r}")
    return replace(
        ctl, optimizer=opt, boundary_tol=btol, optCtrl=dict(optctrl), gradient_min_q=gmq,
        restart_edge=bool(ctl.restart_edge), calc_derivs=bool(ctl.calc_derivs),
        use_last_params=bool(ctl.use_last_params),
        restart_unconverged=bool(ctl.restart_unconverged), polish=bool(ctl.polish),
        check_conv_grad=ConvCheck.make(ctl.check_conv_grad, "check_conv_grad"),
        check_conv_singular=ConvCheck.make(ctl.check_conv_singular, "check_conv_singular"),
        check_conv_hess=ConvCheck.make(ctl.check_conv_hess, "check_conv_hess"))


def lmerControl(optimizer="nloptwrap", restart_edge=True, boundary_tol=1e-5, calc_derivs=True,
                check_conv_grad=("warning", 2e-3), check_conv_singular=("message", 1e-4),
                check_conv_hess=("warning", 1e-6), optCtrl=None, use_gradient="auto", *,
                use_last_params=False, restart_unconverged=True, polish=False,
                gradient_min_q=1000, check_nobs_vs_rankZ="ignore",
                check_nobs_vs_nlev="stop", check_nlev_gtreq_5="ignore", check_nlev_gtr_1="stop",
                check_nobs_vs_nRE="stop", check_rankX="message+drop.cols",
                check_scaleX="warning", check_formula_LHS="stop"):
    """Settings of an :func:`lmer` fit (R: ``lme4::lmerControl``).

    Parameters
    ----------
    optimizer : {"nloptwrap", "bobyqa", "Nelder_Mead", "lbfgsb", "newton_ai"} or callable
        ``"nloptwrap"`` (default, as lme4 >= 1.1-20): NLopt BOBYQA with ``xtol_abs = ftol_abs
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
    restart_unconverged : bool
        lmerpy addition (see :class:`Control`): restart once when the analytic scaled gradient
        fails lme4's gradient check.
    polish : bool
        lmerpy addition (see :class:`Control`): Newton steps at the end on the analytic
        gradient.
    gradient_min_q : int or None
        lmerpy addition (see :class:`Control`): with the default optimizer, models with at
        least this many random effects are fitted by ``"newton_ai"`` on the analytic gradient
        (far fewer, costlier evaluations); None keeps BOBYQA for every size.
    use_last_params, check_nobs_vs_rankZ, check_nobs_vs_nlev, check_nlev_gtreq_5,
    check_nlev_gtr_1, check_nobs_vs_nRE, check_rankX, check_scaleX, check_formula_LHS
        As lme4's ``use.last.params`` and pre-fit ``check.*`` arguments, same defaults.

    Returns
    -------
    Control
    """
    return _validated(Control(
        optimizer=optimizer, restart_edge=restart_edge, boundary_tol=boundary_tol,
        calc_derivs=calc_derivs, use_last_params=use_last_params,
        restart_unconverged=restart_unconverged, polish=polish, gradient_min_q=gradient_min_q,
        check_conv_grad=check_conv_grad, check_conv_singular=check_conv_singular,
        check_conv_hess=check_conv_hess, optCtrl=optCtrl or {}, use_gradient=use_gradient,
        check_nobs_vs_rankZ=check_nobs_vs_rankZ, check_nobs_vs_nlev=check_nobs_vs_nlev,
        check_nlev_gtreq_5=check_nlev_gtreq_5, check_nlev_gtr_1=check_nlev_gtr_1,
        check_nobs_vs_nRE=check_nobs_vs_nRE, check_rankX=check_rankX,
        check_scaleX=check_scaleX, check_formula_LHS=check_formula_LHS, mod_type="lmer"))


def glmerControl(optimizer=("bobyqa", "Nelder_Mead"), restart_edge=False, boundary_tol=1e-5,
                 calc_derivs=True, check_conv_grad=("warning", 2e-3),
                 check_conv_singular=("message", 1e-4), check_conv_hess=("warning", 1e-6),
                 optCtrl=None, use_gradient="auto", *, tolPwrss=1e-7, compDev=True,
                 nAGQ0initStep=True, use_last_params=False, restart_unconverged=True,
                 check_nobs_vs_rankZ="ignore",
                 check_nobs_vs_nlev="stop", check_nlev_gtreq_5="ignore",
                 check_nlev_gtr_1="stop", check_nobs_vs_nRE="stop",
                 check_rankX="message+drop.cols", check_scaleX="warning",
                 check_formula_LHS="stop", check_response_not_const="stop"):
    """Settings of a :func:`glmer` fit (R: ``lme4::glmerControl``).

    Same arguments as :func:`lmerControl` with lme4's glmer defaults: one optimizer per stage
    (stage 1 optimizes θ with β inside PIRLS, the nAGQ = 0 fit; stage 2 optimizes (θ, β)); a
    single name is used for both stages. ``restart_edge`` defaults to False.

    Parameters
    ----------
    tolPwrss : float
        Relative convergence tolerance of PIRLS.
    compDev : bool
        lme4's switch for the compiled deviance (kept for parity; lmerpy always uses its own).
    nAGQ0initStep : bool
        Run the nAGQ = 0 stage first and start stage 2 from it.
    check_response_not_const : str
        Pre-fit check of a constant response.

    Returns
    -------
    Control
    """
    try:
        tp = float(tolPwrss)
    except (TypeError, ValueError):
        raise ControlError(f"tolPwrss must be a positive number; got {tolPwrss!r}") from None
    if not tp > 0:
        raise ControlError(f"tolPwrss must be a positive number; got {tolPwrss!r}")
    if check_response_not_const not in _PREFIT:
        raise ControlError(f"check_response_not_const: unknown value "
                           f"{check_response_not_const!r}; use one of {', '.join(_PREFIT)}")
    return _validated(Control(
        optimizer=optimizer, restart_edge=restart_edge, boundary_tol=boundary_tol,
        calc_derivs=calc_derivs, use_last_params=use_last_params,
        restart_unconverged=restart_unconverged,
        check_conv_grad=check_conv_grad, check_conv_singular=check_conv_singular,
        check_conv_hess=check_conv_hess, optCtrl=optCtrl or {}, use_gradient=use_gradient,
        check_nobs_vs_rankZ=check_nobs_vs_rankZ, check_nobs_vs_nlev=check_nobs_vs_nlev,
        check_nlev_gtreq_5=check_nlev_gtreq_5, check_nlev_gtr_1=check_nlev_gtr_1,
        check_nobs_vs_nRE=check_nobs_vs_nRE, check_rankX=check_rankX,
        check_scaleX=check_scaleX, check_formula_LHS=check_formula_LHS,
        check_response_not_const=check_response_not_const, mod_type="glmer",
        tolPwrss=tp, compDev=bool(compDev), nAGQ0initStep=bool(nAGQ0initStep)))
