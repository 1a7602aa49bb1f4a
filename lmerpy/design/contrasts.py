"""Contrast matrices for factors, as R's ``contr.*`` functions.

R equivalents: ``contr.treatment``, ``contr.sum``, ``contr.helmert``, ``contr.poly``,
``contr.SAS``, a user-supplied matrix (``contrasts(f) <- m``), and ``contrasts(f, FALSE)`` (the
full indicator coding model.matrix uses when a factor's lower-order margin is absent).

Each function returns ``(matrix, column_names)``; ``column_names`` is ``None`` where R's matrix
has no column names (``contr.sum``, ``contr.helmert``), so model.matrix numbers the columns
(``Sex1``); ``contr.poly`` names them ``.L``, ``.Q``, ``.C``, ``^4``, ...
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["Coding", "contr_treatment", "contr_sum", "contr_helmert", "contr_poly", "contr_SAS",
           "indicator_coding", "resolve_contrast", "CONTRAST_NAMES"]


@dataclass
class Coding:
    """How one factor enters a model matrix: its contrast (or indicator) matrix and names.

    Attributes
    ----------
    matrix : ndarray, shape (levels, columns)
    colnames : list of str or None
        Suffixes appended to the variable name; ``None`` means R numbers the columns 1, 2, ...
    name : str
        The R function that made it (``"contr.treatment"``, ``"indicators"``, ``"matrix"``).
    """

    matrix: np.ndarray
    colnames: Optional[List[str]]
    name: str

    def suffixes(self) -> List[str]:
        if self.colnames is not None:
            return list(self.colnames)
        return [str(i + 1) for i in range(self.matrix.shape[1])]


def _check_levels(levels, fn):
    if len(levels) < 2:
        raise DataError(f"{fn}: contrasts need a factor with 2 or more levels "
                        f"(got {len(levels)}: {list(levels)})")


def contr_treatment(levels, base: int = 0) -> Coding:
    """R's ``contr.treatment(levels, base = base + 1)``: indicators of every level but ``base``."""
    levels = list(levels)
    _check_levels(levels, "contr.treatment")
    k = len(levels)
    keep = [i for i in range(k) if i != base]
    return Coding(np.eye(k)[:, keep], [levels[i] for i in keep], "contr.treatment")


def contr_SAS(levels) -> Coding:
    """R's ``contr.SAS``: treatment contrasts with the last level as the baseline."""
    levels = list(levels)
    _check_levels(levels, "contr.SAS")
    c = contr_treatment(levels, base=len(levels) - 1)
    return Coding(c.matrix, c.colnames, "contr.SAS")


def contr_sum(levels) -> Coding:
    """R's ``contr.sum``: sum-to-zero contrasts (last level coded -1); unnamed columns."""
    levels = list(levels)
    _check_levels(levels, "contr.sum")
    k = len(levels)
    m = np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])
    return Coding(m, None, "contr.sum")


def contr_helmert(levels) -> Coding:
    """R's ``contr.helmert``: column j contrasts level j+1 with the mean of levels 1..j."""
    levels = list(levels)
    _check_levels(levels, "contr.helmert")
    k = len(levels)
    m = np.zeros((k, k - 1))
    for j in range(k - 1):
        m[: j + 1, j] = -1.0
        m[j + 1, j] = j + 1.0
    return Coding(m, None, "contr.helmert")


def _poly_names(k: int) -> List[str]:
    names = [".L", ".Q", ".C"] + [f"^{i}" for i in range(4, k)]
    return names[: k - 1]


def contr_poly(levels, scores=None) -> Coding:
    """R's ``contr.poly``: orthonormal polynomial contrasts in the scores ``1..k``.

    Built as R's ``make.poly``: the QR decomposition of the centred Vandermonde matrix, with each
    column scaled by its R diagonal (which fixes the signs: positive leading coefficient), then
    normalised; the constant column is dropped. Columns are named ``.L .Q .C ^4 ...``.
    """
    levels = list(levels)
    _check_levels(levels, "contr.poly")
    k = len(levels)
    if k > 95:
        raise DataError(f"contr.poly: orthogonal polynomials cannot be represented accurately "
                        f"enough for {k - 1} degrees of freedom")
    x = np.arange(1, k + 1, dtype=float) if scores is None else np.asarray(scores, dtype=float)
    x = x - x.mean()
    vander = np.power.outer(x, np.arange(k))
    q, r = np.linalg.qr(vander)
    z = q * np.diag(r)
    z = z / np.sqrt((z ** 2).sum(axis=0))
    return Coding(z[:, 1:], _poly_names(k), "contr.poly")


def indicator_coding(levels) -> Coding:
    """R's ``contrasts(f, FALSE)``: one indicator column per level, named by the level."""
    levels = list(levels)
    return Coding(np.eye(len(levels)), levels, "indicators")


CONTRAST_NAMES = {
    "contr.treatment": contr_treatment, "treatment": contr_treatment,
    "contr.sum": contr_sum, "sum": contr_sum,
    "contr.helmert": contr_helmert, "helmert": contr_helmert,
    "contr.poly": contr_poly, "poly": contr_poly,
    "contr.SAS": contr_SAS, "contr.sas": contr_SAS, "SAS": contr_SAS, "sas": contr_SAS,
}


def resolve_contrast(spec, levels, variable: str = "") -> Coding:
    """Turn a contrasts specification into a :class:`Coding` for the given levels.

    Parameters
    ----------
    spec : str, ndarray, pandas.DataFrame or Coding
        An R name (``"contr.sum"``) or short name (``"sum"``); or a matrix with one row per
        level (a DataFrame's columns name the contrast columns, as R's ``colnames``).
    levels : sequence of str
        The factor's levels (after unused levels are dropped).
    variable : str
        The variable's name, for error messages.
    """
    where = f" for '{variable}'" if variable else ""
    if isinstance(spec, Coding):
        return spec
    if isinstance(spec, str):
        fn = CONTRAST_NAMES.get(spec)
        if fn is None:
            raise DataError(f"unknown contrasts {spec!r}{where}; use one of contr.treatment, "
                            f"contr.sum, contr.helmert, contr.poly, contr.SAS or a matrix")
        try:
            return fn(levels)
        except DataError as e:
            raise DataError(f"{e}{where}") from None
    colnames = None
    if isinstance(spec, pd.DataFrame):
        colnames = [str(c) for c in spec.columns]
        mat = spec.to_numpy(dtype=float)
    else:
        mat = np.asarray(spec, dtype=float)
    if mat.ndim == 1:
        mat = mat[:, None]
    if mat.ndim != 2 or mat.shape[0] != len(levels):
        raise DataError(f"contrast matrix{where} has {mat.shape[0] if mat.ndim else 0} rows but "
                        f"the factor has {len(levels)} levels ({', '.join(map(str, levels))})")
    if not np.all(np.isfinite(mat)):
        raise DataError(f"contrast matrix{where} has non-finite entries")
    return Coding(mat, colnames, "matrix")
