"""Structures of the form Σᵢ/σ² = D R(ρ) D: standard deviations times one correlation matrix.

D = diag(s₁, …, s_k) (one s shared by all columns when ``hom``) and R(ρ) a correlation matrix
with one parameter; Λᵢ = D L(ρ) with L(ρ) R(ρ)'s lower Cholesky factor, computed by the
subclass (:class:`~.cs.CompoundSymmetry`, :class:`~.ar1.AR1`). ``par`` = (s…, ρ); θ holds
the distinct entries of Λᵢ:

* heterogeneous: θ = s_r L(ρ)[r, c] at every lower-triangle entry, in column-major order
  (the layout of ``us``: θ and the Λ' template are those of an unstructured term);
* homogeneous: θ = s · (the distinct values of L(ρ)), fewer than k(k+1)/2 of them, each used
  at several entries of Λᵢ (``theta_index`` repeats).

Λᵢ is linear in θ (the numerical core works in θ), but θ is not linear in ``par``;
:meth:`ScaledCorrelation.theta_jacobian` gives ∂θ/∂par for the chain rule.

R equivalent: the methods shared by lme4 2.1's ``Covariance.cs`` and ``Covariance.ar1``.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from typing import List, Tuple

import numpy as np

from ...errors import ArgumentError
from .base import SINGULAR_TOL, Covariance, lower_triangle, unstructured_pattern

__all__ = ["ScaledCorrelation"]


class ScaledCorrelation(Covariance):
    """Σᵢ/σ² = D R(ρ) D (abstract: a subclass gives L(ρ), its derivative, the homogeneous θ
    layout and the way back from θ)."""

    __slots__ = ()

    # -- what a subclass provides ---------------------------------------------------------
    @property
    @abstractmethod
    def rho_lower(self) -> float:
        """Lower bound of ρ."""

    @abstractmethod
    def corr_factor(self, rho: float) -> np.ndarray:
        """L(ρ): the lower Cholesky factor of R(ρ) (k × k), with lme4's arithmetic."""

    @abstractmethod
    def corr_factor_derivative(self, rho: float) -> np.ndarray:
        """dL(ρ)/dρ (k × k)."""

    @abstractmethod
    def hom_index(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """θ index of Λᵢ[rows, cols] when ``hom`` (R: ``getThetaIndex`` − 1)."""

    @abstractmethod
    def _l22_position(self) -> int:
        """Position of Λᵢ[1, 1] in θ (lme4's ``setTheta`` reads ρ from Λᵢ[1, 0:2])."""

    @abstractmethod
    def _rho_from_rows(self, rho_pair: float, h0: int, h1: int) -> float:
        """ρ from the correlation of rows h0, h1 of Λᵢ (lme4's fallback in ``setTheta``)."""

    @abstractmethod
    def _het_sd(self, first_column: np.ndarray, rho: float) -> np.ndarray:
        """The k standard deviations from Λᵢ's first column when ρ ≠ 0."""

    @abstractmethod
    def _rho_singular(self, rho: float, tol: float) -> bool:
        """ρ within ``tol`` of a bound where R(ρ) is singular."""

    # -- sizes and layout -----------------------------------------------------------------
    @property
    def n_par(self) -> int:
        return self.n_sd + (self.k > 1)

    @property
    def n_theta(self) -> int:
        k = self.k
        return 2 * k - 1 if self.hom else k * (k + 1) // 2

    def pattern(self):
        rows, cols, _ = unstructured_pattern(self.k)
        return rows, cols

    @property
    def theta_index(self) -> np.ndarray:
        rows, cols, idx = unstructured_pattern(self.k)
        return self.hom_index(rows, cols) if self.hom else idx

    def _theta_entries(self) -> Tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of Λᵢ where each θ is read: its first entry in the pattern (hom) or
        the column-major lower triangle (het)."""
        if not self.hom:
            return lower_triangle(self.k)
        rows, cols = self.pattern()
        tidx = self.theta_index
        first = np.full(self.n_theta, -1, dtype=np.int64)
        for e in range(tidx.shape[0] - 1, -1, -1):
            first[tidx[e]] = e
        return rows[first], cols[first]

    # -- parameters -----------------------------------------------------------------------
    @property
    def start(self) -> np.ndarray:
        return np.concatenate([np.ones(self.n_sd), np.zeros(int(self.k > 1))])

    @property
    def lower(self) -> np.ndarray:
        return np.concatenate([np.zeros(self.n_sd), [self.rho_lower] if self.k > 1 else []])

    @property
    def upper(self) -> np.ndarray:
        return np.concatenate([np.full(self.n_sd, np.inf), [1.0] if self.k > 1 else []])

    def _split(self, par):
        p = self.check_par(par)
        return p[:self.n_sd], (float(p[-1]) if self.k > 1 else 0.0)

    def par_to_theta(self, par) -> np.ndarray:
        s, rho = self._split(par)
        if self.k == 1:
            return s.copy()
        LR = self.corr_factor(rho)
        rows, cols = self._theta_entries()
        scale = s[0] if self.hom else s[rows]
        return scale * LR[rows, cols]

    def theta_jacobian(self, par) -> np.ndarray:
        s, rho = self._split(par)
        if self.k == 1:
            return np.eye(1)
        LR = self.corr_factor(rho)
        dLR = self.corr_factor_derivative(rho)
        rows, cols = self._theta_entries()
        J = np.zeros((self.n_theta, self.n_par))
        if self.hom:
            J[:, 0] = LR[rows, cols]
            J[:, 1] = s[0] * dLR[rows, cols]
        else:
            J[np.arange(self.n_theta), rows] = LR[rows, cols]
            J[:, self.k] = s[rows] * dLR[rows, cols]
        return J

    def theta_to_par(self, theta) -> np.ndarray:
        th = self.check_theta(theta)
        k = self.k
        if k == 1:
            return th.copy()
        l21, l22 = float(th[1]), float(th[self._l22_position()])
        if l21 != 0.0 or l22 != 0.0:
            with np.errstate(divide="ignore", invalid="ignore"):
                q = np.float64(l22) / np.float64(l21)
                rho = float(np.sign(l21) * 1.0 / np.sqrt(1.0 + q * q))
        else:
            L = self.lambda_from_theta(th)
            d = np.sqrt(np.sum(L * L, axis=1))
            h0, h1 = (int(i) for i in np.argsort(-d, kind="stable")[:2])
            d12 = float(d[h0] * d[h1])
            if d12 == 0.0:
                raise ArgumentError("'rho' is not identifiable as there is no pair of nonzero "
                                    f"standard deviations (theta of {self!r})")
            rho = self._rho_from_rows(math.fsum((L[h0] * L[h1]).tolist()) / d12, h0, h1)
        if self.hom:
            s = th[:1].copy()
        elif rho == 0.0:
            s = th[np.array([c * k - c * (c - 1) // 2 for c in range(k)])]
        else:
            s = self._het_sd(th[:k], rho)
        return np.concatenate([s, [rho]])

    # -- standard deviations and correlations ---------------------------------------------
    def vc(self, par) -> Tuple[np.ndarray, np.ndarray]:
        p = self.check_par(par)
        return p[:self.n_sd].copy(), p[self.n_sd:].copy()

    def from_vc(self, vcomp, ccomp) -> np.ndarray:
        v = np.asarray(vcomp, dtype=float).reshape(-1)
        c = np.asarray(ccomp, dtype=float).reshape(-1)
        if v.shape[0] != self.n_sd or c.shape[0] != int(self.k > 1):
            raise ArgumentError(f"expected {self.n_sd} standard deviation(s) and "
                                f"{int(self.k > 1)} correlation for {self!r}; got "
                                f"{v.shape[0]} and {c.shape[0]}")
        return np.concatenate([v, c])

    # -- names ----------------------------------------------------------------------------
    def par_names(self, cnms, group, prefix=None, old=True) -> List[str]:
        cn, g = self._check_names(cnms, group)
        if self.hom:
            cn = ["*"]
        pre = (None, None) if prefix is None else (prefix[0], prefix[1])
        out = [self._name(g, c, pre[0], old) for c in cn]
        if self.k > 1:       # lme4 2.1 also names a "rho" of a one-column term with a prefix
            out.append(self._name(g, "rho", pre[1], old))
        return out

    # -- display and checks ---------------------------------------------------------------
    @property
    def corr_label(self):
        return self.kind

    @property
    def n_stddev_printed(self) -> int:
        return 1 if self.hom else self.k

    def is_singular(self, par, tol: float = SINGULAR_TOL) -> bool:
        s, rho = self._split(par)
        return bool(np.min(s) < tol or (self.k > 1 and self._rho_singular(rho, tol)))


def clip_roundoff(t: np.ndarray) -> np.ndarray:
    """t with values in (−64 ε, 0) set to 0: 1 − ρ²a at a bound of ρ, negative by rounding
    only (lme4 takes its square root, NaN; here the exact value 0)."""
    eps = np.finfo(float).eps
    return np.where((t < 0) & (t > -64 * eps), 0.0, t)
