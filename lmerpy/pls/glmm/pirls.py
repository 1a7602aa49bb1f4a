"""Penalized iteratively reweighted least squares (PIRLS) for GLMMs (lme4's ``pwrssUpdate``).

For a given θ (and, in glmer's second stage, a given β) PIRLS finds the conditional mode ũ of
the spherical random effects — and in glmer's first stage (nAGQ = 0) β̂ together with it — by
repeatedly solving the penalized weighted least squares problem of the working response::

    w_i = wt_i (dμ/dη)²/V(μ_i),   z_i = η_i − o_i + (y_i − μ_i)/(dμ/dη)
    A = Λ'Z'WZΛ + I = U W U' + I,  U = Λ'Z'
    minimise ‖W^½(z − Xβ − U'u)‖² + ‖u‖²

with lme4's convergence rule (relative change of the penalized deviance Σ devres + ‖u‖²
below ``tolPwrss``) and step halving when the penalized deviance rises.

Everything fixed is built once by :class:`GlmmStructure`: two constant sparse maps — the
weights to Z'WZ on its pattern (every pair of Z' entries of one observation: O(n k²) for k
random effects per observation, no n×q matrix) and Z'WZ to A = Λ'Z'WZΛ + I (entries θ_iθ_j,
refreshed per θ) — and the Cholesky backend with its symbolic analysis: CHOLMOD or a dense /
block-first SciPy factor (:mod:`lmerpy.pls.factor.block_first`), reused for every iteration and θ.

R equivalent: ``pwrssUpdate`` / ``glmerLaplace`` in lme4's ``src/external.cpp`` and the
``merPredD`` methods ``updateXwts``, ``updateDecomp``, ``solve``, ``solveU``.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from ...errors import FitError, LmerpyError
from ..crossprod import ScalingMap, expand_pairs
from ..factor.chooser import choose_factor
from ..factor.inverse import SparseInverse
from .pirls_diagonal import POLISH_NEWTON_STOP, DiagonalTerm, pirls_diagonal, small_step

try:  # SciPy's own sparse kernels, called without its dispatch (same arithmetic, same bits)
    from scipy.sparse import _sparsetools as _spt
except ImportError:  # pragma: no cover - a SciPy without them: the public product
    _spt = None

__all__ = ["GlmmStructure", "MatVec", "PirlsError", "PirlsStart", "PirlsState", "pirls"]

#: lme4's limits: PIRLS iterations and step halvings per iteration
MAXIT = 100
MAX_HALVINGS = 20
#: most extra iterations of the precise mode
MAX_POLISH = 60
#: largest Z'WX (q × p values) a PIRLS start keeps for the second stage's first iterations
_FIXED_MAX = 2_000_000
#: Z'WZ's map looks its positions up in a dense q × q table when q² is at most this many
#: times the number of lookups (VerbAgg: 3x faster than bisection), else by bisection
_LOOKUP_PER_KEY = 8


class MatVec:
    """x -> M @ x for a fixed CSR/CSC matrix M (its ``data`` may change in place): SciPy's
    ``csr_matvec``/``csc_matvec`` kernels called directly, which is what ``M @ x`` runs after
    some 10 µs of dispatch — that dispatch was a third of a small model's PIRLS iteration."""

    __slots__ = ("M", "_m", "_n", "_vec", "_vecs")

    def __init__(self, M):
        self.M = M
        self._m, self._n = M.shape
        fmt = getattr(M, "format", None)
        if _spt is None or fmt not in ("csr", "csc") or M.data.dtype != np.float64:
            self._vec = self._vecs = None
        else:
            self._vec = getattr(_spt, fmt + "_matvec")
            self._vecs = getattr(_spt, fmt + "_matvecs")

    def __reduce__(self):
        return (MatVec, (self.M,))

    def __call__(self, x):
        M = self.M
        if self._vec is None or x.dtype != np.float64 or x.shape[0] != self._n \
                or x.ndim > 2:
            return M @ x
        if x.ndim == 1:
            y = np.zeros(self._m)
            self._vec(self._m, self._n, M.indptr, M.indices, M.data,
                      np.ascontiguousarray(x), y)
            return y
        k = x.shape[1]
        y = np.zeros((self._m, k))
        self._vecs(self._m, self._n, k, M.indptr, M.indices, M.data,
                   np.ascontiguousarray(x).ravel(), y.ravel())
        return y


