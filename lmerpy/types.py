"""Type aliases used in the annotations of lmerpy's public API.

They document what each argument accepts; type checkers read them (lmerpy ships
``py.typed``). Importing this module costs nothing beyond NumPy, which ``import lmerpy``
loads anyway.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence, Union

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from .formula.terms import Formula
    from .inference.reform import NAType
    from .models.glmm import GeneralizedLinearMixedModel
    from .models.lmm import LinearMixedModel

__all__ = ["ArrayLike", "DataLike", "FormulaLike", "VectorArg", "ContrastsArg", "StartArg",
           "Backend", "NaAction", "Seed", "ReForm", "Scope", "Parm", "FittedModel"]

#: a fitted model (what ``lmer``, ``glmer`` and ``glmer_nb`` return)
FittedModel = Union["LinearMixedModel", "GeneralizedLinearMixedModel"]

#: anything NumPy turns into an array (lists, tuples, arrays, pandas Series)
ArrayLike = npt.ArrayLike
#: a table of data: a pandas DataFrame (the type of the model frame)
DataLike = Any
#: an lme4 formula as text (``"Reaction ~ Days + (Days | Subject)"``) or parsed
FormulaLike = Union[str, "Formula"]
#: a per-row vector argument (``weights``, ``offset``): values, a column name or an R
#: expression of columns
VectorArg = Union[npt.ArrayLike, str, None]
#: ``contrasts``: per factor (``{"treat": "contr.sum"}``) or one spec for every factor
ContrastsArg = Union[Mapping[str, Any], str, None]
#: ``start``: θ, or ``{"theta": ..., "fixef": ...}``
StartArg = Union[npt.ArrayLike, Mapping[str, Any], None]
#: the sparse-Cholesky backend (None: the faster one for the design)
Backend = Literal["cholmod", "scipy"]
#: what a fit does with rows that have a missing value (R's ``na.action``)
NaAction = Literal["omit", "exclude", "fail"]
#: a seed for NumPy's random Generator (the same seed gives the same draws)
Seed = Union[int, np.random.Generator, np.random.SeedSequence, None]
#: ``re_form``: None (every random effect), ``lmerpy.NA`` (or ``"NA"``, ``"~0"``, False:
#: none) or a formula with some of the model's bars (``"~(1|Subject)"``)
ReForm = Union[str, bool, None, "NAType", "Formula"]
#: term labels (one or several)
Scope = Union[str, Sequence[str], None]
#: parameters of a fit (``confint``, ``profile``): names (``".sig01"``, ``"Days"``),
#: ``"theta_"``, ``"beta_"``, 0-based positions, or None for all
Parm = Union[str, int, Sequence[Union[str, int]], None]
