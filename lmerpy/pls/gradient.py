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

__all__ = ["deviance_gradient"]


def deviance_gradient(dev, st):
    """Gradient of ``dev``'s criterion at the evaluated state ``st``."""
    smap, cp = dev.smap, dev.cp
    nth = dev.n_theta
    u = dev._u(st)
    g_logdet = dev._logdet_gradient(st)
    lam = dev._lambda_ops(st.theta)
    b = lam.lam_mul(u)                             # Λû
    zwr = dev.resp.ZtWy - lam.m_mul(b)             # Z'Wρ
    if dev.p:
        zwr = zwr - cp.ZtWX @ st.beta_c
    i, j, k = smap.lt_rows, smap.lt_cols, smap.Lind0
    # ρ'WZΛ_k û = Σ_{Λ'[i,j] has Lind k} (Z'Wρ)_j û_i
    dr2 = -2.0 * np.bincount(k, weights=zwr[j] * u[i], minlength=nth)
    if dev.REML:
        factor = (dev.n - dev.p) / st.r2
        g = g_logdet + factor * dr2
        if dev.p:
            C = dev._solve_Lt(st, st.RZX).reshape(dev.q, dev.p)
            # H = C V⁻¹ with V = R_X'R_X
            H = lapack.dpotrs(st.RX, C.T, lower=0)[0].T
            N = cp.ZtWX - lam.m_mul(lam.lam_mul(C))    # Z'W(X − ZΛC)
            v = np.einsum("ep,ep->e", N[j], H[i])
            g = g - 2.0 * np.bincount(k, weights=v, minlength=nth)
    else:
        g = g_logdet + (dev.n / st.r2) * dr2
    return g
