"""R's printing of principal components (``print.prcomp``, ``print.summary.prcomp``) and of a
named list of them, for lme4's ``rePCA`` (plain numbers in, text out; no final newline).
"""
from __future__ import annotations

import re
from typing import Any, List, Sequence, Tuple

import numpy as np

from .rformat import round_r
from .rprint import print_numeric_matrix, print_vector

__all__ = ["importance_matrix", "format_prcomp", "format_prcomp_summary", "format_named_list"]

#: the rows of ``summary(prcomp)$importance``
IMPORTANCE_ROWS = ("Standard deviation", "Proportion of Variance", "Cumulative Proportion")


def importance_matrix(sdev: Any) -> np.ndarray:
    """``summary.prcomp``'s importance: the standard deviations and the proportion and
    cumulative proportion of variance, each rounded to 5 decimals as R rounds them."""
    sd = np.asarray(sdev, dtype=float)
    var = sd ** 2
    share = var / var.sum() if var.sum() > 0 else np.full(sd.shape, np.nan)
    return np.vstack([sd, round_r(share, 5), round_r(np.cumsum(share), 5)])


def format_prcomp(sdev: Any, rotation: np.ndarray, width: int = 80) -> str:
    """``print(prcomp)`` as lme4's ``rePCA`` elements print (no dimnames: ``[,1]``, ``[1,]``)."""
    rot = np.asarray(rotation, dtype=float)
    return "\n".join([
        f"Standard deviations (1, .., p={len(sdev)}):",
        print_vector(sdev, width=width),
        "",
        f"Rotation (n x k) = ({rot.shape[0]} x {rot.shape[1]}):",
        print_numeric_matrix(rot, width=width),
    ])


def format_prcomp_summary(sdev: Any, digits: int = 4, width: int = 80) -> str:
    """``print(summary(prcomp))``: "Importance of components:" and the importance matrix
    printed with ``digits = 4`` (R's ``max(3, getOption("digits") - 3)``)."""
    return "Importance of components:\n" + print_numeric_matrix(
        importance_matrix(sdev), row_names=list(IMPORTANCE_ROWS), digits=digits, width=width)


_SYNTACTIC = re.compile(r"^((([A-Za-z]|[.][A-Za-z._])[A-Za-z0-9._]*)|[.])$")
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE",
             "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_",
             "in"}


def list_tag(name: str) -> str:
    """R's ``$name`` tag of a list element, backquoted when not a syntactic name."""
    ok = _SYNTACTIC.match(name) and name not in _RESERVED
    return f"${name}" if ok else f"$`{name}`"


def format_named_list(items: Sequence[Tuple[str, str]], class_name: str = "") -> str:
    """R's ``print()`` of a named list whose elements print as ``items``' texts: ``$name``,
    the element, a blank line; with ``attr(,"class")`` when the list carries a class and no
    print method (as lme4's ``prcomplist``)."""
    lines: List[str] = []
    for name, text in items:
        lines += [list_tag(name), text, ""]
    if class_name:
        lines += ['attr(,"class")', f'[1] "{class_name}"']
    return "\n".join(lines)
