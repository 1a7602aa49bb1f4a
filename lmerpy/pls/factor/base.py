"""The class hierarchy of the Cholesky factors of A = Λ'Z'WZΛ + I (one family for lmer and
glmer; the contract itself is :class:`~.protocol.Factor`).

::

    FactorBase                  defaults: A⁻¹B by the two triangular solves, no own A⁻¹
    ├── DenseFactor             all of A dense (glmer, q small)
    ├── CholmodFactor           CHOLMOD as lme4 (lmer and glmer)
    └── FirstTermFactor         the largest term first, the rest one dense block S
        ├── BlockedFactor       A's pieces from θ and the fixed Z'WZ (lmer), or A's values
        └── BlockFirstFactor    A's values at every PIRLS iteration (glmer)

The two first-term factors stay separate classes because their results differ in the last
bits: ``BlockedFactor`` takes closed forms for 2×2 first blocks and forms FF' by a θ-map over
slot pairs, dense BLAS chunks or a sparse product (chosen by cost), ``BlockFirstFactor`` by
LAPACK per level and its own dense/sparse rule; the glmer fits pinned to the bit were made with
the latter. Both report their dense block's structural density for the chooser.

R equivalent: the ``L`` slot of lme4's ``merPredD`` (always CHOLMOD's ``CHMfactor``).
"""
from __future__ import annotations

__all__ = ["FactorBase", "FirstTermFactor"]


class FactorBase:
    """What every factor shares (see :class:`~.protocol.Factor` for the contract)."""

    def solve_A(self, B):
        """A⁻¹ B = P' L'⁻¹ L⁻¹ P B (the two triangular solves)."""
        return self.solve_Lt(self.solve_L(B))

    def inverse_on_pattern(self):
        """None: no own formulas for A⁻¹ on A's pattern (see :mod:`.inverse`)."""
        return None

    def diagonal_blocks(self, row_offset, n_levels, n_columns):
        """None: no own formulas for A⁻¹'s diagonal blocks (see :mod:`.inverse`)."""
        return None

    def dense_block_density(self):
        """Structural density of the factor's dense part (lower triangle): 1.0 when all of A
        is dense."""
        return 1.0


class FirstTermFactor(FactorBase):
    """The term with the most random effects first (its block of A is block-diagonal by
    level: one small Cholesky per level), the other terms as one dense Schur complement
    S = A₂₂ − FF', F = A₂₁L₁₁'⁻¹; ``perm`` puts the first term first."""

    def dense_block_density(self):
        raise NotImplementedError
