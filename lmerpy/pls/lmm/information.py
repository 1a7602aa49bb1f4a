"""Average-information approximation of the Hessian of the profiled criterion in θ.

With ν = n − p (REML) or n (ML), r² the penalized residual sum of squares, z = Z'Wρ (ρ the
PLS residual) and, for each θ_a, v_a = (Λ_aΛ' + ΛΛ_a')z::

    S    = Z'Σ⁻¹Z − Z'Σ⁻¹X (X'Σ⁻¹X)⁻¹ X'Σ⁻¹Z          (Σ = ZΛΛ'Z' + W⁻¹)
    Q_ab = v_a' S v_b,      t_a = v_a' z
    H   ≈ (ν / r²) (Q − t t' / r²)

S needs only cross-products and the deviance's own factor: v'Sv = v'Mv − ‖L⁻¹PΛ'Mv‖² −
‖R_X⁻ᵀ(X'WZv − R_ZX'L⁻¹PΛ'Mv)‖² with M = Z'WZ, so the matrix costs one triangular solve with
k right-hand sides at an evaluated θ (Gilmour, Thompson & Cullis 1995, Biometrics 51:1440,
carried over to lme4's relative covariance factor with σ² profiled out; see
:mod:`lmerpy.optimize.newton` for its use).

R equivalent: none — lme4's optimizers are derivative-free.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from .gradient import residual_crossprod

__all__ = ["average_information", "template_columns"]


def average_information(dev, st):
    """The AI matrix (k × k, symmetric positive semi-definite, in the units of the criterion
    −2 log L) of ``dev`` at its evaluated state ``st``."""
    smap, cp = dev.smap, dev.cp
    nth, q = dev.n_theta, dev.q
    i, j, kk = smap.lt_rows, smap.lt_cols, smap.Lind0
    lam = dev._lambda_ops(st.theta)
    # Z'Wρ / r: Q and t t' scaled by 1/r² stay in range for responses on any scale
    r2 = float(st.r2)
    z = residual_crossprod(dev, st, lam, dev._u(st)) / np.sqrt(r2)
    x = lam.lt_mul(z)                                       # Λ'z
    # v_a = Λ_a(Λ'z) + Λ(Λ_a'z); Λ_a' has the Lind == a entries of Λ'
    v1 = np.zeros((q, nth))
    np.add.at(v1, (j, kk), x[i])
    w = np.zeros((q, nth))
    np.add.at(w, (i, kk), z[j])
    V = v1 + lam.lam_mul(w)
    MV = np.asarray(lam.m_mul(V))
    B = lam.lt_mul(MV)                                      # Λ'M v
    if st.Lz is not None:
        Y = lapack.dtrtrs(st.Lz, B, lower=1)[0]
    else:
        dev._ensure_factored(st)
        Y = dev.factor.solve_L(B)
    Y = np.asarray(Y).reshape(q, nth)
    Q = V.T @ MV - Y.T @ Y
    if dev.p:
        Nv = cp.ZtWX.T @ V - st.RZX.T @ Y                   # X'Σ⁻¹Z v
        R = lapack.dtrtrs(st.RX, Nv, trans=1)[0]
        Q = Q - R.T @ R
    t = V.T @ z
    nu = (dev.n - dev.p) if dev.REML else dev.n
    H = nu * (Q - np.outer(t, t))
    return 0.5 * (H + H.T)


def template_columns(reterms):
    """Index arrays of θ per column of each term's lower-triangular template (column j of a
    term with p columns holds p − j consecutive θ, its diagonal entry first)."""
    cols = []
    for t in reterms:
        p, k = int(t.n_columns), int(t.theta_offset)
        for j in range(p):
            cols.append(np.arange(k, k + p - j))
            k += p - j
    return cols
