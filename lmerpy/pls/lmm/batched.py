"""The profiled deviance of one LMM design for many responses at once (refits, bootstrap).

A refit changes only the response, and the criterion reads y only through Z'Wỹ, X'Wỹ and
ỹ'Wỹ (module docstring of :mod:`.deviance`). :class:`ResponseBatch` forms them for all
responses as one matrix product each; :func:`batched_criterion` evaluates the criterion, its
gradient in θ and β̂ for a batch of (θ_b, response_b) pairs in one NumPy pass over stacked
q × q arrays, so a loop over responses costs a few array operations per optimizer iteration
instead of one Python-level evaluation per response and step.

Only for small models whose A is all dense (:attr:`LmmDeviance.batchable`: q ≤ 100 on the
blocked backend, ``par`` = θ, cross-products with the data). The formulas are those of
:func:`.gradient.dense_gradients` (general solves instead of the factor's triangular ones), so
values agree with :class:`~.deviance.LmmDeviance` to rounding, not bit for bit.

R equivalent: none (lme4 refits each response by a full ``optimizeLmer``).
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import DataError

__all__ = ["ResponseBatch", "batched_criterion", "prepare"]

_LOG2PI = math.log(2.0 * math.pi)


class ResponseBatch:
    """Z'Wỹ, X'Wỹ and ỹ'Wỹ of many responses sharing ``dev``'s design (weights, offset).

    As :class:`~lmerpy.pls.crossprod.ResponseProducts` per column: ỹ = y − offset − Xβ₀ with
    β₀ each response's weighted least-squares coefficients (one ``lstsq`` for all columns).

    Parameters
    ----------
    dev : LmmDeviance
    Y : ndarray (n, B)
        One response per column.

    Attributes
    ----------
    ZtWy : ndarray (B, q)
    XtWy, beta0 : ndarray (B, p)
    yWy : ndarray (B,)
    """

    def __init__(self, dev, Y):
        cp = dev.cp
        Y = np.asarray(Y, dtype=float)
        if Y.ndim != 2 or Y.shape[0] != cp.n:
            raise DataError(f"the responses must be an (n = {cp.n}) × B array")
        if not np.all(np.isfinite(Y)):
            raise DataError("the responses contain non-finite values")
        off = dev.resp.offset
        Yt = Y - off[:, None]
        w = cp.weights
        if cp.p:
            sw = np.sqrt(w)
            beta0 = np.linalg.lstsq(sw[:, None] * cp.X, sw[:, None] * Yt, rcond=None)[0]
            Yt = Yt - cp.X @ beta0
        else:
            beta0 = np.zeros((0, Y.shape[1]))
        WY = w[:, None] * Yt
        self.beta0 = np.ascontiguousarray(beta0.T)
        self.ZtWy = np.ascontiguousarray(np.asarray(cp.Zt @ WY).T)
        self.XtWy = np.ascontiguousarray((cp.X.T @ WY).T)
        self.yWy = np.einsum("nb,nb->b", Yt, WY)
        self.size = Y.shape[1]


class _Pattern:
    """Λ'(θ)'s structural entries and the map from entries to θ (built once per deviance);
    for one random-effects term, also its k × k blocks (A is then block diagonal)."""

    def __init__(self, dev):
        smap = dev.smap
        self.i, self.j, self.k = smap.lt_rows, smap.lt_cols, smap.Lind0
        self.E = np.zeros((self.k.shape[0], dev.n_theta))
        self.E[np.arange(self.k.shape[0]), self.k] = 1.0
        self.blocked = False
        if len(dev.blocks) == 1:
            self._blocks(dev)

    def _blocks(self, dev):
        _, G, k = dev.blocks[0]
        i, j, kk = self.i, self.j, self.k
        if G * k != dev.q or np.any(i // k != j // k):
            return
        first = i < k
        ind = np.full((k, k), -1)
        ind[i[first], j[first]] = kk[first]
        if np.count_nonzero(first) * G != i.shape[0] or np.any(ind[i % k, j % k] != kk):
            return
        M = np.asarray(dev._lam.M, dtype=float)
        g = np.arange(G)
        Mb = M.reshape(G, k, G, k)
        Mg = Mb[g, :, g, :]                                  # (G, k, k)
        off = Mb.copy()
        off[g, :, g, :] = 0.0
        if np.any(off != 0.0):
            return
        self.G, self.kb = G, k
        self.r0, self.c0 = i[first], j[first]
        self.E0 = np.zeros((self.r0.shape[0], dev.n_theta))
        self.E0[np.arange(self.r0.shape[0]), kk[first]] = 1.0
        self.th0 = kk[first]
        self.Mg = Mg
        self.Ng = np.asarray(dev.cp.ZtWX, dtype=float).reshape(G, k, dev.p)
        self.blocked = True


def prepare(dev):
    """Build (once) what :func:`batched_criterion` needs of ``dev`` besides the responses."""
    pat = getattr(dev, "_batch_pattern", None)
    if pat is None:
        pat = dev._batch_pattern = _Pattern(dev)
    return pat


_pattern = prepare


# k × k blocks as nested lists of arrays (one array per entry, shaped responses × levels):
# for the small k of a random-effects term, elementwise operations on these beat stacked
# matrix products, whose cost is per matrix


def _mm(X, Y):
    return [[sum(X[i][j] * Y[j][c] for j in range(len(Y))) for c in range(len(Y[0]))]
            for i in range(len(X))]


def _mv(X, v):
    return [sum(X[i][j] * v[j] for j in range(len(v))) for i in range(len(X))]


def _tr(X):
    return [list(col) for col in zip(*X)]


def _inverse(A):
    """Inverses and log-determinants of the k × k blocks ``A`` by an unrolled Cholesky
    (NaN log-determinant where a block is not positive definite)."""
    k = len(A)
    L = [[None] * k for _ in range(k)]
    Li = [[0.0] * k for _ in range(k)]
    logdet = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        for c in range(k):
            d = A[c][c] - sum(L[c][j] * L[c][j] for j in range(c))
            L[c][c] = np.sqrt(d)
            logdet = logdet + 2.0 * np.log(L[c][c])
            for r in range(c + 1, k):
                L[r][c] = (A[r][c] - sum(L[r][j] * L[c][j] for j in range(c))) / L[c][c]
        for c in range(k):
            Li[c][c] = 1.0 / L[c][c]
            for r in range(c + 1, k):
                Li[r][c] = -sum(L[r][j] * Li[j][c] for j in range(c, r)) / L[r][r]
    Ai = [[sum(Li[m][i] * Li[m][j] for m in range(max(i, j), k)) for j in range(k)]
          for i in range(k)]
    return Ai, logdet


def _blocked_criterion(dev, pat, batch, idx, th, gradient):
    """:func:`batched_criterion` for one term: A = ⊕_g (T M_g T' + I) with T the term's
    k × k block of Λ'; every quantity an array over (responses, levels) per block entry."""
    nb, p, G, k = th.shape[0], dev.p, pat.G, pat.kb
    T = [[np.zeros((nb, 1)) for _ in range(k)] for _ in range(k)]
    for r, c, t in zip(pat.r0, pat.c0, pat.th0):
        T[r][c] = th[:, t:t + 1]
    Mg = [[pat.Mg[None, :, i, j] for j in range(k)] for i in range(k)]
    Ng = [[pat.Ng[None, :, i, j] for j in range(p)] for i in range(k)]
    TM = _mm(T, Mg)
    A = _mm(TM, _tr(T))
    for i in range(k):
        A[i][i] = A[i][i] + 1.0
    Ai, ld = _inverse(A)
    ldA = ld.sum(axis=1)
    Z3 = batch.ZtWy[idx].reshape(nb, G, k)
    zy = [Z3[:, :, i] for i in range(k)]
    ky = _mv(T, zy)
    cy = _mv(Ai, ky)
    kc = sum(ky[i] * cy[i] for i in range(k)).sum(axis=1)
    if p:
        K = _mm(T, Ng)
        C = _mm(Ai, K)
        V = np.empty((nb, p, p))
        for a in range(p):
            for b in range(p):
                V[:, a, b] = dev.cp.XtWX[a, b] - sum(K[i][a] * C[i][b]
                                                      for i in range(k)).sum(axis=1)
        V = 0.5 * (V + np.swapaxes(V, 1, 2))
        rhs = batch.XtWy[idx] - np.column_stack(
            [sum(K[i][a] * cy[i] for i in range(k)).sum(axis=1) for a in range(p)])
        sV, ldV = np.linalg.slogdet(V)
        ok = np.isfinite(ldA) & (sV > 0)
        Vs = np.where(ok[:, None, None], V, np.eye(p))
        beta_c = np.linalg.solve(Vs, rhs[:, :, None])[:, :, 0]
        u = [cy[i] - sum(C[i][a] * beta_c[:, a:a + 1] for a in range(p)) for i in range(k)]
        r2 = batch.yWy[idx] - kc - np.einsum("bp,bp->b", rhs, beta_c)
    else:
        ok = np.isfinite(ldA)
        ldV = np.zeros(nb)
        beta_c = np.zeros((nb, 0))
        u = cy
        r2 = batch.yWy[idx] - kc
    crit, df, ok = _finish(dev, ldA, ldV, r2, ok)
    extra = np.column_stack([batch.beta0[idx] + beta_c, r2])
    if not gradient:
        return crit, None, extra
    r0, c0, E0 = pat.r0, pat.c0, pat.E0
    Bm = _mm(Ai, TM)                                         # A_g⁻¹ T M_g
    g = 2.0 * np.column_stack([Bm[r][c].sum(axis=1) for r, c in zip(r0, c0)]) @ E0
    lam_u = _mv(_tr(T), u)                                   # T'û_g (Λû)
    zwr = [zy[i] - sum(Mg[i][j] * lam_u[j] for j in range(k))
           - sum(Ng[i][a] * beta_c[:, a:a + 1] for a in range(p)) for i in range(k)]
    dr2 = np.column_stack([(zwr[c] * u[r]).sum(axis=1) for r, c in zip(r0, c0)]) @ E0
    with np.errstate(invalid="ignore", divide="ignore"):
        g = g + (-2.0 * df / r2)[:, None] * dr2
    if dev.REML and p:
        Vi = np.linalg.inv(Vs)
        H = [[sum(C[i][a] * Vi[:, a:a + 1, b] for a in range(p)) for b in range(p)]
             for i in range(k)]                              # C V⁻¹
        N = [[Ng[i][a] - sum(Mg[i][j] * LC for j, LC in enumerate(col))
              for a, col in enumerate(_tr(_mm(_tr(T), C)))] for i in range(k)]
        v = np.column_stack([sum(N[c][a] * H[r][a] for a in range(p)).sum(axis=1)
                             for r, c in zip(r0, c0)])
        g = g - 2.0 * (v @ E0)
    g[~ok] = np.nan
    return crit, g, extra


def _finish(dev, ldA, ldV, r2, ok):
    ok = ok & (r2 > 0)
    n, nmp = dev.n, dev.n - dev.p
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.log(r2)
    if dev.REML:
        crit = ldA + ldV + nmp * (1.0 + _LOG2PI + lr - math.log(nmp)) - dev.sum_log_w
        df = nmp
    else:
        crit = ldA + n * (1.0 + _LOG2PI + lr - math.log(n)) - dev.sum_log_w
        df = n
    return np.where(ok, crit, np.nan), df, ok


def batched_criterion(dev, batch, idx, thetas, gradient=True):
    """The criterion of ``dev`` (REML or ML as ``dev.REML``) for responses ``idx`` of
    ``batch`` at the rows of ``thetas``.

    Returns
    -------
    crit : ndarray (b,)
        NaN where A or R_X'R_X is not positive definite or r² ≤ 0.
    grad : ndarray (b, n_theta) or None
    extra : ndarray (b, p + 1)
        β̂ (with each response's β₀ added back) and r² (the penalized residual sum of
        squares) in the last column.
    """
    pat = _pattern(dev)
    th = np.asarray(thetas, dtype=float)
    if pat.blocked:
        return _blocked_criterion(dev, pat, batch, idx, th, gradient)
    nb, q, p = th.shape[0], dev.q, dev.p
    i, j = pat.i, pat.j
    M = dev._lam.M
    zy = batch.ZtWy[idx]
    Lt = np.zeros((nb, q, q))
    Lt[:, i, j] = th[:, pat.k]
    LtM = Lt @ M
    A = LtM @ np.swapaxes(Lt, 1, 2)
    A[:, np.arange(q), np.arange(q)] += 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        sign, ldA = np.linalg.slogdet(A)
    ky = np.einsum("bqr,br->bq", Lt, zy)                     # Λ'Z'Wỹ
    if p:
        K = Lt @ dev.cp.ZtWX                                 # Λ'Z'WX
        S = np.linalg.solve(A, np.concatenate([K, ky[:, :, None]]
                                              + ([LtM] if gradient else []), axis=2))
        C, cy = S[:, :, :p], S[:, :, p]
        V = dev.cp.XtWX - np.swapaxes(K, 1, 2) @ C
        V = 0.5 * (V + np.swapaxes(V, 1, 2))
        rhs = batch.XtWy[idx] - np.einsum("bqp,bq->bp", K, cy)
        sV, ldV = np.linalg.slogdet(V)
        ok = (sign > 0) & (sV > 0)
        Vs = np.where(ok[:, None, None], V, np.eye(p))
        beta_c = np.linalg.solve(Vs, rhs[:, :, None])[:, :, 0]
        u = cy - np.einsum("bqp,bp->bq", C, beta_c)
        r2 = batch.yWy[idx] - np.einsum("bq,bq->b", ky, cy) - np.einsum("bp,bp->b", rhs, beta_c)
        B = S[:, :, p + 1:] if gradient else None
    else:
        S = np.linalg.solve(A, np.concatenate([ky[:, :, None]] + ([LtM] if gradient else []),
                                              axis=2))
        cy = S[:, :, 0]
        ok = sign > 0
        ldV = np.zeros(nb)
        beta_c = np.zeros((nb, 0))
        u = cy
        r2 = batch.yWy[idx] - np.einsum("bq,bq->b", ky, cy)
        B = S[:, :, 1:] if gradient else None
    crit, df, ok = _finish(dev, ldA, ldV, r2, ok)
    extra = np.column_stack([batch.beta0[idx] + beta_c, r2])
    if not gradient:
        return crit, None, extra
    # ∂ log|A| = 2 Σ (A⁻¹Λ'M)[i, j] over θ_k's entries (see .gradient)
    g = 2.0 * B[:, i, j] @ pat.E
    lam_u = np.einsum("bqr,bq->br", Lt, u)                   # Λû
    zwr = zy - lam_u @ M                                     # Z'Wρ
    if p:
        zwr = zwr - beta_c @ dev.cp.ZtWX.T
    with np.errstate(invalid="ignore", divide="ignore"):
        g = g + (-2.0 * df / r2)[:, None] * ((zwr[:, j] * u[:, i]) @ pat.E)
    if dev.REML and p:
        Vs = np.where(ok[:, None, None], V, np.eye(p))
        H = np.swapaxes(np.linalg.solve(Vs, np.swapaxes(C, 1, 2)), 1, 2)   # C V⁻¹
        N = dev.cp.ZtWX - M @ np.einsum("bqr,bqp->brp", Lt, C)              # Z'W(X − ZΛC)
        v = np.einsum("bep,bep->be", N[:, j, :], H[:, i, :])
        g = g - 2.0 * (v @ pat.E)
    g[~ok] = np.nan
    return crit, g, extra
