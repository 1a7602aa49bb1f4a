"""A⁻¹ from the blocked factor: on A's whole pattern, or only its per-term diagonal-block sums.

With P A P' = L L', L = [[L₁₁, 0], [F, L₂₂]], S = L₂₂L₂₂' (see :mod:`.blocked`)::

    (A⁻¹)₂₂ = S⁻¹
    (A⁻¹)₂₁ = −S⁻¹F L₁₁⁻¹
    (A⁻¹)₁₁ = L₁₁⁻ᵀ (I + F'S⁻¹F) L₁₁⁻¹           (level g: L₁_g⁻ᵀ(I + F_g'S⁻¹F_g)L₁_g⁻¹)

:func:`inverse_on_pattern` gives A⁻¹ on the full pattern of A (conditional variances, and the
gradient where nothing cheaper applies). :func:`block_traces` gives only E_t = Σ_g (A⁻¹)_gg,
the sum over levels of each term's diagonal blocks, which is all the gradient of log|A| needs
when Λ's blocks are invertible (:mod:`.logdet_gradient`): no S⁻¹F over the slots, no scatter
onto the pattern; in pair mode the first term's part is one product with the θ-map.

R equivalent: none (lme4 differentiates the deviance numerically; its conditional variances
come from solves with the factor).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack

from ...errors import LmerpyError

__all__ = ["inverse_on_pattern", "block_traces", "sinv_lower"]

#: most doubles in one column chunk of F (or S⁻¹F) held dense at a time
_CHUNK = 4_000_000


def sinv_lower(fac, overwrite=False):
    """S⁻¹'s lower triangle (Fortran order, q₂×q₂; the upper triangle holds L₂₂'s leftovers).

    ``overwrite``: computed in L₂₂'s array, and ``fac.L2`` set to None."""
    Sinv, info = lapack.dpotri(fac.L2, lower=1, overwrite_c=int(overwrite))
    if overwrite:
        fac.L2 = None
    if info != 0:
        raise LmerpyError(f"inverse of the random-effects block failed (LAPACK dpotri info = "
                          f"{info})")
    return Sinv


def _symmetrize(Sinv):
    """Copy the lower triangle of a square Fortran array onto its upper one (in place)."""
    iu = np.triu_indices(Sinv.shape[0], 1)
    Sinv[iu] = Sinv.T[iu]
    return Sinv


# -- A⁻¹ on the pattern ----------------------------------------------------------------------

def inverse_on_pattern(fac):
    """A⁻¹'s values on the full pattern of A (the sparse inverse subset)."""
    st = fac.st
    p1 = st.p1
    out = np.zeros(fac.smap.nnz)
    if st.q2:
        Sinv = sinv_lower(fac)
        sflat = Sinv.ravel(order="F")
        out[st.pos22] = sflat[st.flat22]
    if st.nl == 0:
        return out
    Li = fac.L1inv  # (nl, p1, p1)
    W = np.broadcast_to(np.eye(p1), (st.nl, p1, p1)).copy()
    if st.ns:
        T = _sinv_f(fac, Sinv, sflat)
        F, lev = fac.Fs, st.slot_lev
        # W_g = I + Σ_{s∈g} F_s' T_s
        for a in range(p1):
            for b_ in range(p1):
                W[:, a, b_] += np.bincount(lev, weights=F[:, a] * T[:, b_], minlength=st.nl)
        # Σ21 at slots: −T_s L1inv_g  (L1inv lower triangular)
        if p1 == 1:
            S21 = -T * Li[lev, 0, :]
        elif p1 == 2:
            S21 = np.empty_like(T)
            S21[:, 0] = -(T[:, 0] * Li[lev, 0, 0] + T[:, 1] * Li[lev, 1, 0])
            S21[:, 1] = -(T[:, 1] * Li[lev, 1, 1])
        else:
            S21 = -np.einsum("sj,sjc->sc", T, Li[lev])
        sel, dst, selt, dstt = st.b_scatter()
        S21 = S21.reshape(-1)
        out[dst] = S21[sel]
        out[dstt] = S21[selt]
    S11 = np.einsum("gji,gjk,gkl->gil", Li, W, Li)
    out[st.posD.ravel()] = S11.ravel()
    return out


