"""Analytic gradient of the profiled deviance in θ.

With M = Z'WZ, A = Λ'MΛ + I, K = Λ'Z'WX, C = A⁻¹K, V = R_X'R_X = X'WX − K'C, the PLS
residual ρ = ỹ − Xβ̂ − ZΛû, and Λ_k = ∂Λ/∂θ_k (the 0/1 pattern of the ``Lind == k``
entries)::

    ∂ log|A|   = tr(A⁻¹ ∂A),          ∂A = Λ_k'MΛ + Λ'MΛ_k
    ∂ r²       = −2 ρ'WZ Λ_k û          (envelope theorem)
    ∂ log|V|   = −2 Σ_{Λ_k[j,i]=1} (Z'W(X − ZΛC))[j,:] · (C V⁻¹)[i,:]
    ML:   ∂d   = ∂log|A| + (n/r²) ∂r²
    REML: ∂d_R = ∂log|A| + ∂log|V| + ((n−p)/r²) ∂r²

Only cross-products appear (Z'Wρ = Z'Wỹ − Z'WXβ̂ − MΛû), so no O(n) work. tr(A⁻¹∂A) needs
A⁻¹ on the pattern of A only (the sparse inverse subset).

R equivalent: none — lme4 differentiates the deviance numerically (``calc.derivs``).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from .one_term import one_term_layout, spd_block_inverse

__all__ = ["deviance_gradient", "dense_gradients", "residual_crossprod"]


def residual_crossprod(dev, st, lam, u):
    """Z'Wρ at the evaluated state ``st`` (ρ = ỹ − Xβ̂ − ZΛû), from cross-products only:
    Z'Wỹ − MΛû − Z'WXβ̂ (no O(n) work)."""
    z = dev.resp.ZtWy - lam.m_mul(lam.lam_mul(u))
    if dev.p:
        z = z - dev.cp.ZtWX @ st.beta_c
    return z


def deviance_gradient(dev, st):
    """Gradient of ``dev``'s criterion at the evaluated state ``st``."""
    smap, cp = dev.smap, dev.cp
    nth = dev.n_theta
    u = dev._u(st)
    C = None
    if dev.REML and dev.p:        # the solves first: the log-det part may consume the factor
        C = dev._solve_Lt(st, st.RZX).reshape(dev.q, dev.p)
    g_logdet = dev._logdet_gradient(st, consume=True)
    lam = dev._lambda_ops(st.theta)
    zwr = residual_crossprod(dev, st, lam, u)      # Z'Wρ
    i, j, k = smap.lt_rows, smap.lt_cols, smap.Lind0
    # ρ'WZΛ_k û = Σ_{Λ'[i,j] has Lind k} (Z'Wρ)_j û_i
    dr2 = -2.0 * np.bincount(k, weights=zwr[j] * u[i], minlength=nth)
    if dev.REML:
        factor = (dev.n - dev.p) / st.r2
        g = g_logdet + factor * dr2
        if dev.p:
            # H = C V⁻¹ with V = R_X'R_X
            H = lapack.dpotrs(st.RX, C.T, lower=0)[0].T
            N = cp.ZtWX - lam.m_mul(lam.lam_mul(C))    # Z'W(X − ZΛC)
            v = np.einsum("ep,ep->e", N[j], H[i])
            g = g - 2.0 * np.bincount(k, weights=v, minlength=nth)
    else:
        g = g_logdet + (dev.n / st.r2) * dr2
    return g


