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


def _batched_inverse(A, blocks):
    """Inverses of the stacked q × q matrices ``A`` (nb, q, q). With one random-effects term
    A is block diagonal (one k × k block per level): the blocks are inverted as a batch of
    small matrices instead of LU-factorising q × q arrays (sleepstudy: 18 2 × 2 blocks
    where q = 36)."""
    nb, q = A.shape[0], A.shape[1]
    if len(blocks) == 1:
        off, nl, nc = blocks[0]
        if off == 0 and nl * nc == q and nl > 1:
            Ab = A.reshape(nb, nl, nc, nl, nc)
            D = Ab.diagonal(axis1=1, axis2=3)              # (nb, nc, nc, nl): the blocks
            if nc == 1:
                Di = 1.0 / D
            else:
                Di = np.linalg.inv(np.moveaxis(D, 3, 1))   # (nb, nl, nc, nc)
                Di = np.moveaxis(Di, 1, 3)
            out = np.zeros((nb, nl, nc, nl, nc))
            r = np.arange(nl)
            out[:, r, :, r, :] = np.moveaxis(Di, 3, 0)     # (nl, nb, nc, nc)
            return out.reshape(nb, q, q)
    return np.linalg.inv(A)


def dense_gradients(dev, thetas):
    """Gradients at several θ at once (small models, all of A dense): one batched NumPy
    computation instead of one evaluation and gradient per θ (the post-fit Hessian differences
    2k of them).

    With A = Λ'MΛ + I, K = Λ'Z'WX, k = Λ'Z'Wỹ, C = A⁻¹K, c = A⁻¹k, V = X'WX − K'C,
    β̂ = V⁻¹(X'Wỹ − K'c), û = c − Cβ̂ and r² = ỹ'Wỹ − k'c − (X'Wỹ − K'c)'β̂, the terms are
    those of :func:`deviance_gradient` (same formulas, general solves instead of the factor's
    triangular ones).
    """
    smap, cp, resp = dev.smap, dev.cp, dev.resp
    th = np.atleast_2d(np.asarray(thetas, dtype=float))
    nb, q, p, nth = th.shape[0], dev.q, dev.p, dev.n_theta
    i, j, kk = smap.lt_rows, smap.lt_cols, smap.Lind0
    M = dev._lam.M
    Lt = np.zeros((nb, q, q))
    Lt[:, i, j] = th[:, kk]
    LtM = Lt @ M
    A = LtM @ np.swapaxes(Lt, 1, 2)
    A[:, np.arange(q), np.arange(q)] += 1.0
    Ai = _batched_inverse(A, dev.blocks)
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
        rhs = resp.XtWy - np.einsum("bqp,bq->bp", K, cy)
        beta = np.linalg.solve(V, rhs[:, :, None])[:, :, 0]
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
            H = np.swapaxes(np.linalg.solve(V, np.swapaxes(C, 1, 2)), 1, 2)   # C V⁻¹
            N = cp.ZtWX - M @ (np.swapaxes(Lt, 1, 2) @ C)                    # Z'W(X − ZΛC)
            v = np.einsum("bep,bep->be", N[:, j, :], H[:, i, :])
            g = g - 2.0 * tsum(v)
    else:
        g = g + (dev.n / r2)[:, None] * dr2
    return g