def _sinv_f(fac, Sinv, sflat):
    """T_s = (S⁻¹F)[row_s, level_s block] for every slot s, slot order (S⁻¹: lower triangle
    given; completed in place when GEMMs are used)."""
    st = fac.st
    p1, q2 = st.p1, st.q2
    F = fac.Fs
    if st.has_pairs:
        ps, pt, pdest, indptr = st.pairs()
        diag = st.slot_row.astype(np.int64) * (q2 + 1)
        Q = sp.csr_matrix((sflat[pdest], pt, indptr), shape=(st.ns, st.ns))
        T = np.asarray(Q @ F) + np.asarray(Q.T @ F) - sflat[diag][:, None] * F
        return T.reshape(st.ns, p1)
    full = _symmetrize(Sinv)                    # whole S⁻¹: GEMM beats SYMM
    T = np.empty((st.ns, p1))
    if _gather_is_cheaper(st):
        T[st.lev_order] = _sinv_f_gather(fac, full)[1]
        return T
    Tl = np.empty(st.ns * p1)                   # level order
    flat = fac._level_flat() if st.v_order is None else st.d_flat
    for g0, g1, Fc in fac.F_chunks():
        Y = blas.dgemm(1.0, full, Fc)           # S⁻¹F for the chunk (q2 × m), Fortran order
        a, b = st.lev_ptr[g0] * p1, st.lev_ptr[g1] * p1
        Tl[a:b] = Y.reshape(-1, order="F")[flat[a:b] - g0 * p1 * q2]
    T[st.lev_order] = Tl.reshape(st.ns, p1)
    return T


# -- sums of diagonal blocks -------------------------------------------------------------------

def block_traces(fac, blocks, overwrite=False):
    """E_t = Σ_g (A⁻¹)_gg for every term t (a p_t×p_t array per term, in ``blocks``' order).

    ``blocks``: the terms as (row_offset, n_levels, n_columns). Returns None when this
    factorisation offers no cheap route (pair mode factored from values alone, without the
    θ-map); the caller then uses :func:`inverse_on_pattern`. ``overwrite``: see
    :func:`sinv_lower`.
    """
    st = fac.st
    if st.nl and st.ns and st.has_pairs and fac._theta is None:
        return None                 # pair mode without the θ-map

    out = [None] * len(blocks)
    Sinv = sinv_lower(fac, overwrite) if st.q2 else None
    if st.q2:
        sflat = Sinv.reshape(-1, order="F")
        for t, idx in st.trailing_flats(blocks):
            out[t] = sflat[idx].sum(axis=0)             # (p, p): lower entries, both halves
    if st.nl:
        out[st.first] = _first_term_trace(fac, Sinv)
    return out


def _first_term_trace(fac, Sinv):
    """Σ_g L₁_g⁻ᵀ(I + F_g'S⁻¹F_g)L₁_g⁻¹ for the first term (p₁×p₁)."""
    st = fac.st
    Li = fac.L1inv
    E = np.einsum("gji,gjk->ik", Li, Li)               # Σ_g A₁₁_g⁻¹
    if not st.ns:
        return E
    if st.has_pairs:            # through the θ-map (block_traces checked it was used)
        return E + st.tmap.first_term_share(fac._theta, Li, Sinv)
    W = _ftsf_blocks(fac, Sinv)                         # F_g'S⁻¹F_g per level
    return E + np.einsum("gji,gjk,gkl->il", Li, W, Li)


def _ftsf_blocks(fac, Sinv):
    """F_g'S⁻¹F_g (nl, p₁, p₁) (dense or sparse mode): from S⁻¹'s k_g×k_g blocks at each
    level's slots, or by GEMM on F's dense column chunks when that is cheaper."""
    st = fac.st
    p1, q2, nl = st.p1, st.q2, st.nl
    full = _symmetrize(Sinv)
    W = np.empty((nl, p1, p1))
    if _gather_is_cheaper(st):                          # S⁻¹'s blocks at each level's slots
        return _ftsf_gather(fac, full)
    for g0, g1, Fc in fac.F_chunks():
        ng = g1 - g0
        Y = blas.dgemm(1.0, full, Fc)                   # S⁻¹F (q2 × ng·p1)
        Ft = Fc.T.reshape(ng, p1, q2)
        Yt = Y.T.reshape(ng, p1, q2)
        for a in range(p1):
            for b in range(a, p1):
                W[g0:g1, a, b] = np.einsum("gr,gr->g", Ft[:, a, :], Yt[:, b, :])
                W[g0:g1, b, a] = W[g0:g1, a, b]
    return W


