"""The blocked factor's slot-pair kernels, by cache-sized bands of the dense block's rows.

With F = A₂₁L₁₁'⁻¹ at the slots (the nonzero rows of F_g, level g of the first term), three
sums run over the pairs of slots of each level: FF' = Σ_g F_gF_g' into S (the Schur
complement, sparse mode), F_g'S⁻¹F_g per level (the gradient's traces) and S⁻¹F at the slots
(A⁻¹ on the pattern). A level's slots are spread over all of S's rows, so a level-by-level
loop reads or writes all of S (q₂² doubles: 72 MB at q₂ = 3000) at random, ~28 ns an entry.
Here S's rows are cut in bands of :data:`BAND` doubles (they stay in the last-level cache),
and each band's entries are gathered (``take``) or scattered (``bincount``) in batches of
levels, ~2 ns an entry. The batches are planned once per layout.

Crossed 10M (100,000 × 3,000 levels, ~4.9·10⁸ lower slot pairs): FF' 1.7x less CPU than
SciPy's sparse product of F's row blocks (the previous sparse mode); the gradient's gathers
1.7x less than one level at a time.

R equivalent: none (CHOLMOD's supernodal updates inside lme4's ``updateL``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["BAND", "GATHER", "SCATTER", "band_plan", "gather_plan", "subtract_ffT",
           "ftsf", "sinv_f"]

#: S⁻¹ entries gathered at once (per batch of levels)
GATHER = 2_000_000
#: doubles of S (or S⁻¹) in one band of rows: a gather stays inside the last-level cache (a
#: random read from a 72 MB S⁻¹ costs ~28 ns, from an 8 MB band ~2 ns)
BAND = 1_000_000
#: slot pairs accumulated per ``bincount`` in :func:`subtract_ffT`
SCATTER = 8_000_000


def _rows_per_band(q2):
    return max(1, min(q2, BAND // max(q2, 1)))


def _level_bands(st):
    """What both plans start from: the slots' rows in level order, each level's number of
    slots (kk), rows per band (bh), the number of bands (nb), each level's slots per band
    (cnt, (nl, nb)), the place of its first slot in each band (off) and its first slot's
    place in level order (starts)."""
    q2, nl = st.q2, st.nl
    rows = st.slot_row[st.lev_order].astype(np.int64)             # level order
    kk = np.diff(st.lev_ptr)
    lev = np.repeat(np.arange(nl), kk)
    bh = _rows_per_band(q2)
    nb = -(-q2 // bh)
    cnt = np.bincount(lev * nb + rows // bh, minlength=nl * nb).reshape(nl, nb)
    off = np.cumsum(cnt, axis=1) - cnt                            # first slot in the band
    return rows, kk, bh, nb, cnt, off, st.lev_ptr[:-1]


def band_plan(st):
    """The batches of :func:`ftsf` and :func:`subtract_ffT`, built once per layout: for each
    band of rows, the levels with slots in it sorted by their number of slots in the band,
    then by their number of slots up to the band's end, cut in batches of at most
    :data:`GATHER` padded pairs; each batch as (levels (nb,), level-order places of their
    first slots, offsets of their first slot in the band, their slots in the band, the
    batch's largest of those, the batch's largest number of slots up to the band's end, the
    band). Returns (the slots' rows in level order, the batches in band order, rows per
    band). A level's slots are in row order, so "up to the band's end" is a prefix."""
    if "_splan" in st.__dict__:
        return st._splan
    rows, kk, bh, nb, cnt, off, starts = _level_bands(st)
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
            while i < e:                    # batches of at most GATHER padded entries
                j = min(e, i + max(1, GATHER // (cm * int(pre[min(e - 1, i + 63)]))))
                while j - i > 1 and (j - i) * cm * int(pre[j - 1]) > GATHER:
                    j = i + max(1, (j - i) // 2)
                sel = g[i:j]
                plan.append((sel, starts[sel], off[sel, b], c[i:j], cm, int(pre[j - 1]), b))
                i = j
    st._splan = (rows, plan, bh)
    return st._splan


def _batch_slots(s0, o, c, cm, pm):
    """A batch's (band slots (nb, cm), their mask, slots up to the band's end (nb, pm), their
    mask), as level-order places; padding repeats a valid place of the same level."""
    ji = np.arange(cm)[None, :]
    vb = ji < c[:, None]
    mine = np.where(vb, (s0 + o)[:, None] + ji, (s0 + o)[:, None])
    jp = np.arange(pm)[None, :]
    vp = jp < (o + c)[:, None]
    pref = np.where(vp, s0[:, None] + jp, s0[:, None])
    return mine, vb, pref, vp


def _level_F(fac):
    """F's values at the slots in level order (ns × p₁)."""
    st = fac.st
    return fac._Fv if st.v_order is not None else fac.Fs[st.lev_order]


def ftsf(fac, full):
    """F_g'S⁻¹F_g (nl, p₁, p₁) from S⁻¹'s entries at each level's pairs of slots, the lower
    ones only (``full``: S⁻¹, both triangles, Fortran order). Per band, each slot s of the band
    is paired with its level's slots t up to the band's end: C_g = Σ F_s'S⁻¹_st w_t F_t with
    w_t = 2 before the band and 1 inside it, and F_g'S⁻¹F_g = (C_g + C_g')/2 (the pairs inside
    the band form a symmetric square; those before it stand for both triangles)."""
    st = fac.st
    rows, plan, _ = band_plan(st)
    q2 = st.q2
    flat = full.reshape(-1, order="F")           # symmetric: column r_s holds row r_s
    Fl = _level_F(fac)
    p1 = Fl.shape[1]
    W = np.zeros((st.nl, p1, p1))
    for lev, s0, o, c, cm, pm, _b in plan:
        mine, vb, pref, vp = _batch_slots(s0, o, c, cm, pm)
        pos = (rows[mine] * q2)[:, :, None] + rows[pref][:, None, :]    # (nb, cm, pm)
        sub = flat.take(pos)
        w = vp.astype(np.float64)
        w[np.arange(pm)[None, :] < o[:, None]] = 2.0              # before the band
        Y = np.matmul(sub, Fl.take(pref, axis=0) * w[:, :, None])  # (nb, cm, p1)
        Fb = Fl.take(mine, axis=0) * vb[:, :, None]
        C = np.matmul(Fb.transpose(0, 2, 1), Y)
        W[lev] += C + C.transpose(0, 2, 1)
    W *= 0.5
    return W


def subtract_ffT(fac, S):
    """S's lower triangle −= FF' = Σ_g F_gF_g' (S: q₂×q₂, Fortran order), by the bands of
    :func:`band_plan`: each slot s of a band paired with its level's slots t up to the band's
    end, F_s·F_t summed into the band's rows of S by ``bincount``. Every entry of the lower
    triangle gets each level's pair once (the band's square also writes the upper triangle of
    its diagonal block, which is never read)."""
    st = fac.st
    rows, plan, bh = band_plan(st)
    q2 = st.q2
    Fl = _level_F(fac)
    need = [lev.shape[0] * cm * pm for lev, _s, _o, _c, cm, pm, _b in plan]
    size = max(min(SCATTER, sum(need)), max(need, default=0))
    pos = np.empty(size, dtype=np.int64)
    val = np.empty(size)
    fill, band = 0, -1

    def flush():
        b0 = band * bh
        nr = min(q2, b0 + bh) - b0
        acc = np.bincount(pos[:fill], weights=val[:fill], minlength=nr * q2)
        S[b0:b0 + nr, :] -= acc.reshape(q2, nr).T      # acc: column r_t, row r_s − b0

    for (lev, s0, o, c, cm, pm, b), n in zip(plan, need):
        if fill and (b != band or fill + n > size):
            flush()
            fill = 0
        band = b
        mine, vb, pref, vp = _batch_slots(s0, o, c, cm, pm)
        Fb = Fl.take(mine, axis=0) * vb[:, :, None]
        Fp = Fl.take(pref, axis=0) * vp[:, :, None]
        V = val[fill:fill + n].reshape(-1, cm, pm)
        np.matmul(Fb, Fp.transpose(0, 2, 1), out=V)
        b0 = band * bh
        nr = min(q2, b0 + bh) - b0
        P = pos[fill:fill + n].reshape(-1, cm, pm)
        np.add((rows[pref] * nr)[:, None, :], (rows[mine] - b0)[:, :, None], out=P)
        fill += n
    if fill:
        flush()


def gather_plan(st):
    """The batches of :func:`sinv_f`, built once: for each band of S⁻¹'s rows and each group
    of levels with the same number of slots k, the levels sorted by their number of slots c in
    the band, cut in batches; each as (level-order places of its levels' first slots (nb,),
    offsets of their first slot in the band (nb,), c (nb,), k, the batch's largest c)."""
    if "_gplan" in st.__dict__:
        return st._gplan
    rows, kk, bh, nb, cnt, off, starts = _level_bands(st)
    plan = []
    for b in range(nb):
        for k in np.unique(kk[kk > 0]):
            g = np.flatnonzero((kk == k) & (cnt[:, b] > 0))
            if not g.size:
                continue
            g = g[np.argsort(cnt[g, b], kind="stable")]
            c = cnt[g, b]
            i, n = 0, g.size
            while i < n:                     # batches of at most GATHER padded entries
                j = min(n, i + max(1, GATHER // (int(c[i]) * int(k))))
                while j - i > 1 and (j - i) * int(c[j - 1]) * int(k) > GATHER:
                    j = i + max(1, GATHER // (int(c[j - 1]) * int(k)))
                plan.append((starts[g[i:j]], off[g[i:j], b], c[i:j], int(k), int(c[j - 1])))
                i = j
    st._gplan = (rows, plan)
    return st._gplan


def sinv_f(fac, full):
    """(F, T = S⁻¹F) at the slots in level order (ns × p₁): T_s = S⁻¹[r_s, R_g] F_g over the
    slot rows R_g of each slot's level g (``full``: S⁻¹ whole, symmetric). Slots are taken by
    bands of S⁻¹'s rows, so that the gathered entries of one batch lie in one band."""
    st = fac.st
    rows, plan = gather_plan(st)
    q2 = st.q2
    flat = full.reshape(-1, order="F")           # symmetric: column r_s holds row r_s
    Fl = _level_F(fac)
    T = np.empty_like(Fl)
    for s0, o, c, k, cm in plan:
        allp = s0[:, None] + np.arange(k)                         # (nb, k) level-order places
        R = rows[allp]
        mine = (s0 + o)[:, None] + np.arange(cm)                  # the band's slots, padded
        valid = np.arange(cm)[None, :] < c[:, None]
        mine = np.where(valid, mine, (s0 + o)[:, None])
        pos = (rows[mine] * q2)[:, :, None] + R[:, None, :]       # (nb, cm, k)
        sub = flat.take(pos)
        out = np.matmul(sub, Fl[allp])                            # (nb, cm, p1)
        T[mine[valid]] = out[valid]
    return Fl, T
