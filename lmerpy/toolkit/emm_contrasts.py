"""Contrast families of emmeans 1.8 (its ``*.emmc`` functions): coefficients over the levels
of the means, each family's names, its default multiplicity adjustment and whether it is one
family of pairwise comparisons (where Tukey's adjustment applies).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Sequence, Union

import numpy as np

from ..errors import ArgumentError

__all__ = ["ContrastFamily", "contrast_family", "METHODS"]

METHODS = ("pairwise", "revpairwise", "trt.vs.ctrl", "poly", "eff", "consec")
_POLY_NAMES = ["linear", "quadratic", "cubic", "quartic"] + [f"degree {i}" for i in range(5, 21)]


@dataclass
class ContrastFamily:
    """``K`` (levels × contrasts) with the contrasts' ``names``; ``adjust`` the default
    adjustment (``None``: none by default but unavailable, see ``consec``); ``pairwise``
    whether Tukey applies; ``differences`` whether each contrast is a difference of two means
    (so it back-transforms to a ratio on a log scale)."""

    K: np.ndarray
    names: List[str]
    adjust: str
    pairwise: bool
    differences: bool


def _pairs(levs: Sequence[str], reverse: bool) -> ContrastFamily:
    k = len(levs)
    cols, names = [], []
    if not reverse:
        order = [(i, j) for i in range(k) for j in range(i + 1, k)]
    else:
        order = [(j, i) for j in range(1, k) for i in range(j)]
    for a, b in order:
        c = np.zeros(k)
        c[a], c[b] = 1.0, -1.0
        cols.append(c)
        names.append(f"{levs[a]} - {levs[b]}")
    return ContrastFamily(np.column_stack(cols), names, "tukey", True, True)


def _trt_vs_ctrl(levs: Sequence[str], ref: Union[int, str]) -> ContrastFamily:
    k = len(levs)
    if isinstance(ref, str):
        if ref not in levs:
            raise ArgumentError(f"contrast: ref {ref!r} is not one of the levels "
                                f"({', '.join(levs)})")
        r = list(levs).index(ref)
    else:
        if not 1 <= int(ref) <= k:
            raise ArgumentError(f"contrast: ref {ref!r} is out of range (1 to {k}, as R counts)")
        r = int(ref) - 1
    cols, names = [], []
    for i in range(k):
        if i == r:
            continue
        c = np.zeros(k)
        c[i], c[r] = 1.0, -1.0
        cols.append(c)
        names.append(f"{levs[i]} - {levs[r]}")
    return ContrastFamily(np.column_stack(cols), names, "dunnettx", False, True)


def _poly(levs: Sequence[str]) -> ContrastFamily:
    """emmeans' ``poly.emmc``: R's orthogonal polynomials in 1..k scaled to integers."""
    k = len(levs)
    degree = min(6, k - 1)
    x = np.arange(1, k + 1, dtype=float)
    x = x - x.mean()
    q, r = np.linalg.qr(np.power.outer(x, np.arange(degree + 1)))
    z = (q * np.diag(r))[:, 1:]
    cols = []
    for j in range(degree):
        con = z[:, j] / np.sqrt((z[:, j] ** 2).sum())
        con = con / np.min(con[con > 0.01])
        dev = np.max(np.abs(con - np.round(con)))
        while dev > 0.05:
            con = con / dev
            dev = np.max(np.abs(con - np.round(con)))
        cols.append(np.round(con))
    return ContrastFamily(np.column_stack(cols), _POLY_NAMES[:degree], "none", False, False)


def _eff(levs: Sequence[str]) -> ContrastFamily:
    k = len(levs)
    K = np.eye(k) - 1.0 / k
    return ContrastFamily(K, [f"{lv} effect" for lv in levs], "fdr", False, False)


def _consec(levs: Sequence[str]) -> ContrastFamily:
    k = len(levs)
    cols, names = [], []
    for i in range(1, k):
        c = np.zeros(k)
        c[i], c[i - 1] = 1.0, -1.0
        cols.append(c)
        names.append(f"{levs[i]} - {levs[i - 1]}")
    return ContrastFamily(np.column_stack(cols), names, "mvt", False, True)


def _custom(levs: Sequence[str], spec: Mapping[str, Sequence[float]]) -> ContrastFamily:
    cols, names = [], []
    for name, coefs in spec.items():
        c = np.asarray(coefs, dtype=float)
        if c.ndim != 1 or c.size != len(levs) or not np.all(np.isfinite(c)):
            raise ArgumentError(f"contrast: the coefficients of {name!r} must be {len(levs)} "
                                f"finite numbers, one per mean ({', '.join(levs)}); got "
                                f"{list(coefs)!r}")
        cols.append(c)
        names.append(str(name))
    if not cols:
        raise ArgumentError("contrast: the dict of contrasts is empty")
    return ContrastFamily(np.column_stack(cols), names, "none", False, False)


def contrast_family(method: Union[str, Mapping[str, Sequence[float]]], levs: Sequence[str],
                    ref: Union[int, str] = 1) -> ContrastFamily:
    """The contrasts ``method`` (a name from :data:`METHODS` or a dict name -> coefficients)
    over the means labelled ``levs``."""
    if isinstance(method, Mapping):
        return _custom(levs, method)
    if len(levs) < 2 and method != "poly":
        raise ArgumentError(f"contrast: {method!r} needs at least two means; got {len(levs)}")
    if method == "pairwise":
        return _pairs(levs, reverse=False)
    if method == "revpairwise":
        return _pairs(levs, reverse=True)
    if method == "trt.vs.ctrl":
        return _trt_vs_ctrl(levs, ref)
    if method == "poly":
        return _poly(levs)
    if method == "eff":
        return _eff(levs)
    if method == "consec":
        return _consec(levs)
    raise ArgumentError(f"contrast: unknown method {method!r}; use one of "
                        f"{', '.join(METHODS)} or a dict of coefficient vectors")