class ColumnsMatVec(MatVec):
    """x -> Zt @ x for the constant CSC matrix Zt (q × n, q ≤ n): a vector through Zt's CSR
    twin (each row's sum gathered in the order of its columns, the additions of CSC's
    scatter in the same order, so the same bits — 2.3x faster on VerbAgg's 7584
    observations), a matrix through the CSC kernel (the CSR one is slower there)."""

    __slots__ = ("_rows",)

    #: fewest entries for which the twin is made (its conversion costs ~0.1 ms; cbpp's and
    #: grouseticks' products are as fast either way)
    MIN_NNZ = 8192

    def __init__(self, M):
        super().__init__(M)
        rows = None
        if self._vec is not None and getattr(M, "format", None) == "csc" \
                and M.nnz >= self.MIN_NNZ:
            R = sp.csr_matrix(M)
            R.sum_duplicates()
            R.sort_indices()
            if R.indptr.dtype == M.indptr.dtype and R.indices.dtype == M.indices.dtype:
                rows = (R.indptr, R.indices, R.data)
        self._rows = rows

    def __reduce__(self):
        return (ColumnsMatVec, (self.M,))

    def __call__(self, x):
        r = self._rows
        if r is None or x.ndim != 1 or x.dtype != np.float64 or x.shape[0] != self._n:
            return MatVec.__call__(self, x)
        y = np.zeros(self._m)
        _spt.csr_matvec(self._m, self._n, r[0], r[1], r[2], np.ascontiguousarray(x), y)
        return y


