"""The contract of a Cholesky factor of A = Λ'Z'WZΛ + I (what the PLS core asks of a backend).

A factor object belongs to one sparsity pattern of A (a :class:`~.crossprod.ScalingMap`: A's
structural nonzeros, the map θ → A's values, the terms' blocks). Its symbolic work — the
fill-reducing permutation P, index maps, CHOLMOD's analysis — is done once, when the object is
made; each call of :meth:`Factor.factor` is a numeric factorisation over that pattern::

    P A P' = L L'      (L lower triangular; ``perm`` is P as an index vector)

Implementations:

* :class:`~.blocked.BlockedFactor` — lmer, SciPy only: the largest term first, the rest one
  dense block (all of A dense when q is small);
* :class:`~.cholmod.CholmodFactor` — lmer and glmer, CHOLMOD as lme4 (one CSC matrix kept);
* :class:`~.dense.DenseFactor` — glmer, all of A dense (small q);
* :class:`~.block_first.BlockFirstFactor` — glmer, the largest term first, a dense Schur
  complement.

All of them belong to one class family (:mod:`.base`: ``FactorBase``, ``FirstTermFactor``).

The LMM factors may take θ and build A's pieces from precomputed products of the constant
Z'WZ; the GLMM factors take A's values only (W changes at every PIRLS iteration). A⁻¹ is
asked of a factor through its own formulas only (:meth:`Factor.inverse_on_pattern`,
:meth:`Factor.diagonal_blocks`, None when it has none); :mod:`lmerpy.pls.factor.inverse` is the one
policy that falls back to Takahashi's recurrences or dense solves.

R equivalent: the ``L`` slot of lme4's ``merPredD`` (always CHOLMOD's ``CHMfactor``);
MixedModels.jl's ``BlockedSparse``/``updateL!``.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol, runtime_checkable

import numpy as np

__all__ = ["Factor"]


@runtime_checkable
class Factor(Protocol):
    """A Cholesky factor of A over a fixed pattern: factorise, log-determinant, solves, A⁻¹.

    Attributes
    ----------
    name : str
        The backend's name (``"scipy"``, ``"cholmod"``, ``"dense"``, ``"blocked"``).
    q : int
        Order of A (number of random effects).
    perm : ndarray of int (q,)
        The fill-reducing permutation P as an index vector: L L' = A[perm][:, perm]. Fixed
        for the object's life (chosen at construction).
    """

    name: str
    q: int
    perm: np.ndarray

    def factor(self, values: Optional[np.ndarray], theta: Optional[np.ndarray] = None) -> None:
        """Numeric factorisation of A, replacing the previous one.

        ``values`` are A's values on its pattern (``smap.values(θ)`` for an LMM, ``A(θ, w)``
        for PIRLS). A factor that can build A's pieces from θ directly (the blocked LMM
        factor) does so when ``theta`` is given, and then may not read ``values`` (None is
        allowed there); every other factor ignores ``theta``. The result must not depend on
        the route (tests compare them).

        Raises a :class:`~lmerpy.errors.LmerpyError` subclass when A is not numerically
        positive definite (only a rounding catastrophe or non-finite working weights: A ≥ I).
        """

    def logdet(self) -> float:
        """log|A| = log|L|² of the last factorisation (lme4's ``ldL2``)."""

    def solve_L(self, B: np.ndarray) -> np.ndarray:
        """L⁻¹ P B for a vector or matrix B with q rows (rows of the result in P's order)."""

    def solve_Lt(self, C: np.ndarray) -> np.ndarray:
        """P' L'⁻¹ C (C's rows in P's order; the result in A's order)."""

    def solve_A(self, B: np.ndarray) -> np.ndarray:
        """A⁻¹ B = P' L'⁻¹ L⁻¹ P B."""

    def L_matrix(self) -> Any:
        """L as a SciPy CSC matrix (lower triangular, P's order): ``getME(fit, "L")``."""

    def inverse_on_pattern(self) -> Optional[np.ndarray]:
        """A⁻¹'s values on A's full pattern (``smap.rows``, ``smap.cols``) by this factor's
        own formulas, or None when it has none (:mod:`lmerpy.pls.factor.inverse` then takes
        Takahashi's recurrences or dense solves)."""

    def diagonal_blocks(self, row_offset: int, n_levels: int,
                        n_columns: int) -> Optional[np.ndarray]:
        """The diagonal blocks (n_levels, n_columns, n_columns) of A⁻¹ for one term (rows
        from ``row_offset``) by this factor's own formulas, or None when it has none."""

    def copy(self) -> "Factor":
        """An independent factor of the same pattern sharing the symbolic analysis (for another
        response or thread); call :meth:`factor` before using it."""
