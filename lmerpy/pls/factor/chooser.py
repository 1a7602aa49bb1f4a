"""Which Cholesky factor (:class:`~.protocol.Factor`) for A's pattern: one table for
LMMs and GLMMs.

Two families of backends factor A = Λ'Z'WZΛ + I:

* SciPy only: all of A dense when q is small; otherwise the term with the most random effects
  first (its block of A is block-diagonal by level) and the rest as one dense block — the
  crossed designs' fill lands there (InstEval: 1142 × 1142);
* CHOLMOD (scikit-sparse), as lme4: keeps deeply nested designs sparse.

``backend="cholmod"`` / ``"scipy"`` forces one; None takes the SciPy factor while q is small,
or its dense block is small, or dense anyway, and CHOLMOD otherwise (the SciPy factor when
CHOLMOD is not installed and the dense block fits). The numbers differ with whether the
weights vary, so the table is keyed by it: an LMM's W is fixed, so its blocked factor builds A
from precomputed products of Z'WZ and stays cheaper than CHOLMOD up to a larger dense block;
glmer's PIRLS changes W at every iteration, so its factors start from A's values each time.
The two rows stay separate until a benchmark shows one serves both.

R equivalent: none (lme4 always uses CHOLMOD through the Matrix package).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ...errors import LmerpyError
from ...threads import request_threads
from .block_first import BlockFirstFactor, schur_pattern
from .blocked import DENSE_Q, MAX_DENSE, BlockedFactor, blocked_plan
from .cholmod import CholmodFactor, cholmod_available
from .dense import DenseFactor

__all__ = ["BACKENDS", "THRESHOLDS", "Thresholds", "available_backends", "backend_key",
           "choose_factor", "scipy_candidate"]

BACKENDS = ("cholmod", "scipy")


@dataclass(frozen=True)
class Thresholds:
    """When the SciPy factor is preferred to CHOLMOD, for one kind of deviance.

    Attributes
    ----------
    dense_q : int
        Up to this q all of A is one dense matrix (always the SciPy factor unless CHOLMOD is
        asked for).
    cheap_q2 : int
        A dense block this small costs less than CHOLMOD's overhead and supernodal fill.
    min_density : float
        ... or the dense block is at least this dense (structurally, lower triangle).
    max_q2 : int
        The largest dense block the SciPy factor accepts (q₂² doubles).
    """

    dense_q: int
    cheap_q2: int
    min_density: float
    max_q2: int


#: keyed by ``weights_vary``: False for lmer (W fixed), True for glmer's PIRLS
THRESHOLDS: Dict[bool, Thresholds] = {
    False: Thresholds(dense_q=DENSE_Q, cheap_q2=300, min_density=0.1, max_q2=MAX_DENSE),
    True: Thresholds(dense_q=100, cheap_q2=60, min_density=0.25, max_q2=6000),
}


def available_backends():
    """Names of the usable factorisation backends (``"cholmod"`` first when installed).

    R equivalent: none (lme4 always uses CHOLMOD through the Matrix package).
    """
    return [b for b in BACKENDS if b != "cholmod" or cholmod_available()]


def backend_key(backend):
    """``backend`` as one of :data:`BACKENDS` or None; an unknown name is an error, and
    ``"cholmod"`` without scikit-sparse too."""
    key = None if backend is None else str(backend).lower()
    if key not in (None,) + BACKENDS:
        raise LmerpyError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    if key == "cholmod" and not cholmod_available():
        raise LmerpyError("backend 'cholmod' needs scikit-sparse 0.4 (sksparse.cholmod), "
                          "which is not installed or not usable (lmerpy.show_config() says "
                          "why); use backend='scipy'")
    return key


def first_term_block(smap, blocks):
    """(term index, q₂): the term with the most random effects and the size of the rest, if
    that term's block of A is block-diagonal by level; else (None, q)."""
    if not blocks:
        return None, smap.q
    t = int(np.argmax([nl * nc for _, nl, nc in blocks]))
    off, nl, nc = blocks[t]
    r, c = smap.rows, smap.cols
    both = (r >= off) & (r < off + nl * nc) & (c >= off) & (c < off + nl * nc)
    if np.any((r[both] - off) // nc != (c[both] - off) // nc):
        return None, smap.q
    return t, smap.q - nl * nc


def scipy_candidate(smap, blocks, weights_vary=False,
                    pattern=None) -> Tuple[Optional[object], int]:
    """(the SciPy factor for this pattern or None when its dense block would exceed
    ``max_q2``, the size q₂ of that dense block).

    Fixed weights: :class:`~.blocked.BlockedFactor` (all dense for q ≤ ``dense_q``). Varying
    weights: :class:`~.dense.DenseFactor` for q ≤ ``dense_q``, else
    :class:`~.block_first.BlockFirstFactor`.
    """
    T = THRESHOLDS[bool(weights_vary)]
    if not weights_vary:
        first, q2, ok = blocked_plan(smap, blocks, T.max_q2)
        return (BlockedFactor(smap, blocks, first) if ok else None), q2
    if smap.q <= T.dense_q:
        return DenseFactor(smap), smap.q
    first, q2 = first_term_block(smap, blocks)
    if first is None or q2 > T.max_q2:
        return None, q2
    return BlockFirstFactor(smap, blocks, first, pattern=pattern), q2


def _sparse_schur(smap, blocks, T):
    """Varying weights: whether the block-first factor's Schur complement is known to be
    too sparse for it (density below ``T.min_density``, where CHOLMOD is taken when
    available) from its pattern alone, so that the factor itself need not be built
    (grouseticks: ~0.5 ms per fit); returns (too sparse, the pattern or None)."""
    if smap.q <= T.dense_q:
        return False, None
    first, q2 = first_term_block(smap, blocks)
    if first is None or q2 > T.max_q2 or q2 <= T.cheap_q2:
        return False, None
    pattern = schur_pattern(smap, blocks, first)
    return pattern.density() < T.min_density, pattern


def choose_factor(smap, blocks, backend=None, weights_vary=False, candidate=None):
    """The factor for A's pattern (see the module docstring for the rule).

    Parameters
    ----------
    smap : ScalingMap
        A's pattern.
    blocks : list of (row_offset, n_levels, n_columns)
    backend : {"cholmod", "scipy", None}
    weights_vary : bool
        False: lmer (A from θ, W fixed); True: glmer's PIRLS (A's values change with W).
    candidate : (factor or None, q₂), optional
        :func:`scipy_candidate`'s result when the caller already has it (lmer keeps it for
        A⁻¹ on the side); it is returned itself when chosen.

    Raises
    ------
    LmerpyError
        An unknown backend, ``"cholmod"`` without scikit-sparse, or a dense block beyond
        ``max_q2`` when CHOLMOD cannot be used.
    """
    key = backend_key(backend)
    T = THRESHOLDS[bool(weights_vary)]
    if key == "cholmod":
        return CholmodFactor(smap, weights_vary=weights_vary)
    pattern = None
    if candidate is None and weights_vary and key is None:
        sparse, pattern = _sparse_schur(smap, blocks, T)
        if sparse and cholmod_available():   # the choice below, without building the factor
            return CholmodFactor(smap, weights_vary=weights_vary)
    blk, q2 = candidate if candidate is not None else scipy_candidate(smap, blocks,
                                                                      weights_vary, pattern)
    # scikit-sparse is imported (~5 ms, and CHOLMOD's BLAS loaded) only when the cheap tests
    # leave the choice open
    if blk is not None and (key == "scipy" or smap.q <= T.dense_q or q2 <= T.cheap_q2
                            or not cholmod_available()
                            or blk.dense_block_density() >= T.min_density):
        request_threads(q2)  # a large dense block may run its BLAS on idle cores
        return blk
    if key != "scipy" and cholmod_available():
        return CholmodFactor(smap, weights_vary=weights_vary)
    if key == "scipy":
        raise LmerpyError(
            f"backend 'scipy' holds the random effects outside the largest term in a dense "
            f"block, here {q2} x {q2} (limit {T.max_q2}); install scikit-sparse for "
            f"backend='cholmod'")
    raise LmerpyError(
        f"this design needs a dense {q2} x {q2} block without scikit-sparse (limit "
        f"{T.max_q2}); install scikit-sparse (CHOLMOD)")
