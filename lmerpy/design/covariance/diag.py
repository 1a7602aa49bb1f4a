"""``diag()``: independent random effects, each with its own variance (or one shared).

Λᵢ = diag(s₁, …, s_k) with ``par`` = θ = the relative standard deviations (k of them, or one
shared by all columns when ``hom=True``), bounded below by 0. MCMCglmm's ``idh()``, nlme's
``pdDiag`` (``hom=True``: ``pdIdent``). lme4 1.1's ``(x || g)`` splits into separate terms
instead; with ``diag(x | g)`` the term stays one term.

R equivalent: lme4 2.1's ``Covariance.diag`` (R/covariance.R).
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from ...errors import ArgumentError
from .base import SINGULAR_TOL, ParIsTheta

__all__ = ["Diagonal"]


class Diagonal(ParIsTheta):
    """lme4's ``diag(x | g, hom = FALSE)`` for a term with ``k`` columns."""

    kind = "diag"
    default_hom = False
    __slots__ = ()
    _has_varcov = True

    @property
    def n_par(self) -> int:
        return 1 if self.hom else self.k

    def pattern(self):
        d = np.arange(self.k, dtype=np.int64)
        return d, d.copy()

    @property
    def theta_index(self) -> np.ndarray:
        if self.hom:
            return np.zeros(self.k, dtype=np.int64)
        return np.arange(self.k, dtype=np.int64)

    @property
    def start(self) -> np.ndarray:
        return np.ones(self.n_par)

    @property
    def lower(self) -> np.ndarray:
        return np.zeros(self.n_par)

    def vc(self, par) -> Tuple[np.ndarray, np.ndarray]:
        return self.check_par(par), np.zeros(0)

    def from_vc(self, vcomp, ccomp) -> np.ndarray:
        ccomp = np.asarray(ccomp, dtype=float).reshape(-1)
        if ccomp.shape[0]:
            raise ArgumentError(f"{self!r} has no correlations; got {ccomp.shape[0]}")
        return self.check_par(vcomp)

    def par_names(self, cnms, group, prefix=None, old=True) -> List[str]:
        cn, g = self._check_names(cnms, group)
        if self.hom:
            cn = ["*"]
        pre = None if prefix is None else prefix[0]
        return [self._name(g, c, pre, old) for c in cn]

    def theta_names(self, cnms, group) -> List[str]:
        return self.par_names(cnms, group)

    def is_singular(self, par, tol: float = SINGULAR_TOL) -> bool:
        return bool(np.min(self.check_par(par)) < tol)
