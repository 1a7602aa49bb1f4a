"""∂ log|A(θ)| / ∂θ from the sums of A⁻¹'s diagonal blocks only.

Λ is block diagonal: term t, level g has the block T_t (p_t×p_t, lower triangular in lme4,
θ entries at fixed places), the same for every level. With D_k = ∂Λ/∂θ_k and M = Z'WZ,
A = Λ'MΛ + I::

    ∂ log|A| / ∂θ_k = 2 tr(A⁻¹ Λ'M D_k) = 2 tr(A⁻¹ (A − I) Λ⁻¹ D_k)
                   = 2 tr((I − A⁻¹) Λ⁻¹ D_k)

and Λ⁻¹D_k lives in term t's diagonal blocks. For T_t[i, j] = θ_k this is

    2 [ (n_t I − E_t) T_t⁻¹ ]_{j i},      E_t = Σ_g (A⁻¹)_gg   (sum over t's n_t levels)

— for a scalar term (2/θ_t)(q_t − tr_t(A⁻¹)). Only the per-term sums E_t are needed, not A⁻¹ on
the whole pattern (:func:`.blocked_inverse.block_traces`). The formula needs every T_t
invertible and loses digits when n_t I − E_t is small against n_t (θ_t near 0: the logdet
hardly depends on it); :meth:`TermTemplates.gradient` then returns None and the caller uses the
pattern formula (``ScalingMap.trace_gradient``).

R equivalent: none (lme4 differentiates the deviance numerically).
"""
from __future__ import annotations

import numpy as np

__all__ = ["TermTemplates"]

#: n_t‖T_t⁻¹‖ may be at most this multiple of ‖(n_t I − E_t)T_t⁻¹‖ (otherwise the subtraction
#: would cost more than ~4 of the 16 digits; ~1e-11 relative error at worst)
_MAX_CANCELLATION = 1e4


class TermTemplates:
    """Λ's per-term block templates, when Λ has lme4's structure.

    Parameters
    ----------
    smap : ScalingMap
        Its Λ' template (``lt_rows``, ``lt_cols``, ``Lind0``).
    blocks : list of (row_offset, n_levels, n_columns)

    Attributes
    ----------
    ok : bool
        True when every structural nonzero of Λ' lies in a diagonal (term, level) block and
        every level of a term has the same θ indices at the same places.
    tidx : list of ndarray (p_t, p_t) of int
        θ index of T_t[i, j] (−1: structural zero).
    """

    def __init__(self, smap, blocks):
        self.blocks = [(int(o), int(n), int(p)) for o, n, p in blocks]
        self.n_theta = smap.n_theta
        self.tidx = []
        self.ok = self._analyse(smap)

    def _analyse(self, smap):
        a, b, k = smap.lt_rows, smap.lt_cols, smap.Lind0      # Λ'[a, b] = θ_k = Λ[b, a]
        seen = 0
        for off, nl, p in self.blocks:
            end = off + nl * p
            ina = (a >= off) & (a < end)
            if np.any(ina != ((b >= off) & (b < end))):
                return False
            la, lb, kk = a[ina] - off, b[ina] - off, k[ina]
            lev = la // p
            if np.any(lev != lb // p):
                return False
            key = (lb % p) * p + la % p                          # T[i, j], i = b, j = a
            tidx = np.full(p * p, -1, dtype=np.int64)
            tidx[key] = kk
            if np.any(tidx[key] != kk):
                return False
            per = int(np.count_nonzero(tidx >= 0))
            if kk.shape[0] != nl * per or np.any(np.bincount(lev, minlength=nl) != per):
                return False
            self.tidx.append(tidx.reshape(p, p))
            seen += kk.shape[0]
        return seen == a.shape[0]

    def gradient(self, theta, traces):
        """∂ log|A| / ∂θ from E_t = ``traces[t]``; None where the formula does not apply
        (a singular T_t, or too much cancellation in n_t I − E_t)."""
        th = np.asarray(theta, dtype=float)
        g = np.zeros(self.n_theta)
        for (off, nl, p), tidx, E in zip(self.blocks, self.tidx, traces):
            if E is None:
                return None
            has = tidx >= 0
            T = np.zeros((p, p))
            T[has] = th[tidx[has]]
            if p == 1:
                if T[0, 0] == 0.0:
                    return None
                Tinv = 1.0 / T
            else:
                d = np.abs(np.diagonal(T))
                if np.any(T[np.triu_indices(p, 1)] != 0.0) or not np.all(d > 0.0):
                    return None                                  # not an invertible lower T
                Tinv = np.linalg.inv(T)
            R = (nl * np.eye(p) - E) @ Tinv
            if not (nl * np.linalg.norm(Tinv) <= _MAX_CANCELLATION * np.linalg.norm(R)):
                return None
            i, j = np.nonzero(has)
            np.add.at(g, tidx[i, j], 2.0 * R[j, i])
        return g