def _transposed(M):
    """M' (M in CSR) as the CSC matrix on M's own arrays, so that values changed in place
    in M are changed in M' too."""
    return sp.csc_matrix((M.data, M.indices, M.indptr), shape=(M.shape[1], M.shape[0]),
                         copy=False)


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

    A(θ, w) = Λ'(Z'WZ)Λ + I is formed in two sparse mat-vecs with constant structure:
    ``M = Pz @ w`` (the values of Z'WZ on its pattern: every pair of Z' entries of one
    observation) and ``A = K_θ @ M + I`` (K_θ's entries are θ_iθ_j products of Λ' entries,
    refreshed once per θ). Products with U = Λ'Z' go through Z' (constant) and Λ' (q×q).

    Parameters
    ----------
    design : lmerpy.design.structures.Design
    backend : {"cholmod", "scipy", None}
        Cholesky backend for A (None: chosen by the design, see
        :func:`lmerpy.pls.factor.chooser.choose_factor`).

    Attributes
    ----------
    X : ndarray (n, p)
    Zt : scipy.sparse.csc_matrix (q, n)
    smap : ScalingMap
        A's fixed pattern (and positions in it).
    factor : DenseFactor, BlockFirstFactor or CholmodFactor
        (:class:`~.protocol.Factor`, chosen by :func:`~.chooser.choose_factor`)
    inverse : SparseInverse
        A⁻¹'s diagonal blocks at the factor's last factorisation (:mod:`.inverse`).
    """

    def __init__(self, design, backend=None):
        Zt = sp.csc_matrix(design.Zt, dtype=float)
        Zt.sum_duplicates()
        Zt.sort_indices()
        self.Zt = Zt
        self.Z = sp.csr_matrix(Zt.T)
        q, n = Zt.shape
        self.q, self.n = q, n
        self.X = np.ascontiguousarray(np.asarray(design.X, dtype=float).reshape(n, -1))
        self.p = self.X.shape[1]
        self.blocks = [(int(t.row_offset), int(t.n_levels), int(t.n_columns))
                       for t in design.reterms]
        self.n_theta = int(np.asarray(design.theta).shape[0])
        # Z'WZ's structural pattern (values never cancel) and A's, as lmer's map builds it
        Zabs = Zt.copy()
        Zabs.data = np.ones_like(Zabs.data)
        M = sp.csc_matrix(Zabs @ Zabs.T)
        M.sort_indices()
        diag = self.init_scaling(M, design, backend)
        self._build_m_map(M)
        #: the PIRLS state whose A(θ, w) the factor holds (set by precise PIRLS and
        #: refactorisations at a state; None when unknown)
        self.current = None
        self._zt, self._z = ColumnsMatVec(self.Zt), MatVec(self.Z)
        self._pz = MatVec(self.Pz)
        # their transposes for the Laplace gradient (views: K's values, set in place by
        # set_theta, are shared; Pz is constant, so Pz' may gather through a copy)
        self._pzt, self._kt = (ColumnsMatVec(_transposed(self.Pz)),
                                MatVec(_transposed(self.K)))
        # one scalar term: A is diagonal, PIRLS's second stage needs no factor
        self.diagonal = (DiagonalTerm.from_structure(Zt, self.blocks, self.smap.Lind0)
                         if diag else None)

    def init_scaling(self, M, design, backend) -> bool:
        """The θ side of the structure from Z'WZ's pattern ``M``: the scaling map, K_θ, Λ'
        and Λ sharing one value array, A's factor and inverse; returns whether Λ' is diagonal
        (scalar terms: its products are elementwise)."""
        q = self.q
        self.smap = ScalingMap(M, design.Lambdat, design.Lind, self.n_theta, self.blocks)
        self._build_k_map(M)
        Lt = self.smap.Lt
        self.Lt = sp.csc_matrix((np.zeros(Lt.indices.shape[0]), Lt.indices, Lt.indptr),
                                shape=(q, q))
        self.Lam = sp.csr_matrix((self.Lt.data, Lt.indices, Lt.indptr), shape=(q, q))
        diag = bool(np.array_equal(Lt.indices, np.arange(q))
                    and np.array_equal(Lt.indptr, np.arange(q + 1)))
        self._lam_diag_idx = self.smap.Lind0 if diag else None
        self._lam_diag = np.zeros(q) if diag else None
        self.factor = choose_factor(self.smap, self.blocks, backend, weights_vary=True)
        self.inverse = SparseInverse(self.smap)
        self._theta = None
        self._k = MatVec(self.K)
        self._lt, self._lam = MatVec(self.Lt), MatVec(self.Lam)
        self._kdata = self.K.data
        self._diag_pos = self.smap.diag_pos
        return diag

    def _build_m_map(self, M):
        """Pz (nnz(M) × n): M.data = Pz @ w is Z'WZ on M's pattern."""
        Zt, q = self.Zt, self.q
        cnt = np.diff(Zt.indptr).astype(np.int64)
        col_of = np.repeat(np.arange(self.n), cnt)            # observation of each Z' entry
        k1, o = _expand(cnt[col_of])
        k2 = Zt.indptr[col_of][k1].astype(np.int64) + o
        r1, r2 = Zt.indices[k1].astype(np.int64), Zt.indices[k2].astype(np.int64)
        mkeys = np.repeat(np.arange(q), np.diff(M.indptr)) * q + M.indices  # CSC order
        if q * q <= _LOOKUP_PER_KEY * k1.shape[0]:    # a dense table of M's positions
            table = np.full(q * q, -1, dtype=np.int64)
            table[mkeys] = np.arange(M.nnz)
            pos = table[r2 * q + r1]
        else:
            pos = np.searchsorted(mkeys, r2 * q + r1)
        obs = col_of[k1]
        order = np.argsort(pos * self.n + obs, kind="stable")     # by position, then obs
        self.Pz = sp.csr_matrix((Zt.data[k1][order] * Zt.data[k2][order],
                                 obs[order].astype(np.int32),
                                 np.concatenate(([0], np.cumsum(np.bincount(
                                     pos, minlength=M.nnz)))).astype(np.int32)),
                                shape=(M.nnz, self.n))

    def _build_k_map(self, M):
        """K_θ (nnz(A) × nnz(M)): A.data = K_θ @ M.data + I, K's entries θ_iθ_j."""
        Lt, smap, q = self.smap.Lt, self.smap, self.q
        mc = np.repeat(np.arange(q), np.diff(M.indptr))
        mr = M.indices.astype(np.int64)
        start = Lt.indptr[:-1].astype(np.int64)
        ncol = np.diff(Lt.indptr).astype(np.int64)
        e, k1, k2 = expand_pairs(start[mr], ncol[mr], start[mc], ncol[mc])
        a = Lt.indices[k1].astype(np.int64)
        b = Lt.indices[k2].astype(np.int64)
        pos = smap.positions(a, b)
        if np.any(pos < 0):  # cannot happen: the pattern is built from the same structure
            raise LmerpyError("internal error: an entry of Λ'Z'WZΛ is outside A's pattern")
        order = np.lexsort((e, pos))
        self._kpair = Lt.lind0[k1][order] * self.n_theta + Lt.lind0[k2][order]
        self.K = sp.csr_matrix((np.zeros(order.shape[0]), e[order].astype(np.int32),
                                np.concatenate(([0], np.cumsum(np.bincount(
                                    pos, minlength=smap.nnz)))).astype(np.int32)),
                               shape=(smap.nnz, M.nnz))
        # scalar terms (diagonal Λ'): A and Z'WZ share a pattern and K is diagonal
        self._k_diag = bool(self.K.nnz == smap.nnz == M.nnz
                            and np.array_equal(self.K.indices, np.arange(M.nnz)))

    def set_theta(self, theta):
        """Set Λ' and K_θ for θ."""
        th = np.asarray(theta, dtype=float)
        old = self._theta
        if old is not None and old.shape == th.shape and not (old != th).any():
            return
        self.Lt.data[:] = th[self.smap.Lind0]          # Lam shares the array
        self.K.data[:] = np.multiply.outer(th, th).ravel()[self._kpair]
        if self._lam_diag is not None:
            self._lam_diag = th[self._lam_diag_idx]
        self._theta = th.copy()

    def a_values(self, w):
        """A = Λ'Z'WZΛ + I on the pattern, for working weights w."""
        m = self._pz(w)
        self._last_m = (w, m)
        v = self._kdata * m if self._k_diag else self._k(m)
        v[self._diag_pos] += 1.0
        return v

    def m_values(self, w):
        """Z'WZ on its pattern for weights w (kept from :meth:`a_values` when it was the
        last one called with this very array: the Laplace gradient after PIRLS)."""
        last = getattr(self, "_last_m", None)
        if last is not None and last[0] is w:
            return last[1]
        return self._pz(w)

    def u_mul(self, B):
        """U B = Λ'Z' B."""
        return self.lam_mul(self._zt(B))

    def lam_mul(self, ZB):
        """Λ' (Z'B) for a product Z'B already formed."""
        if self._lam_diag is not None:
            return ZB * (self._lam_diag if ZB.ndim == 1 else self._lam_diag[:, None])
        return self._lt(ZB)

    def ut_mul(self, u):
        """U'u = ZΛu."""
        if self._lam_diag is not None:
            return self._z(self._lam_diag * u)
        return self._z(self._lam(u))

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

    __slots__ = (
        "beta",
        "criterion",
        "devres",
        "devres_sum",
        "eta",
        "grad",
        "iterations",
        "ldL2",
        "mu",
        "offset_total",
        "pdev",
        "precise",
        "theta",
        "u",
        "ussq",
        "w",
        "z",
    )


