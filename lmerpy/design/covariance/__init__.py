"""Covariance structures of random-effects terms: lme4 2.x's ``us()``, ``diag()``, ``cs()``,
``ar1()``.

One :class:`Covariance` per term owns its parameterisation — ``par`` (the optimizer's
parameters, bounds and start), θ (the values of Λᵢ's structural nonzeros, Λᵢ linear in θ),
θ ↔ ``par`` with the Jacobian, Λᵢ and Σᵢ, the profile scale (SDs and correlations), names,
the ``VarCorr`` display class and the singularity test; :class:`CovarianceLayout` puts the
terms of a model together (offsets, Λ' template and ``Lind``). Nothing here depends on a
later stage.

R equivalent: lme4 2.1's R/covariance.R (``Covariance.us``, ``Covariance.diag``,
``Covariance.cs``, ``Covariance.ar1``, ``upReTrms``, ``mkMkPar``, ``mkMkTheta``).
"""
from __future__ import annotations

from typing import Dict, Optional, Type

from ...errors import ArgumentError
from .ar1 import AR1
from .base import SINGULAR_TOL, Covariance
from .cs import CompoundSymmetry
from .diag import Diagonal
from .layout import CovarianceLayout
from .scaled import ScaledCorrelation
from .us import Unstructured

__all__ = ["Covariance", "Unstructured", "Diagonal", "ScaledCorrelation", "CompoundSymmetry",
           "AR1", "CovarianceLayout", "STRUCTURES", "make_covariance", "SINGULAR_TOL"]

#: The structures by the name of their call in a formula (lme4 2.x's specials).
STRUCTURES: Dict[str, Type[Covariance]] = {
    "us": Unstructured, "diag": Diagonal, "cs": CompoundSymmetry, "ar1": AR1,
}


def make_covariance(kind: str, k: int, hom: Optional[bool] = None) -> Covariance:
    """The covariance structure ``kind`` (``"us"``, ``"diag"``, ``"cs"``, ``"ar1"``) of a term
    with ``k`` columns; ``hom=None`` takes lme4's default for the structure."""
    cls = STRUCTURES.get(kind)
    if cls is None:
        raise ArgumentError(f"unknown covariance structure {kind!r}; use one of "
                            f"{', '.join(STRUCTURES)}")
    return cls(k) if hom is None else cls(k, hom)
