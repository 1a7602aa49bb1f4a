"""Sparse Cholesky of A(θ) with CHOLMOD (scikit-sparse), as lme4 does it.

The fill-reducing permutation P is chosen once (symbolic analysis at a θ where every template
entry is nonzero); each θ only refactorises numerically, ``L L' = P A P'``.
:class:`CholmodFactor` serves lmer (A's values from θ) and glmer's PIRLS (A's values change at
every iteration) with one CSC matrix kept, its values rewritten.

R equivalent: ``Matrix::Cholesky(..., LDL = FALSE, super = NA)`` inside lme4's ``merPredD``
(``updateL()``).
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
import scipy.sparse as sp

from ...threads import refresh_pools
from .base import FactorBase

__all__ = ["cholmod_available", "cholmod_status", "CholmodFactor", "SUPPORTED", "MODULE_API",
           "FACTOR_API"]

#: the scikit-sparse releases whose API this backend uses (``lmerpy[cholmod]`` pins them):
#: 0.5 rewrote ``sksparse.cholmod`` (no ``analyze``, ``cholesky_inplace``, ``solve_L``)
SUPPORTED = "scikit-sparse>=0.4.16,<0.5"
#: what this backend calls: module functions, then methods of the factor
MODULE_API = ("analyze", "CholmodTypeConversionWarning", "Factor")
FACTOR_API = ("cholesky_inplace", "logdet", "solve_L", "solve_Lt", "apply_P", "apply_Pt", "P",
               "L", "copy")


def cholmod_status():
    """``(usable, description)`` of the installed scikit-sparse, for ``show_config()``.

    Usable when ``sksparse.cholmod`` imports and has the 0.4 series' API that
    :class:`CholmodFactor` calls; otherwise the description says what is missing.
    """
    fresh = "sksparse.cholmod" not in sys.modules
    try:
        import sksparse
        from sksparse import cholmod
    except Exception as exc:  # noqa: BLE001 - any import failure means "absent"
        if isinstance(exc, ModuleNotFoundError) and exc.name in ("sksparse", "sksparse.cholmod"):
            return False, "scikit-sparse not installed"
        return False, f"scikit-sparse does not import ({type(exc).__name__}: {exc})"
    if fresh:  # CHOLMOD's BLAS and OpenMP libraries were just loaded
        refresh_pools()
    version = getattr(sksparse, "__version__", "?")
    missing = [n for n in MODULE_API if not hasattr(cholmod, n)]
    if not missing:
        missing = [f"Factor.{n}" for n in FACTOR_API if not hasattr(cholmod.Factor, n)]
    if missing:
        return False, (f"scikit-sparse {version} lacks {', '.join(missing)}: lmerpy needs "
                       f"'{SUPPORTED}'")
    return True, f"scikit-sparse {version}"


def cholmod_available():
    """True when scikit-sparse's CHOLMOD wrapper imports and has the API lmerpy uses."""
    return cholmod_status()[0]


class CholmodFactor(FactorBase):
    """CHOLMOD factor of A over a fixed pattern (see :class:`~.crossprod.ScalingMap`), for
    lmer and glmer alike (lme4's ``merPredD``: one factorisation for both).

    A is refactorised from one CSC matrix kept across calls (only its values are rewritten:
    half the cost of a new matrix per call, the same numbers); log|A| is computed when first
    asked (PIRLS needs the last iteration's only).

    Parameters
    ----------
    smap : ScalingMap
    analyze_values : ndarray
        Values on the pattern used for the symbolic analysis (every entry nonzero).
    weights_vary : bool
        True for glmer's PIRLS: A⁻¹B is one CHOLMOD solve (``solve_A``); False (lmer): the
        two triangular solves of :meth:`solve_L` and :meth:`solve_Lt`. The two routes are
        kept because their last bits may differ and the pinned fits were made with them.
    """

    name = "cholmod"

    def __init__(self, smap, analyze_values=None, _factor=None, weights_vary=False):
        fresh = "sksparse.cholmod" not in sys.modules
        from sksparse import cholmod
        if fresh:   # CHOLMOD's BLAS and OpenMP were just loaded: the fit's limit covers them
            refresh_pools()

        self._cholmod = cholmod
        self.smap = smap
        self.q = smap.q
        self.weights_vary = bool(weights_vary)
        if _factor is not None:
            self._f = _factor
        else:
            if analyze_values is None:
                analyze_values = np.ones(smap.nnz)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", cholmod.CholmodTypeConversionWarning)
                self._f = cholmod.analyze(smap.lower_matrix(analyze_values), mode="auto")
        self.perm = np.asarray(self._f.P(), dtype=np.int64)
        A = smap.lower_matrix(np.ones(smap.nnz))
        self._A = A if A.has_canonical_format else None
        self._pos = smap.lower_pos
        self._logdet = None
        self._values = None

    def __getstate__(self):  # CHOLMOD factors cannot be pickled: redo the analysis
        return {"smap": self.smap, "weights_vary": self.weights_vary}

    def __setstate__(self, state):
        self.__init__(state["smap"], weights_vary=state.get("weights_vary", False))

    def copy(self):
        """An independent factor sharing the symbolic analysis (for ``with_response``)."""
        return CholmodFactor(self.smap, _factor=self._f.copy(), weights_vary=self.weights_vary)

    def factor(self, values, theta=None):
        """Numeric factorisation of A with the given pattern values (θ is not needed)."""
        A = self._A
        if A is None:
            A = self.smap.lower_matrix(values)
        else:
            np.take(values, self._pos, out=A.data)
        self._f.cholesky_inplace(A)
        self._values = values
        self._logdet = None

    def logdet(self):
        """log|A| = log|L|² (lme4's ``ldL2``)."""
        if self._logdet is None:
            self._logdet = float(self._f.logdet())
        return self._logdet

    def solve_L(self, B):
        """L⁻¹ P B (forward solve of the permuted right-hand side)."""
        B = np.asarray(B, dtype=float)
        if B.shape[0] == 0:
            return B.copy()
        return np.asarray(self._f.solve_L(self._f.apply_P(B), use_LDLt_decomposition=False))

    def solve_Lt(self, C):
        """P' L'⁻¹ C."""
        C = np.asarray(C, dtype=float)
        if C.shape[0] == 0:
            return C.copy()
        return np.asarray(self._f.apply_Pt(self._f.solve_Lt(C, use_LDLt_decomposition=False)))

    def solve_A(self, B):
        """A⁻¹ B (one CHOLMOD solve when ``weights_vary``, else two triangular solves)."""
        if not self.weights_vary:
            return self.solve_Lt(self.solve_L(B))
        B = np.asarray(B, dtype=float)
        if B.shape[0] == 0:
            return B.copy()
        return np.asarray(self._f.solve_A(B))

    def L_matrix(self):
        """The lower-triangular factor L (CSC), L L' = A[perm][:, perm]."""
        return sp.csc_matrix(self._f.L())

