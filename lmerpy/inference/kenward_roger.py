"""Kenward–Roger: the bias-adjusted covariance of β̂ and its denominator degrees of freedom.

R equivalents: ``pbkrtest::vcovAdj`` (``vcovAdj_internal``, ``get_SigmaG``),
``pbkrtest::Lb_ddf`` and ``pbkrtest:::.KR_adjust`` (what ``KRmodcomp`` and lmerTest's
Kenward–Roger tests use).

The marginal covariance is Σ = Σ_r γ_r G_r with γ = (the entries of each term's covariance
matrix, lower triangle by columns; σ²) and G_r = Z_s E_r Z_s' (E_r the symmetric indicator of
one entry, repeated for every level) or W⁻¹ for σ² (W = prior weights; pbkrtest uses the
identity, which is the same without weights). pbkrtest forms Σ⁻¹ as a dense n×n matrix; here
every product is taken through Woodbury, Σ⁻¹ = σ⁻²(W − WZΛA⁻¹Λ'Z'W) with A = Λ'Z'WZΛ + I,
so only n×(q+p) and q×q arrays are formed.

Structured terms (lme4 2.x's ``diag``, ``cs``, ``ar1``): γ moves only along
the tangent space of the structure, D = ∂γ/∂(par, σ²) at the estimate, so the information of
γ becomes D'·IE2·D and W = 2D(D'·IE2·D)⁻¹D'; everything else stays in γ. Where the structure
is linear in some parameters (``diag``: its variances, not a covariance fixed at 0;
homogeneous ``cs``; two-column ``cs``) this is Kenward–Roger in those parameters exactly; for ``ar1`` and ``cs`` with three or more columns
it is the first-order (pbkrtest-style, no second derivatives of Σ) version. pbkrtest 0.5.2
itself, run on lme4 2.1's structured fits, treats every term as unstructured.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve

from ..design.scales import column_exponents, coordinate_scale, term_exponents
from ..errors import LmerpyError

__all__ = ["KenwardRoger", "kr_pieces"]

#: largest n·(q + p) held densely (about 0.4 GB of float64)
_MAX_DENSE = 50_000_000


def _entries(design):
    """(rows, cols) of each E_r in Zt's row space, in γ order, for the terms."""
    out = []
    for t in design.reterms:
        pcol = t.n_columns
        base = t.row_offset + np.arange(t.n_levels) * pcol
        for j in range(pcol):               # lower triangle, column-major: (i, j), i >= j
            for i in range(j, pcol):
                a, b = base + i, base + j
                if i == j:
                    out.append((a, a))
                else:
                    out.append((np.concatenate([a, b]), np.concatenate([b, a])))
    return out


