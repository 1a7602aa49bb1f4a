"""``ar1()``: first-order autoregressive correlation over the columns, R(ρ)[i, j] = ρ^|i−j|.

Meant for a term whose columns are the levels of an (ordered) factor — time points — as in
``ar1(0 + time_f | subject)``; −1 ≤ ρ ≤ 1; homogeneous standard deviations by default
(``hom=False``: one per column). nlme's ``corAR1`` as a random-effects structure.

Its Cholesky factor: L[i, 0] = ρ^i, L[i, j] = ρ^(i−j) √(1 − ρ²) (j ≥ 1), so ``hom`` needs
2k − 1 θ: the first column (k values), then one value per lag 0 … k−2 of the other columns.

R equivalent: lme4 2.1's ``Covariance.ar1`` (R/covariance.R).
"""
from __future__ import annotations

import math

import numpy as np

from .base import unstructured_pattern
from .scaled import ScaledCorrelation

__all__ = ["AR1"]


def _rpow(x: float, m: int) -> float:
    """R's ``x^m`` for a double x and integer m: x·x for m = 2, else C's pow."""
    return x * x if m == 2 else math.pow(x, m)


class AR1(ScaledCorrelation):
    """lme4's ``ar1(x | g, hom = TRUE)`` for a term with ``k`` columns."""

    kind = "ar1"
    default_hom = True
    __slots__ = ()

    @property
    def rho_lower(self) -> float:
        return -1.0

    def corr_factor(self, rho: float) -> np.ndarray:
        k = self.k
        w = math.sqrt(1.0 - rho * rho) if abs(rho) <= 1.0 else math.nan
        v1 = [_rpow(rho, m) for m in range(k)]
        v2 = [_rpow(rho, m) * w for m in range(k - 1)]
        rows, cols, _ = unstructured_pattern(k)
        L = np.zeros((k, k))
        L[rows, cols] = [v1[r] if c == 0 else v2[r - c]
                         for r, c in zip(rows.tolist(), cols.tolist())]
        return L

    def corr_factor_derivative(self, rho: float) -> np.ndarray:
        k = self.k
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.sqrt(1.0 - rho * rho)
            dw = -rho / w
        rows, cols, _ = unstructured_pattern(k)
        D = np.zeros((k, k))
        for r, c in zip(rows.tolist(), cols.tolist()):
            m = r - c
            p = _rpow(rho, m)
            dp = m * _rpow(rho, m - 1) if m > 0 else 0.0
            D[r, c] = dp if c == 0 else dp * w + p * dw
        return D

    def hom_index(self, rows, cols):
        return np.where(cols == 0, rows, self.k + rows - cols).astype(np.int64)

    def _l22_position(self) -> int:
        return self.k

    def _rho_from_rows(self, rho_pair, h0, h1):
        with np.errstate(invalid="ignore"):
            return float(np.power(rho_pair, 1.0 / abs(h0 - h1)))

    def _het_sd(self, first_column, rho):
        lr = math.log(abs(rho))
        out = []
        for m, x in enumerate(first_column.tolist()):
            lx = math.log(abs(x)) if x != 0.0 else -math.inf
            out.append(math.exp(lx - m * lr))
        return np.array(out)

    def _rho_singular(self, rho, tol):
        return 1.0 - abs(rho) < tol

    @property
    def vcmat_class(self) -> str:
        return "ar1" if self.hom else "hetar1"

    def theta_names(self, cnms, group):
        if not self.hom:
            return super().theta_names(cnms, group)
        cn, g = self._check_names(cnms, group)
        k = self.k
        i = list(range(k)) + list(range(1, k))
        j = [0] * k + [1] * (k - 1)
        out = [f"{g}.{cn[a]}.{cn[b]}" for a, b in zip(i, j)]
        out[0] = f"{g}.{cn[0]}"
        if k > 1:
            out[k] = f"{g}.{cn[1]}"
        return out
