"""The analytic gradient of the Laplace deviance at the conditional mode (``precise`` PIRLS).

The deviance is D = F(θ, β, ũ) with η = o + Xβ + ZΛũ and

    F = log|A(θ, W(η))| + ‖u‖² + aic(μ(η)),      A = Λ'Z'WZΛ + I

where ũ (and, in the nAGQ = 0 stage, β̃ with it) minimises the penalized deviance
P = Σ dev_i(η) + ‖u‖². By the implicit function theorem on ∇P = 0 (adjoint form: one solve
for all parameters), with the per-observation pieces of :mod:`.family_derivs`
(s = d dev/dη, Wo = ½ d²dev/dη², dW/dη, a = ∂aic/∂η) and

    h_i = ∂log|A|/∂W_i = (U'A⁻¹U)_ii          (U = Λ'Z'; from A⁻¹ on A's pattern)
    g   = h ∘ dW/dη + a                        (∂(log|A| + aic)/∂η)
    ν   = Ao⁻¹(Λ'Z'g + 2ũ),  Ao = Λ'Z'WoZΛ + I (stage 1: the joint (u, β) system, with X'g)
    ξ   = ZΛν (+ Xν_β),      r = g − Wo ∘ ξ

the gradient is

    ∂D/∂θ_k = tr(A⁻¹ ∂A/∂θ_k)|_W + Σ_{Λ'[i,j] = θ_k} [(Z'r)_j ũ_i − ½ (Z's)_j ν_i]
    ∂D/∂β   = X'r                                   (second stage)

The third-derivative term of the log-likelihood enters through dW/dη: log|A| depends on ũ
through the weights, which the envelope theorem does not remove. For binomial, Poisson and
negative binomial aic = Σ dev + const, so Λ'Z'a + 2ũ = ∇P = 0 there; for the families with a
dispersion (Gamma, inverse Gaussian) it is not, and the formula keeps it.

tr(A⁻¹ ∂A/∂θ_k) with W fixed comes from A.data = K_θ M.data + I (M = Z'WZ on its pattern,
K_θ's entries products θ_aθ_b): Σ over K's entries of A⁻¹_e M_f ∂(θ_aθ_b)/∂θ_k; and
h = Pz'K_θ'(A⁻¹ on the pattern). No O(n q) work: A⁻¹ is needed on A's pattern only
(:class:`~lmerpy.pls.factor.inverse.SparseInverse`).

R equivalent: none (lme4 optimizes the Laplace deviance without derivatives).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from .family_derivs import FamilyDerivatives
from .pirls import MatVec, PirlsError

__all__ = ["laplace_gradient", "trace_at_fixed_weights", "theta_terms"]


def _k_entries(S):
    """(row of A's pattern, column of M's pattern, θ index a, θ index b) of K_θ's entries,
    in the order of K.data (cached on the structure)."""
    ent = getattr(S, "_k_entries_cache", None)
    if ent is None:
        K = S.K
        rows = np.repeat(np.arange(K.shape[0]), np.diff(K.indptr))
        nth = S.n_theta
        cols = K.indices.astype(np.int64)
        # scalar terms: K is diagonal, both gathers the identity (skipped)
        same = bool(rows.shape[0] == cols.shape[0] == K.shape[0] == K.shape[1]
                    and np.array_equal(rows, cols) and np.array_equal(cols, np.arange(K.shape[0])))
        ka, kb = S._kpair // nth, S._kpair % nth
        ent = (None if same else rows, None if same else cols, ka, kb,
               _bins(ka, nth), _bins(kb, nth))
        S._k_entries_cache = ent
    return ent


def _bins(k, nbins):
    """x ↦ ``np.bincount(k, weights=x, minlength=nbins)`` as a CSR product: the same sums
    in the same order (each bin's values added one after another in the order of x, from 0),
    so the same bits, without bincount's per-call passes over k (4x faster on VerbAgg's
    15,508 entries of K)."""
    order = np.argsort(k, kind="stable")
    indptr = np.concatenate(([0], np.cumsum(np.bincount(k, minlength=nbins))))
    G = sp.csr_matrix((np.ones(k.shape[0]), order.astype(np.int32),
                       indptr.astype(np.int32)), shape=(nbins, k.shape[0]))
    return MatVec(G)


def trace_at_fixed_weights(S, ainv, m, theta):
    """tr(A⁻¹ ∂A/∂θ_k) at fixed weights, k = 1..n_θ, from A⁻¹ on A's pattern (``ainv``)
    and Z'WZ's values on its pattern (``m``)."""
    erow, ecol, ka, kb, bin_a, bin_b = _k_entries(S)
    v = ainv * m if erow is None else ainv[erow] * m[ecol]
    return bin_a(v * theta[kb]) + bin_b(v * theta[ka])


def theta_terms(S, zr, zs, u, nu):
    """Σ_{Λ'[i,j] = θ_k} [(Z'r)_j ũ_i − ½ (Z's)_j ν_i] for each θ_k."""
    smap = S.smap
    i, j, k = smap.lt_rows, smap.lt_cols, smap.Lind0
    return np.bincount(k, weights=zr[j] * u[i] - 0.5 * zs[j] * nu[i], minlength=S.n_theta)


def laplace_gradient(dev, st):
    """Gradient of the precise Laplace deviance at the state ``st`` (from
    ``pirls(..., precise=True)``) in θ (nAGQ = 0 stage: β inside PIRLS) or in (θ, β).

    Returns
    -------
    ndarray
        Length n_theta (stage 1) or n_theta + p (stage 2).

    Raises
    ------
    NotImplementedError
        A family or link without the derivatives (:mod:`.family_derivs`).
    """
    S, resp = dev.S, dev.resp
    theta, u = st.theta, st.u
    # a precise state's weights are those at its own mode (PIRLS's last refactorisation)
    fd = FamilyDerivatives(resp, st.eta, st.mu, st.devres_sum,
                           W=st.w if getattr(st, "precise", False) else None)
    W, Wo = fd.W, fd.Wo
    fac = S.factor
    if S.current is not st:
        S.set_theta(theta)
        fac.factor(S.a_values(W))
        S.current = st
    ainv = S.inverse.on_pattern(fac)
    # h = Pz'K'A⁻¹ (∂log|A|/∂W) and tr(A⁻¹∂A/∂θ_k) at fixed W
    kt_ainv = S._kdata * ainv if S._k_diag else S._kt(ainv)
    h = S._pzt(kt_ainv)
    g_th = trace_at_fixed_weights(S, ainv, S.m_values(W), theta)
    g = h * fd.dW + fd.a
    ru = S.u_mul(g) + 2.0 * u
    canonical = resp.canonical or np.array_equal(Wo, W)
    if not canonical:
        S.current = None
        fac.factor(S.a_values(Wo))
    p = S.p
    X = S.X
    if dev.nAGQ > 0 or not p:
        nu = fac.solve_A(ru)
        xi = S.ut_mul(nu)
    else:
        # stage 1: the joint (u, β) system [[Ao, Λ'Z'WoX], [X'WoZΛ, X'WoX]]
        wX = Wo[:, None] * X
        rhs = np.empty((S.q, p + 1))
        rhs[:, :p] = S.u_mul(wX)
        rhs[:, p] = ru
        R = fac.solve_L(rhs)
        RZX, cu = R[:, :p], R[:, p]
        RX, info = lapack.dpotrf(X.T @ wX - RZX.T @ RZX, lower=0, clean=1)
        if info != 0:
            raise PirlsError("the Laplace gradient's system is not positive definite")
        cb = lapack.dtrtrs(RX, X.T @ g - RZX.T @ cu, trans=1)[0]
        nu_b = lapack.dtrtrs(RX, cb)[0]
        nu = fac.solve_Lt(cu - RZX @ nu_b)
        xi = S.ut_mul(nu) + X @ nu_b
    r = g - Wo * xi
    zr = S._zt(r)
    zs = S._zt(fd.s)
    g_th = g_th + theta_terms(S, zr, zs, u, nu)
    if dev.nAGQ == 0:
        return g_th
    return np.concatenate((g_th, X.T @ r))
