"""The gradient and the average-information matrix of a small model's criterion together.

Small models (all of A = Λ'MΛ + I dense, :meth:`LmmDeviance._evaluate_dense`) get both from
one pass over the dense pieces at an evaluated θ: A⁻¹[Λ'M | Λ'Z'WX] (one pair of
triangular solves with the dense factor), û, the residual cross-product z = Z'Wρ and Λ'M are
shared, where
:func:`~.gradient.deviance_gradient` and :func:`~.information.average_information` would
each form them again (``newton_ai``, lmer's default for small models, needs both at every
accepted point). The formulas are those of the two modules (see them for the notation); the
template sums run as ``bincount`` over precomputed flat positions instead of ``add.at``.

R equivalent: none (lme4 differentiates the deviance numerically after the fit).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from .one_term import one_term_derivatives, one_term_layout

__all__ = ["dense_derivatives", "ONE_TERM_MIN_Q"]

#: From this q on a one-term model's pass runs block by block (:mod:`.one_term`): below it
#: the q × q products cost no more than the batched k × k ones (each NumPy call ~2 µs
#: either way; sleepstudy's q = 36: 50 µs dense, 60 µs by blocks), above it the blocks win
#: (q = 100: 180 µs against 80 µs).
ONE_TERM_MIN_Q = 50


def _template_positions(dev):
    """(j·k + Lind, i·k + Lind) flat positions of the template entries Λ'[i, j] = θ_Lind in a
    q × k array, built once per deviance (the sums of :func:`average_information`)."""
    pos = getattr(dev, "_dense_template_pos", None)
    if pos is None:
        smap, nth = dev.smap, dev.n_theta
        pos = (smap.lt_cols * nth + smap.Lind0, smap.lt_rows * nth + smap.Lind0)
        dev._dense_template_pos = pos
    return pos


def dense_derivatives(dev, st, information=True):
    """(gradient, average-information matrix) of ``dev``'s criterion in θ at its evaluated
    dense state ``st`` (``st.Lz`` the dense lower factor of A).

    Returns
    -------
    g : ndarray (k,)
    H : ndarray (k, k) or None
        Symmetric positive semi-definite (see :mod:`.information`); None unless
        ``information``.
    """
    lay = one_term_layout(dev) if dev.q >= ONE_TERM_MIN_Q else None
    if lay is not None:     # one random-effects term: block by block
        return one_term_derivatives(dev, st, lay, information)
    return _dense_pass(dev, st, information)


def _dense_pass(dev, st, information=True):
    """:func:`dense_derivatives` on the q × q arrays (any small model)."""
    smap, cp, resp = dev.smap, dev.cp, dev.resp
    nth, q, p = dev.n_theta, dev.q, dev.p
    i, j, kk = smap.lt_rows, smap.lt_cols, smap.Lind0
    lam = dev._lambda_ops(st.theta)
    Lt, M = lam.Lt, lam.M
    Lz = st.Lz
    u = dev._u(st)
    LtM = Lt @ M
    reml_p = dev.REML and p
    # A⁻¹[Λ'M | Λ'Z'WX] by one pair of triangular solves with the dense factor (A⁻¹ itself
    # is never needed; Λ'Z'WX is the evaluation's)
    rhs = np.concatenate((LtM, st.LtKB[:, :p]), axis=1) if reml_p else LtM
    S = lapack.dpotrs(Lz, rhs, lower=1)[0]
    z = resp.ZtWy - LtM.T @ u                           # Z'Wρ (M symmetric: MΛû = (Λ'M)'û)
    if p:
        z = z - cp.ZtWX @ st.beta_c
    nu = (dev.n - p) if dev.REML else dev.n
    r2 = float(st.r2)
    # the three parts' values at the template entries (i, j), summed per θ once:
    # ∂ log|A| / ∂θ_k = 2 tr(A⁻¹ Λ'M Λ_k) ((A⁻¹Λ'M)[i, j]), ∂r² ∝ Σ z[j]·u[i], and for REML
    # ∂ log|V| ∝ Σ N[j]·Hc[i] ((Hc N')[i, j])
    w = S[i, j] - (nu / r2) * (u[i] * z[j])
    if reml_p:
        C = S[:, q:]                                     # A⁻¹Λ'Z'WX
        Hc = lapack.dpotrs(st.RX, C.T, lower=0)[0].T     # C V⁻¹
        N = cp.ZtWX - LtM.T @ C                          # Z'W(X − ZΛC)
        w = w - (Hc @ N.T)[i, j]
    g = 2.0 * np.bincount(kk, weights=w, minlength=nth)
    if not information:
        return g, None
    # the average information: v_a = Λ_a(Λ'z) + Λ(Λ_a'z), with z/r (r² the PWRSS) for z, so
    # that Q and t t' stay in range for responses on any scale: H = ν (Q − t t')
    z = z / np.sqrt(r2)
    pv1, pw = _template_positions(dev)
    x = Lt @ z
    v1 = np.bincount(pv1, weights=x[i], minlength=q * nth).reshape(q, nth)
    w = np.bincount(pw, weights=z[j], minlength=q * nth).reshape(q, nth)
    V = v1 + Lt.T @ w
    MV = M @ V
    Y = lapack.dtrtrs(Lz, Lt @ MV, lower=1)[0]
    Q = V.T @ MV - Y.T @ Y
    if p:
        R = lapack.dtrtrs(st.RX, cp.ZtWX.T @ V - st.RZX.T @ Y, trans=1)[0]
        Q = Q - R.T @ R
    t = V.T @ z
    H = nu * (Q - t[:, None] * t)
    return g, 0.5 * (H + H.T)
