"""A⁻¹ where it is needed: the one policy for every factor, LMM and GLMM.

The analytic gradient and the average-information matrix need A⁻¹ on A's pattern; conditional
variances (``ranef(condVar = TRUE)``) need its diagonal blocks. Nobody needs all of A⁻¹ (q²
values). In order:

1. the factor's own formulas (:meth:`~.protocol.Factor.inverse_on_pattern`,
   :meth:`~.protocol.Factor.diagonal_blocks`: the blocked layouts and the all-dense
   factors);
2. a blocked factor on the side, refactorised at the same point, when all of A is dense there
   (small q: nothing is cheaper) — lmer keeps one next to CHOLMOD;
3. Takahashi's recurrences on L (:mod:`.takahashi`) when their work is within
   :data:`TAKAHASHI_BUDGET` (little fill: nested designs);
4. the blocked factor on the side (crossed designs under CHOLMOD: all fill in one dense block);
5. solves with the factor, one per column needed, when q ≤ :data:`DENSE_INVERSE_Q`;
6. otherwise a :class:`~lmerpy.errors.FitError` naming the limits.

R equivalent: none (lme4's ``condVar`` solves with the CHOLMOD factor column by column).
"""
from __future__ import annotations

import numpy as np

from ...errors import FitError
from .takahashi import TakahashiPlan, takahashi_work

__all__ = ["DENSE_INVERSE_Q", "SparseInverse", "TAKAHASHI_BUDGET", "level_blocks"]

#: most work (Σ_j |R_j|², ~24 bytes each in the plan) for Takahashi's sparse inverse subset
TAKAHASHI_BUDGET = 5_000_000
#: largest q for which solves with the factor are the last resort
DENSE_INVERSE_Q = 6000


def level_blocks(sub, nlev, ncol, out=None):
    """The ncol×ncol diagonal blocks of a (nlev·ncol)-square matrix, as (nlev, ncol, ncol)."""
    if out is None:
        out = np.empty((nlev, ncol, ncol))
    for g in range(nlev):
        s = slice(g * ncol, (g + 1) * ncol)
        out[g] = sub[s, s]
    return out


def block_positions(smap, row_offset, nlev, ncol):
    """Positions in A's pattern of one term's diagonal blocks, shaped (nlev, ncol, ncol)."""
    base = row_offset + np.arange(nlev)[:, None, None] * ncol
    rr = np.broadcast_to(base + np.arange(ncol)[None, :, None], (nlev, ncol, ncol))
    cc = np.broadcast_to(base + np.arange(ncol)[None, None, :], (nlev, ncol, ncol))
    return smap.positions(rr.ravel(), cc.ravel()).reshape(nlev, ncol, ncol)


class SparseInverse:
    """A⁻¹ on A's pattern, or one term's diagonal blocks, from the current factorisation of
    any :class:`~.protocol.Factor` (the policy of the module docstring).

    Parameters
    ----------
    smap : ScalingMap
        A's pattern (``rows``, ``cols``, ``positions``).

    Attributes
    ----------
    route : str or None
        The step that gave the last result: ``"own"``, ``"side"``, ``"takahashi"``,
        ``"solves"`` (for tests and diagnostics).

    The methods take the factor and, optionally, ``side``: a callable returning a factor with
    its own A⁻¹ formulas refactorised at the point of the main factor's last factorisation
    (or None: there is none) — lmer's blocked factor next to CHOLMOD — and ``side_dense``:
    that factor holds all of A dense (step 2 applies).
    """

    def __init__(self, smap, _plan=None):
        self.smap = smap
        self._plan = _plan       # Takahashi's plan: None (not tried), False (too costly), plan
        self.route = None

    def copy(self):
        """An independent policy object sharing the Takahashi plan (read-only)."""
        return SparseInverse(self.smap, self._plan)

    @property
    def takahashi_plan(self):
        """Takahashi's plan for the factor's L: None (not tried yet), False (beyond the
        budget) or the plan."""
        return self._plan

    def _takahashi(self, fac):
        """(plan, L) when Takahashi's recurrences are within budget, else (None, None)."""
        L = fac.L_matrix()
        plan = self._plan
        if plan is None or (plan is not False and not plan.matches(L)):
            plan = False
            if takahashi_work(L) <= TAKAHASHI_BUDGET:
                try:
                    plan = TakahashiPlan(L, fac.perm, self.smap.rows, self.smap.cols)
                except ValueError:
                    # L's pattern lost entries of A that are exactly 0 at this point (a θ
                    # of 0 zeroes a block): not a plan for the structure; the next route
                    return None, None
            self._plan = plan
        return (plan, L) if plan else (None, None)

    def _too_large(self, what):
        return FitError(
            f"{what} needs the sparse inverse of A, which is too large for this design "
            f"(q = {self.smap.q} > {DENSE_INVERSE_Q} for dense solves, and the factor has too "
            f"much fill for Takahashi's recurrences: work > {TAKAHASHI_BUDGET})")

    def on_pattern(self, fac, side=None, side_dense=False):
        """A⁻¹'s values on A's full pattern (``smap.rows``, ``smap.cols``)."""
        smap = self.smap
        own = fac.inverse_on_pattern()
        if own is not None:
            self.route = "own"
            return own
        if side_dense and side is not None:
            blk = side()
            if blk is not None:
                self.route = "side"
                return blk.inverse_on_pattern()
        plan, L = self._takahashi(fac)
        if plan is not None:
            self.route = "takahashi"
            return plan.inverse(L)
        blk = side() if side is not None else None
        if blk is not None:
            self.route = "side"
            return blk.inverse_on_pattern()
        if smap.q <= DENSE_INVERSE_Q:
            self.route = "solves"
            Ainv = fac.solve_A(np.eye(smap.q))
            return Ainv[smap.rows, smap.cols]
        raise self._too_large("the analytic gradient or conditional variances")

    def diagonal_blocks(self, fac, row_offset, nlev, ncol, side=None, side_dense=False):
        """The diagonal blocks (nlev, ncol, ncol) of A⁻¹ for the term at ``row_offset``."""
        own = fac.diagonal_blocks(row_offset, nlev, ncol)
        if own is not None:
            self.route = "own"
            return own
        own, self.route = fac.inverse_on_pattern(), "own"
        if own is None and side_dense and side is not None:
            blk = side()
            own, self.route = (blk.inverse_on_pattern(), "side") if blk is not None else (None,
                                                                                          None)
        if own is not None:
            return own[block_positions(self.smap, row_offset, nlev, ncol)]
        plan, L = self._takahashi(fac)
        if plan is not None:
            self.route = "takahashi"
            return plan.inverse(L)[block_positions(self.smap, row_offset, nlev, ncol)]
        blk = side() if side is not None else None
        if blk is not None:
            self.route = "side"
            return blk.inverse_on_pattern()[block_positions(self.smap, row_offset, nlev, ncol)]
        q = self.smap.q
        if q <= DENSE_INVERSE_Q:
            self.route = "solves"
            idx = row_offset + np.arange(nlev * ncol)
            E = np.zeros((q, idx.shape[0]))
            E[idx, np.arange(idx.shape[0])] = 1.0
            return level_blocks(fac.solve_A(E)[idx], nlev, ncol)
        raise self._too_large("conditional variances")
