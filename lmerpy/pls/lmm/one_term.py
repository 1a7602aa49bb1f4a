"""Models with one random-effects term, block by block.

With one term whose Λ' repeats a k × k template T on every level's diagonal block (lme4's
Λ for ``(x | g)``) and Z'WZ block diagonal (each row of Z belongs to one level), A = Λ'MΛ + I
is block diagonal: A_l = T M_l T' + I for the L levels. The derivatives of the criterion then
need only (L, k, k) arrays (batched products and k × k inverses) instead of q × q ones
(q = L·k), and every sum over the template's entries is a sum over level 0's entries of a
level-summed k × k block.

:func:`one_term_layout` recognises such a model (built once per deviance);
:func:`one_term_derivatives` is :func:`~.dense_derivatives.dense_derivatives` for it (the
gradient and the average-information matrix at an evaluated state, the same formulas; within
~1e-13 of the dense pass, tests/test_pls_one_term.py). The evaluation itself stays the dense
one: its bits are lme4's (see :mod:`.deviance`).

R equivalent: none (lme4 differentiates the deviance numerically after the fit).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from ...caches import PatternCache

__all__ = ["one_term_layout", "one_term_derivatives", "spd_block_inverse"]


class OneTermLayout:
    """The block structure of a one-term model (see the module).

    Attributes
    ----------
    nl, nc : int
        Levels L and the block size k.
    rows, cols, index : ndarray
        Row, column and θ index of each entry of level 0's block of Λ' (read-only).
    Mb : ndarray (L, k, k)
        Z'WZ's diagonal blocks.
    scatter_x, scatter_z : ndarray (k, k·n_θ)
        0/1 matrices that place, per level, the template sums of the average information:
        (x @ scatter_x)[l, c·n_θ + t] = Σ over the entries (a, c, t) of x[l, a], and
        (z @ scatter_z)[l, a·n_θ + t] = Σ over the entries (a, c, t) of z[l, c].
    """

    __slots__ = ("nl", "nc", "rows", "cols", "index", "Mb", "n_theta", "scatter_x",
                 "scatter_z", "diag")

    def __init__(self, nl, nc, tmpl, Mb, n_theta):
        self.nl, self.nc = int(nl), int(nc)
        self.rows, self.cols, self.index = tmpl
        self.Mb = Mb
        self.n_theta = int(n_theta)
        self.scatter_x, self.scatter_z = _scatters(tmpl, self.nc, self.n_theta)
        self.diag = np.arange(self.nc)

    def as_tuple(self):
        """(L, k, rows, cols, θ index, Z'WZ's blocks)."""
        return self.nl, self.nc, self.rows, self.cols, self.index, self.Mb

    def template(self, theta):
        """T, the k × k block of Λ' at θ."""
        T = np.zeros((self.nc, self.nc))
        T[self.rows, self.cols] = theta[self.index]
        return T


#: the scatter matrices per template (read-only arrays)
_SCATTERS = PatternCache(64)


def _scatters(tmpl, nc, nth):
    a0, c0, k0 = tmpl
    key = (nc, nth, a0.tobytes(), c0.tobytes(), k0.tobytes())
    out = _SCATTERS.get(key)
    if out is None:
        sx = np.zeros((nc, nc * nth))
        np.add.at(sx, (a0, c0 * nth + k0), 1.0)
        sz = np.zeros((nc, nc * nth))
        np.add.at(sz, (c0, a0 * nth + k0), 1.0)
        out = _SCATTERS.put(key, (sx, sz))
    return out


def one_term_layout(dev):
    """:class:`OneTermLayout` of ``dev`` (an :class:`~.deviance.LmmDeviance` whose A is held
    dense) when it has one random-effects term whose Λ' is the same k × k template on every
    level's diagonal block and whose Z'WZ is block diagonal; else None. Built once per
    deviance (the template's part once per template)."""
    lay = dev.__dict__.get("_one_term_layout")
    if lay is None:
        lay = False
        blocks = dev.blocks
        if len(blocks) == 1 and blocks[0][0] == 0 and blocks[0][1] * blocks[0][2] == dev.q:
            _, nl, nc = blocks[0]
            tmpl = _one_term_template(dev.smap, int(nl), int(nc), dev.n_theta)
            if tmpl is not None:
                M = dev._lam.M
                Mb = np.ascontiguousarray(np.moveaxis(
                    M.reshape(nl, nc, nl, nc).diagonal(axis1=0, axis2=2), 2, 0))
                # Z'WZ block diagonal (one term: each row of Z belongs to one level)
                if np.count_nonzero(M) == np.count_nonzero(Mb):
                    lay = OneTermLayout(nl, nc, tmpl, Mb, dev.n_theta)
        dev._one_term_layout = lay
    return lay or None


#: :func:`_one_term_template` per template (read-only arrays)
_TEMPLATES = PatternCache(64)