class KenwardRoger:
    """pbkrtest's ``vcovAdj`` result: the adjusted covariance with its ``P`` and ``W``.

    Attributes
    ----------
    vcov : ndarray (p, p)
        Φ = Var(β̂) = (X'Σ⁻¹X)⁻¹ (the REML ``vcov``).
    vcov_adj : ndarray (p, p)
        Φ_A = Φ + 2Φ U Φ (pbkrtest's ``vcovAdj``).
    P : list of ndarray
        P_r = −X'Σ⁻¹G_rΣ⁻¹X.
    W : ndarray
        2 × the inverse of the expected information of γ (pbkrtest's ``W``).
    """

    def __init__(self, vcov, vcov_adj, P, W):
        self.vcov = vcov
        self.vcov_adj = vcov_adj
        self.P = P
        self.W = W

    def _A12(self, L):
        Phi = self.vcov
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        TP = Theta @ Phi
        U = [TP @ Pi @ Phi for Pi in self.P]
        tr = np.array([np.trace(u) for u in U])
        g = len(U)
        A1 = A2 = 0.0
        for i in range(g):
            for j in range(i, g):
                e = 1.0 if i == j else 2.0
                A1 += e * self.W[i, j] * tr[i] * tr[j]
                A2 += e * self.W[i, j] * float(np.sum(U[i] * U[j].T))
        return A1, A2

    @staticmethod
    def _df(A1, A2, q):
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den = 3.0 * q + 2.0 * (1.0 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        V0 = 1.0 + c1 * B
        V1 = 1.0 - c2 * B
        V2 = 1.0 - c3 * B
        V0 = 0.0 if abs(V0) < 1e-10 else V0
        x = 1.0 - A2 / q
        ratio = 1.0 if (abs(x) < 1e-14 and abs(V1) < 1e-14) else x / V1
        rho = ratio ** 2 * V0 / (V2 * q)
        return 4.0 + (q + 2.0) / (q * rho - 1.0)

    def ddf(self, L):
        """Kenward–Roger denominator df of the hypothesis Lβ = 0 (R: ``pbkrtest::Lb_ddf``)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        A1, A2 = self._A12(L)
        return self._df(A1, A2, L.shape[0])

    def ftest(self, L, beta, betaH=0.0):
        """pbkrtest's ``.KR_adjust``: the scaled F test of Lβ = Lβ_H.

        Returns
        -------
        dict
            ``ndf``, ``ddf``, ``FstatU`` (Wald/q with Φ_A), ``F.scaling``, ``Fstat``,
            ``p.value``.
        """
        from scipy import stats
        L = _full_rank(np.atleast_2d(np.asarray(L, dtype=float)))
        q = int(np.linalg.matrix_rank(L))
        A1, A2 = self._A12(L)
        df2 = self._df(A1, A2, q)
        Fscale = 1.0 if abs(df2 - 2.0) < 1e-2 else df2 * (1.0 - A2 / q) / (df2 - 2.0)
        bd = np.asarray(beta, dtype=float) - betaH
        Lb = L @ bd
        wald = float(Lb @ np.linalg.solve(L @ self.vcov_adj @ L.T, Lb))
        FU = wald / q
        F = Fscale * FU
        return {"ndf": q, "ddf": df2, "FstatU": FU, "F.scaling": Fscale, "Fstat": F,
                "p.value": float(stats.f.sf(F, q, df2))}


def _gamma_jacobian(fit, sigma2):
    """D = ∂γ/∂(par, σ²) at the fit (g × (n_par + 1)): γ is pbkrtest's (each term's
    covariance entries σ²ΛᵢΛᵢ', lower triangle by columns; σ²), ``par`` lme4 2.x's
    parameters of the structured terms."""
    d = fit.design
    lay = d.layout
    par = np.asarray(fit.par, dtype=float)
    blocks = []
    for i, cov in enumerate(lay.covariances):
        pi = par[lay.par_slice(i)]
        L = cov.lambda_(pi)
        dL = cov.lambda_jacobian(pi)
        r, c = np.tril_indices(cov.k)
        order = np.lexsort((r, c))                    # column-major lower triangle
        r, c = r[order], c[order]
        dS = np.einsum("mij,kj->mik", dL, L)
        dS = dS + np.transpose(dS, (0, 2, 1))
        blocks.append((sigma2 * dS[:, r, c].T, (L @ L.T)[r, c]))
    g = sum(b[0].shape[0] for b in blocks) + 1
    m = lay.n_par + 1
    D = np.zeros((g, m))
    row = 0
    for i, (Jp, S) in enumerate(blocks):
        sl = lay.par_slice(i)
        D[row:row + Jp.shape[0], sl] = Jp
        D[row:row + Jp.shape[0], -1] = S
        row += Jp.shape[0]
    D[-1, -1] = 1.0
    return D


def _full_rank(L):
    """pbkrtest's ``force_full_rank``: an orthonormal basis of L's row space if rank < rows."""
    q = int(np.linalg.matrix_rank(L))
    if q < L.shape[0]:
        Q = np.linalg.qr(L.T)[0]
        return Q[:, :q].T
    return L


def kr_pieces(fit) -> KenwardRoger:
    """pbkrtest's ``vcovAdj(fit)`` for a REML linear mixed model fit.

    Raises
    ------
    LmerpyError
        The model is too large for the dense n×(q+p) products.
    """
    d = fit.design
    X = np.asarray(d.X, dtype=float)
    n, p = X.shape
    Z = sp.csc_matrix(d.Zt.T)
    q = Z.shape[1]
    if n * (q + p) > _MAX_DENSE:
        raise LmerpyError(f"Kenward-Roger needs dense n x (q + p) products; here n = {n} and "
                          f"q + p = {q + p} are too large (use Satterthwaite)")
    w = np.asarray(d.weights, dtype=float).reshape(-1)
    sigma2 = float(fit.sigma()) ** 2
    theta = np.asarray(fit.theta, dtype=float)
    structured = any(c.kind != "us" for c in d.layout.covariances)
    if structured and coordinate_scale(d) is not None:
        raise LmerpyError("Kenward-Roger's method for structured covariance terms (cs, ar1) "
                          "is not available when random-effects columns are rescaled "
                          "(columns on extreme scales); rescale them or use Satterthwaite")
    # columns on extreme scales (see lmerpy.optimize.coords) are rescaled by powers of 2 and
    # the results transformed back: the same numbers, computed on unit-scale columns
    ez, ex = term_exponents(d), column_exponents(X)
    scaled = any(np.any(e) for e in ez) or np.any(ex)
    if scaled:
        zrow = np.concatenate([np.tile(np.ldexp(1.0, -e), t.n_levels)
                               for t, e in zip(d.reterms, ez)]) if ez else np.ones(0)
        Z = (Z @ sp.diags(zrow)).tocsc()
        st = coordinate_scale(d)
        theta = theta if st is None else theta / st
        X = X * np.ldexp(1.0, -ex)
    Lam = d.lambdat_at(theta).T.tocsc()
    U = (Z @ Lam).tocsc()                               # ZΛ
    WU = U.multiply(w[:, None]).tocsc()
    A = (U.T @ WU).toarray() + np.eye(q)
    cA = cho_factor(A, lower=True)

    def S(R):                                           # Σ⁻¹ R
        WR = w[:, None] * R
        return (WR - WU @ cho_solve(cA, np.asarray(WU.T @ R))) / sigma2

    Zd = Z.toarray()
    SZ = S(Zd)
    SX = S(X)
    M = Zd.T @ SZ                                       # Z'Σ⁻¹Z
    B = Zd.T @ SX                                       # Z'Σ⁻¹X
    XSX = X.T @ SX
    Phi = np.linalg.inv(XSX)
    Phi = 0.5 * (Phi + Phi.T)
    winv = 1.0 / w
    NZZ = SZ.T @ (winv[:, None] * SZ)                   # Z'Σ⁻¹W⁻¹Σ⁻¹Z
    NZX = SZ.T @ (winv[:, None] * SX)
    NXX = SX.T @ (winv[:, None] * SX)
    Y = winv[:, None] * SX
    QXX = Y.T @ S(Y)                                    # X'Σ⁻¹W⁻¹Σ⁻¹W⁻¹Σ⁻¹X
    Ainv = cho_solve(cA, np.eye(q))
    tr_ee = (n - q + float(np.sum(Ainv * Ainv))) / sigma2 ** 2

    ents = _entries(d)
    g = len(ents) + 1
    P = []
    for ra, ca in ents:
        Pr = -(B[ra].T @ B[ca])
        P.append(0.5 * (Pr + Pr.T))
    P.append(-NXX)
    Q = {}
    K = np.empty((g, g))
    for i in range(g):
        for j in range(i, g):
            if i < g - 1 and j < g - 1:
                ri, ci = ents[i]
                rj, cj = ents[j]
                Mij = M[np.ix_(ci, rj)]
                Q[i, j] = B[ri].T @ Mij @ B[cj]
                K[i, j] = float(np.sum(Mij * M[np.ix_(cj, ri)].T))
            elif i < g - 1:
                ri, ci = ents[i]
                Q[i, j] = B[ri].T @ NZX[ci]
                K[i, j] = float(np.sum(NZZ[ci, ri]))
            else:
                Q[i, j] = QXX
                K[i, j] = tr_ee
            K[j, i] = K[i, j]
    IE2 = np.empty((g, g))
    for i in range(g):
        PhiPi = Phi @ P[i]
        for j in range(i, g):
            IE2[i, j] = IE2[j, i] = (K[i, j] - 2.0 * float(np.sum(Phi * Q[i, j]))
                                     + float(np.sum(PhiPi * (P[j] @ Phi))))
    if structured:
        # structured terms: γ moves only along D = ∂γ/∂(par, σ²); W = 2 D (D' IE2 D)⁻¹ D'
        Dm = _gamma_jacobian(fit, sigma2)
        IE2 = Dm.T @ IE2 @ Dm
    if np.min(np.abs(np.linalg.eigvalsh(IE2))) > 1e-10:
        W = 2.0 * np.linalg.inv(IE2)
    else:
        W = 2.0 * np.linalg.pinv(IE2)
    if structured:
        W = Dm @ W @ Dm.T
    W = 0.5 * (W + W.T)
    UU = np.zeros((p, p))
    for i in range(g - 1):
        for j in range(i + 1, g):
            UU += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j])
    UU = UU + UU.T
    for i in range(g):
        UU += W[i, i] * (Q[i, i] - P[i] @ Phi @ P[i])
    PhiA = Phi + 2.0 * Phi @ UU @ Phi
    if scaled:
        # β = β_s / 2^ex: Var(β) = D⁻¹Var(β_s)D⁻¹ and P_r = c_r D P_r,s D; γ_r = γ_r,s / c_r
        # with c_r = 2^(e_i + e_j) for the entry (i, j) of a term's covariance (1 for σ²)
        dx = np.ldexp(1.0, -ex)
        c = np.ones(g)
        r = 0
        for e in ez:
            for j in range(e.shape[0]):
                for i in range(j, e.shape[0]):
                    c[r] = np.ldexp(1.0, int(e[i] + e[j]))
                    r += 1
        Dxx = np.outer(dx, dx)
        Phi, PhiA = Phi * Dxx, PhiA * Dxx
        P = [Pr / Dxx * cr for Pr, cr in zip(P, c)]
        W = W / np.outer(c, c)
    return KenwardRoger(Phi, PhiA, P, W)
