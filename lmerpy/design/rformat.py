"""R's text conventions the design stage needs: number labels, string sort order, names.

R equivalents: ``as.character(<double>)`` (15 significant digits, R's choice between fixed and
scientific notation), ``sort(<character>)`` in a UTF-8 locale with ICU (the "root" collation R
uses by default).
These decide factor levels made from numeric or string columns and model-matrix column names.
"""
from __future__ import annotations

import math
import unicodedata

import numpy as np

__all__ = ["format_number", "format_levels", "r_sort_key", "r_sorted"]

def _sig_digits(x: float, digits: int = 15) -> int:
    """The fewest significant digits (<= ``digits``) showing ``x`` as R does at ``digits``."""
    target = float(f"{x:.{digits - 1}e}")
    for d in range(1, digits + 1):
        if float(f"{x:.{d - 1}e}") == target:
            return d
    return digits


def format_number(x, integer: bool = False, digits: int = 15) -> str:
    """R's ``as.character`` of one number (also what ``factor()`` uses for level labels).

    Parameters
    ----------
    x : float or int
    integer : bool
        The value comes from an integer column (R ``integer``): printed in full, never in
        scientific notation (``100000`` rather than ``1e+05``).
    digits : int
        Significant digits (R uses 15).

    Returns
    -------
    str
        ``"2"``, ``"0.1"``, ``"1e+05"``, ``"0.333333333333333"``, ``"NA"``, ``"Inf"``...
    """
    if x is None:
        return "NA"
    xf = float(x)
    if math.isnan(xf):
        return "NA"
    if math.isinf(xf):
        return "Inf" if xf > 0 else "-Inf"
    if integer and xf == int(xf):
        return str(int(xf))
    if xf == 0.0:
        return "0"
    nsig = _sig_digits(xf, digits)
    sci = f"{xf:.{nsig - 1}e}"
    mant, exp = sci.split("e")
    kpower = int(exp)
    neg = 1 if xf < 0 else 0
    # widths as R's formatReal computes them
    rgt = max(0, nsig - kpower - 1)
    left = kpower + 1 if kpower >= 0 else 1
    width_fixed = neg + left + (rgt + 1 if rgt > 0 else 0)
    width_sci = neg + (nsig + 1 if nsig > 1 else 1) + (4 if abs(kpower) < 100 else 5)
    if width_fixed <= width_sci:
        return f"{xf:.{rgt}f}"
    sign = "-" if kpower < 0 else "+"
    return f"{mant}e{sign}{abs(kpower):02d}"


def format_levels(values, integer: bool = False):
    """Labels of an array of numbers, as R's ``as.character`` (vectorised over unique values)."""
    arr = np.asarray(values, dtype=float)
    return [format_number(v, integer=integer) for v in arr]


# ICU root collation (R's default string order in UTF-8 locales), approximated for the characters
# that occur in data: white space, then punctuation and symbols in CLDR order, then digits, then
# letters compared without case and accents first; accents break ties, then lower case first.
_PUNCT_ORDER = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
_PUNCT_RANK = {c: i for i, c in enumerate(_PUNCT_ORDER)}


def _primary(ch: str) -> int:
    if ch.isspace():
        return 0
    if ch in _PUNCT_RANK:
        return 10 + _PUNCT_RANK[ch]
    if ch.isdigit():
        return 100 + int(unicodedata.digit(ch, 0))
    if ch.isalpha():
        return 1000 + ord(ch)
    return 200000 + ord(ch)


def r_sort_key(s: str):
    """Sort key reproducing R's ``sort()`` of strings in a UTF-8 locale (ICU root collation).

    ``sort(c("b", "A", "a", "B", "a b", "a1"))`` in R gives ``"a" "A" "a b" "a1" "b" "B"``;
    ``sorted(..., key=r_sort_key)`` gives the same.
    """
    prim, sec, ter = [], [], []
    for ch in s:
        decomp = unicodedata.normalize("NFD", ch)
        base = decomp[0].lower()
        prim.append(_primary(base))
        sec.append(decomp[1:])
        ter.append(0 if ch == ch.lower() else 1)
    return (tuple(prim), tuple(sec), tuple(ter), s)


def r_sorted(strings):
    """``sorted(strings)`` in R's order (see :func:`r_sort_key`)."""
    return sorted(strings, key=r_sort_key)
