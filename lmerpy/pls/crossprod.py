"""Cross-products formed once per model, and the map that scales them by Λ_θ.

Everything of size n is touched here, at construction, and never again per θ:

* :class:`CrossProducts` holds Z'WZ (sparse q×q), Z'WX (q×p), X'WX (p×p);
* :class:`ResponseProducts` holds the response's products Z'Wỹ, X'Wỹ, ỹ'Wỹ, where
  ỹ = y − offset − Xβ₀ and β₀ is the weighted least-squares fit. Subtracting Xβ₀ changes
  nothing in exact arithmetic (the penalized least-squares problem just shifts β by β₀) but it
  keeps r² = ỹ'Wỹ − ‖c‖² free of the cancellation a large response mean would cause;
* :class:`ScalingMap` gives the values of A = Λ'Z'WZΛ + I on a fixed sparsity pattern as one
  sparse mat-vec in θ⊗θ: ``A.data = C @ kron(θ, θ) (+ 1 on the diagonal)``.

R equivalent: the pieces of lme4's ``merPredD`` (``Ut``/``LamtUt``/``V``/``VtV``) that
``mkLmerDevfun()`` prepares before the optimizer runs.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..caches import PatternCache, read_only
from ..errors import DataError

__all__ = ["CrossProducts", "ResponseProducts", "ReducedProducts", "ReducedResponse", "reduced_response",
           "ScalingMap", "LambdaOps", "expand_pairs", "unique_sorted"]


def unique_sorted(x):
    """Sorted unique values of an integer array (sort-based; faster than np.unique's hash)."""
    a = np.sort(np.asarray(x))
    if a.shape[0] == 0:
        return a
    keep = np.empty(a.shape[0], dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _as_csc(M, shape=None):
    if (sp.issparse(M) and M.format == "csc" and M.dtype == np.float64
            and M.has_canonical_format):
        out = M            # already canonical: no copy, no re-check
    else:
        out = sp.csc_matrix(M, dtype=float)
        out.sum_duplicates()
        out.sort_indices()
    if shape is not None and out.shape != shape:
        raise DataError(f"matrix has shape {out.shape}, expected {shape}")
    return out


#: Z is expanded to a dense q×n array for the products when q·n is at most this (small models:
#: dense BLAS products cost microseconds, sparse constructors cost tens of them each)
DENSE_Z_MAX = 400_000
#: ... and q at most this
DENSE_Z_Q = 200


class CrossProducts:
    """The weighted cross-products of Z and X (all the O(n) work of a deviance function).

    Parameters
    ----------
    Zt : sparse (q, n)
    X : ndarray (n, p)
    weights : ndarray (n,)
        Prior weights, ≥ 0.

    Attributes
    ----------
    ZtWZ : scipy.sparse.csc_matrix (q, q), symmetric, full pattern
        Built on first access when the products were formed densely (small models).
    ZtWZ_dense : ndarray (q, q) or None
        Z'WZ as a dense array for small models (q ≤ 200 and q·n ≤ 400 000), else None.
    ZtWX : ndarray (q, p)
    XtWX : ndarray (p, p)
    """

    #: the n-long data are here (False for :class:`ReducedProducts`)
    has_data = True
    #: a response's shift β₀ (:class:`ResponseProducts`) from the normal equations rather than
    #: a least-squares solve (:meth:`with_data` on larger designs: the same deviance to
    #: rounding, a fraction of the O(n) work)
    normal_shift = False

    def __init__(self, Zt, X, weights):
        self.Zt = _as_csc(Zt)
        self.X = np.ascontiguousarray(np.asarray(X, dtype=float).reshape(self.Zt.shape[1], -1))
        self.weights = np.asarray(weights, dtype=float).reshape(-1)
        n = self.Zt.shape[1]
        if self.weights.shape[0] != n:
            raise DataError(f"weights have length {self.weights.shape[0]}, expected {n}")
        self.n = n
        self.p = self.X.shape[1]
        self.q = q = self.Zt.shape[0]
        self._ZtW = None
        self._ZtWZ = None
        self.ZtWZ_dense = None
        if q <= DENSE_Z_Q and q * n <= DENSE_Z_MAX:
            self._small_products()
        else:
            self.ZtWX = np.asarray(self.ZtW @ self.X)
        self.XtWX = self.X.T @ (self.weights[:, None] * self.X)

    def _small_products(self, pairs=None):
        """Z'WZ (dense) and Z'WX with NumPy only, summing over the observations in order: the
        same floating-point sums as SciPy's sparse products (bit for bit), without their
        per-call overhead. ``pairs``: Zt's pattern pieces from a matrix of the same pattern
        (:meth:`with_data`)."""
        Zt, q = self.Zt, self.q
        if pairs is None:
            pairs = _zt_pairs(Zt, self.n, q)
        self._pairs = pairs
        obs, rows, k1, k2, key = pairs
        zw = Zt.data * self.weights[obs]                  # Z'W's values (Zt's pattern)
        self.ZtWZ_dense = np.bincount(key, weights=zw[k1] * Zt.data[k2],
                                      minlength=q * q).reshape(q, q)
        X = self.X
        self.ZtWX = np.empty((q, self.p))
        for c in range(self.p):
            self.ZtWX[:, c] = np.bincount(rows, weights=zw * X[obs, c], minlength=q)

    def with_data(self, Zt, X, weights):
        """The products of new values: ``Zt`` (when it has this one's pattern, the index work
        of the products is reused), ``X`` and ``weights``; the same numbers as a new
        :class:`CrossProducts`.

        Small products (dense Z'WZ): their pairs of Zt's entries are reused. Larger ones: Z'WZ
        is summed over the same pairs, observation by observation (SciPy's order, the same
        floating-point sums) straight onto this one's structure of Z'WZ (entries that cancel
        to 0 stay there, explicitly), and a response's shift β₀ comes from the normal
        equations (:attr:`normal_shift`); where that structure lacks a pair's entry (this
        one's values cancelled), a new :class:`CrossProducts` as before."""
        pairs = self.__dict__.get("_pairs")
        old = self.Zt
        if (not sp.issparse(Zt) or Zt.format != "csc" or Zt.shape != old.shape
                or not (Zt.indptr is old.indptr or np.array_equal(Zt.indptr, old.indptr))
                or not (Zt.indices is old.indices or np.array_equal(Zt.indices, old.indices))):
            return CrossProducts(Zt, X, weights)
        plan = None
        if pairs is None:
            plan = self._sparse_plan()
            if plan is None:
                return CrossProducts(Zt, X, weights)
        out = object.__new__(CrossProducts)
        out.Zt = sp.csc_matrix((np.asarray(Zt.data, dtype=float), old.indices, old.indptr),
                               shape=old.shape) if Zt.dtype != np.float64 else Zt
        out.X = np.ascontiguousarray(np.asarray(X, dtype=float).reshape(self.n, -1))
        out.weights = np.asarray(weights, dtype=float).reshape(-1)
        if out.weights.shape[0] != self.n:
            raise DataError(f"weights have length {out.weights.shape[0]}, expected {self.n}")
        out.n, out.p, out.q = self.n, out.X.shape[1], self.q
        out._ZtW = out._ZtWZ = None
        if pairs is not None:
            out._small_products(pairs)
        else:
            out.ZtWZ_dense = None
            out._sparse_products(plan)
            out.ZtWX = np.asarray(out.ZtW @ out.X)
            out.normal_shift = True
        out.XtWX = out.X.T @ (out.weights[:, None] * out.X)
        return out

    def _sparse_plan(self):
        """(k, k1, k2, R, Z'WZ's structure) for :meth:`with_data` on a larger design: the
        pairs (k1, k2) of Zt's entries of each observation (observation by observation), and
        R, the 0/1 matrix (CSR) that sums the pairs' products into this one's Z'WZ values;
        None where a pair has no place there (its values cancelled to an exact 0). Built
        once, on first use.

        Each row of R holds its pairs in order, so its sum (SciPy's sequential CSR mat-vec,
        1·x = x) runs over the observations in order as SciPy's sparse product does. When
        every observation has the same number k of entries (each row one level of every term:
        lme's designs), k > 0 and the pairs are ordered by their places (a, b) within an
        observation, then by observation: each entry of Z'WZ is reached from one (a, b) only,
        so its sum still runs over the observations in order; k1 and k2 are then None."""
        d = self.__dict__
        if "_splan" not in d:
            Zt, q = self.Zt, self.q
            ip = Zt.indptr.astype(np.int64)
            cnt = np.diff(ip)
            _e, k1, k2 = expand_pairs(ip[:-1], cnt, ip[:-1], cnt)
            rows = Zt.indices.astype(np.int64)
            M = self.ZtWZ
            mkeys = (np.repeat(np.arange(q, dtype=np.int64), np.diff(M.indptr)) * q
                     + M.indices.astype(np.int64))        # CSC order: sorted
            keys = rows[k2] * q + rows[k1]                # (row k1, column k2)
            dest = np.searchsorted(mkeys, keys)
            dest = np.minimum(dest, max(mkeys.shape[0] - 1, 0))
            plan = None
            if mkeys.shape[0] and np.array_equal(mkeys[dest], keys):
                k = int(cnt[0]) if cnt.shape[0] else 0
                if k and np.all(cnt == k):
                    dest = dest.reshape(-1, k, k).transpose(1, 2, 0).reshape(-1)
                    k1 = k2 = None
                else:
                    # (native index type: NumPy would convert narrower ones at every use)
                    k = 0
                    k1, k2 = k1.astype(np.intp), k2.astype(np.intp)
                nnz = mkeys.shape[0]
                it = np.int32 if max(dest.shape[0], nnz) < 2 ** 31 - 1 else np.int64
                ptr = np.concatenate(([0], np.cumsum(np.bincount(dest, minlength=nnz))))
                R = sp.csr_matrix((np.ones(dest.shape[0]),
                                   np.argsort(dest, kind="stable").astype(it), ptr.astype(it)),
                                  shape=(nnz, dest.shape[0]))
                plan = (k, k1, k2, R, (M.indices, M.indptr))
            d["_splan"] = plan
        return d["_splan"]

    def _sparse_products(self, plan):
        """Z'WZ on the structure of ``plan`` (:meth:`_sparse_plan`), summed observation by
        observation as SciPy's sparse product does."""
        k, k1, k2, R, (indices, indptr) = plan
        Zt = self.Zt
        if k:
            Zk = Zt.data.reshape(self.n, k).T.copy()       # (place in a row, observation)
            zw = Zk * self.weights                          # Z'W's values
            prod = np.empty((k, k, self.n))
            for a in range(k):
                np.multiply(zw[a], Zk, out=prod[a])
            prod = prod.reshape(-1)
        else:
            zw = Zt.data * np.repeat(self.weights, np.diff(Zt.indptr))
            prod = zw[k1] * Zt.data[k2]
        vals = R @ prod
        M = sp.csc_matrix((vals, indices, indptr), shape=(self.q, self.q), copy=False)
        M.has_sorted_indices = True
        M.has_canonical_format = True
        self._ZtWZ = M

    @property
    def ZtW(self):
        """Z'W (sparse, the pattern of Z')."""
        if self._ZtW is None:
            Zt = self.Zt
            data = Zt.data * np.repeat(self.weights, np.diff(Zt.indptr))
            self._ZtW = sp.csc_matrix((data, Zt.indices, Zt.indptr), shape=Zt.shape)
        return self._ZtW

    @property
    def ZtWZ(self):
        """Z'WZ (sparse CSC, symmetric, the structural pattern of the product)."""
        if self._ZtWZ is None:
            D = self.ZtWZ_dense
            if D is not None:      # the sparse product's pattern: its nonzero sums
                nzc, nzr = np.nonzero(D.T)         # column-major: CSC order
                indptr = np.concatenate(([0], np.cumsum(np.bincount(nzc, minlength=self.q))))
                M = sp.csc_matrix((D.T[nzc, nzr], nzr, indptr), shape=(self.q, self.q))
                M.has_sorted_indices = True
                self._ZtWZ = M
            else:
                self._ZtWZ = _as_csc(self.ZtW @ self.Zt.T)
        return self._ZtWZ

    def response(self, y, offset):
        """Products of a response with Z and X (:class:`ResponseProducts`)."""
        return ResponseProducts(self, y, offset)

    def z_mul(self, b):
        """Z b (n,) for a vector ``b`` (q,). Small models sum each observation's entries in
        Zt's order, as SciPy's CSR product of Zt' does (the same bits, without its per-call
        overhead)."""
        pairs = self.__dict__.get("_pairs")
        if pairs is None:
            return np.asarray(self.Zt.T @ b).reshape(-1)
        obs, rows = pairs[0], pairs[1]
        return np.bincount(obs, weights=self.Zt.data * b[rows], minlength=self.n)

    def zt_mul(self, v):
        """Z'v (q,) for a vector ``v`` (n,); small models as :meth:`z_mul` (the sums of
        SciPy's CSC product, in its order)."""
        pairs = self.__dict__.get("_pairs")
        if pairs is None:
            return np.asarray(self.Zt @ v).reshape(-1)
        obs, rows = pairs[0], pairs[1]
        return np.bincount(rows, weights=self.Zt.data * v[obs], minlength=self.q)


class ResponseProducts:
    """Z'Wỹ, X'Wỹ and ỹ'Wỹ for ỹ = y − offset − Xβ₀ (see the module docstring).

    Attributes
    ----------
    y, offset : ndarray (n,)
    beta0 : ndarray (p,)
        The weighted least-squares coefficients subtracted from the response.
    ZtWy : ndarray (q,)
    XtWy : ndarray (p,)
    yWy : float
    """

    def __init__(self, cp: CrossProducts, y, offset):
        y = np.asarray(y, dtype=float).reshape(-1)
        normal = cp.normal_shift
        off = np.zeros(cp.n) if offset is None else np.asarray(offset, dtype=float).reshape(-1)
        if y.shape[0] != cp.n:
            raise DataError(f"the response has length {y.shape[0]}, expected {cp.n}")
        if off.shape[0] != cp.n:
            raise DataError(f"the offset has length {off.shape[0]}, expected {cp.n}")
        if not np.all(np.isfinite(y)):
            raise DataError("the response contains non-finite values")
        self.y = y
        self.offset = off
        yt = y - off
        if cp.p:
            beta0 = _normal_equations(cp, yt) if normal else None
            if beta0 is None:
                sw = np.sqrt(cp.weights)
                beta0 = np.linalg.lstsq(sw[:, None] * cp.X, sw * yt, rcond=None)[0]
            yt = yt - cp.X @ beta0
        else:
            beta0 = np.zeros(0)
        self.beta0 = beta0
        wy = cp.weights * yt
        self.ZtWy = cp.zt_mul(wy)
        self.XtWy = cp.X.T @ wy
        self.yWy = float(yt @ wy)


def _normal_equations(cp, yt):
    """β₀ from the normal equations X'WX β₀ = X'Wỹ (X'WX at hand: O(np) instead of a
    least-squares solve); None where X'WX is not numerically positive definite."""
    try:
        c = sla.cho_factor(cp.XtWX, lower=True, check_finite=False)
        beta0 = sla.cho_solve(c, cp.X.T @ (cp.weights * yt), check_finite=False)
    except np.linalg.LinAlgError:
        return None
    return beta0 if np.all(np.isfinite(beta0)) else None


class ReducedProducts:
    """Cross-products formed elsewhere (e.g. summed over the partitions of a Dask DataFrame):
    the :class:`CrossProducts` and :class:`ResponseProducts` a deviance reads, without the
    n-long data behind them.

    What a deviance reads per θ is only this: Z'WZ, Z'WX, X'WX and the response's products
    Z'Wỹ, X'Wỹ, ỹ'Wỹ for ỹ = y − offset − Xβ₀ with a shift β₀ (any β₀: the solution's β is
    β₀ + the shift's correction); n; Σ log w. ``Zt``, ``X``, ``weights``, ``y`` and ``offset``
    are None: a consumer that needs the n-long data (fitted values, residuals, the
    cancellation fallback of r²) checks :attr:`has_data`.

    Parameters
    ----------
    ZtWZ : sparse (q, q)
    ZtWX : ndarray (q, p)
    XtWX : ndarray (p, p)
    ZtWy, XtWy : ndarray (q,), (p,)
        Products with ỹ = y − offset − Xβ₀.
    yWy : float
        ỹ'Wỹ.
    beta0 : ndarray (p,)
        The shift β₀.
    n : int
        Number of observations.
    """

    has_data = False
    ZtWZ_dense = None
    Zt = X = weights = None

    def __init__(self, ZtWZ, ZtWX, XtWX, ZtWy, XtWy, yWy, beta0, n):
        q = ZtWZ.shape[0]
        self.ZtWZ = _as_csc(ZtWZ, (q, q))
        self.q = q
        self.ZtWX = np.asarray(ZtWX, dtype=float).reshape(q, -1)
        self.p = p = self.ZtWX.shape[1]
        self.XtWX = np.asarray(XtWX, dtype=float).reshape(p, p)
        self.n = int(n)
        resp = ReducedResponse()
        resp.ZtWy = np.asarray(ZtWy, dtype=float).reshape(q)
        resp.XtWy = np.asarray(XtWy, dtype=float).reshape(p)
        resp.yWy = float(yWy)
        resp.beta0 = np.asarray(beta0, dtype=float).reshape(p)
        if not (np.all(np.isfinite(self.XtWX)) and np.all(np.isfinite(resp.ZtWy))
                and np.isfinite(resp.yWy) and np.all(np.isfinite(self.ZtWZ.data))):
            raise DataError("the cross-products contain non-finite values")
        self._resp = resp

    def response(self, y, offset):
        """The response's products (given at construction; ``y`` and ``offset`` are None)."""
        if y is not None:
            raise DataError("reduced cross-products carry their response; a new response "
                            "needs a new pass over the data")
        return self._resp


def reduced_response(ZtWy, XtWy, yWy, beta0, q, p):
    """The response products of :class:`ReducedProducts` alone (a new response for the same
    Z'WZ, Z'WX, X'WX)."""
    resp = ReducedResponse()
    resp.ZtWy = np.asarray(ZtWy, dtype=float).reshape(q)
    resp.XtWy = np.asarray(XtWy, dtype=float).reshape(p)
    resp.yWy = float(yWy)
    resp.beta0 = np.asarray(beta0, dtype=float).reshape(p)
    if not (np.all(np.isfinite(resp.ZtWy)) and np.all(np.isfinite(resp.XtWy))
            and np.isfinite(resp.yWy)):
        raise DataError("the response's cross-products contain non-finite values")
    return resp


class ReducedResponse:
    """The :class:`ResponseProducts` part of :class:`ReducedProducts` (no n-long data): a
    response known only by its products (``ZtWy``, ``XtWy``, ``yWy`` about ``beta0``)."""

    y = offset = None


#: the pattern part of small models' θ-maps (:meth:`ScalingMap._build_map`), keyed by the
#: template and Z'WZ's pattern; read-only arrays shared between deviance functions
_MAP_CACHE = PatternCache(64)

#: Zt's pattern pieces of the small products per pattern (read-only arrays): fits of data of
#: the same shape, and refits, skip the index work
_PAIRS_CACHE = PatternCache(16)


def _zt_pairs(Zt, n, q):
    """(observation, row, first and second entry of each pair of entries in one column, and
    the pair's flat position in q × q) for a CSC ``Zt`` (q × n), by Zt's pattern."""
    key = (q, n, Zt.indptr.tobytes(), Zt.indices.tobytes())
    hit = _PAIRS_CACHE.get(key)
    if hit is not None:
        return hit
    ip = Zt.indptr
    cnt = np.diff(ip)
    obs = np.repeat(np.arange(n), cnt)
    rows = Zt.indices.astype(np.int64)
    _e, k1, k2 = expand_pairs(ip[:-1].astype(np.int64), cnt.astype(np.int64),
                              ip[:-1].astype(np.int64), cnt.astype(np.int64))
    return _PAIRS_CACHE.put(key, (obs, rows, k1, k2, rows[k1] * q + rows[k2]))
_PATTERN_FIELDS = ("rows", "cols", "nnz", "indptr", "diag_pos", "lower_pos", "lower_indices",
                   "lower_indptr", "_keys", "_refill")


@functools.lru_cache(maxsize=32)
def _block_entries(off, nl, nc):
    """(rows, cols) of every entry of a term's nl diagonal nc × nc blocks starting at row
    ``off`` (level by level, row-major within a block); read-only, cached per shape."""
    lv = np.repeat(np.arange(nl), nc * nc)
    r = off + lv * nc + np.tile(np.repeat(np.arange(nc), nc), nl)
    c = off + lv * nc + np.tile(np.tile(np.arange(nc), nc), nl)
    r.flags.writeable = False
    c.flags.writeable = False
    return r, c


def expand_pairs(start1, n1, start2, n2):
    """All index pairs (k1, k2) with k1 in [start1, start1+n1), k2 in [start2, start2+n2).

    Vectorised over entries; returns (entry, k1, k2), each of length Σ n1·n2.
    """
    cnt = n1 * n2
    total = int(cnt.sum())
    entry = np.repeat(np.arange(cnt.shape[0]), cnt)
    first = np.cumsum(cnt) - cnt
    o = np.arange(total) - np.repeat(first, cnt)
    n2e = n2[entry]
    return entry, start1[entry] + o // n2e, start2[entry] + o % n2e


def expand_pairs_grouped(start1, n1, start2, n2):
    """The pairs of :func:`expand_pairs`, grouped by their offsets (k1 − start1, k2 − start2)
    instead of by entry: one masked pass per offset pair, much faster when the counts are
    small (Λ' columns of lme4's templates have p or fewer entries)."""
    m1 = int(n1.max()) if n1.shape[0] else 0
    m2 = int(n2.max()) if n2.shape[0] else 0
    if m1 * m2 > 16:
        return expand_pairs(start1, n1, start2, n2)
    es, k1s, k2s = [], [], []
    for i in range(m1):
        ok1 = n1 > i
        for j in range(m2):
            e = np.flatnonzero(ok1 & (n2 > j))
            es.append(e)
            k1s.append(start1[e] + i)
            k2s.append(start2[e] + j)
    if not es:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    return np.concatenate(es), np.concatenate(k1s), np.concatenate(k2s)


@dataclass
class _Pattern:
    """A symmetric sparsity pattern in CSC order (column-major, rows sorted)."""

    rows: np.ndarray
    cols: np.ndarray
    indptr: np.ndarray
    q: int


class ScalingMap:
    """Values of A(θ) = Λ_θ'Z'WZΛ_θ + I on a fixed pattern, as a linear map of θ⊗θ.

    Λ' = ``Lambdat`` has structural nonzeros whose values are θ[Lind − 1]. Entry (a, b) of
    Λ'MΛ is Σ_{c,d} Λ'[a,c] M[c,d] Λ'[b,d], a sum of M[c,d]·θ_i·θ_j terms, so the vector of
    A's values on its (full, symmetric) pattern is ``C @ kron(θ, θ)`` plus 1 on the diagonal,
    with C a constant sparse matrix built here once. The pattern also holds every entry of the
    diagonal blocks (level × columns of a term) so that A⁻¹ is available there.

    The template part (Λ' pattern, θ index of each entry) is set at construction; the
    pattern of A and the map C are built on first use of any of them.

    Parameters
    ----------
    M : sparse (q, q) or dense ndarray, or a callable returning it
        Z'WZ (a callable defers forming it until the map is built).
    Lambdat : sparse (q, q)
        The template of Λ' (any values; its pattern matters).
    Lind : ndarray of int
        1-based θ index of each structural nonzero of ``Lambdat`` in CSC order.
    n_theta : int
    blocks : list of (row_offset, n_levels, n_columns)
        The terms' row blocks in Zt.

    Attributes
    ----------
    rows, cols : ndarray
        The full pattern of A in CSC order.
    diag_pos : ndarray
        Position of A[j, j] in the pattern, for each j.
    lower_pos : ndarray
        Positions of the lower triangle (row ≥ column), in CSC order.
    lower_indices, lower_indptr : ndarray
        CSC structure of that lower triangle.
    C : scipy.sparse.csr_matrix, shape (nnz, n_theta**2)
    """

    #: attributes built on first use by :meth:`_build_map` (a small dense model never needs
    #: them: its deviance, gradient and solution work on dense arrays)
    _LAZY = frozenset(("M", "rows", "cols", "nnz", "indptr", "C", "CT", "_Cdense", "diag_pos",
                       "lower_pos", "lower_indices", "lower_indptr", "_keys"))

    def __init__(self, M, Lambdat, Lind, n_theta, blocks):
        Lt = _template_csc(Lambdat, Lind)
        self.Lt = Lt
        self._M_in = M
        self._blocks = blocks
        q = Lt.shape[0]
        self.q = q
        self.n_theta = int(n_theta)
        self.Lind0 = Lt.lind0  # 0-based θ index per Lt.data entry (CSC order)
        # Lt entries as (row i, column j): Λ[j, i] = θ[Lind0]
        self.lt_rows = Lt.indices.astype(np.int64)
        self.lt_cols = np.repeat(np.arange(q), np.diff(Lt.indptr)).astype(np.int64)

    def __getattr__(self, name):
        # only called for attributes not set yet: build the map once, then they exist
        d = self.__dict__
        if name in ScalingMap._LAZY and "_M_in" in d:
            self._build_map()
            return getattr(self, name)
        if name in ("C", "CT") and "_Cdense" in d:        # small map kept dense
            self.C = sp.csr_matrix(d["_Cdense"])
            self.CT = sp.csr_matrix(self.C.T)
            return d[name]
        if name == "M" and "_M_csc" in d:
            self.M = sp.csr_matrix(d["_M_csc"])
            return d[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def zwz(self):
        """Z'WZ as a canonical CSC matrix without explicit zeros, without building the pattern
        map (the blocked backend's θ-path reads it directly)."""
        d = self.__dict__
        if "_M_zwz" in d:
            return d["_M_zwz"]
        M = d.get("_M_csc")
        if M is None:
            M = d["_M_in"]
            if callable(M):
                M = M()
                self._M_in = M                  # the map, when built, reuses it
        if (sp.issparse(M) and M.format == "csc" and M.has_sorted_indices
                and M.dtype == np.float64 and not np.any(M.data == 0)):
            out = M
        else:
            out = sp.csc_matrix(M, dtype=float)
            out.eliminate_zeros()
            out.sort_indices()
        d["_M_zwz"] = out
        return out

    def __getstate__(self):
        state = dict(self.__dict__)
        if callable(state.get("_M_in")):      # a deferred Z'WZ: pickle the matrix itself
            state["_M_in"] = state["_M_in"]()
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def _build_map(self):
        M = self._M_in() if callable(self._M_in) else self._M_in
        Lt, q, blocks = self.Lt, self.q, self._blocks
        if isinstance(M, np.ndarray):             # dense Z'WZ (small models)
            self._M_csc = M                       # self.M (CSR) on first use
            mc, mr = np.nonzero(M.T)              # column-major: CSC order
            mv = M.T[mc, mr]
        elif sp.issparse(M) and M.format == "csc":
            self._M_csc = M
            mr = M.indices.astype(np.int64)
            mc = np.repeat(np.arange(q, dtype=np.int64), np.diff(M.indptr))
            mv = M.data
        else:
            self.M = sp.csr_matrix(M)
            Mc = sp.coo_matrix(M)
            mr, mc, mv = Mc.row.astype(np.int64), Mc.col.astype(np.int64), Mc.data
        if not self.__dict__.get("_keep_zeros"):
            keep = mv != 0
            mr, mc, mv = mr[keep], mc[keep], mv[keep]
        ckey = None
        if isinstance(M, np.ndarray):
            # a small model's map depends on M only through its pattern (and the template):
            # refits of the same design, and fits of data of the same shape, reuse it
            ckey = (q, self.n_theta, tuple(tuple(int(v) for v in b) for b in blocks),
                    Lt.indices.tobytes(), Lt.indptr.tobytes(), self.Lind0.tobytes(),
                    mr.tobytes(), mc.tobytes())
            hit = _MAP_CACHE.get(ckey)
            if hit is not None:
                self._set_pattern(hit, mv)
                del self._M_in
                return
        ncol = np.diff(Lt.indptr).astype(np.int64)
        start = Lt.indptr[:-1].astype(np.int64)
        # (Λ'MΛ)[a, b] += Λ'[a, c] M[c, d] Λ'[b, d]
        # (order is immaterial: lme4's templates give no duplicate (entry, θ pair) terms, and
        # C's rows are summed in column order)
        e, k1, k2 = expand_pairs_grouped(start[mr], ncol[mr], start[mc], ncol[mc])
        a = Lt.indices[k1].astype(np.int64)
        b = Lt.indices[k2].astype(np.int64)
        pair = self.Lind0[k1] * self.n_theta + self.Lind0[k2]
        val = mv[e]
        # pattern: contributions ∪ diagonal ∪ full diagonal blocks of every term
        extra_r, extra_c = [np.arange(q)], [np.arange(q)]
        for off, nl, nc in blocks:
            if nc > 1:
                r, c = _block_entries(int(off), int(nl), int(nc))
                extra_r.append(r)
                extra_c.append(c)
        er = np.concatenate(extra_r)
        ec = np.concatenate(extra_c)
        keys = unique_sorted(np.concatenate((b * q + a, ec * q + er)))
        self.rows = (keys % q).astype(np.int64)
        self.cols = (keys // q).astype(np.int64)
        self.nnz = keys.shape[0]
        self.indptr = np.concatenate(([0], np.cumsum(np.bincount(self.cols, minlength=q))))
        pos = np.searchsorted(keys, b * q + a)
        self._fill_map(val, pos, pair)
        if isinstance(M, np.ndarray):     # what :meth:`with_matrix` needs to refill the map
            self._refill = (e, pos, pair, mr, mc, np.flatnonzero(M.reshape(-1) == 0))
        self.diag_pos = np.searchsorted(keys, np.arange(q) * q + np.arange(q))
        low = self.rows >= self.cols
        self.lower_pos = np.flatnonzero(low)
        self.lower_indices = self.rows[low].astype(np.int32)
        self.lower_indptr = np.concatenate(
            ([0], np.cumsum(np.bincount(self.cols[low], minlength=q)))).astype(np.int32)
        self._keys = keys
        nt2 = self.n_theta ** 2
        if ckey is not None and self._Cdense is not None and "C" not in self.__dict__:
            entry = {name: getattr(self, name) for name in _PATTERN_FIELDS}
            entry["ck"], entry["e"], entry["nt2"] = pos * nt2 + pair, e, nt2
            read_only(self._refill)
            _MAP_CACHE.put(ckey, entry)
        del self._M_in

    def _fill_map(self, val, pos, pair):
        """C (``val`` at rows ``pos``, columns ``pair`` = θ-pair index) as a dense array when
        small, else sparse."""
        nt2 = self.n_theta ** 2
        # small maps are faster as dense arrays (no sparse-call overhead per θ); without
        # duplicate (entry, θ pair) terms — lme4's templates have none — the dense map is
        # filled directly, with the values the sparse one would hold
        self._Cdense = None
        if self.nnz * nt2 <= 40_000:
            ck = pos * nt2 + pair
            if unique_sorted(ck).shape[0] == ck.shape[0]:
                Cd = np.zeros(self.nnz * nt2)
                Cd[ck] = val
                self._Cdense = Cd.reshape(self.nnz, nt2)
        if self._Cdense is None or self.nnz * nt2 > 40_000:
            self.C = sp.csr_matrix(sp.coo_matrix((val, (pos, pair)), shape=(self.nnz, nt2)))
            self.C.sum_duplicates()
            self.CT = sp.csr_matrix(self.C.T)
            if self.nnz * nt2 <= 40_000:
                self._Cdense = self.C.toarray()

    def with_matrix(self, M):
        """The map of the same pattern and Λ template for another dense Z'WZ (new data on
        the same design, e.g. rows whitened by a residual correlation): C refilled from
        ``M``'s values, everything else shared. O(size of C), no pattern work.

        None when this map was not built from a dense Z'WZ, or ``M`` has a nonzero where
        that one had a zero (its pattern of A would differ: build a new map). Entries that
        ``M`` has zero where the template had not stay on the pattern with value 0: A's
        values are the same as a new map's."""
        d = self.__dict__
        if "_M_in" in d:
            self._build_map()
        refill = d.get("_refill")
        M = np.asarray(M, dtype=float)
        if refill is None or M.shape != (self.q, self.q):
            return None
        e, pos, pair, mr, mc, zeros = refill
        if zeros.size and np.any(M.reshape(-1)[zeros]):
            return None
        out = object.__new__(ScalingMap)
        od = out.__dict__
        od.update(d)
        for name in ("M", "C", "CT", "_M_zwz"):
            od.pop(name, None)
        out._M_csc = M
        out._fill_map(M[mr, mc][e], pos, pair)
        return out

    def with_values(self, M):
        """The map of the same pattern for another Z'WZ ``M`` (dense or sparse) whose nonzeros
        lie on this map's Z'WZ structure (:meth:`zwz`): new data on the same design where
        A is not all dense (the blocked layout reads Z'WZ by that structure).

        Returns (the new map, ``M``'s values on :meth:`zwz`'s structure, zeros included), or
        None when ``M`` has a nonzero outside it. The new map shares the Λ template; its
        pattern of A and θ⊗θ map are built on first use from ``M`` on that structure, zeros
        kept: the same pattern as this map's, A's values the same as a new map's."""
        Z = self.zwz()
        q = self.q
        if sp.issparse(M):
            M = _as_csc(M, (q, q))
            if (M.indptr is Z.indptr or np.array_equal(M.indptr, Z.indptr)) and \
                    (M.indices is Z.indices or np.array_equal(M.indices, Z.indices)):
                data = np.asarray(M.data, dtype=float)
            else:
                col = np.repeat(np.arange(q, dtype=np.int64), np.diff(M.indptr))
                nz = M.data != 0
                data = _on_structure(Z, M.indices[nz].astype(np.int64), col[nz], M.data[nz])
        else:
            M = np.asarray(M, dtype=float)
            if M.shape != (q, q):
                return None
            mc, mr = np.nonzero(M.T)
            data = _on_structure(Z, mr.astype(np.int64), mc.astype(np.int64), M.T[mc, mr])
        if data is None:
            return None
        out = object.__new__(ScalingMap)
        od = out.__dict__
        for name in ("Lt", "q", "n_theta", "Lind0", "lt_rows", "lt_cols", "_blocks"):
            od[name] = self.__dict__[name]
        od["_M_in"] = sp.csc_matrix((data, Z.indices, Z.indptr), shape=(q, q), copy=False)
        od["_keep_zeros"] = True
        return out, data

    def _set_pattern(self, entry, mv):
        """The pattern of a cached map (shared, read-only arrays) and this M's values."""
        for name in _PATTERN_FIELDS:
            setattr(self, name, entry[name])
        Cd = np.zeros(self.nnz * entry["nt2"])
        Cd[entry["ck"]] = mv[entry["e"]]
        self._Cdense = Cd.reshape(self.nnz, entry["nt2"])

    def positions(self, rows, cols):
        """Positions of entries (rows, cols) in the pattern (−1 where absent)."""
        keys = np.asarray(cols, dtype=np.int64) * self.q + np.asarray(rows, dtype=np.int64)
        pos = np.searchsorted(self._keys, keys)
        pos = np.minimum(pos, self.nnz - 1)
        ok = self._keys[pos] == keys
        return np.where(ok, pos, -1)

    def transpose_positions(self):
        """For each entry of the pattern (CSC order), the position of its mirror image."""
        T = sp.csc_matrix((np.arange(self.nnz), self.rows, self.indptr),
                          shape=(self.q, self.q)).tocsr()
        return T.data       # row-major order of a symmetric pattern = its mirror's CSC order

    def values(self, theta):
        """A(θ)'s values on the full pattern (CSC order)."""
        th = np.asarray(theta, dtype=float)
        tt = np.multiply.outer(th, th).ravel()
        v = self._Cdense @ tt if self._Cdense is not None else self.C @ tt
        v[self.diag_pos] += 1.0
        return v

    def lower_matrix(self, values):
        """The lower triangle of A as a CSC matrix (what CHOLMOD reads)."""
        return sp.csc_matrix((values[self.lower_pos], self.lower_indices, self.lower_indptr),
                             shape=(self.q, self.q))

    def full_matrix(self, values):
        """A as a CSC matrix with the full symmetric pattern."""
        return sp.csc_matrix((values, self.rows, self.indptr), shape=(self.q, self.q))

    def lambdat(self, theta):
        """Λ' at θ (a new CSC matrix with the template's pattern)."""
        th = np.asarray(theta, dtype=float)
        return sp.csc_matrix((th[self.Lind0], self.Lt.indices, self.Lt.indptr),
                             shape=(self.q, self.q))

    def trace_gradient(self, theta, ainv_values):
        """∂/∂θ_k of log|A| given A⁻¹ on the pattern: tr(A⁻¹ ∂A/∂θ_k) for every k."""
        th = np.asarray(theta, dtype=float)
        G = (self.CT @ ainv_values).reshape(self.n_theta, self.n_theta)
        return G @ th + G.T @ th


def _on_structure(Z, rows, cols, vals):
    """Values at (rows, cols) placed on the structure of the canonical CSC matrix ``Z``
    (zeros elsewhere); None when an entry is not in it."""
    q = Z.shape[0]
    zkeys = (np.repeat(np.arange(q, dtype=np.int64), np.diff(Z.indptr)) * q
             + Z.indices.astype(np.int64))
    keys = cols * q + rows
    pos = np.searchsorted(zkeys, keys)
    if keys.shape[0] and (not zkeys.shape[0] or pos.max() >= zkeys.shape[0]
                          or not np.array_equal(zkeys[pos], keys)):
        return None
    data = np.zeros(zkeys.shape[0])
    data[pos] = vals
    return data


class _Template:
    def __init__(self, indices, indptr, lind0, shape):
        self.indices = indices
        self.indptr = indptr
        self.lind0 = lind0
        self.shape = shape


def _template_csc(Lambdat, Lind):
    """Λ' template in canonical CSC order with its 0-based θ index per structural nonzero."""
    # only the pattern is read (never written): a CSC matrix as it is, anything else converted
    Lt = Lambdat if sp.issparse(Lambdat) and Lambdat.format == "csc" else sp.csc_matrix(Lambdat)
    if not Lt.has_sorted_indices:
        # keep the pairing of data entries and Lind while sorting
        Lt = Lt.copy()
        Lt.data = np.arange(Lt.nnz, dtype=float)
        Lt.sort_indices()
        order = Lt.data.astype(np.int64)
    else:
        order = np.arange(Lt.nnz)
    lind = np.asarray(Lind, dtype=np.int64).reshape(-1)
    if lind.shape[0] != Lt.nnz:
        raise DataError(f"Lind has {lind.shape[0]} entries but Lambdat has {Lt.nnz} "
                        "structural nonzeros")
    return _Template(Lt.indices.astype(np.int64), Lt.indptr.astype(np.int64),
                     lind[order] - 1, Lt.shape)


class LambdaOps:
    """Products with Λ', Λ and Z'WZ at the current θ, without building new matrices per θ.

    Small q: dense arrays (NumPy products have far less call overhead than sparse ones);
    otherwise one CSC Λ' whose data is updated in place, and its CSR reading as Λ (same
    arrays, no transpose). One object per deviance function (not shared between threads).
    """

    DENSE_Q = 200

    def __init__(self, smap, ZtWZ):
        """``ZtWZ``: Z'WZ, sparse or (small models) a dense array."""
        q = smap.q
        self.q = q
        self.lind0 = smap.Lind0
        self.dense = q <= self.DENSE_Q
        if self.dense:
            self.flat = smap.lt_rows * q + smap.lt_cols
            self.Lt = np.zeros((q, q))
            self.M = ZtWZ if isinstance(ZtWZ, np.ndarray) else ZtWZ.toarray()
        else:
            Lt = smap.lambdat(np.zeros(smap.n_theta))
            self.Lt = Lt
            self.Lam = sp.csr_matrix((Lt.data, Lt.indices, Lt.indptr), shape=(q, q))
            self.M = ZtWZ

    def set(self, theta):
        if self.dense:
            self.Lt.flat[self.flat] = theta[self.lind0]
        else:
            self.Lt.data[:] = theta[self.lind0]   # Lam shares this array

    def lt_mul(self, B):
        """Λ' B."""
        return self.Lt @ B

    def lam_mul(self, B):
        """Λ B."""
        return self.Lt.T @ B if self.dense else self.Lam @ B

    def m_mul(self, B):
        """Z'WZ B."""
        return self.M @ B