def _one_term_gradients(dev, th, lay):
    """:func:`dense_gradients` for one random-effects term, block by block: A, Λ'M, A⁻¹ and
    the cross-products as (batch, level, k, k) arrays instead of (batch, q, q) (the same
    formulas; the template sums over every level are sums over level 0's entries of the
    level-summed blocks)."""
    cp, resp = dev.cp, dev.resp
    nl, nc, a0, c0, k0, Mb = lay.as_tuple()
    nb, p, nth = th.shape[0], dev.p, dev.n_theta
    T = np.zeros((nb, nc, nc))
    T[:, a0, c0] = th[:, k0]                                  # Λ' on one block
    Tt4 = np.swapaxes(T, 1, 2)[:, None]
    LtM = _template_times(T, Mb)                              # (nb, L, k, k)
    MLt = np.swapaxes(LtM, 2, 3)                              # M Λ (M symmetric)
    A = LtM @ Tt4
    A.reshape(nb, nl, nc * nc)[..., ::nc + 1] += 1.0
    Ai = spd_block_inverse(A)
    bins = (np.arange(nb)[:, None] * nth + k0[None, :]).ravel()

    def tsum(W):          # Σ over the template entries of level 0 of the level-summed W
        return np.bincount(bins, weights=W[:, a0, c0].ravel(),
                           minlength=nb * nth).reshape(nb, nth)

    Zy = resp.ZtWy.reshape(nl, nc, 1)
    if p:
        ZX = cp.ZtWX.reshape(nl, nc, p)
        KY = _template_times(T, np.concatenate((ZX, Zy), axis=2))    # Λ'Z'W[X | ỹ]
        CY = Ai @ KY
        K, ky, C, cy = KY[..., :p], KY[..., p:], CY[..., :p], CY[..., p:]
    else:
        ky = _template_times(T, Zy)                           # (nb, L, k, 1)
        cy = Ai @ ky
    g = 2.0 * tsum((Ai @ LtM).sum(axis=1))
    if p:
        Kf = K.reshape(nb, nl * nc, p)
        Cf = C.reshape(nb, nl * nc, p)
        cyf = cy.reshape(nb, nl * nc, 1)
        KfT = np.swapaxes(Kf, 1, 2)
        V = cp.XtWX - KfT @ Cf
        Vi = _small_spd_inverses(V)
        rhs = resp.XtWy[:, None] - KfT @ cyf                               # (nb, p, 1)
        beta = Vi @ rhs                                                    # (nb, p, 1)
        uf = cyf - Cf @ beta
        r2 = (resp.yWy - (ky.reshape(nb, 1, -1) @ cyf)[:, 0, 0]
              - (np.swapaxes(rhs, 1, 2) @ beta)[:, 0, 0])
    else:
        uf = cy.reshape(nb, nl * nc, 1)
        r2 = resp.yWy - (ky.reshape(nb, 1, -1) @ uf)[:, 0, 0]
    u = uf.reshape(nb, nl, nc, 1)
    zwr = Zy[None] - MLt @ u                                  # Z'Wρ
    if p:
        zwr = zwr - ZX[None] @ beta[:, None]
    # ρ'WZΛ_m û summed over levels: (Σ_l û_l (Z'Wρ)_l')[a, c] for the template entries
    U = u.reshape(nb, nl, nc)
    Z = zwr.reshape(nb, nl, nc)
    dr2 = -2.0 * tsum(np.swapaxes(U, 1, 2) @ Z)
    if dev.REML:
        g = g + ((dev.n - p) / r2)[:, None] * dr2
        if p:
            Hc = Cf @ Vi                                                      # C V⁻¹
            N = ZX[None] - MLt @ C                                            # Z'W(X − ZΛC)
            Hl = Hc.reshape(nb, nl, nc, p).transpose(0, 2, 1, 3).reshape(nb, nc, nl * p)
            Nl = N.transpose(0, 2, 1, 3).reshape(nb, nc, nl * p)
            g = g - 2.0 * tsum(Hl @ np.swapaxes(Nl, 1, 2))
    else:
        g = g + (dev.n / r2)[:, None] * dr2
    return g


def _small_spd_inverses(V):
    """Inverses of the stacked symmetric positive definite (nb, p, p) matrices V = R_X'R_X
    (one inverse serves β̂ and C V⁻¹; 1 × 1 by a division), symmetrised."""
    if V.shape[1] == 1:
        return 1.0 / V
    Vi = np.linalg.inv(V)
    return 0.5 * (Vi + np.swapaxes(Vi, 1, 2))


def _template_times(T, X):
    """T[b] @ X[l] for every batch b and level l, (nb, L, k, m) from T (nb, k, k) and X
    (L, k, m), by one 2-D product (a broadcast 4-D ``matmul`` costs three times as much)."""
    nb, k = T.shape[0], T.shape[1]
    nl, m = X.shape[0], X.shape[2]
    P = T.reshape(nb * k, k) @ np.swapaxes(X, 0, 1).reshape(k, nl * m)
    return np.ascontiguousarray(P.reshape(nb, k, nl, m).transpose(0, 2, 1, 3))


def _diagonal_lead(dev):
    """q₁ when the first random-effects term is a scalar one whose part of A is diagonal
    (its Λ' entries on the diagonal, Z'WZ diagonal there, Λ' block diagonal by term: lme4's
    crossed and nested intercepts), else 0. Built once per deviance."""
    q1 = dev.__dict__.get("_diagonal_lead")
    if q1 is None:
        q1 = 0
        off, nl, nc = dev.blocks[0] if dev.blocks else (0, 0, 0)
        if len(dev.blocks) > 1 and off == 0 and nc == 1 and 0 < nl < dev.q:
            i, j = dev.smap.lt_rows, dev.smap.lt_cols
            first = j < nl
            M11 = dev._lam.M[:nl, :nl]
            if (np.array_equal(first, i < nl) and np.array_equal(i[first], j[first])
                    and np.count_nonzero(M11) == np.count_nonzero(M11.diagonal())):
                q1 = int(nl)
        dev._diagonal_lead = q1
    return q1


