"""What the optimizer and inference may ask of a deviance function (the ``Deviance`` contract).

A deviance object is lme4's ``devfun``: a function of the optimizer's parameter vector (θ for
an LMM and glmer's first stage, (θ, β) for glmer's second stage) that also knows its start,
bounds and names and can report the state at a point. Modules after ``pls`` (``optimize``,
``models``, ``inference``) use these members only, never a deviance's private state.

Implemented by :class:`lmerpy.pls.LmmDeviance` (REML criterion or ML deviance, with an analytic
gradient and the average-information matrix: :class:`DifferentiableDeviance`) and
:class:`lmerpy.pls.glmm.deviance.GlmmDeviance` (Laplace/AGQ; both stages).

R equivalent: the closure ``lme4::mkLmerDevfun()`` / ``mkGlmerDevfun()`` returns and the
environment it carries (``getME(fit, "devcomp")``, ``environment(devfun)$pp``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Protocol, runtime_checkable

import numpy as np

__all__ = ["Components", "Deviance", "DifferentiableDeviance", "RefittableDeviance"]


@dataclass(frozen=True)
class Components:
    """The pieces of the deviance at one θ (lme4's ``devcomp$cmp``, the profiled parts).

    Attributes
    ----------
    ldL2 : float
        log|L|² = log|Λ'Z'WZΛ + I|.
    ldRX2 : float
        log|R_X|² (R_X'R_X = X'WX − R_ZX'R_ZX); NaN when R_X is not available (a GLMM whose
        downdated X'WX is not positive definite).
    pwrss : float
        The penalised weighted residual sum of squares r²(θ) = ‖W^½(y − Xβ̂ − ZΛũ)‖² + ‖ũ‖²
        (an LMM's profiled r², computed as the deviance computes it).
    beta : ndarray (p,)
        β̂(θ) (an LMM) or the β of the state (a GLMM).
    RX : ndarray (p, p) or None
        Upper triangular R_X.
    """

    ldL2: float
    ldRX2: float
    pwrss: float
    beta: np.ndarray
    RX: Optional[np.ndarray]


@runtime_checkable
class Deviance(Protocol):
    """A deviance function with its start, bounds and names (lme4's ``devfun``).

    Attributes
    ----------
    lower, upper : ndarray
        Bounds of the parameter vector (θ's lower bounds are 0 on the diagonal of each
        term's template and −inf elsewhere; β is unbounded).
    n_evals : int
        Number of calls of the function so far (the optimizer's ``feval``); :meth:`solve`,
        :meth:`components` and derivatives are not counted.
    """

    lower: np.ndarray
    upper: np.ndarray
    n_evals: int

    @property
    def names(self) -> List[str]:
        """Names of the parameters, as lme4 names them (θ's ``Subject.(Intercept)``...,
        then the fixed effects' column names in glmer's second stage)."""

    def start(self) -> np.ndarray:
        """The design's starting parameter vector (a copy). lmer's optimizer may replace θ's
        part by lme4's data-based start of all-intercept models."""

    def __call__(self, par: np.ndarray) -> float:
        """The deviance (REML criterion, ML deviance, Laplace or AGQ) at ``par``; counted."""

    def solve(self, par: np.ndarray) -> Any:
        """Everything at ``par`` (a fit's state: :class:`~lmerpy.pls.PlsSolution` or
        :class:`~lmerpy.pls.glmm.deviance.GlmmSolution`)."""

    def components(self, par: np.ndarray) -> Components:
        """The deviance's pieces at ``par`` (:class:`Components`), not counted."""

    def par_groups(self) -> List[np.ndarray]:
        """Index arrays of the parameters that scale together: θ per column of each term's
        lower-triangular template, diagonal entry first (the optimizer's Euler term of the
        AI matrix and the column-sign flips of :meth:`LmmDeviance.rectify_theta`)."""


@runtime_checkable
class DifferentiableDeviance(Deviance, Protocol):
    """A deviance with an analytic gradient and an approximate Hessian (lmer's)."""

    def gradient(self, par: np.ndarray) -> np.ndarray:
        """The gradient at ``par`` (not counted)."""

    def information(self, par: np.ndarray) -> np.ndarray:
        """A positive semi-definite approximation of the Hessian at ``par`` (the
        average-information matrix; not counted)."""


@runtime_checkable
class RefittableDeviance(Deviance, Protocol):
    """A deviance that can be rebuilt cheaply for a new response (refit, bootstrap)."""

    def with_response(self, y: np.ndarray) -> "RefittableDeviance":
        """The same function for response ``y``, reusing the design's products and the
        factor's analysis; ``n_evals`` starts at 0."""
