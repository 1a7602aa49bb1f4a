"""What every residual structure (variance function or correlation structure) shares.

A structure is built by its constructor (``varIdent(form = "~ 1 | Sex")``: a specification, no
data) and *bound* to the rows of a fit by :meth:`Structure.bind`, which returns a copy holding
what the data decide (strata, covariates, groups, the parameter layout); the caller's object
is never changed, so one specification serves several fits. Parameters travel separately, as
a vector on nlme's unconstrained scale: the bound structure is a pure function of it.

:class:`StructureData` is the contract between a model and its structures: the model says
which rows there are (in the order it keeps them) and evaluates a structure's ``form`` on
them. ``gls`` keeps the rows sorted by the correlation structure's groups (as nlme does);
``lme`` will keep them sorted by its random-effects groups, within which a correlation
structure's groups must nest. Nothing in a structure assumes the rows of a group are
contiguous.
"""
from __future__ import annotations

from typing import List, Optional, Protocol, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ArgumentError

__all__ = ["StructureData", "Structure", "start_values", "unlist_names", "r_call"]


class StructureData(Protocol):
    """The rows a structure is bound to (implemented by the models)."""

    n: int
    #: the caller's row labels in the model's row order (for messages)
    row_labels: np.ndarray

    def covariate(self, form, what: str) -> np.ndarray:
        """The form's covariate on the rows (float, shape (n,)); never for ``fitted(.)``."""

    def groups(self, form, what: str):
        """The form's groups on the rows: ``(codes, labels)``, codes 0-based into labels
        (the innermost level of ``/``-nested groups: one code per combination)."""

    def strata(self, form, what: str) -> np.ndarray:
        """The form's strata labels on the rows (nlme's ``as.character(getGroups(data, form,
        sep = "*"))``), object array of str."""

    def fitted(self) -> Optional[np.ndarray]:
        """The current fitted values on the rows (for ``fitted(.)`` covariates), or None."""


class Structure:
    """Base of variance functions and correlation structures (see the module docstring)."""

    #: nlme's class name (``"varIdent"``, ``"corAR1"``...)
    r_class = ""
    bound = False

    @property
    def n_par(self) -> int:
        """Number of estimated parameters."""
        return 0

    def start(self) -> np.ndarray:
        """Initial unconstrained parameters (nlme's ``Initialize``)."""
        return np.zeros(self.n_par)

    def par_names(self) -> List[str]:
        """Names of the unconstrained parameters as nlme's ``coef(object)`` gives them
        (empty strings for an unnamed vector)."""
        return [""] * self.n_par

    def natural(self, par: ArrayLike) -> np.ndarray:
        """The estimated parameters on nlme's natural scale (``coef(x, unconstrained =
        FALSE)``)."""
        return np.asarray(par, dtype=float)

    def natural_names(self) -> List[str]:
        return self.par_names()


def unlist_names(prefix: str, names: Sequence[str]) -> List[str]:
    """R's ``unlist(list(prefix = x))`` names for a vector ``x`` with ``names`` ("" where
    unnamed): ``prefix`` alone for one unnamed value, ``prefix1, prefix2...`` for several
    unnamed ones, ``prefix.name`` for named ones."""
    names = list(names)
    if not prefix:
        return names
    if all(n == "" for n in names):
        if len(names) == 1:
            return [prefix]
        return [f"{prefix}{i + 1}" for i in range(len(names))]
    return [f"{prefix}.{n}" if n else f"{prefix}{i + 1}" for i, n in enumerate(names)]


def r_call(fn: str, *parts: str) -> str:
    """``fn(part, part)`` for messages, e.g. ``corAR1(form = ~t | g)``."""
    return f"{fn}({', '.join(p for p in parts if p)})"


def start_values(start, default: np.ndarray, control: str) -> np.ndarray:
    """The structure parameters' starting values: ``default``, or the user's ``start`` (from
    ``glsControl``/``lmeControl``, named by ``control``) when given, of the same length."""
    if start is None:
        return default
    out = np.asarray(start, dtype=float).ravel()
    if out.size != default.size:
        raise ArgumentError(f"{control}: 'start' has {out.size} value"
                            f"{'s' if out.size != 1 else ''}; the model has {default.size} "
                            f"structure parameter{'s' if default.size != 1 else ''}")
    return out