#: S⁻¹ entries gathered at once (per batch of levels with the same number of slots)
_GATHER = 2_000_000
#: doubles of S⁻¹ in one band of rows: a gather stays inside the last-level cache (a random
#: read from a 72 MB S⁻¹ costs ~28 ns, from an 8 MB band ~2 ns)
_BAND = 1_000_000
#: seconds per gathered S⁻¹ entry, and per BLAS flop (the choice between the two)
_T_GATHER, _T_FLOP = 1e-8, 2.5e-11


def _gather_is_cheaper(st):
    k = np.diff(st.lev_ptr).astype(np.float64)
    return _T_GATHER * float(np.dot(k, k)) < _T_FLOP * 2.0 * st.q2 * st.q2 * st.q1


def _gather_plan(st):
    """The gather's batches, built once: for each band of S⁻¹'s rows and each group of levels
    with the same number of slots k, the levels sorted by their number of slots c in the band,
    cut in batches; each batch as (level-order places of its levels' first slots (nb,),
    offsets of their first slot in the band (nb,), c (nb,), k, the batch's largest c)."""
    if "_gplan" in st.__dict__:
        return st._gplan
    q2, nl = st.q2, st.nl
    rows = st.slot_row[st.lev_order].astype(np.int64)             # level order
    kk = np.diff(st.lev_ptr)
    lev = np.repeat(np.arange(nl), kk)
    bh = max(1, min(q2, _BAND // max(q2, 1)))                     # rows per band
    nb = -(-q2 // bh)
    band = rows // bh
    cnt = np.bincount(lev * nb + band, minlength=nl * nb).reshape(nl, nb)
    off = np.cumsum(cnt, axis=1) - cnt                            # first slot in the band
    starts = st.lev_ptr[:-1]
    plan = []
    for b in range(nb):
        for k in np.unique(kk[kk > 0]):
            g = np.flatnonzero((kk == k) & (cnt[:, b] > 0))
            if not g.size:
                continue
            g = g[np.argsort(cnt[g, b], kind="stable")]
            c = cnt[g, b]
            i, n = 0, g.size
            while i < n:                     # batches of at most _GATHER padded entries
                j = min(n, i + max(1, _GATHER // (int(c[i]) * int(k))))
                while j - i > 1 and (j - i) * int(c[j - 1]) * int(k) > _GATHER:
                    j = i + max(1, _GATHER // (int(c[j - 1]) * int(k)))
                plan.append((starts[g[i:j]], off[g[i:j], b], c[i:j], int(k), int(c[j - 1])))
                i = j
    st._gplan = (rows, plan)
    return st._gplan


def _sinv_f_gather(fac, full):
    """(F, T = S⁻¹F) at the slots in level order (ns × p₁): T_s = S⁻¹[r_s, R_g] F_g over the
    slot rows R_g of each slot's level g (S⁻¹ whole, symmetric). Slots are taken by bands of
    S⁻¹'s rows, so that the gathered entries of one batch lie in one cache-sized band."""
    st = fac.st
    rows, plan = _gather_plan(st)
    q2 = st.q2
    flat = full.reshape(-1, order="F")           # symmetric: column r_s holds row r_s
    Fl = fac._Fv if st.v_order is not None else fac.Fs[st.lev_order]
    T = np.empty_like(Fl)
    for s0, o, c, k, cm in plan:
        ar = np.arange(k)
        allp = s0[:, None] + ar                                   # (nb, k) level-order places
        R = rows[allp]
        mine = (s0 + o)[:, None] + np.arange(cm)                  # the band's slots, padded
        valid = np.arange(cm)[None, :] < c[:, None]
        mine = np.where(valid, mine, (s0 + o)[:, None])
        pos = (rows[mine] * q2)[:, :, None] + R[:, None, :]       # (nb, cm, k)
        sub = flat.take(pos)
        out = np.matmul(sub, Fl[allp])                            # (nb, cm, p1)
        T[mine[valid]] = out[valid]
    return Fl, T


def _sym_plan(st):
    """The batches of :func:`_ftsf_gather`, built once: for each band of S⁻¹'s rows, the
    levels with slots in it sorted by the number of their slots up to the band's end, cut in
    batches; each as (levels (nb,), level-order places of their first slots, offsets of their
    first slot in the band, their slots in the band, the batch's largest of those, the
    batch's largest number of slots up to the band's end)."""
    if "_splan" in st.__dict__:
        return st._splan
    q2, nl = st.q2, st.nl
    rows = st.slot_row[st.lev_order].astype(np.int64)             # level order
    kk = np.diff(st.lev_ptr)
    lev = np.repeat(np.arange(nl), kk)
    bh = max(1, min(q2, _BAND // max(q2, 1)))                     # rows per band
    nb = -(-q2 // bh)
    cnt = np.bincount(lev * nb + rows // bh, minlength=nl * nb).reshape(nl, nb)
    off = np.cumsum(cnt, axis=1) - cnt                            # first slot in the band
    starts = st.lev_ptr[:-1]
    plan = []
    for b in range(nb):
        g = np.flatnonzero(cnt[:, b] > 0)
        c, pre = cnt[g, b], off[g, b] + cnt[g, b]
        order = np.lexsort((pre, c))                 # by c, then by slots up to the band's end
        g, c, pre = g[order], c[order], pre[order]
        cut = np.flatnonzero(np.diff(c)) + 1
        for a, e in zip(np.r_[0, cut], np.r_[cut, g.size]):     # one c per batch
            cm = int(c[a])
            i = a
            while i < e:                    # batches of at most _GATHER padded entries
                j = min(e, i + max(1, _GATHER // (cm * int(pre[min(e - 1, i + 63)]))))
                while j - i > 1 and (j - i) * cm * int(pre[j - 1]) > _GATHER:
                    j = i + max(1, (j - i) // 2)
                sel = g[i:j]
                plan.append((sel, starts[sel], off[sel, b], c[i:j], cm, int(pre[j - 1])))
                i = j
    st._splan = (rows, plan)
    return st._splan


def _ftsf_gather(fac, full):
    """F_g'S⁻¹F_g (nl, p₁, p₁) from S⁻¹'s entries at each level's pairs of slots, the lower
    ones only (S⁻¹ symmetric): by bands of S⁻¹'s rows, each slot s of the band paired with
    its level's slots up to the band's end — those before the band count twice (their mirror
    images are never gathered), those inside it once (the band's square is symmetric)."""
    st = fac.st
    rows, plan = _sym_plan(st)
    q2 = st.q2
    flat = full.reshape(-1, order="F")           # symmetric: column r_s holds row r_s
    Fl = fac._Fv if st.v_order is not None else fac.Fs[st.lev_order]
    p1 = Fl.shape[1]
    W = np.zeros((st.nl, p1, p1))
    for lev, s0, o, c, cm, pm in plan:
        ji = np.arange(cm)[None, :]
        vb = ji < c[:, None]                                      # the band's slots
        mine = np.where(vb, (s0 + o)[:, None] + ji, s0[:, None])
        jp = np.arange(pm)[None, :]
        vp = jp < (o + c)[:, None]                                # slots up to the band's end
        pref = np.where(vp, s0[:, None] + jp, s0[:, None])
        pos = (rows[mine] * q2)[:, :, None] + rows[pref][:, None, :]    # (nb, cm, pm)
        sub = flat.take(pos)
        Fp = Fl.take(pref, axis=0)                                # (nb, pm, p1)
        before = jp < o[:, None]
        G = np.empty(pref.shape + (2 * p1,))
        np.multiply(Fp, before[:, :, None], out=G[:, :, :p1])
        np.multiply(Fp, (vp & ~before)[:, :, None], out=G[:, :, p1:])
        Y = np.matmul(sub, G)                                     # (nb, cm, 2 p1)
        Fb = Fl.take(mine, axis=0) * vb[:, :, None]
        FbT = Fb.transpose(0, 2, 1)
        B = np.matmul(FbT, Y[:, :, :p1])
        W[lev] += B + B.transpose(0, 2, 1) + np.matmul(FbT, Y[:, :, p1:])
    return W
