"""The record of an optimization: :class:`OptSummary` (R: ``fit@optinfo``; MixedModels.jl's
``OptSummary``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

__all__ = ["OptSummary"]


def _enc_float(v):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    return v


def _dec_float(v):
    if v is None:
        return float("nan")
    if isinstance(v, str):
        return {"NaN": float("nan"), "Inf": float("inf"), "-Inf": float("-inf")}[v]
    return float(v)


def _enc_vec(a):
    return None if a is None else [_enc_float(v) for v in np.asarray(a, dtype=float).ravel()]


def _dec_vec(a):
    return None if a is None else np.array([_dec_float(v) for v in a], dtype=float)


def _enc_settings(d):
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, np.ndarray):
            v = _enc_vec(v)
        elif isinstance(v, (float, np.floating)):
            v = _enc_float(v)
        elif isinstance(v, np.integer):
            v = int(v)
        elif isinstance(v, (list, tuple)):
            v = [_enc_float(x) if isinstance(x, (float, np.floating)) else x for x in v]
        out[k] = v
    return out


@dataclass
class OptSummary:
    """Summary of the optimization of a mixed model (R: ``fit@optinfo``).

    Attributes
    ----------
    optimizer : str
        lme4's optimizer name (``"nloptwrap"``, ``"bobyqa"``, ``"Nelder_Mead"``, ``"lbfgsb"``).
    settings : dict
        The optimizer's settings in effect (``xtol_abs``, ``ftol_abs``, ``maxeval``... and
        ``method``, the NLopt/scipy algorithm).
    theta_start : ndarray
        Start of the optimization: the covariance parameters the optimizer moves — lme4
        2.x's ``par``, which is θ when every term is unstructured — for lmer; (``par``, β)
        for glmer's second stage.
    theta : ndarray
        The optimum (after restart_edge and boundary snapping), on the same scale (R:
        ``opt$par``; also :attr:`par`). ``fit.theta`` is θ itself, ``fit.par`` this.
    fmin : float
        Deviance at ``theta``.
    feval : int
        Number of deviance evaluations made by the optimizer(s) and by restart_edge and
        boundary snapping (= ``len(fitlog)``; the evaluations for the derivatives are not
        counted here but in ``derivs_evals``).
    optimizer_evals : int
        Evaluations made by the optimizer's last run alone (R: ``optinfo$feval``, which
        after a restart counts the second run only).
    return_code : int
        lme4's optimizer convergence code (R: ``optinfo$conv$opt``): 0 when the optimizer
        stopped normally; otherwise NLopt's status for nloptwrap (5 = maxeval reached,
        negative = failure), 4 for Nelder_Mead and 1 for bobyqa at the evaluation limit.
    message : str
        The optimizer's message (nloptr's text for NLopt, R: ``optinfo$message``).
    fitlog : list of (ndarray, float)
        Every evaluation: (parameters, deviance).
    lower, upper : ndarray
        Bounds of the parameters (lme4 2.x: ``upper`` is 1 for a correlation).
    derivs : dict or None
        ``{"gradient": g, "Hessian": H, "method": "analytic"|"finite differences"}`` at
        ``theta`` (R: ``optinfo$derivs``), when derivatives were computed.
    conv_messages : list of str
        lme4's ``checkConv`` messages (R: ``optinfo$conv$lme4$messages``).
    conv_code : int
        lme4's ``checkConv`` code (0 when no check failed; R: ``optinfo$conv$lme4$code``).
    warnings : list of str
        Optimizer warnings (R: ``optinfo$warnings`` plus optwrap's "convergence code ..." text).
    status : int
        The backend's raw status (NLopt's code).
    restarted : bool
        Whether restart_edge restarted the optimizer.
    retried : bool
        Whether the optimizer was restarted because the analytic scaled gradient failed lme4's
        gradient check (``restart_unconverged``, a lmerpy addition).
    kkt_restart : bool
        Whether the optimizer's end point failed the optimality (KKT) conditions — on a bound,
        or with an indefinite Hessian — so that the fit was continued from there (``polish``,
        a lmerpy addition; see :mod:`lmerpy.optimize.polish`).
    polish_steps : int
        Newton steps kept by the final polish (``polish``; 0 when the optimizer's point was
        already optimal to the criterion's rounding).
    derivs_evals : int
        Deviance/gradient evaluations spent on the derivatives.
    gradient_evals : int
        Analytic gradient evaluations made by the optimizer(s) (0 for the derivative-free
        ones; each also needs the deviance evaluation at its point, counted in ``feval``).
    elapsed : float
        Seconds spent in the optimization (without the derivatives).
    derivs_elapsed : float
        Seconds spent on the derivatives.
    coord_scale : ndarray or None
        When some model-matrix column is on an extreme scale, the optimizer ran in the
        coordinates ``theta / coord_scale`` (powers of 2, see :mod:`lmerpy.optimize.coords`);
        every field here is in the model's coordinates. None otherwise.
    """

    optimizer: str
    settings: Dict[str, Any]
    theta_start: np.ndarray
    theta: np.ndarray
    fmin: float
    feval: int
    return_code: int
    message: str
    fitlog: List[Tuple[np.ndarray, float]] = field(default_factory=list)
    lower: Optional[np.ndarray] = None
    upper: Optional[np.ndarray] = None
    derivs: Optional[Dict[str, Any]] = None
    conv_messages: List[str] = field(default_factory=list)
    conv_code: int = 0
    warnings: List[str] = field(default_factory=list)
    status: int = 0
    restarted: bool = False
    retried: bool = False
    kkt_restart: bool = False
    polish_steps: int = 0
    derivs_evals: int = 0
    optimizer_evals: int = 0
    gradient_evals: int = 0
    elapsed: float = 0.0
    derivs_elapsed: float = 0.0
    coord_scale: Optional[np.ndarray] = None

    @property
    def par(self) -> np.ndarray:
        """Alias of :attr:`theta` (R: ``opt$par``: lme4 2.x's ``par``, then β for glmer's
        second stage)."""
        return self.theta

    @property
    def converged(self) -> bool:
        """True when the optimizer stopped normally and no convergence check failed."""
        return self.return_code == 0 and self.conv_code == 0

    def fitlog_array(self) -> np.ndarray:
        """The fit log as one array: each row is (θ..., deviance)."""
        if not self.fitlog:
            return np.empty((0, np.asarray(self.theta).size + 1))
        return np.array([np.append(t, f) for t, f in self.fitlog])

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-serializable dict (infinite bounds as ``"Inf"``/``"-Inf"``)."""
        d = None
        if self.derivs is not None:
            d = {"gradient": _enc_vec(self.derivs.get("gradient")),
                 "Hessian": None if self.derivs.get("Hessian") is None else
                 [_enc_vec(r) for r in np.atleast_2d(self.derivs["Hessian"])],
                 "method": self.derivs.get("method")}
        return {
            "optimizer": self.optimizer, "settings": _enc_settings(self.settings),
            "theta_start": _enc_vec(self.theta_start), "theta": _enc_vec(self.theta),
            "fmin": _enc_float(self.fmin), "feval": int(self.feval),
            "return_code": int(self.return_code), "message": self.message,
            "fitlog": [[_enc_vec(t), _enc_float(f)] for t, f in self.fitlog],
            "lower": _enc_vec(self.lower), "upper": _enc_vec(self.upper), "derivs": d,
            "conv_messages": list(self.conv_messages), "conv_code": int(self.conv_code),
            "warnings": list(self.warnings), "status": int(self.status),
            "restarted": bool(self.restarted), "retried": bool(self.retried),
            "kkt_restart": bool(self.kkt_restart),
            "polish_steps": int(self.polish_steps),
            "derivs_evals": int(self.derivs_evals),
            "optimizer_evals": int(self.optimizer_evals),
            "gradient_evals": int(self.gradient_evals), "elapsed": float(self.elapsed),
            "derivs_elapsed": float(self.derivs_elapsed),
            "coord_scale": _enc_vec(self.coord_scale),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OptSummary:
        """Inverse of :meth:`to_dict`."""
        derivs = d.get("derivs")
        if derivs is not None:
            derivs = {"gradient": _dec_vec(derivs.get("gradient")),
                      "Hessian": None if derivs.get("Hessian") is None else
                      np.array([_dec_vec(r) for r in derivs["Hessian"]]),
                      "method": derivs.get("method")}
        settings = {}
        for k, v in (d.get("settings") or {}).items():
            if isinstance(v, str) and v in ("Inf", "-Inf", "NaN"):
                v = _dec_float(v)
            settings[k] = v
        return cls(
            optimizer=d["optimizer"], settings=settings,
            theta_start=_dec_vec(d["theta_start"]), theta=_dec_vec(d["theta"]),
            fmin=_dec_float(d["fmin"]), feval=int(d["feval"]),
            return_code=int(d["return_code"]), message=d.get("message", ""),
            fitlog=[(_dec_vec(t), _dec_float(f)) for t, f in d.get("fitlog", [])],
            lower=_dec_vec(d.get("lower")), upper=_dec_vec(d.get("upper")), derivs=derivs,
            conv_messages=list(d.get("conv_messages", [])),
            conv_code=int(d.get("conv_code", 0)), warnings=list(d.get("warnings", [])),
            status=int(d.get("status", 0)), restarted=bool(d.get("restarted", False)),
            retried=bool(d.get("retried", False)),
            kkt_restart=bool(d.get("kkt_restart", False)),
            polish_steps=int(d.get("polish_steps", 0)),
            derivs_evals=int(d.get("derivs_evals", 0)),
            optimizer_evals=int(d.get("optimizer_evals", 0)),
            gradient_evals=int(d.get("gradient_evals", 0)), elapsed=float(d.get("elapsed", 0.0)),
            derivs_elapsed=float(d.get("derivs_elapsed", 0.0)),
            coord_scale=_dec_vec(d.get("coord_scale")))

    def __str__(self):
        lines = ["Initial parameter vector: " + _fmt(self.theta_start),
                 f"Optimizer: {self.optimizer} ({self.settings.get('method', '')})"]
        for k, v in self.settings.items():
            if k != "method":
                lines.append(f"  {k}: {v}")
        lines += [f"Function evaluations: {self.feval}",
                  "Final parameter vector: " + _fmt(self.theta),
                  f"Final objective value: {self.fmin:.10g}",
                  f"Return code: {self.return_code} ({self.message})"]
        if self.conv_messages:
            lines.append("Convergence checks: " + "; ".join(self.conv_messages))
        return "\n".join(lines)

    __repr__ = __str__


def _fmt(v):
    return "[" + ", ".join(f"{x:.6g}" for x in np.asarray(v, dtype=float).ravel()) + "]"
