"""``us()``: the unstructured covariance, lme4's only structure before 2.0 and its default.

Λᵢ is a free lower-triangular k × k matrix: θ = ``par`` = its k(k+1)/2 entries in column-major
order, diagonals bounded below by 0, the rest free — exactly lme4 1.1's θ (and lmerpy's
``lmerpy.design.reterms.theta_layout``, ``lambdat_template`` and ``theta_names``).

R equivalent: lme4 2.1's ``Covariance.us`` (R/covariance.R).
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from ...errors import ArgumentError
from .base import SINGULAR_TOL, ParIsTheta, lower_triangle, semidefinite_cholesky, \
    unstructured_pattern

__all__ = ["Unstructured"]


class Unstructured(ParIsTheta):
    """lme4's ``us(x | g)`` — and plain ``(x | g)`` — for a term with ``k`` columns."""

    kind = "us"
    default_hom = None
    __slots__ = ()
    _has_varcov = True

    @property
    def n_par(self) -> int:
        return self.k * (self.k + 1) // 2

    def pattern(self):
        rows, cols, _ = unstructured_pattern(self.k)
        return rows, cols

    @property
    def theta_index(self) -> np.ndarray:
        return unstructured_pattern(self.k)[2]

    @property
    def diagonal_positions(self) -> np.ndarray:
        """Positions of Λᵢ's diagonal in θ (lme4: ``cumsum(c(1, nc:2))`` − 1)."""
        k = self.k
        return np.array([s * k - s * (s - 1) // 2 for s in range(k)], dtype=np.int64)

    @property
    def start(self) -> np.ndarray:
        out = np.zeros(self.n_par)
        out[self.diagonal_positions] = 1.0
        return out

    @property
    def lower(self) -> np.ndarray:
        out = np.full(self.n_par, -np.inf)
        out[self.diagonal_positions] = 0.0
        return out

    def vc(self, par) -> Tuple[np.ndarray, np.ndarray]:
        p = self.check_par(par)
        k = self.k
        if k == 1:
            return p, np.zeros(0)
        L = self.lambda_from_theta(p)
        S = L @ L.T
        sd = np.sqrt(np.diag(S))
        rows, cols = lower_triangle(k)
        off = rows != cols
        with np.errstate(invalid="ignore", divide="ignore"):
            cor = S[rows[off], cols[off]] / sd[rows[off]] / sd[cols[off]]
        return sd, cor

    def from_vc(self, vcomp, ccomp) -> np.ndarray:
        k = self.k
        vcomp = np.asarray(vcomp, dtype=float).reshape(-1)
        ccomp = np.asarray(ccomp, dtype=float).reshape(-1)
        if vcomp.shape[0] != k or ccomp.shape[0] != self.n_par - k:
            raise ArgumentError(f"expected {k} standard deviations and {self.n_par - k} "
                                f"correlations for {self!r}; got {vcomp.shape[0]} and "
                                f"{ccomp.shape[0]}")
        if k == 1:
            return vcomp.copy()
        rows, cols = lower_triangle(k)
        off = rows != cols
        C = np.eye(k)
        C[rows[off], cols[off]] = ccomp
        C[cols[off], rows[off]] = ccomp
        L = semidefinite_cholesky(C) * vcomp[:, None]
        return L[rows, cols]

    def _pairs(self):
        rows, cols = lower_triangle(self.k)
        off = rows != cols
        return rows[off], cols[off]

    def _cov_from_cor(self, vcomp, ccomp):
        r, c = self._pairs()
        return ccomp * vcomp[r] * vcomp[c]

    def _cor_from_cov(self, vcomp, ccomp):
        r, c = self._pairs()
        with np.errstate(invalid="ignore", divide="ignore"):
            return ccomp / vcomp[r] / vcomp[c]

    def prof_lower(self, scale: str = "sdcor") -> np.ndarray:
        scale = self._check_scale(scale)
        k = self.k
        return np.concatenate([np.zeros(k),
                               np.full(self.n_par - k, -1.0 if scale == "sdcor" else -np.inf)])

    def prof_upper(self, scale: str = "sdcor") -> np.ndarray:
        scale = self._check_scale(scale)
        k = self.k
        return np.concatenate([np.full(k, np.inf),
                               np.full(self.n_par - k, 1.0 if scale == "sdcor" else np.inf)])

    def par_names(self, cnms, group, prefix=None, old=True) -> List[str]:
        cn, g = self._check_names(cnms, group)
        rows, cols = lower_triangle(self.k)
        pre = (None, None) if prefix is None else (prefix[0], prefix[1])
        out = []
        for r, c in zip(rows.tolist(), cols.tolist()):
            if r == c:
                out.append(self._name(g, cn[r], pre[0], old))
            else:
                out.append(self._name(g, f"{cn[r]}.{cn[c]}", pre[1], old))
        return out

    def vc_names(self, cnms, group, prefix=("sd", "cor"), old=False):
        names = self.par_names(cnms, group, prefix=prefix, old=old)
        d = set(self.diagonal_positions.tolist())
        return ([n for i, n in enumerate(names) if i in d],
                [n for i, n in enumerate(names) if i not in d])

    def is_singular(self, par, tol: float = SINGULAR_TOL) -> bool:
        p = self.check_par(par)
        return bool(np.min(p[self.diagonal_positions]) < tol)