def _full_pieces(S, w, z, X):
    """The pieces of a full PLS step that do not depend on θ: Z'WX, Z'Wz, X'WX, X'Wz."""
    wX = w[:, None] * X
    return S._zt(wX), S._zt(w * z), X.T @ wX, wX.T @ z


def _solve_full(S, fac, w, z, X, pieces=None):
    """Full PLS step for (u, β) with weights w and working response z (lme4's ``solve``);
    ``pieces``: :func:`_full_pieces` at (w, z) when already known."""
    p = X.shape[1]
    ZWX, ZWz, XWX, XWz = _full_pieces(S, w, z, X) if pieces is None else pieces
    rhs = np.empty((S.q, p + 1))
    rhs[:, :p] = S.lam_mul(ZWX)
    rhs[:, p] = S.lam_mul(ZWz)
    R = fac.solve_L(rhs)
    RZX, cu = R[:, :p], R[:, p]
    VtV = XWX - RZX.T @ RZX
    RX, info = lapack.dpotrf(VtV, lower=0, clean=1)
    if info != 0:
        raise PirlsError("Downdated VtV is not positive definite")
    cb = lapack.dtrtrs(RX, XWz - RZX.T @ cu, trans=1)[0]
    beta = lapack.dtrtrs(RX, cb)[0]
    u = fac.solve_Lt(cu - RZX @ beta)
    return u, beta


