"""Penalized iteratively reweighted least squares (PIRLS) for GLMMs (lme4's ``pwrssUpdate``).

For a given θ (and, in glmer's second stage, a given β) PIRLS finds the conditional mode ũ of
the spherical random effects — and in glmer's first stage (nAGQ = 0) β̂ together with it — by
repeatedly solving the penalized weighted least squares problem of the working response::

    w_i = wt_i (dμ/dη)²/V(μ_i),   z_i = η_i − o_i + (y_i − μ_i)/(dμ/dη)
    A = Λ'Z'WZΛ + I = U W U' + I,  U = Λ'Z'
    minimise ‖W^½(z − Xβ − U'u)‖² + ‖u‖²

with lme4's convergence rule (relative change of the penalized deviance Σ devres + ‖u‖²
below ``tolPwrss``) and step halving when the penalized deviance rises.

Everything fixed is built once by :class:`GlmmStructure`: the pattern of U = Λ'Z' (its values
are a fixed linear map of θ), every pair of entries of U sharing an observation and its place
in A's pattern (so A's values for new weights are one weighted ``bincount``: O(n k²) for k
random effects per observation, no n×q matrix), and the Cholesky backend with its symbolic
analysis — CHOLMOD or a dense / block-first SciPy factor (:mod:`lmerpy.pls.glmm_factor`), reused
for every iteration and every θ.

R equivalent: ``pwrssUpdate`` / ``glmerLaplace`` in lme4's ``src/external.cpp`` and the
``merPredD`` methods ``updateXwts``, ``updateDecomp``, ``solve``, ``solveU``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from ..errors import FitError, LmerpyError
from .crossprod import ScalingMap, unique_sorted
from .glmm_factor import make_glmm_factor

__all__ = ["GlmmStructure", "PirlsState", "pirls", "PirlsError"]

#: lme4's limits: PIRLS iterations and step halvings per iteration
MAXIT = 100
MAX_HALVINGS = 20


class PirlsError(FitError):
    """PIRLS failed (no convergence, step halving could not reduce the deviance, or a
    non-finite deviance)."""


def _expand(counts):
    """For groups of sizes ``counts``: (group index, position within group) of every item."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    grp = np.repeat(np.arange(counts.shape[0]), counts)
    first = np.cumsum(counts) - counts
    return grp, np.arange(total) - np.repeat(first, counts)


