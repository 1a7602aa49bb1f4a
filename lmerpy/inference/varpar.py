"""lme4's scale for variance parameters: standard deviations and correlations (and σ).

R equivalents: ``lme4:::Cv_to_Sv`` / ``Sv_to_Cv`` (θ ↔ sd/cor), ``lme4:::profnames`` and
``tnames(fit, old = FALSE, prefix = c("sd", "cor"))`` (``.sig01`` … ``.sigma`` or
``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, ``sigma``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..design.covariance.base import lower_triangle, semidefinite_cholesky

__all__ = ["VarScale", "lme4_2_order", "sdcor_to_theta", "theta_blocks", "theta_to_sdcor",
           "var_bounds", "var_par_names"]


def lme4_2_order(fit):
    """Whether ``fit``'s variance parameters follow lme4 2.x's order (per term all standard
    deviations, then the correlations): for formulas with a covariance call (``us()``,
    ``diag()``, ``cs()``, ``ar1()``; the switch that makes the model print lme4 2.1 style).
    Formulas without one keep lme4 1.1's order, θ's column-major interleaving (sd₁, cor,
    sd₂)."""
    return bool(getattr(fit.design.formula, "has_specials", False))


class VarScale:
    """The scale on which profile, confint and the bootstrap report variance parameters.

    ``values(par, sigma)`` gives the standard deviations (times ``sigma``) and correlations of
    the optimizer's ``par`` (lme4's ``.sig01``, …, without ``.sigma``); ``par_of(values,
    sigma)`` is the way back; ``lower``/``upper`` are their bounds (SD ≥ 0, a correlation
    within its structure's range). In lme4 1.1's order (formulas without covariance calls,
    every term unstructured, ``par`` = θ) this is ``Cv_to_Sv``/``Sv_to_Cv`` in θ's order; in
    lme4 2.x's order the layout's ``profpar``/``from_profpar`` (R: ``getProfPar``,
    ``setProfPar``).
    """

    def __init__(self, fit):
        self.layout = fit.design.layout
        self.lme4_2 = lme4_2_order(fit)
        self.blocks = theta_blocks(fit)
        self.n = int(self.layout.n_par)
        if self.lme4_2:
            covs = self.layout.covariances
            self.lower = np.concatenate([c.prof_lower() for c in covs]) if covs else np.zeros(0)
            self.upper = np.concatenate([c.prof_upper() for c in covs]) if covs else np.zeros(0)
        else:
            low = np.asarray(fit.design.lower, dtype=float)
            self.lower = np.maximum(low, -1.0)
            self.upper = np.where(low == 0, np.inf, 1.0)
        #: True at correlations (bounded above), False at standard deviations
        self.is_cor = np.isfinite(self.upper)

    def values(self, par, sigma=1.0):
        """Standard deviations (× ``sigma``) and correlations at ``par``."""
        if self.lme4_2:
            return self.layout.profpar(np.asarray(par, dtype=float), sigma)
        return theta_to_sdcor(par, self.blocks, sigma)

    def par_of(self, values, sigma=1.0):
        """``par`` from :meth:`values`'s output."""
        if self.lme4_2:
            return self.layout.from_profpar(np.asarray(values, dtype=float), sigma)
        return sdcor_to_theta(values, self.blocks, sigma)


def theta_blocks(fit):
    """(θ offset, number of columns) of each random-effects term, in θ order."""
    return [(int(t.theta_offset), int(t.n_columns)) for t in fit.design.reterms]


def _tri(p):
    """Row and column indices of a p x p lower triangle in column-major order (``lower_triangle``,
    kept per p: the profile converts θ at every step)."""
    tri = _TRI.get(p)
    if tri is None:
        tri = _TRI[p] = lower_triangle(p)
    return tri


_TRI: dict[int, Any] = {}


def theta_to_sdcor(theta, blocks, sigma=1.0):
    """θ → lme4's standard deviations and correlations (R: ``lme4:::Cv_to_Sv``).

    Each term's Σ_i = σ² T_i T_i' becomes its standard deviations (at θ's diagonal positions)
    and correlations (at its off-diagonal positions), in θ's column-major lower-triangle order.
    σ itself is not appended.
    """
    theta = np.asarray(theta, dtype=float)
    out = np.empty_like(theta)
    for off, p in blocks:
        if p == 1:
            out[off] = abs(theta[off]) * sigma
            continue
        k = p * (p + 1) // 2
        rows, cols = _tri(p)
        T = np.zeros((p, p))
        T[rows, cols] = theta[off:off + k]
        S = (T @ T.T) * sigma ** 2
        sd = np.sqrt(np.clip(np.diag(S), 0.0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            cor = S / np.outer(sd, sd)
        out[off:off + k] = np.where(rows == cols, sd[rows], cor[rows, cols])
    return out


def sdcor_to_theta(sdcor, blocks, sigma=1.0):
    """lme4's standard deviations and correlations → θ (R: ``lme4:::Sv_to_Cv``).

    T_i is the lower Cholesky factor of Σ_i/σ²; a positive semi-definite Σ_i (a zero standard
    deviation, a correlation of ±1) gets zero columns where its pivots vanish.
    """
    v = np.asarray(sdcor, dtype=float)
    out = np.empty_like(v)
    for off, p in blocks:
        if p == 1:
            out[off] = v[off] / sigma
            continue
        if p == 2:
            s1, r, s2 = v[off], v[off + 1], v[off + 2]
            out[off] = s1 / sigma
            if s1 > 0:
                out[off + 1] = r * s2 / sigma
                out[off + 2] = s2 * math.sqrt(max(0.0, 1.0 - r * r)) / sigma
            else:
                out[off + 1] = 0.0
                out[off + 2] = s2 / sigma
            continue
        k = p * (p + 1) // 2
        rows, cols = _tri(p)
        blk = v[off:off + k]
        diag = rows == cols
        sd = np.zeros(p)
        sd[rows[diag]] = blk[diag]
        C = np.eye(p)
        C[rows[~diag], cols[~diag]] = blk[~diag]
        C[cols[~diag], rows[~diag]] = blk[~diag]
        S = C * np.outer(sd, sd) / sigma ** 2
        T = semidefinite_cholesky(S)
        out[off:off + k] = T[rows, cols]
    return out


def var_par_names(fit, old_names=True, use_sc=None):
    """lme4's names of the variance parameters (R: ``lme4:::profnames``).

    ``old_names=True``: ``.sig01``, ``.sig02``, …, ``.sigma``. ``False``:
    ``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, …, ``sigma``.
    """
    use_sc = fit.use_sc if use_sc is None else use_sc
    layout = fit.design.layout
    if lme4_2_order(fit):
        # lme4 2.x's profnames: per term its SDs, then its correlations (one per par)
        if old_names:
            names = [f".sig{i + 1:02d}" for i in range(layout.n_par)]
        else:
            names = layout.profpar_names(fit.design.cnms_list())
        if use_sc:
            names.append(".sigma" if old_names else "sigma")
        return names
    nth = len(fit.theta)
    if old_names:
        names = [f".sig{i + 1:02d}" for i in range(nth)]
    else:
        names = []
        for t in fit.design.reterms:
            e, g = list(t.cnms), t.group_name
            p = len(e)
            for c in range(p):
                for r in range(c, p):
                    if r == c:
                        names.append(f"sd_{e[r]}|{g}")
                    else:
                        names.append(f"cor_{e[r]}.{e[c]}|{g}")
    if use_sc:
        names.append(".sigma" if old_names else "sigma")
    return names


def var_bounds(fit, use_sc):
    """Bounds on the sd/cor scale (:class:`VarScale`), then sigma >= 0."""
    vs = VarScale(fit)
    lower, upper = vs.lower.copy(), vs.upper.copy()
    if use_sc:
        lower = np.append(lower, 0.0)
        upper = np.append(upper, np.inf)
    return lower, upper