def _one_term_template(smap, nl, nc, n_theta):
    """(rows, columns, θ indices) of level 0's block of a one-term Λ' template when every
    level's block repeats it, else None."""
    i, j, kk = smap.lt_rows, smap.lt_cols, smap.Lind0
    key = (nl, nc, n_theta, i.tobytes(), j.tobytes(), kk.tobytes())
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    out = None
    lev = i // nc
    first = lev == 0
    a0, c0, k0 = i[first], j[first], kk[first]
    if i.size == nl * a0.size and np.array_equal(lev, j // nc) and np.all(c0 < nc):
        # every level's block must repeat level 0's (as sets of (row, column, θ) within the
        # block: the entries are in CSC order, column by column)
        key0 = np.sort((a0 * nc + c0) * n_theta + k0)
        keys = ((i % nc) * nc + j % nc) * n_theta + kk
        if _same_blocks(lev, keys, key0, nl):
            out = (a0, c0, k0)
    return _TEMPLATES.put(key, out)


def _same_blocks(lev, keys, key0, nl):
    """Whether each level's (row, column, θ) keys are level 0's."""
    counts = np.bincount(lev, minlength=nl)
    if counts.shape[0] != nl or np.any(counts != key0.size):
        return False
    ks = keys[np.lexsort((keys, lev))].reshape(nl, key0.size)
    return bool(np.all(ks == key0[None, :]))


def spd_block_inverse(A):
    """Inverses of the stacked symmetric positive definite (..., k, k) blocks ``A``: for
    k ≤ 2 in closed form (the blocks here are T M T' + I, whose eigenvalues are at least 1,
    so the 2 × 2 determinant has no cancellation to fear), else by LAPACK (symmetrised)."""
    k = A.shape[-1]
    if k == 1:
        return 1.0 / A
    if k == 2:      # adj(A) / det(A): A with both axes reversed, off-diagonal negated
        det = A[..., 0, 0] * A[..., 1, 1] - A[..., 0, 1] * A[..., 1, 0]
        return (A[..., ::-1, ::-1] * _ADJ_SIGNS) / det[..., None, None]
    Ai = np.linalg.inv(A)
    return 0.5 * (Ai + np.swapaxes(Ai, -1, -2))


_ADJ_SIGNS = np.array([[1.0, -1.0], [-1.0, 1.0]])
_ADJ_SIGNS.flags.writeable = False


def one_term_derivatives(dev, st, lay, information=True):
    """(gradient, average-information matrix) in θ of ``dev``'s criterion at its evaluated
    dense state ``st``, for a one-term model (``lay``: :func:`one_term_layout`). The formulas
    of :func:`~.dense_derivatives.dense_derivatives`, with every product by Λ', Z'WZ or A⁻¹
    taken block by block.

    Returns
    -------
    g : ndarray (n_θ,)
    H : ndarray (n_θ, n_θ) or None
        None unless ``information``.
    """
    cp, resp = dev.cp, dev.resp
    nl, nc, nth = lay.nl, lay.nc, lay.n_theta
    Mb = lay.Mb
    q, p = dev.q, dev.p
    T = lay.template(st.theta)
    Tt = T.T
    LtM = T @ Mb                                          # (L, k, k): Λ'M by blocks
    A = LtM @ Tt
    A.reshape(nl, nc * nc)[:, ::nc + 1] += 1.0
    u = dev._u(st)
    U = u.reshape(nl, nc)
    # z = Z'Wρ = Z'Wỹ − MΛû − Z'WXβ̂ (M symmetric: M_l T'û_l = (û_l'T M_l)')
    z = resp.ZtWy - (U[:, None, :] @ LtM).reshape(q)
    if p:
        z = z - cp.ZtWX @ st.beta_c
    Z = z.reshape(nl, nc)
    nu = (dev.n - p) if dev.REML else dev.n
    r2 = float(st.r2)
    parts = [LtM]
    if p:
        ZX = cp.ZtWX.reshape(nl, nc, p)
        K = T @ ZX                                        # Λ'Z'WX by blocks (L, k, p)
        parts.append(K)
    if information:
        # the average information's v_t = Λ_t(Λ'z) + Λ(Λ_t'z), with z/r for z (see
        # :mod:`.information`)
        Zr = Z / np.sqrt(r2)
        V = ((Zr @ Tt) @ lay.scatter_x).reshape(nl, nc, nth) + Tt @ (
            Zr @ lay.scatter_z).reshape(nl, nc, nth)
        MV = Mb @ V
        G = T @ MV                                        # Λ'Mv
        parts.append(G)
    # A⁻¹[Λ'M | Λ'Z'WX | Λ'Mv] block by block, in one batched product
    S = spd_block_inverse(A) @ (np.concatenate(parts, axis=2) if len(parts) > 1 else LtM)
    # the gradient's template sums as one k × k matrix W of level sums, read at the entries:
    # ∂ log|A| = 2 tr(A⁻¹Λ'MΛ_t) (Σ_l A_l⁻¹T M_l), ∂r² ∝ ρ'WZΛ_t û (Σ_l û_l z_l')
    W = 2.0 * S[:, :, :nc].sum(axis=0) - (2.0 * nu / r2) * (U.T @ Z)
    if p:
        C = S[:, :, nc:nc + p]                            # A⁻¹Λ'Z'WX
        if dev.REML:
            Hc = lapack.dpotrs(st.RX, C.reshape(q, p).T, lower=0)[0].T.reshape(nl, nc, p)
            N = ZX - np.swapaxes(LtM, 1, 2) @ C           # Z'W(X − ZΛC)
            # ∂ log|V|: Σ over the entries (a, c, t) of Σ_l Hc_l[a]·N_l[c]
            W = W - 2.0 * (Hc @ np.swapaxes(N, 1, 2)).sum(axis=0)
    g = np.bincount(lay.index, weights=W[lay.rows, lay.cols], minlength=nth)
    if not information:
        return g, None
    AiG = S[:, :, nc + p:]
    Vf = V.reshape(q, nth)
    Q = Vf.T @ MV.reshape(q, nth) - G.reshape(q, nth).T @ AiG.reshape(q, nth)
    if p:
        # X'Σ⁻¹Zv = X'WZv − R_ZX'L⁻¹Λ'Mv, with R_ZX'L⁻¹ = K'A⁻¹
        R = lapack.dtrtrs(st.RX, cp.ZtWX.T @ Vf - K.reshape(q, p).T @ AiG.reshape(q, nth),
                          trans=1)[0]
        Q = Q - R.T @ R
    t = Vf.T @ Zr.reshape(q)
    H = nu * (Q - t[:, None] * t)
    return g, 0.5 * (H + H.T)
