"""Index maps of the blocked factor's layout (built once per model; see :mod:`.blocked`).

Two sets of maps describe where A's pieces live:

* the θ-path (what every deviance evaluation uses): read off Z'WZ (M) and Λ's template
  directly — the first term's diagonal blocks of M, the "slots" (row of the dense part, level
  of the first term) where A₂₁ = Λ₂'M₂₁Λ₁ can be nonzero with M₂₁'s values there, and
  M₂₂'s lower entries. A(θ)'s pieces follow by small products with Λ's blocks, so A's own
  sparsity pattern and the θ⊗θ map of :class:`~.crossprod.ScalingMap` are never built;
* the pattern maps (positions in A's pattern), built on first use: factorisations from A's
  values alone, and A⁻¹ on A's pattern (conditional variances, the pattern gradient).

Slots are sorted by row, then level; "level order" sorts them by level, then row.

R equivalent: none (lme4 hands A's pattern to CHOLMOD); MixedModels.jl's blocked ``L``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import LmerpyError
from .blocked_thetamap import Lambda2, ThetaMap
from ..crossprod import unique_sorted

__all__ = ["Layout", "choose_mode"]

#: most slot pairs (pair mode: ~12 bytes each while the θ-map is built, ~12 in it)
PAIR_BUDGET = 4_000_000
#: cost of the sparse mode per slot pair and column of F, in BLAS flops (crossed 10M, with
#: SciPy's sparse product: 15 s for 4.9e8 pairs against 45 s for dense FF'; the banded
#: scatter of .blocked_bands that replaced it costs ~1.7x less: the choice stays conservative)
SPARSE_PAIR_COST = 600.0
#: force a way of forming FF' and S⁻¹F ("pairs", "dense", "sparse"); None: by cost (tests)
MODE_OVERRIDE = None


def choose_mode(q1, q2, p1, npairs):
    """How FF' is formed: the θ-map over stored slot pairs ("pairs"), dense BLAS on chunks of
    F ("dense"), or slot pair by slot pair, by bands of S's rows ("sparse",
    :mod:`.blocked_bands`).

    Costs in BLAS flops: dense FF' q₂²q₁/2; stored pairs ~20 per pair and column of F; the
    sparse mode ~SPARSE_PAIR_COST per pair and column of F.
    """
    if MODE_OVERRIDE is not None:
        return MODE_OVERRIDE
    dense = 0.5 * q2 * q2 * q1
    if npairs <= PAIR_BUDGET:
        return "pairs" if dense > 20.0 * npairs * p1 else "dense"
    return "dense" if dense <= SPARSE_PAIR_COST * npairs * p1 else "sparse"


_PATTERN = frozenset(("posD", "posB", "posBt", "pos22_low", "flat22_low", "pos22", "flat22"))


def _itype(*sizes):
    """int32 when every index fits, else int64."""
    return np.int32 if max([0, *sizes]) < 2 ** 31 - 1 else np.int64


class Layout:
    """The blocked layout of A for one model (see the module docstring).

    Parameters
    ----------
    smap : ScalingMap
    blocks : list of (row_offset, n_levels, n_columns)
    first : int or None
        The term eliminated first (None: all of A dense).
    """

    def __init__(self, smap, blocks, first):
        q = smap.q
        self.first = first
        if first is None:
            off, nl, p1 = 0, 0, 1
        else:
            off, nl, p1 = blocks[first]
        q1 = nl * p1
        self.q, self.q1, self.q2, self.nl, self.p1 = q, q1, q - q1, nl, p1
        q2 = self.q2
        I1 = np.arange(off, off + q1)
        I2 = np.concatenate((np.arange(off), np.arange(off + q1, q)))
        self.I1, self.I2 = I1, I2
        self.perm = np.concatenate((I1, I2)).astype(np.int64)
        self.identity_perm = off == 0 or q1 == 0
        loc2 = np.full(q, -1, dtype=np.int64)
        loc2[I2] = np.arange(q2)
        self._loc2 = loc2
        self._smap, self._off = smap, off
        self.ns = 0
        self.mode = None
        self.has_pairs = False
        self.theta_path = False
        if nl:
            self._theta_layout(smap, off, nl, p1, q1, q2, loc2)

    # -- the θ-path -----------------------------------------------------------------------
    def _theta_layout(self, smap, off, nl, p1, q1, q2, loc2):
        M = smap.zwz()
        ip, ix, dv = M.indptr, M.indices, M.data
        q = self.q

        def entries(lo, hi, inside):
            """Positions, rows, columns of M's entries in columns [lo, hi) whose row is
            inside (or outside) the first term's block."""
            a, b = ip[lo], ip[hi]
            r = ix[a:b]
            m = (r >= off) & (r < off + q1)
            pos = np.flatnonzero(m if inside else ~m) + a
            col = np.searchsorted(ip, pos, side="right") - 1
            return pos, ix[pos].astype(np.int64), col
        # the first term's diagonal blocks of M (one p1×p1 block per level)
        pos, r, c = entries(off, off + q1, True)
        if np.any((r - off) // p1 != (c - off) // p1):
            raise LmerpyError("internal error: the first term's block of Z'WZ is not "
                              "block-diagonal by level")
        Md = np.zeros((nl, p1, p1))
        Md[(c - off) // p1, (r - off) % p1, (c - off) % p1] = dv[pos]
        self.Md = Md
        # where each value comes from in M.data (:meth:`with_values` refills them)
        self._src_md = (((c - off) // p1) * (p1 * p1) + ((r - off) % p1) * p1 + (c - off) % p1,
                        pos)
        # slots: M's entries in the other columns with a first-term row, in CSC order (column
        # of the dense part, then first-term row): already sorted by (row, level)
        parts = [entries(0, off, True), entries(off + q1, q, True)]
        pos = np.concatenate([p_[0] for p_ in parts])
        r = np.concatenate([p_[1] for p_ in parts])
        c = np.concatenate([p_[2] for p_ in parts])
        del parts
        kt = loc2[c] * nl + (r - off) // p1
        new = np.empty(kt.shape[0], dtype=bool)
        new[:1] = True
        np.not_equal(kt[1:], kt[:-1], out=new[1:])
        key = kt[new]
        m_slot = np.zeros((key.shape[0], p1))
        m_slot[np.cumsum(new) - 1, (r - off) % p1] = dv[pos]
        src = np.full((key.shape[0], p1), -1, dtype=np.int64)
        src[np.cumsum(new) - 1, (r - off) % p1] = pos
        del kt, new, pos, r, c
        # Λ's template: the first term's blocks, Λ₂' in S coordinates
        lt_r, lt_c, lind = smap.lt_rows, smap.lt_cols, smap.Lind0
        in1 = (lt_r >= off) & (lt_r < off + q1)
        g = (lt_r[in1] - off) // p1
        self.lt1_flat = g * p1 * p1 + ((lt_r[in1] - off) % p1) * p1 + (lt_c[in1] - off) % p1
        self.lt1_lind = lind[in1]
        self._lt1_one = self._same_block(self.lt1_flat, self.lt1_lind, nl, p1 * p1)
        r2l, c2l = loc2[lt_r[~in1]], loc2[lt_c[~in1]]
        self._lam2 = (r2l, c2l, lind[~in1], smap.n_theta)
        # slots that only Λ₂'s off-diagonal entries reach (vector-valued trailing terms)
        key0 = key
        key, m_slot = self._closure(key, m_slot, r2l, c2l, nl)
        if key.shape[0] != key0.shape[0]:
            src0, src = src, np.full((key.shape[0], p1), -1, dtype=np.int64)
            src[np.searchsorted(key, key0)] = src0
        del key0
        ns = key.shape[0]
        it = _itype(ns * p1, q, nl * p1)
        self.ns = ns
        self.slot_row = (key // nl).astype(it)
        self.slot_lev = (key % nl).astype(it)
        del key
        self.lev_order = np.argsort(self.slot_lev, kind="stable").astype(it)
        counts = np.bincount(self.slot_lev, minlength=nl)
        self.lev_ptr = np.concatenate(([0], np.cumsum(counts)))
        npairs = int(np.sum(counts * (counts + 1) // 2))
        self.mode = choose_mode(q1, q2, p1, npairs)
        self.has_pairs = self.mode == "pairs"
        self.theta_path = True
        # values are computed in slot order (pairs: F's CSR order) or in level order (F is
        # then written column by column)
        vo = None if self.has_pairs else self.lev_order
        self.v_order = vo
        if vo is not None:                   # F' with rows (column j of F, level): value order
            self._ft_perm = (np.tile(self.slot_row[vo], p1),
                             np.concatenate([self.lev_ptr[:-1] + j * ns for j in range(p1)]
                                            + [[p1 * ns]]).astype(it))
        self.v_m = m_slot if vo is None else m_slot[vo]
        src = (src if vo is None else src[vo]).reshape(-1)
        sel = np.flatnonzero(src >= 0)
        self._src_vm = (sel, src[sel])
        del src, sel
        self.v_row = self.slot_row if vo is None else self.slot_row[vo]
        self.v_lev = self.slot_lev if vo is None else self.slot_lev[vo]
        self._pj = self._lambda2_coupling(r2l, c2l, lind[~in1], nl)
        if self.mode in ("dense", "sparse"):
            ft = _itype(q2 * q1)
            fl = (self.v_lev.astype(ft)[:, None] * p1 + np.arange(p1, dtype=ft)) * q2
            fl += self.v_row.astype(ft)[:, None]
            self.d_flat = fl.ravel()                      # F's Fortran position, level order
        # M₂₂'s lower entries (S coordinates, Fortran flat) and values
        p22 = [entries(0, off, False), entries(off + q1, q, False)]
        r2 = np.concatenate([loc2[p_[1]] for p_ in p22])
        c2 = np.concatenate([loc2[p_[2]] for p_ in p22])
        v22 = np.concatenate([dv[p_[0]] for p_ in p22])
        low = r2 >= c2
        self._m22 = (c2[low] * q2 + r2[low], v22[low])
        self._src_m22 = np.concatenate([p_[0] for p_ in p22])[low]
        self._a22 = None                  # Λ₂'M₂₂Λ₂ map (non-pair modes), built on first use
        self.tmap = None
        self._pairs = None
        self._pair_itype = _itype(ns, q2 * q2, npairs)

    def with_values(self, smap, data):
        """The layout of the same structure for another Z'WZ of the same pattern (new data
        on the same design, :meth:`~.crossprod.ScalingMap.with_values`): ``data`` are its
        values on the structure of Z'WZ this layout was read from (zeros allowed), ``smap``
        its map. Only the values are refilled (the first term's blocks of M, M₂₁ at the
        slots, M₂₂, the θ-map's M-products); slots, orders, pairs, the θ-map's structure and
        the pattern maps are shared. The same numbers as a layout built from ``data``."""
        if self.nl and self.q2:          # built once here, then shared by every refill
            if self.ns and self.has_pairs:
                self.theta_map()
            else:
                self.a22_map()
        out = object.__new__(Layout)
        od = out.__dict__
        od.update(self.__dict__)
        od["_smap"] = smap
        if not self.nl:
            return out
        idx, pos = self._src_md
        Md = np.zeros(self.Md.size)
        Md[idx] = data[pos]
        od["Md"] = Md.reshape(self.Md.shape)
        sel, pos = self._src_vm
        vm = np.zeros(self.v_m.size)
        vm[sel] = data[pos]
        od["v_m"] = vm.reshape(self.v_m.shape)
        flat = self._m22[0]
        v22 = data[self._src_m22]
        od["_m22"] = (flat, v22)
        if self._a22 is not None:
            od["_a22"] = (self._a22[0], v22)
        if self.tmap is not None:
            od["tmap"] = self.tmap.with_values(out, v22)
        return out

    @staticmethod
    def _same_block(flat, lind, nl, pp):
        """(positions, θ indices) of Λ₁'s block when every level has the same one (lme4's
        templates), else None."""
        if flat.shape[0] == 0 or flat.shape[0] % nl:
            return None
        order = np.lexsort((flat % pp, flat // pp))
        per = flat.shape[0] // nl
        f = (flat[order] % pp).reshape(nl, per)
        k = lind[order].reshape(nl, per)
        if np.all(f == f[0]) and np.all(k == k[0]) and np.all(
                (flat[order] // pp).reshape(nl, per) == np.arange(nl)[:, None]):
            return f[0], k[0]
        return None

    @staticmethod
    def _closure(key, m_slot, r2l, c2l, nl):
        """Add the slots (a, g) for Λ₂'[a, r] ≠ 0, a ≠ r, (r, g) a slot (their M₂₁ is 0)."""
        off = r2l != c2l
        if not np.any(off):
            return key, m_slot
        a, r = r2l[off], c2l[off]
        srow = key // nl
        lo = np.searchsorted(srow, r, side="left")
        hi = np.searchsorted(srow, r, side="right")
        cnt = hi - lo
        src = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())
        extra = np.repeat(a, cnt) * nl + key[src] % nl
        allk = unique_sorted(np.concatenate((key, extra)))
        if allk.shape[0] == key.shape[0]:
            return key, m_slot
        m = np.zeros((allk.shape[0], m_slot.shape[1]))
        m[np.searchsorted(allk, key)] = m_slot
        return allk, m

    def _lambda2_coupling(self, r2l, c2l, lind, nl):
        """Λ₂' off the diagonal, acting on slot values (value order): rows and columns of a
        sparse map with the θ index of each entry, or None when Λ₂ is diagonal."""
        off = r2l != c2l
        if not np.any(off):
            return None
        a, r, k = r2l[off], c2l[off], lind[off]
        key = self.slot_row.astype(np.int64) * nl + self.slot_lev
        srow = self.slot_row
        lo = np.searchsorted(srow, r, side="left")
        hi = np.searchsorted(srow, r, side="right")
        cnt = hi - lo
        src = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())
        dst = np.searchsorted(key, np.repeat(a, cnt).astype(np.int64) * nl + self.slot_lev[src])
        kk = np.repeat(k, cnt)
        if self.v_order is not None:                     # slot order -> value order
            rank = np.empty(self.ns, dtype=np.int64)
            rank[self.v_order] = np.arange(self.ns)
            src, dst = rank[src], rank[dst]
        return dst, src, kk

    def lambda2_diag(self, theta):
        """Λ₂'s diagonal at θ (S coordinates; 0 where Λ₂' has no diagonal entry)."""
        if "_d_lind" not in self.__dict__:
            r2l, c2l, lind, nth = self._lam2
            d = np.full(self.q2, nth, dtype=np.int64)
            dg = r2l == c2l
            d[r2l[dg]] = lind[dg]
            self._d_lind = d
        return np.append(theta, 0.0)[self._d_lind]

    def lambda1t(self, theta):
        """Λ₁_g' per level, (nl, p₁, p₁)."""
        p1 = self.p1
        lt1 = np.zeros(self.nl * p1 * p1)
        lt1[self.lt1_flat] = theta[self.lt1_lind]
        return lt1.reshape(self.nl, p1, p1)

    def a11(self, lt1):
        """The first term's diagonal blocks of A: Λ₁_g'M_gΛ₁_g + I, (nl, p₁, p₁)."""
        p1 = self.p1
        if p1 == 1:
            D = self.Md * (lt1 * lt1)
        elif p1 == 2:   # kept as is: the pinned 2-column fits (crossed, sleepstudy-like) use it
            D = np.einsum("gij,gjk,glk->gil", lt1, self.Md, lt1)
        else:           # batched matmul: ~2.5x faster than the three-operand einsum at p₁ = 6
            D = lt1 @ self.Md @ lt1.transpose(0, 2, 1)
        D[:, np.arange(p1), np.arange(p1)] += 1.0
        return D

    def f_values(self, theta, lt1, L1inv):
        """F = A₂₁L₁₁'⁻¹ at the slots, value order (ns × p₁), straight from θ: with
        K_g = Λ₁_g L₁_g'⁻¹, F_s = d_{row_s} m_s K_g (+ Λ₂'s off-diagonal coupling)."""
        p1 = self.p1
        m = self.v_m
        K = np.einsum("gji,gkj->gik", lt1, L1inv)          # Λ₁_g L₁_g'⁻¹ (nl, p1, p1)
        if self.v_order is not None:                      # level order: levels are runs
            Ks = np.repeat(K, np.diff(self.lev_ptr), axis=0)
        else:
            Ks = K[self.v_lev]
        if p1 == 1:
            Y = m * Ks[:, 0, :]
        elif p1 == 2:
            Y = np.empty_like(m)
            Y[:, 0] = m[:, 0] * Ks[:, 0, 0] + m[:, 1] * Ks[:, 1, 0]
            Y[:, 1] = m[:, 0] * Ks[:, 0, 1] + m[:, 1] * Ks[:, 1, 1]
        else:
            Y = np.einsum("si,sik->sk", m, Ks)
        del Ks
        d = self.lambda2_diag(theta)
        dl = self._d_lind
        if dl.shape[0] and np.all(dl == dl[0]):           # one θ on Λ₂'s whole diagonal
            F = Y * d[0]
        else:
            F = Y * d[self.v_row][:, None]
        if self._pj is not None:
            dst, src, k = self._pj
            np.add.at(F, dst, theta[k][:, None] * Y[src])
        return F

    def a22_map(self):
        """(Λ₂'XΛ₂ as a map of θ on M₂₂'s lower entries (:class:`~.blocked_thetamap.Lambda2`),
        M₂₂'s lower values)."""
        if self._a22 is None:
            flat, v = self._m22
            q2 = self.q2
            r2l, c2l, lind, nth = self._lam2
            self._a22 = (Lambda2(q2, r2l, c2l, lind, nth, flat, flat % q2, flat // q2), v)
        return self._a22

    def theta_map(self):
        """The θ-map of S (pair mode; built once)."""
        if self.tmap is None:
            flat, v = self._m22
            self.tmap = ThetaMap(self, flat, v, self._lam2)
        return self.tmap

    # -- slot pairs -----------------------------------------------------------------------
    def pairs(self):
        """(ps, pt, pdest, indptr): the pairs (s, t) of slots of one level with
        row_s ≥ row_t, s-major with t ascending (Q's CSR order), and the Fortran flat position
        (row_s, row_t) of each in the dense block. Built on demand (they are the layout's
        largest arrays; the θ-map replaces them)."""
        if self._pairs is None:
            ns, q2 = self.ns, self.q2
            it = self._pair_itype
            lo_ = self.lev_order
            rank = np.empty(ns, dtype=np.int64)
            rank[lo_] = np.arange(ns)                    # place of each slot in level order
            first_ = self.lev_ptr[self.slot_lev]         # its level's first place
            cnt = rank - first_ + 1
            indptr = np.concatenate(([0], np.cumsum(cnt)))
            ps = np.repeat(np.arange(ns, dtype=it), cnt)
            tpos = np.arange(indptr[-1], dtype=it)       # place of t in level order
            tpos -= np.repeat((indptr[:-1] - first_).astype(it), cnt)
            pt = lo_.astype(it)[tpos]
            del tpos
            srow = self.slot_row.astype(it)
            pdest = srow[pt]                             # lower triangle, Fortran order
            pdest *= it(q2)
            pdest += srow[ps]
            self._pairs = (ps, pt, pdest, indptr.astype(it))
        return self._pairs

    # -- pattern maps (built on first use) ------------------------------------------------
    def __getattr__(self, name):
        if name in _PATTERN and "_loc2" in self.__dict__:
            self._pattern_maps()
            return self.__dict__[name]
        raise AttributeError(name)

    def _pattern_maps(self):
        """Positions of A's pattern: the dense block's entries (lower ones for the
        factorisation, all for the inverse), the first term's diagonal blocks, the slots."""
        smap, off, q1, q2, loc2 = self._smap, self._off, self.q1, self.q2, self._loc2
        r, c = smap.rows, smap.cols
        in1r = (r >= off) & (r < off + q1)
        in1c = (c >= off) & (c < off + q1)
        sel22 = (~in1r) & (~in1c)
        r2, c2 = loc2[r[sel22]], loc2[c[sel22]]
        pos22 = np.flatnonzero(sel22)
        low = r2 >= c2
        self.pos22_low = pos22[low]
        self.flat22_low = c2[low] * q2 + r2[low]          # Fortran order
        self.pos22 = pos22
        # every entry read from the lower triangle of the (symmetric) inverse
        self.flat22 = np.minimum(r2, c2) * q2 + np.maximum(r2, c2)
        nl, p1, ns = self.nl, self.p1, self.ns
        if not nl:
            return
        g = np.arange(nl)[:, None, None]
        i = np.arange(p1)[None, :, None]
        j = np.arange(p1)[None, None, :]
        rr = np.broadcast_to(off + g * p1 + i, (nl, p1, p1)).ravel()
        cc = np.broadcast_to(off + g * p1 + j, (nl, p1, p1)).ravel()
        self.posD = smap.positions(rr, cc).reshape(nl, p1, p1)
        if np.any(self.posD < 0):
            raise LmerpyError("internal error: a diagonal block of A is not in its pattern")
        orow = np.broadcast_to(self.I2[self.slot_row][:, None], (ns, p1)).ravel()
        ocol = (off + self.slot_lev[:, None].astype(np.int64) * p1 + np.arange(p1)).ravel()
        self.posB = smap.positions(orow, ocol).reshape(ns, p1)
        self.posBt = smap.positions(ocol, orow).reshape(ns, p1)
        if int(np.count_nonzero(self.posB >= 0)) != int(np.count_nonzero(in1c & ~in1r)):
            raise LmerpyError("internal error: A₂₁'s pattern has entries outside the slots")

    def b_scatter(self):
        """(positions in S21, their places in A's pattern) for A₂₁ and A₁₂ (slot order)."""
        if "_b_scatter" not in self.__dict__:
            b, bt = self.posB.reshape(-1), self.posBt.reshape(-1)
            sel, selt = np.flatnonzero(b >= 0), np.flatnonzero(bt >= 0)
            self._b_scatter = (sel, b[sel], selt, bt[selt])
        return self._b_scatter

    def trailing_flats(self, blocks):
        """For every term but the first: (term index, flat positions (n_levels, p, p) of its
        diagonal blocks in S's lower triangle, Fortran order). Built once."""
        cache = self.__dict__.get("_trailing")
        if cache is None:
            cache = []
            q1, q2 = self.q1, self.q2
            end1 = self._off + q1
            for t, (off, nl, p) in enumerate(blocks):
                if t == self.first:
                    continue
                r = off + np.arange(nl * p).reshape(nl, p)
                r = np.where(r >= end1, r - q1, r)                  # row in S
                ri = np.broadcast_to(r[:, :, None], (nl, p, p))
                rj = np.broadcast_to(r[:, None, :], (nl, p, p))
                cache.append((t, np.minimum(ri, rj) * q2 + np.maximum(ri, rj)))
            self._trailing = cache
        return cache

    def F_structure(self):
        """(indices, indptr) of F (CSR, q₂ × q₁) in slot order."""
        if "_fstruct" not in self.__dict__:
            p1, q2 = self.p1, self.q2
            it = _itype(self.ns * p1, self.q1)
            ind = (self.slot_lev.astype(it)[:, None] * p1 + np.arange(p1, dtype=it)).ravel()
            ptr = np.concatenate(([0], np.cumsum(np.bincount(self.slot_row, minlength=q2)
                                                 * p1))).astype(it)
            self._fstruct = (ind, ptr)
        return self._fstruct

    def density(self):
        """Fraction of S's lower triangle that is structurally nonzero (1 without pairs)."""
        q2 = self.q2
        if q2 == 0:
            return 1.0
        if not self.ns or not self.has_pairs:
            return 1.0 if self.ns else self._m22[0].shape[0] / (q2 * (q2 + 1) / 2.0)
        return self.theta_map().xdest.shape[0] / (q2 * (q2 + 1) / 2.0)


def sparse_F(layout, values):
    """F (CSR, q₂ × q₁) with the given slot-order values (ns × p₁)."""
    ind, ptr = layout.F_structure()
    return sp.csr_matrix((values.reshape(-1), ind, ptr), shape=(layout.q2, layout.q1))
