"""``cs()``: compound symmetry — one correlation ρ between every pair of columns.

R(ρ) = (1 − ρ)I + ρ11', positive semi-definite for −1/(k−1) ≤ ρ ≤ 1; heterogeneous standard
deviations by default (``hom=True``: one shared). nlme's ``pdCompSymm`` (``hom=True``), the
"exchangeable" structure of GEE.

Its Cholesky factor, with lme4's recursion (a₀ = 0, a_{j+1} = a_j + (1 − ρa_j)²/(1 − ρ²a_j),
closed form a_j = j/(1 + (j − 1)ρ)):

    L[j, j] = √(1 − ρ²a_j),   L[i, j] = (ρ − ρ²a_j)/√(1 − ρ²a_j)   (i > j)

— all entries below the diagonal of a column are equal, so ``hom`` needs 2k − 1 θ: the
diagonal and the below-diagonal value of each column, interleaved.

R equivalent: lme4 2.1's ``Covariance.cs`` (R/covariance.R).
"""
from __future__ import annotations

import numpy as np

from .base import unstructured_pattern
from .scaled import ScaledCorrelation, clip_roundoff

__all__ = ["CompoundSymmetry"]


class CompoundSymmetry(ScaledCorrelation):
    """lme4's ``cs(x | g, hom = FALSE)`` for a term with ``k`` columns."""

    kind = "cs"
    default_hom = False
    __slots__ = ()

    @property
    def rho_lower(self) -> float:
        return -1.0 / (self.k - 1)

    def _a(self, rho):
        """lme4's a_j by its recursion (a has k entries)."""
        rho2 = rho * rho
        a = np.zeros(self.k)
        a_ = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            for j in range(self.k):
                a[j] = a_
                x = 1.0 - rho * a_
                a_ = float(np.float64(a_) + np.float64(x * x) / np.float64(1.0 - rho2 * a_))
        return a, rho2

    def corr_factor(self, rho: float) -> np.ndarray:
        k = self.k
        L = np.zeros((k, k))
        if rho == 1.0:                       # the limit (lme4's recursion gives 0/0 here)
            L[:, 0] = 1.0
            return L
        a, rho2 = self._a(rho)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.sqrt(clip_roundoff(1.0 - rho2 * a))
            off = (rho - rho2 * a) / v
        rows, cols, _ = self._lower()
        L[rows, cols] = np.where(rows == cols, v[cols], off[cols])
        return L

    def _lower(self):
        return unstructured_pattern(self.k)

    def corr_factor_derivative(self, rho: float) -> np.ndarray:
        k = self.k
        j = np.arange(k, dtype=float)
        den = 1.0 + (j - 1.0) * rho
        a = j / den
        da = -j * (j - 1.0) / (den * den)
        t = clip_roundoff(1.0 - rho * rho * a)
        dt = -(2.0 * rho * a + rho * rho * da)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.sqrt(t)
            dv = dt / (2.0 * v)
            n = rho - rho * rho * a
            dn = 1.0 - 2.0 * rho * a - rho * rho * da
            doff = (dn * v - n * dv) / (v * v)
        rows, cols, _ = self._lower()
        D = np.zeros((k, k))
        D[rows, cols] = np.where(rows == cols, dv[cols], doff[cols])
        return D

    def hom_index(self, rows, cols):
        return np.where(rows == cols, 2 * cols, 2 * cols + 1).astype(np.int64)

    def _l22_position(self) -> int:
        return 2 if self.hom else self.k

    def _rho_from_rows(self, rho_pair, h0, h1):
        return rho_pair

    def _het_sd(self, first_column, rho):
        return first_column / np.concatenate([[1.0], np.full(self.k - 1, rho)])

    def _rho_singular(self, rho, tol):
        return min(rho - self.rho_lower, 1.0 - rho) < tol

    @property
    def vcmat_class(self) -> str:
        return "homcs" if self.hom else "cs"

    def theta_names(self, cnms, group):
        if not self.hom:
            return super().theta_names(cnms, group)
        cn, g = self._check_names(cnms, group)
        out = []
        for c in cn:
            out += [f"{g}.{c}", f"{g}.*.{c}"]
        return out[:2 * self.k - 1]