#: the most random effects for which :meth:`PirlsStart.first_factor` keeps a copy of the
#: factor (a second factor's memory): larger models factor in place at each evaluation
FIRST_FACTOR_MAX_Q = 20_000


class PirlsStart:
    """The working weights and response parts at a starting η, computed once: every
    evaluation of a GLMM's deviance starts PIRLS from the same η (lme4's ``lp0``), and its
    first iteration differs between evaluations only through θ (A's scaling) and, in the
    second stage, β (the offset). Exactly the values :func:`pirls` would compute.

    Parameters
    ----------
    S : GlmmStructure
    resp : GlmResponse
    eta : ndarray (n,)
        The starting linear predictor, offset included.
    """

    __slots__ = ("diag_sums", "eta", "fixed", "full", "m", "mu", "r", "w", "w_finite",
                 "_first", "_first_theta")

    def __init__(self, S, resp, eta):
        self.eta = np.asarray(eta, dtype=float)
        self.mu, self.w, self.r = resp.working_parts(self.eta)
        self.w_finite = math.isfinite(float(self.w.sum()))
        self.m = S._pz(self.w) if self.w_finite else None
        self.diag_sums = None       # Z'WZ's diagonal at w (one-term designs, on demand)
        self.full = None            # first stage: (z, finite, pieces) (on demand)
        self.fixed = False          # second stage: (Z'W(η₀ − o + r), Z'WX) (on demand)
        self._first = None          # a factor of A(θ, w) at the start's w (see first_factor)
        self._first_theta = None

    def first_factor(self, S, theta):
        """A factor of A(θ, w) at the start's weights, kept for the last θ asked (S's θ):
        consecutive evaluations at one θ — the points of lme4's finite-difference Hessian
        that move only β, the larger part of its 2k² — share their first PIRLS iteration's
        factorisation. A copy of S's factor, so that later iterations do not overwrite it;
        the same values, so the same bits."""
        if S.q > FIRST_FACTOR_MAX_Q:   # no copy: factor in place, as later iterations do
            v = S._kdata * self.m if S._k_diag else S._k(self.m)
            v[S._diag_pos] += 1.0
            S.factor.factor(v)
            return S.factor
        th = np.asarray(theta, dtype=float)
        f = self._first
        if f is None or self._first_theta is None or self._first_theta.shape != th.shape \
                or (self._first_theta != th).any():
            if f is None:
                f = self._first = S.factor.copy()
            self._first_theta = None
            v = S._kdata * self.m if S._k_diag else S._k(self.m)
            v[S._diag_pos] += 1.0
            f.factor(v)
            self._first_theta = th.copy()
        return f

    def beta_fixed(self, S, resp):
        """(Z'W(η₀ − o + r), Z'WX) at the start, or None (non-finite start, or Z'WX too large
        to keep): with β fixed the first iteration's U W z is Λ'(Z'W(η₀ − o + r) − Z'WX β),
        two small products instead of passes over the observations (the same up to rounding:
        ~1e-15 relative)."""
        if self.fixed is False:
            self.fixed = None
            if self.w_finite and S.q * max(S.p, 1) <= _FIXED_MAX:
                g0 = self.w * ((self.eta - resp.offset) + self.r)
                if math.isfinite(float(g0.sum())):
                    self.fixed = (S._zt(g0), S._zt(self.w[:, None] * S.X) if S.p else None)
        return self.fixed

    def full_step(self, S, resp):
        """The first iteration's working response and full-step pieces when β is estimated
        too (the offset is then the response's own: z does not depend on the parameters)."""
        if self.full is None:
            z = (self.eta - resp.offset) + self.r
            ok = self.w_finite and math.isfinite(float(z.sum()))
            self.full = (z, ok, _full_pieces(S, self.w, z, S.X) if ok else None)
        return self.full


