"""Leverage and Cook's distance of a linear mixed model (R: lme4 1.1-31's
``hatvalues.merMod`` and ``cooks.distance.merMod``).

The hat matrix is that of the penalized least-squares problem at θ̂: with
A = W^½ [ZΛ  X] (W the prior weights), H = A (AᵀA + diag(I_q, 0))⁻¹ Aᵀ, so that the fitted
values are H y; ``hatvalues`` is its diagonal. Cook's distance is lme4's
``r_i² h_i / (σ² p (1 − h_i)²)`` with r the Pearson residuals and p the number of fixed effects.
Case- and group-deletion refits (``influence``) are not here yet.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import ArgumentError
from ..threads import fit_threads

if TYPE_CHECKING:
    from ..models.base import MixedModel

_CHUNK = 1024


def _require_lmm(fit: MixedModel, caller: str) -> None:
    if getattr(fit, "r_kind", "lmer") != "lmer":
        raise ArgumentError(f"{caller}: only linear mixed models (lmer fits) are supported; "
                            f"got a {getattr(fit, 'r_class', type(fit).__name__)} fit")


def hat_values(fit: MixedModel) -> np.ndarray:
    """The diagonal of the hat matrix for the model frame's rows (not padded)."""
    _require_lmm(fit, "hatvalues")
    Zt = sp.csc_matrix(fit.getME("Zt"))
    Lt = sp.csc_matrix(fit.getME("Lambdat"))
    X = np.asarray(fit.getME("X"), dtype=float)
    sw = np.sqrt(np.asarray(fit.getME("weights"), dtype=float))
    ZL = sp.csr_matrix((Lt @ Zt).T.multiply(sw[:, None]))
    Xw = X * sw[:, None]
    q = ZL.shape[1]
    A = sp.hstack([ZL, sp.csr_matrix(Xw)], format="csr")
    M = (A.T @ A).tocsc() + sp.diags(np.r_[np.ones(q), np.zeros(X.shape[1])], format="csc")
    lu = spla.splu(M.tocsc())
    n = A.shape[0]
    out = np.empty(n)
    for start in range(0, n, _CHUNK):
        rows = A[start:start + _CHUNK]
        sol = lu.solve(rows.T.toarray())
        out[start:start + _CHUNK] = np.einsum("ij,ji->i", rows.toarray(), sol)
    return out


@fit_threads
def hatvalues(fit: MixedModel) -> pd.Series:
    """R: ``hatvalues(fit)``: the leverages, indexed as the model frame."""
    return pd.Series(hat_values(fit), index=fit.model_matrix().index)


@fit_threads
def cooks_distance(fit: MixedModel) -> pd.Series:
    """R: ``cooks.distance(fit)`` (lme4 1.1-31's merMod method)."""
    _require_lmm(fit, "cooks_distance")
    h = hat_values(fit)
    r = np.asarray(fit.residuals(type="pearson"), dtype=float)
    r = r[np.isfinite(r)] if r.shape[0] != h.shape[0] else r
    p = len(fit.fixef())
    d = r ** 2 * h / (fit.sigma() ** 2 * p * (1.0 - h) ** 2)
    return pd.Series(d, index=fit.model_matrix().index)
