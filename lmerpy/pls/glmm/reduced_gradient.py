"""The analytic Laplace gradient of a GLMM whose data are reached through a products source
(:class:`.reduced.ReducedGlmmDeviance`): :mod:`.laplace_gradient`'s formulas with one pass.

Of :mod:`.laplace_gradient`'s pieces only three are n-long: the family's derivatives at the
mode's η (s, W, Wo, dW/dη, a), h = Pz'K_θ'(A⁻¹ on A's pattern), and the reductions of
g = h ∘ dW/dη + a and s. Everything else is of size q and p once Z'WoZ, Z'WoX and X'WoX are
known — and with a canonical link (binomial logit, Poisson log) Wo = W, whose products the
mode's last pass already formed. So a gradient is

* on the client: A⁻¹ on A's pattern at the mode (the factor the precise mode ended with),
  K_θ'A⁻¹ on Z'Z's pattern and tr(A⁻¹ ∂A/∂θ_k) at fixed weights;
* one pass (:meth:`.reduced.ProductsSource.gradient`): K_θ'A⁻¹'s values go to the
  partitions, each forms η at (β, b), the derivatives, h through its own pattern map, and
  returns Z'g, X'g, Z's (and Z'WoZ, Z'WoX, X'WoX for a link that is not canonical);
* on the client: ν from Ao (stage 1: the joint (u, β) system), Z'r = Z'g − Z'WoZ Λν −
  Z'WoX ν_β, X'r = X'g − X'WoZ Λν − X'WoX ν_β, and the gradient as in memory.

The sums are taken per partition and then across (another order than in memory: the two
gradients agree to rounding, ~1e-12 relative).

R equivalent: none (lme4's glmer is derivative-free).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from .laplace_gradient import theta_terms, trace_at_fixed_weights
from .pirls import PirlsError

__all__ = ["reduced_laplace_gradient"]


def reduced_laplace_gradient(dev, st):
    """The gradient of ``dev.laplace`` at the precise state ``st`` in θ (nAGQ = 0 stage) or
    (θ, β); one gradient pass of ``dev.source``.

    Returns
    -------
    ndarray
        Length n_theta (stage 1) or n_theta + p (stage 2).
    """
    S = dev.S
    theta, u = st.theta, st.u
    ev = st.prods                     # the pass at the mode: W(η̃)'s products
    fac = S.factor
    S.set_theta(theta)
    fac.factor(S.a_from_m(ev["m"]))
    ainv = S.inverse.on_pattern(fac)
    kt_ainv = S.kt_mul(ainv)
    g_th = trace_at_fixed_weights(S, ainv, ev["m"], theta)
    observed = not dev.canonical
    gp = dev.source.gradient(st.beta, st.b, S.m_keys, np.ascontiguousarray(kt_ainv),
                             st.drsum, observed)
    zg, xg, zs = gp["zg"], gp["xg"], gp["zs"]
    ru = S.lam_mul(zg) + 2.0 * u
    if observed:
        mo, ZWoX, XWoX = gp["mo"], gp["ZWoX"], gp["XWoX"]
        st.wo = (mo, ZWoX, XWoX)          # for the whitening's β block (beta_hessian)
        fac.factor(S.a_from_m(mo))
    else:
        mo, ZWoX, XWoX = ev["m"], ev["ZWX"], ev["XWX"]
    Mo = S.m_matrix(mo)
    p = S.p
    if dev.nAGQ > 0 or not p:
        nu = fac.solve_A(ru)
        lnu = S.lam(nu)
        zwo_xi = Mo @ lnu
        xwo_xi = ZWoX.T @ lnu if p else np.zeros(0)
    else:
        # stage 1: the joint (u, β) system [[Ao, Λ'Z'WoX], [X'WoZΛ, X'WoX]]
        rhs = np.empty((S.q, p + 1))
        rhs[:, :p] = S.lam_mul(ZWoX)
        rhs[:, p] = ru
        R = fac.solve_L(rhs)
        RZX, cu = R[:, :p], R[:, p]
        RX, info = lapack.dpotrf(XWoX - RZX.T @ RZX, lower=0, clean=1)
        if info != 0:
            raise PirlsError("the Laplace gradient's system is not positive definite")
        cb = lapack.dtrtrs(RX, xg - RZX.T @ cu, trans=1)[0]
        nu_b = lapack.dtrtrs(RX, cb)[0]
        nu = fac.solve_Lt(cu - RZX @ nu_b)
        lnu = S.lam(nu)
        zwo_xi = Mo @ lnu + ZWoX @ nu_b
        xwo_xi = ZWoX.T @ lnu + XWoX @ nu_b
    zr = zg - zwo_xi
    g_th = g_th + theta_terms(S, zr, zs, u, nu)
    if dev.nAGQ == 0:
        return g_th
    return np.concatenate((g_th, xg - xwo_xi))