def _batched_inverse(A, q1):
    """Inverses of the stacked symmetric positive definite (nb, q, q) matrices ``A``; with a
    diagonal leading q₁ × q₁ block D (:func:`_diagonal_lead`) by its Schur complement
    S = A₂₂ − A₂₁D⁻¹A₁₂ (a q₂ × q₂ inverse instead of a q × q one)."""
    if not q1:
        return np.linalg.inv(A)
    r = np.arange(q1)
    d = A[:, r, r]                                   # (nb, q1)
    A12 = A[:, :q1, q1:]
    E = A12 / d[:, :, None]                          # D⁻¹A₁₂
    Si = np.linalg.inv(A[:, q1:, q1:] - np.swapaxes(A12, 1, 2) @ E)
    ESi = E @ Si
    out = np.empty_like(A)
    out[:, :q1, :q1] = ESi @ np.swapaxes(E, 1, 2)
    out[:, r, r] += 1.0 / d
    out[:, :q1, q1:] = -ESi
    out[:, q1:, :q1] = -np.swapaxes(ESi, 1, 2)
    out[:, q1:, q1:] = Si
    return out


def dense_gradients(dev, thetas):
    """Gradients at several θ at once (small models, all of A dense): one batched NumPy
    computation instead of one evaluation and gradient per θ (the post-fit Hessian differences
    2k of them).

    With A = Λ'MΛ + I, K = Λ'Z'WX, k = Λ'Z'Wỹ, C = A⁻¹K, c = A⁻¹k, V = X'WX − K'C,
    β̂ = V⁻¹(X'Wỹ − K'c), û = c − Cβ̂ and r² = ỹ'Wỹ − k'c − (X'Wỹ − K'c)'β̂, the terms are
    those of :func:`deviance_gradient` (same formulas, general solves instead of the factor's
    triangular ones). A model with one random-effects term works block by block
    (:func:`_one_term_gradients`).
    """
    smap, cp, resp = dev.smap, dev.cp, dev.resp
    th = np.atleast_2d(np.asarray(thetas, dtype=float))
    lay = one_term_layout(dev)
    if lay is not None:
        return _one_term_gradients(dev, th, lay)
    nb, q, p, nth = th.shape[0], dev.q, dev.p, dev.n_theta
    i, j, kk = smap.lt_rows, smap.lt_cols, smap.Lind0
    M = dev._lam.M
    Lt = np.zeros((nb, q, q))
    Lt[:, i, j] = th[:, kk]
    LtM = Lt @ M
    A = LtM @ np.swapaxes(Lt, 1, 2)
    A.reshape(nb, q * q)[:, ::q + 1] += 1.0
    Ai = _batched_inverse(A, _diagonal_lead(dev))
    Ai = 0.5 * (Ai + np.swapaxes(Ai, 1, 2))
    B = Ai @ LtM                                             # A⁻¹Λ'M
    # the template sums of every row at once: bin kk of row b at b·nth + kk
    bins = (np.arange(nb)[:, None] * nth + kk[None, :]).ravel()

    def tsum(w):
        return np.bincount(bins, weights=w.ravel(), minlength=nb * nth).reshape(nb, nth)

    g = 2.0 * tsum(B[:, i, j])
    ky = Lt @ resp.ZtWy                                      # (nb, q)
    cy = np.einsum("bqr,br->bq", Ai, ky)
    if p:
        K = Lt @ cp.ZtWX                                     # (nb, q, p)
        C = Ai @ K
        V = cp.XtWX - np.swapaxes(K, 1, 2) @ C
        Vi = _small_spd_inverses(V)
        rhs = resp.XtWy - np.einsum("bqp,bq->bp", K, cy)
        beta = (Vi @ rhs[:, :, None])[:, :, 0]
        u = cy - np.einsum("bqp,bp->bq", C, beta)
        r2 = resp.yWy - np.einsum("bq,bq->b", ky, cy) - np.einsum("bp,bp->b", rhs, beta)
    else:
        u = cy
        r2 = resp.yWy - np.einsum("bq,bq->b", ky, cy)
    b_ = np.einsum("bqr,bq->br", Lt, u)                      # Λû
    zwr = resp.ZtWy - b_ @ M                                 # Z'Wρ (M symmetric)
    if p:
        zwr = zwr - beta @ cp.ZtWX.T
    dr2 = -2.0 * tsum(zwr[:, j] * u[:, i])
    if dev.REML:
        g = g + ((dev.n - p) / r2)[:, None] * dr2
        if p:
            H = C @ Vi                                                        # C V⁻¹
            N = cp.ZtWX - M @ (np.swapaxes(Lt, 1, 2) @ C)                    # Z'W(X − ZΛC)
            v = np.einsum("bep,bep->be", N[:, j, :], H[:, i, :])
            g = g - 2.0 * tsum(v)
    else:
        g = g + (dev.n / r2)[:, None] * dr2
    return g
