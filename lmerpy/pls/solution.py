"""The penalized least squares solution at one θ (what lme4 stores in a fitted ``merMod``).

R equivalent: the ``pp`` (``merPredD``) and ``resp`` (``lmerResp``) fields of a fit and
``getME(fit, c("theta", "beta", "u", "b", "Lambdat", "L", "RX", "RZX", "devcomp"))``.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

__all__ = ["PlsSolution"]

_LOG2PI = float(np.log(2.0 * np.pi))


class PlsSolution:
    """Full state of the PLS problem at θ (from :meth:`LmmDeviance.solve`).

    Attributes
    ----------
    theta : ndarray (n_theta,)
    REML : bool
        The flag of the deviance object; it decides :attr:`sigma` and :attr:`vcov_beta`.
    beta : ndarray (p,)
        β̂(θ) (the same for ML and REML).
    u : ndarray (q,)
        Spherical random effects ũ.
    b : ndarray (q,)
        Random effects b̃ = Λũ, in Zt's row order (term, level, column).
    sigma : float
        σ̂ = sqrt(pwrss / (n − p)) (REML) or sqrt(pwrss / n) (ML).
    sigma_ml, sigma_reml : float
    ldL2, ldRX2, wrss, ussq, pwrss : float
        lme4's ``devcomp$cmp`` entries: log|L|², log|R_X|², Σ wᵢ rᵢ², ‖ũ‖², their sum.
    sum_log_w : float
        Σ log wᵢ of the prior weights.
    deviance_ml, reml_criterion : float
        ML deviance and REML criterion at this θ (both).
    RX : ndarray (p, p)
        Upper triangular, R_X'R_X = X'WX − R_ZX'R_ZX.
    RZX : ndarray (q, p)
        L⁻¹PΛ'Z'WX (lme4's layout; depends on the backend's permutation P).
    fitted, residuals : ndarray (n,) or None
        Xβ̂ + Zb̃ + offset and y − fitted (None for a deviance built from reduced
        cross-products, :meth:`LmmDeviance.from_products`: the data are elsewhere).
    Lambdat : scipy.sparse.csc_matrix
        Λ' at θ.
    L : scipy.sparse.csc_matrix
        Lower-triangular factor, L L' = P(Λ'Z'WZΛ + I)P' (computed on first access).
    perm : ndarray of int
        P as an index vector: L L' = A[perm][:, perm].
    vcov_beta : ndarray (p, p)
        σ̂²(R_X'R_X)⁻¹.
    n, p, q : int
    """

    def __init__(self, dev, st):
        self._dev = dev
        self._st = st
        self.REML = dev.REML
        self.theta = st.theta.copy()
        self.n, self.p, self.q = dev.n, dev.p, dev.q
        self.ldL2 = float(st.ldL2)
        self.ldRX2 = float(st.ldRX2)
        self.RX = st.RX.copy()
        self.RZX = st.RZX.copy()
        self.beta = dev.resp.beta0 + st.beta_c if self.p else np.zeros(0)
        self.u = dev._u(st).copy()
        self._Lambdat = None
        smap = dev.smap
        # b = Λũ: row j of Λ is column j of the Λ' template, summed in its (CSC) order as
        # the sparse product Λ'ᵀũ would (the same bits, without building Λ' here)
        self.b = np.bincount(smap.lt_cols, weights=self.theta[smap.Lind0] * self.u[smap.lt_rows],
                             minlength=self.q)
        cp, resp = dev.cp, dev.resp
        self.ussq = float(self.u @ self.u)
        if cp.has_data:
            fitted = resp.offset + cp.z_mul(self.b)
            if self.p:
                fitted = fitted + cp.X @ self.beta
            self.fitted = fitted
            self.residuals = resp.y - fitted
            self.wrss = float(np.sum(cp.weights * self.residuals ** 2))
        else:       # reduced cross-products (no data here): r² = wrss + ‖u‖² from the products
            self.fitted = self.residuals = None
            self.wrss = float(st.r2) - self.ussq
        self.pwrss = self.wrss + self.ussq
        self.sum_log_w = dev.sum_log_w
        n, nmp = self.n, self.n - self.p
        self.sigma_ml = float(np.sqrt(self.pwrss / n))
        self.sigma_reml = float(np.sqrt(self.pwrss / nmp)) if nmp > 0 else np.nan
        self.sigma = self.sigma_reml if self.REML else self.sigma_ml
        with np.errstate(divide="ignore"):
            lr = np.log(self.pwrss)
        self.deviance_ml = float(self.ldL2 + n * (1.0 + _LOG2PI + lr - np.log(n))
                                 - self.sum_log_w)
        self.reml_criterion = (float(self.ldL2 + self.ldRX2
                                     + nmp * (1.0 + _LOG2PI + lr - np.log(nmp))
                                     - self.sum_log_w) if nmp > 0 else np.nan)
        self.perm = np.asarray(dev.factor.perm).copy()
        self._L = None
        self._ainv = None

    @property
    def Lambdat(self):
        """Λ' at θ (a CSC matrix with the template's pattern; built on first access)."""
        if self._Lambdat is None:
            self._Lambdat = self._dev.smap.lambdat(self.theta)
        return self._Lambdat

    @property
    def criterion(self):
        """The criterion of the deviance object (REML criterion or ML deviance)."""
        return self.reml_criterion if self.REML else self.deviance_ml

    @property
    def vcov_beta(self):
        """σ̂²(R_X'R_X)⁻¹ (R: ``vcov(fit)``)."""
        if not self.p:
            return np.zeros((0, 0))
        Ri = solve_triangular(self.RX, np.eye(self.p))
        return self.sigma ** 2 * (Ri @ Ri.T)

    @property
    def L(self):
        """The sparse Cholesky factor (R: ``getME(fit, "L")``)."""
        if self._L is None:
            self._dev._ensure_factored(self._st)
            self._L = self._dev.factor.L_matrix()
        return self._L

    def _inverse(self):
        if self._ainv is None:
            self._ainv = self._dev._inverse_on_pattern(self._st)
        return self._ainv

    def cond_var(self, term_index):
        """Conditional covariances Var(b | y) of one term's random effects.

        Parameters
        ----------
        term_index : int
            Index into ``design.reterms``.

        Returns
        -------
        ndarray, shape (levels, p_i, p_i)
            σ̂² [Λ A⁻¹ Λ'] diagonal blocks, one per level (R: ``attr(ranef(fit,
            condVar = TRUE)[[g]], "postVar")``, transposed to levels first).
        """
        dev = self._dev
        off, nl, nc = dev.blocks[term_index]
        smap = dev.smap
        base = off + np.arange(nl)[:, None, None] * nc
        rr = np.broadcast_to(base + np.arange(nc)[None, :, None], (nl, nc, nc))
        cc = np.broadcast_to(base + np.arange(nc)[None, None, :], (nl, nc, nc))
        pos = smap.positions(rr.ravel(), cc.ravel()).reshape(nl, nc, nc)
        Ai = self._inverse()[pos]
        # Λ's diagonal block of each level: Λ[r, c] = Λ'[c, r]
        Lam = np.asarray(self.Lambdat[rr.ravel(), cc.ravel()]).reshape(nl, nc, nc)
        Lam = np.transpose(Lam, (0, 2, 1))
        return self.sigma ** 2 * np.einsum("gij,gjk,glk->gil", Lam, Ai, Lam)