def _bad_working():
    return PirlsError("non-finite working weights or response in PIRLS (the linear "
                      "predictor left the link's domain)")


def pirls(S, resp, theta, eta, *, beta=None, tol=1e-7, maxit=MAXIT, max_halvings=MAX_HALVINGS,
          precise=False, start=None):
    """Run PIRLS at θ from the linear predictor ``eta``.

    Parameters
    ----------
    S : GlmmStructure
    resp : lmerpy.pls.glmm.glm_response.GlmResponse
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
        the linear predictor stops moving (a step of at most 1e-11 relative; for the Newton
        steps of canonical links, which converge quadratically, 1e-7, leaving an error of
        order 1e-14: :data:`~.pirls_diagonal.POLISH_NEWTON_STOP`; at most 60 more
        iterations), then refactorise at the final weights: the Laplace deviance at ũ to
        rounding accuracy, which finite-difference derivatives need.
    start : PirlsStart, optional
        The first iteration's pieces at ``eta`` (then ``eta`` is ``start.eta``).

    Returns
    -------
    PirlsState

    Raises
    ------
    PirlsError
        lme4's ``PIRLS step-halvings failed to reduce deviance in pwrssUpdate`` or
        ``pwrssUpdate did not converge in ... iterations``, or a non-finite deviance.
    """
    X = S.X
    p = S.p
    u_only = beta is not None
    off = resp.offset if not u_only else resp.offset + (X @ beta if p else 0.0)
    if u_only and S.diagonal is not None and (start is not None or precise):
        return pirls_diagonal(S.diagonal, resp, theta, beta, off, start, tol=tol, maxit=maxit,
                              max_halvings=max_halvings, state_cls=PirlsState,
                              error_cls=PirlsError, eta=eta,
                              max_polish=MAX_POLISH if precise else 0)
    S.set_theta(theta)
    S.current = None
    fac = S.factor
    linkinv = resp.family.linkinv
    dev_resids = resp.dev_resids
    working_parts = resp.working_parts
    isfinite = math.isfinite
    oldpdev = math.inf
    u_old = beta_old = None
    if start is not None:
        eta = start.eta
    else:
        eta = np.asarray(eta, dtype=float)

    def step(eta, mu=None, observed=False, first=None):
        pieces = rhs = None
        if first is not None:
            w = first.w
            fixed = first.beta_fixed(S, resp) if u_only and not precise else None
            if fixed is not None:
                # z = (η₀ − o) + r − Xβ: U W z from pieces of the start (not formed: z of a
                # first iteration is never stored, PIRLS needs at least two)
                zg0, zwx = fixed
                if not isfinite(float(off.sum())):
                    raise _bad_working()
                z = None
                rhs = S.lam_mul(zg0 - zwx @ beta if p else zg0)
            elif u_only or not p:
                z = (eta - off) + first.r
                if not (first.w_finite and isfinite(float(z.sum()))):
                    raise _bad_working()
            else:
                z, ok, pieces = first.full_step(S, resp)
                if not ok:
                    raise _bad_working()
            if rhs is not None:
                # β fixed: the factorisation at the start's weights depends on θ only
                return first.first_factor(S, theta).solve_A(rhs), beta, w, z
            m = first.m
            v = S._kdata * m if S._k_diag else S._k(m)
            v[S._diag_pos] += 1.0
        else:
            mu, w, r = working_parts(eta, mu, observed)
            z = (eta - off) + r
            if not isfinite(float(w.sum()) + float(z.sum())):   # any NaN or ±inf
                raise _bad_working()
            v = S.a_values(w)
        fac.factor(v)
        if rhs is not None:
            u = fac.solve_A(rhs)
            b = beta
        elif u_only or not p:
            u = fac.solve_A(S.u_mul(w * z))
            b = beta if u_only else _EMPTY
        else:
            u, b = _solve_full(S, fac, w, z, X, pieces)
        return u, b, w, z

    def predictor(u, b):
        e = off + S.ut_mul(u)
        if not u_only and p:
            e = e + X @ b
        mu = linkinv(e)
        dr = dev_resids(mu)
        sums = (float(dr.sum()), float(u @ u))     # kept for _store
        pd_ = sums[0] + sums[1]
        return e, mu, dr, (math.inf if math.isnan(pd_) else pd_), sums

    st = PirlsState()
    mu = None
    first = start
    for it in range(1, maxit + 1):
        u, b, w, z = step(eta, mu, first=first)
        first = None
        eta_new, mu_new, dr, pdev, sums = predictor(u, b)
        if abs(oldpdev - pdev) < tol * pdev:
            # (precise: log|L|² comes from the final refactorisation below)
            _store(st, theta, b, u, eta_new, mu_new, w, z, None if precise else fac, dr, pdev,
                   it, off, sums)
            break
        if pdev > oldpdev:  # step halving towards the previous iterate
            for _ in range(max_halvings):
                u = 0.5 * (u_old + u)
                if not u_only:
                    b = 0.5 * (beta_old + b)
                eta_new, mu_new, dr, pdev, sums = predictor(u, b)
                if pdev <= oldpdev:
                    break
            if not pdev - oldpdev <= tol:
                raise PirlsError("PIRLS step-halvings failed to reduce deviance in "
                                 "pwrssUpdate")
        if not isfinite(pdev):
            raise PirlsError("PIRLS: the penalized deviance is not finite")
        oldpdev, u_old, beta_old, eta, mu = pdev, u, b, eta_new, mu_new
    else:
        raise PirlsError(f"pwrssUpdate did not converge in {maxit} iterations")
    if not precise:
        return st
    # polish: Newton steps (observed information where known to be positive, else scoring)
    # until the linear predictor stops moving, then log|L|² (Fisher weights) at ũ itself
    it = st.iterations
    for _ in range(MAX_POLISH):
        eta_old = st.eta
        u, b, w, z = step(eta_old, st.mu, observed=True)
        eta_new, mu_new, dr, pdev, sums = predictor(u, b)
        if not pdev <= st.pdev + 1e-12 * abs(st.pdev):
            break
        it += 1
        _store(st, theta, b, u, eta_new, mu_new, w, z, None, dr, pdev, it, off, sums)
        if small_step(eta_new, eta_old, POLISH_NEWTON_STOP if resp.newton_polish else 1e-11):
            break
    mu, w, z = resp.working(st.eta, off, st.mu)
    fac.factor(S.a_values(w))
    st.w, st.z = w, z
    st.ldL2 = float(fac.logdet())
    S.current = st
    return st


_EMPTY = np.zeros(0)


def _store(st, theta, beta, u, eta, mu, w, z, fac, dr, pdev, it, off, sums):
    st.theta = np.array(theta, dtype=float)
    st.beta = np.array(beta, dtype=float) if beta is not None else None
    st.u = u
    st.eta = eta
    st.mu = mu
    st.w = w
    st.z = z
    st.ldL2 = float(fac.logdet()) if fac is not None else math.nan
    st.devres = dr
    st.devres_sum, st.ussq = sums
    st.pdev = pdev
    st.iterations = it
    st.offset_total = off