class GlmmStructure:
    """What PIRLS needs that does not change with θ, β or the weights (built once per design).

    Parameters
    ----------
    design : lmerpy.design.structures.Design
    backend : {"cholmod", "scipy", None}
        Cholesky backend for A (None: chosen by the design, as for lmer).

    Attributes
    ----------
    X : ndarray (n, p)
    smap : ScalingMap
        A's fixed pattern (and positions in it).
    factor : CholmodFactor or BlockedFactor
    U : scipy.sparse.csc_matrix (q, n)
        Λ'Z' at the θ last set by :meth:`set_theta` (pattern fixed, data updated in place).
    """

    def __init__(self, design, backend=None):
        Zt = sp.csc_matrix(design.Zt, dtype=float)
        Zt.sum_duplicates()
        Zt.sort_indices()
        self.Zt = Zt
        q, n = Zt.shape
        self.q, self.n = q, n
        self.X = np.ascontiguousarray(np.asarray(design.X, dtype=float).reshape(n, -1))
        self.p = self.X.shape[1]
        self.blocks = [(int(t.row_offset), int(t.n_levels), int(t.n_columns))
                       for t in design.reterms]
        self.n_theta = int(np.asarray(design.theta).shape[0])
        # A's structural pattern: that of Λ'|Z'||Z|Λ (values never cancel), as lmer's map
        Zabs = Zt.copy()
        Zabs.data = np.ones_like(Zabs.data)
        M = sp.csc_matrix(Zabs @ Zabs.T)
        self.smap = ScalingMap(M, design.Lambdat, design.Lind, self.n_theta, self.blocks)
        self._build_u_map()
        self._build_pairs()
        self.factor = make_glmm_factor(self.smap, self.blocks, backend)
        self._theta = None

    # -- U = Λ'Z' as a linear map of θ --------------------------------------------------------
    def _build_u_map(self):
        Zt, Lt, q = self.Zt, self.smap.Lt, self.q
        zr = Zt.indices.astype(np.int64)                         # row c of each Z' entry
        zc = np.repeat(np.arange(self.n), np.diff(Zt.indptr))   # column j (observation)
        lt_ptr = Lt.indptr.astype(np.int64)
        cnt = lt_ptr[zr + 1] - lt_ptr[zr]                        # Λ' entries in column c
        e, o = _expand(cnt)
        kl = lt_ptr[zr][e] + o
        a = Lt.indices[kl].astype(np.int64)
        j = zc[e]
        key = j * q + a
        keys = unique_sorted(key)
        self._u_pos = np.searchsorted(keys, key)
        self._u_theta = Lt.lind0[kl]
        self._u_z = Zt.data[e]
        nnz = keys.shape[0]
        rows = (keys % q).astype(np.int32)
        cols = keys // q
        indptr = np.concatenate(([0], np.cumsum(np.bincount(cols, minlength=self.n))))
        self.U = sp.csc_matrix((np.zeros(nnz), rows, indptr.astype(np.int32)),
                               shape=(q, self.n))
        self.Ut = sp.csr_matrix((self.U.data, rows, self.U.indptr), shape=(self.n, q))
        self._u_direct = bool(np.array_equal(self._u_pos, np.arange(nnz)))

    def _build_pairs(self):
        """Every ordered pair of entries of U in one column (observation) and its position in
        A's pattern: A = Σ_j w_j U[:, j] U[:, j]' + I."""
        U = self.U
        cnt_col = np.diff(U.indptr).astype(np.int64)
        col_of = np.repeat(np.arange(self.n), cnt_col)
        reps = cnt_col[col_of]
        k1, o = _expand(reps)
        k2 = U.indptr[col_of][k1].astype(np.int64) + o
        pos = self.smap.positions(U.indices[k1], U.indices[k2])
        if np.any(pos < 0):  # cannot happen: the pattern is built from the same structure
            raise LmerpyError("internal error: an entry of Λ'Z'WZΛ is outside A's pattern")
        order = np.argsort(pos, kind="stable")
        self._pk1, self._pk2 = k1[order], k2[order]
        self._ppos = pos[order]
        self._pobs = col_of[k1[order]]
        self._uu = None

    def set_theta(self, theta):
        """Set U = Λ'Z' (and the pair products) for θ."""
        th = np.asarray(theta, dtype=float)
        if self._theta is not None and np.array_equal(self._theta, th):
            return
        vals = th[self._u_theta] * self._u_z
        if self._u_direct:
            self.U.data[:] = vals
        else:
            self.U.data[:] = np.bincount(self._u_pos, weights=vals, minlength=self.U.nnz)
        self._uu = self.U.data[self._pk1] * self.U.data[self._pk2]
        self._theta = th.copy()

    def a_values(self, w):
        """A = U W U' + I on the pattern, for working weights w."""
        v = np.bincount(self._ppos, weights=w[self._pobs] * self._uu, minlength=self.smap.nnz)
        v[self.smap.diag_pos] += 1.0
        return v

    def lambdat(self, theta):
        """Λ' at θ (R: ``getME(fit, "Lambdat")``)."""
        return self.smap.lambdat(theta)


class PirlsState:
    """The result of PIRLS at one θ (and β).

    Attributes
    ----------
    theta, beta, u : ndarray
        β is β̂(θ) (nAGQ = 0 stage) or the given β.
    eta, mu : ndarray (n,)
        Linear predictor (offset included) and mean at ũ.
    w : ndarray (n,)
        Working weights of the last factorisation (lme4 keeps that factor, from the weights
        before the last update, for log|L|²).
    ldL2 : float
        log|A| = log|L|² of that factorisation.
    devres_sum, ussq, pdev : float
        Σ deviance residuals, ‖ũ‖², their sum (the penalized deviance).
    iterations : int
    """

    __slots__ = ("theta", "beta", "u", "eta", "mu", "w", "z", "ldL2", "devres", "devres_sum",
                 "ussq", "pdev", "iterations", "offset_total", "precise", "criterion")


def _solve_full(S, fac, w, z, X):
    """Full PLS step for (u, β) with weights w and working response z (lme4's ``solve``)."""
    p = X.shape[1]
    wX = w[:, None] * X
    rhs = np.empty((S.q, p + 1))
    rhs[:, :p] = S.U @ wX
    rhs[:, p] = S.U @ (w * z)
    R = fac.solve_L(rhs)
    RZX, cu = R[:, :p], R[:, p]
    VtV = X.T @ wX - RZX.T @ RZX
    RX, info = lapack.dpotrf(VtV, lower=0, clean=1)
    if info != 0:
        raise PirlsError("Downdated VtV is not positive definite")
    cb = lapack.dtrtrs(RX, wX.T @ z - RZX.T @ cu, trans=1)[0]
    beta = lapack.dtrtrs(RX, cb)[0]
    u = fac.solve_Lt(cu - RZX @ beta)
    return u, beta


