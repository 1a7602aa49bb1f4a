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
from .blocked_bands import ftsf, sinv_f

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


def _symmetrize(Sinv, block=256):
    """Copy the lower triangle of a square Fortran array onto its upper one (in place), by
    column blocks (no index arrays over the whole triangle)."""
    q = Sinv.shape[0]
    for j0 in range(0, q, block):
        j1 = min(q, j0 + block)
        D = Sinv[j0:j1, j0:j1]
        iu = np.triu_indices(j1 - j0, 1)
        D[iu] = D.T[iu]
        if j1 < q:
            Sinv[j0:j1, j1:] = Sinv[j1:, j0:j1].T
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
        T[st.lev_order] = sinv_f(fac, full)[1]
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
        return ftsf(fac, full)
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


#: seconds per gathered S⁻¹ entry, and per BLAS flop (the choice between the two)
_T_GATHER, _T_FLOP = 1e-8, 2.5e-11


def _gather_is_cheaper(st):
    k = np.diff(st.lev_ptr).astype(np.float64)
    return _T_GATHER * float(np.dot(k, k)) < _T_FLOP * 2.0 * st.q2 * st.q2 * st.q1
