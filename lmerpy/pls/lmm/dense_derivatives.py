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

__all__ = ["dense_derivatives"]


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
    # is never needed)
    rhs = np.concatenate((LtM, Lt @ cp.ZtWX), axis=1) if reml_p else LtM
    S = lapack.dpotrs(Lz, rhs, lower=1)[0]
    B = S[:, :q]                                        # A⁻¹Λ'M
    # ∂ log|A| / ∂θ_k = 2 tr(A⁻¹ Λ'M Λ_k)
    g = 2.0 * np.bincount(kk, weights=B[i, j], minlength=nth)
    z = resp.ZtWy - LtM.T @ u                           # Z'Wρ (M symmetric: MΛû = (Λ'M)'û)
    if p:
        z = z - cp.ZtWX @ st.beta_c
    nu = (dev.n - p) if dev.REML else dev.n
    r2 = float(st.r2)
    g = g - (2.0 * nu / r2) * np.bincount(kk, weights=z[j] * u[i], minlength=nth)
    if reml_p:
        C = S[:, q:]                                     # A⁻¹Λ'Z'WX
        Hc = lapack.dpotrs(st.RX, C.T, lower=0)[0].T     # C V⁻¹
        N = cp.ZtWX - LtM.T @ C                          # Z'W(X − ZΛC)
        # Σ over the template entries (i, j) of N[j]·Hc[i] = (Hc N')[i, j]
        g = g - 2.0 * np.bincount(kk, weights=(Hc @ N.T)[i, j], minlength=nth)
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
    H = nu * (Q - np.outer(t, t))
    return g, 0.5 * (H + H.T)