def pirls(S, resp, theta, eta, *, beta=None, tol=1e-7, maxit=MAXIT, max_halvings=MAX_HALVINGS,
          precise=False):
    """Run PIRLS at θ from the linear predictor ``eta``.

    Parameters
    ----------
    S : GlmmStructure
    resp : lmerpy.pls.glm_response.GlmResponse
    theta : ndarray
    eta : ndarray (n,)
        Starting linear predictor (offset included); only its working weights and response
        are used, as in lme4 (which restarts each evaluation from the same ``lp0``).
    beta : ndarray or None
        None: β is estimated with u (lme4's nAGQ = 0 stage, ``uOnly = FALSE``); otherwise β is
        fixed (moved into the offset) and only u is updated.
    tol : float
        lme4's ``tolPwrss``: stop when |Δ pdev| / pdev < tol.
    precise : bool
        False (lme4): stop at ``tol``; log|L|² is then that of the weights *before* the last
        update, as in lme4, so the Laplace deviance carries an error of first order in the
        last step (about 1e-4 on a deviance of 200 is typical). True: keep iterating until
        the penalized deviance stops changing (at most 4 more iterations), then refactorise
        at the final weights: the Laplace deviance at ũ to rounding accuracy, which
        finite-difference derivatives need.

    Returns
    -------
    PirlsState

    Raises
    ------
    PirlsError
        lme4's ``PIRLS step-halvings failed to reduce deviance in pwrssUpdate`` or
        ``pwrssUpdate did not converge in ... iterations``, or a non-finite deviance.
    """
    S.set_theta(theta)
    fac = S.factor
    X = S.X
    u_only = beta is not None
    off = resp.offset if not u_only else resp.offset + (X @ beta if S.p else 0.0)
    fam = resp.family
    oldpdev = np.inf
    u_old = beta_old = None
    eta = np.asarray(eta, dtype=float)

    def step(eta):
        mu, w, z = resp.working(eta, off)
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(z))):
            raise PirlsError("non-finite working weights or response in PIRLS "
                             "(the linear predictor left the link's domain)")
        fac.factor(S.a_values(w))
        if u_only or not S.p:
            u = fac.solve_Lt(fac.solve_L(S.U @ (w * z)))
            b = beta if u_only else np.zeros(0)
        else:
            u, b = _solve_full(S, fac, w, z, X)
        return u, b, w, z

    def predictor(u, b):
        e = off + S.Ut @ u
        if not u_only and S.p:
            e = e + X @ b
        mu = fam.linkinv(e)
        dr = resp.dev_resids(mu)
        pd_ = float(np.sum(dr) + u @ u)
        return e, mu, dr, (np.inf if np.isnan(pd_) else pd_)

    st = PirlsState()
    for it in range(1, maxit + 1):
        u, b, w, z = step(eta)
        eta_new, mu_new, dr, pdev = predictor(u, b)
        if abs(oldpdev - pdev) < tol * pdev:
            _store(st, theta, b, u, eta_new, mu_new, w, z, fac, dr, pdev, it, off)
            break
        if pdev > oldpdev:  # step halving towards the previous iterate
            for _ in range(max_halvings):
                u = 0.5 * (u_old + u)
                if not u_only:
                    b = 0.5 * (beta_old + b)
                eta_new, mu_new, dr, pdev = predictor(u, b)
                if pdev <= oldpdev:
                    break
            if not pdev - oldpdev <= tol:
                raise PirlsError("PIRLS step-halvings failed to reduce deviance in "
                                 "pwrssUpdate")
        if not np.isfinite(pdev):
            raise PirlsError("PIRLS: the penalized deviance is not finite")
        oldpdev, u_old, beta_old, eta = pdev, u, b, eta_new
    else:
        raise PirlsError(f"pwrssUpdate did not converge in {maxit} iterations")
    if not precise:
        return st
    # polish: Newton steps until the penalized deviance settles, then log|L|² at ũ itself
    it = st.iterations
    for _ in range(4):
        u, b, w, z = step(st.eta)
        eta_new, mu_new, dr, pdev = predictor(u, b)
        if not pdev <= st.pdev + 1e-13 * abs(st.pdev):
            break
        change = st.pdev - pdev
        it += 1
        _store(st, theta, b, u, eta_new, mu_new, w, z, fac, dr, pdev, it, off)
        if change <= 1e-14 * abs(pdev):
            break
    mu, w, z = resp.working(st.eta, off)
    fac.factor(S.a_values(w))
    st.w, st.z = w, z
    st.ldL2 = float(fac.logdet())
    return st


def _store(st, theta, beta, u, eta, mu, w, z, fac, dr, pdev, it, off):
    st.theta = np.array(theta, dtype=float)
    st.beta = np.array(beta, dtype=float) if beta is not None else None
    st.u = u
    st.eta = eta
    st.mu = mu
    st.w = w
    st.z = z
    st.ldL2 = float(fac.logdet())
    st.devres = dr
    st.devres_sum = float(np.sum(dr))
    st.ussq = float(u @ u)
    st.pdev = pdev
    st.iterations = it
    st.offset_total = off
