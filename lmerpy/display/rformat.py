"""R's number formatting: ``format()``, ``formatC()``, ``round()``, ``signif()``,
``format.pval()``, ``zapsmall()`` and ``quantile(type = 7)``.

lme4 prints every number through these R functions, so lmerpy reproduces their rules exactly
rather than approximating them with Python's own formatting:

* :func:`format_numbers` is R's ``format(x, digits, nsmall)`` (C ``formatReal`` +
  ``encodeReal``): the *minimum* number of significant digits (at most ``digits``) that shows
  every element to ``digits`` significant digits, a common number of decimals and a common
  width, and fixed notation unless scientific notation is narrower (``scipen`` penalty).
* :func:`round_r` is R (>= 4.0.0)'s ``round(x, digits)``, which picks whichever of the two
  nearest decimal candidates is closer to the double ``x`` (ties to even).
* :func:`signif` is R's ``signif()``; :func:`format_pval` R's ``format.pval()``.

Missing values: ``None`` (or ``pandas.NA``) is R's ``NA`` and prints as ``"NA"``; a float NaN
prints as ``"NaN"``, as in R.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "DBL_EPSILON", "is_na", "round_r", "signif", "zapsmall", "format_info", "format_numbers",
    "format_number", "format_pval", "formatC", "quantile7", "as_character",
]

#: R's ``.Machine$double.eps``
DBL_EPSILON = 2.220446049250313e-16

_KP_MAX = 27          # powers of ten exact in an x87 long double (64-bit mantissa)
_LD_BITS = 64         # long double mantissa on x86-64, which R's formatReal uses
_DBL_DIG = 15


# --------------------------------------------------------------------------- helpers


def is_na(v) -> bool:
    """True for R's ``NA`` (``None``, ``pandas.NA``) and for NaN (R's ``is.na`` is TRUE for
    both)."""
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN, pandas.NA raise or compare unequal
    except TypeError:
        return True


def _is_true_na(v) -> bool:
    """R's ``NA`` proper (not NaN): ``None`` or ``pandas.NA``."""
    if v is None:
        return True
    if isinstance(v, (float, np.floating)):
        return False
    try:
        return bool(v != v)
    except TypeError:
        return True


def _flat(x) -> list:
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    if isinstance(x, (list, tuple)):
        out = []
        for v in x:
            if isinstance(v, (list, tuple, np.ndarray)):
                out.extend(_flat(v))
            else:
                out.append(v)
        return out
    if hasattr(x, "to_numpy"):
        return list(np.asarray(x.to_numpy(dtype=object)).ravel())
    return [x]


def _round_bits(q: Fraction, bits: int = _LD_BITS) -> Fraction:
    """Round a positive rational to ``bits`` significant binary digits, ties to even (the
    result of one x87 long-double operation)."""
    if q == 0:
        return q
    n, d = q.numerator, q.denominator
    e = n.bit_length() - d.bit_length() - bits
    # find e with 2^(bits-1) <= q / 2^e < 2^bits
    while True:
        m = q / (Fraction(2) ** e)
        if m >= 2 ** bits:
            e += 1
        elif m < 2 ** (bits - 1):
            e -= 1
        else:
            break
    mi = _round_half_even(m)
    return Fraction(mi) * (Fraction(2) ** e)


def _round_half_even(q: Fraction) -> int:
    fl = q.numerator // q.denominator
    rem = q - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        return fl + 1
    return fl


def _pow_di(x: float, n: int) -> float:
    """R's ``R_pow_di``: x^n by repeated squaring in double precision."""
    xn = 1.0
    if n == 0:
        return xn
    neg = n < 0
    n = -n if neg else n
    while True:
        if n & 1:
            xn *= x
        n >>= 1
        if n:
            x *= x
        else:
            break
    return 1.0 / xn if neg else xn


# --------------------------------------------------------------------------- round / signif


def _round1(x: float, digits: float) -> float:
    # R >= 4.0.0 fround(): the nearer of the two decimal candidates, measured in double.
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if math.isinf(x):
        return x
    if digits > 308 + _DBL_DIG or x == 0.0:
        return x
    if digits < -308:
        return 0.0
    if digits == 0.0:
        return float(np.rint(x))
    dig = int(math.floor(digits + 0.5))
    sgn = 1.0
    if x < 0.0:
        sgn, x = -1.0, -x
    l10x = math.log10(2.0) * (0.5 + (math.frexp(x)[1] - 1))
    if l10x + dig > _DBL_DIG:
        return sgn * x
    if dig <= 308:
        pow10 = _pow_di(10.0, dig)
        x10 = x * pow10
        i10 = math.floor(x10)
        xd = i10 / pow10
        xu = math.ceil(x10) / pow10
    else:
        e10 = dig - 308
        p10 = _pow_di(10.0, e10)
        pow10 = _pow_di(10.0, 308)
        x10 = (x * pow10) * p10
        i10 = math.floor(x10)
        xd = i10 / pow10 / p10
        xu = math.ceil(x10) / pow10 / p10
    du = xu - x
    dd = x - xd
    return sgn * (xu if (du < dd or (math.fmod(i10, 2.0) == 1 and du == dd)) else xd)


def round_r(x, digits: float = 0):
    """R's ``round(x, digits)`` (R >= 4.0.0 algorithm).

    Parameters
    ----------
    x : float or array_like
    digits : float
        Decimal places; a non-integer is rounded to the nearest integer, as in R.

    Returns
    -------
    float or numpy.ndarray
        Same shape as ``x``; NaN stays NaN.
    """
    if np.ndim(x) == 0:
        return _round1(float(x), float(digits))
    a = np.asarray(x, dtype=float)
    return np.vectorize(lambda v: _round1(float(v), float(digits)), otypes=[float])(a)


def _signif1(x: float, digits: float) -> float:
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if math.isinf(x):
        return x
    if math.isinf(digits):
        if digits > 0:
            return x
        digits = 1.0
    if x == 0:
        return x
    # C round(): halves away from zero
    dig = int(math.floor(digits + 0.5)) if digits >= 0 else -int(math.floor(-digits + 0.5))
    if dig > 22:
        return x
    if dig < 1:
        dig = 1
    sgn = 1.0
    if x < 0.0:
        sgn, x = -1.0, -x
    l10 = math.log10(x)
    e10 = int(dig - 1 - math.floor(l10))
    if abs(l10) < 308 - 2:
        p10 = 1.0
        if e10 > 308:
            p10 = _pow_di(10.0, e10 - 308)
            e10 = 308
        if e10 > 0:
            pow10 = _pow_di(10.0, e10)
            return sgn * (float(np.rint((x * pow10) * p10)) / pow10) / p10
        pow10 = _pow_di(10.0, -e10)
        return sgn * (float(np.rint(x / pow10)) * pow10)
    do_round = 308 - l10 >= _pow_di(10.0, -dig)
    e2 = dig + (22 if e10 > 0 else -22)
    p10 = _pow_di(10.0, e2)
    x *= p10
    P10 = _pow_di(10.0, e10 - e2)
    x *= P10
    if do_round:
        x += 0.5
    x = math.floor(x) / p10
    return sgn * x / P10


def signif(x, digits: int = 6):
    """R's ``signif(x, digits)``: round to ``digits`` significant digits (C ``fprec``)."""
    if np.ndim(x) == 0:
        return _signif1(float(x), float(digits))
    a = np.asarray(x, dtype=float)
    return np.vectorize(lambda v: _signif1(float(v), float(digits)), otypes=[float])(a)


def zapsmall(x, digits: int = 7) -> np.ndarray:
    """R (4.2)'s ``zapsmall(x, digits)``: ``round(x, digits - log10(max|x|))`` so that values
    tiny relative to the largest print as 0."""
    a = np.asarray(x, dtype=float)
    ok = ~np.isnan(a)
    if not ok.any():
        return a
    mx = float(np.max(np.abs(a[ok])))
    d = max(0.0, digits - math.log10(mx)) if mx > 0 else float(digits)
    return round_r(a, d)


# --------------------------------------------------------------------------- formatReal


def _scientific(x: float, digits: int) -> Tuple[int, int, int, bool]:
    """R's ``scientific()``: (neg, kpower, nsig, roundingwidens) of one finite double shown
    with ``digits`` significant digits, emulating R's long-double scaling."""
    if x == 0.0:
        return 0, 0, 1, False
    neg = 1 if x < 0 else 0
    r = -x if neg else x
    if digits >= _DBL_DIG + 1:
        s = "%#.*e" % (digits - 1, r)
        mant, ex = s.split("e")
        kpower = int(ex)
        ds = mant.replace(".", "")
        nsig = len(ds.rstrip("0")) or 1
        return neg, kpower, nsig, False
    kp = int(math.floor(math.log10(r))) - digits + 1
    rp = Fraction(r)
    if abs(kp) <= _KP_MAX:
        if kp > 0:
            rp = _round_bits(rp / (10 ** kp))
        elif kp < 0:
            rp = _round_bits(rp * (10 ** (-kp)))
    else:
        rp = _round_bits(rp / _round_bits(Fraction(10) ** kp))
    if rp < 10 ** (digits - 1):
        rp = _round_bits(rp * 10)
        kp -= 1
    alpha = _round_half_even(rp)
    nsig = digits
    for _ in range(digits):
        if alpha % 10 == 0:
            nsig -= 1
            alpha //= 10
        else:
            break
    if nsig == 0 and digits > 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    rgt = min(max(digits - kpower, 0), _KP_MAX)
    fuzz = 0.5 / float(10 ** rgt)
    widens = False
    if 0 < kpower <= _KP_MAX:
        widens = Fraction(r) < _round_bits(Fraction(10 ** kpower) - Fraction(fuzz))
    return neg, kpower, nsig, widens


def format_info(x, digits: int = 7, nsmall: int = 0, scipen: int = 0) -> Tuple[int, int, int]:
    """R's ``formatReal`` (``format.info``): the common (width, decimals, exponent flag).

    Parameters
    ----------
    x : iterable of float (``None`` = NA)
    digits : int
        R's ``digits`` (significant digits wanted, 1..22).
    nsmall : int
        Minimum number of decimals in fixed notation (R's ``nsmall``).
    scipen : int
        R's ``options(scipen)``: penalty against scientific notation.

    Returns
    -------
    (w, d, e) : tuple of int
        Field width; decimals (fixed) or mantissa decimals (scientific); ``e`` is 0 for fixed
        notation, else the number of exponent digits minus one.
    """
    vals = _flat(x)
    naflag = nanflag = posinf = neginf = False
    neg = 0
    mxl: Any = None   # the extremes over the finite values (None: no finite value)
    rgt: Any = None
    mxsl: Any = None
    mxns: Any = None
    mnl: Any = None
    for v in vals:
        if _is_true_na(v):
            naflag = True
            continue
        v = float(v)
        if math.isnan(v):
            nanflag = True
            continue
        if math.isinf(v):
            if v > 0:
                posinf = True
            else:
                neginf = True
            continue
        neg_i, kpower, nsig, widens = _scientific(v, digits)
        left = kpower + 1
        if widens:
            left -= 1
        sleft = neg_i + (1 if left <= 0 else left)
        right = nsig - left
        if neg_i:
            neg = 1
        rgt = right if rgt is None else max(rgt, right)
        mxl = left if mxl is None else max(mxl, left)
        mnl = left if mnl is None else min(mnl, left)
        mxsl = sleft if mxsl is None else max(mxsl, sleft)
        mxns = nsig if mxns is None else max(mxns, nsig)
    if mxns is None:
        w = d = e = 0
    else:
        if digits == 0:
            rgt = 0
        if mxl < 0:
            mxsl = 1 + neg
        if rgt < 0:
            rgt = 0
        wF = mxsl + rgt + (rgt != 0)
        e = 2 if (mxl > 100 or mnl <= -99) else 1
        d = mxns - 1
        w = neg + (d > 0) + d + 4 + e
        if wF <= w + scipen:
            e = 0
            if nsmall > rgt:
                rgt = nsmall
                wF = mxsl + rgt + (rgt != 0)
            d = rgt
            w = wF
    if naflag and w < 2:
        w = 2
    if nanflag and w < 3:
        w = 3
    if posinf and w < 3:
        w = 3
    if neginf and w < 4:
        w = 4
    return w, d, e


def _encode_real(v, w: int, d: int, e: int, na_string: str = "NA") -> str:
    if _is_true_na(v):
        return na_string.rjust(w)
    v = float(v)
    if math.isnan(v):
        return "NaN".rjust(w)
    if math.isinf(v):
        return ("Inf" if v > 0 else "-Inf").rjust(w)
    if v == 0.0:
        v = 0.0
    if e:
        return "%*.*e" % (w, d, v)
    return "%*.*f" % (w, d, v)


def format_numbers(x, digits: Optional[int] = None, nsmall: int = 0, width: int = 0,
                   trim: bool = False, scipen: int = 0, na_string: str = "NA") -> List[str]:
    """R's ``format(x, digits = , nsmall = , width = , trim = )`` for a numeric vector.

    All elements share one format (decimals, notation, width), exactly as R's ``format()``
    and ``print()`` do. A matrix is formatted as one vector (R does the same); the result is
    flat, in ``numpy.ravel`` order.

    Examples
    --------
    >>> format_numbers([612.1002, 35.0717, 654.9412], digits=4)
    ['612.10', ' 35.07', '654.94']
    """
    vals = _flat(x)
    if digits is None:
        digits = 7
    w, d, e = format_info(vals, digits=digits, nsmall=nsmall, scipen=scipen)
    if len(na_string) > w and any(_is_true_na(v) for v in vals):
        w = len(na_string)
    if trim:
        w = 0
    w = max(w, width or 0)
    return [_encode_real(v, w, d, e, na_string) for v in vals]


def format_number(x, digits: int = 7, nsmall: int = 0, scipen: int = 0) -> str:
    """R's ``format(x, digits)`` of one number (also what ``cat()`` and ``print()`` show for a
    scalar with ``digits = 7``)."""
    return format_numbers([x], digits=digits, nsmall=nsmall, scipen=scipen)[0]


def as_character(x: float) -> str:
    """R's ``as.character()`` / ``paste()`` of a double: up to 15 significant digits, R's
    choice of fixed or scientific notation (``1e+05``). One implementation for the package: the
    design stage's, which also labels factor levels made from numbers."""
    if _is_true_na(x):
        return "NA"
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    from ..design.rformat import format_number as _as_character
    return _as_character(x)


# --------------------------------------------------------------------------- format.pval


def format_pval(pv, digits: int = 5, eps: float = DBL_EPSILON, na_form: str = "NA",
                scipen: int = 0) -> List[str]:
    """R's ``format.pval(pv, digits, eps)``: p-values below ``eps`` as ``"< 2e-16"``.

    Values with exponent >= -3 (or -4 when ``digits > 1``) share one fixed-notation format;
    the smaller ones share another (usually scientific).
    """
    vals = _flat(pv)
    out = [na_form] * len(vals)
    idx = [i for i, v in enumerate(vals) if not is_na(v)]
    is0 = [i for i in idx if float(vals[i]) < eps]
    rest = [i for i in idx if float(vals[i]) >= eps]
    rr = {}
    if rest:
        fixp: List[int] = []
        scip: List[int] = []
        for i in rest:
            p = float(vals[i])
            expo = math.floor(math.log10(p if p > 0 else 1e-50))
            (fixp if (expo >= -3 or (expo == -4 and digits > 1)) else scip).append(i)
        for grp in (fixp, scip):
            if grp:
                for i, s in zip(grp, format_numbers([vals[i] for i in grp], digits=digits,
                                                    scipen=scipen)):
                    rr[i] = s
        for i in rest:
            out[i] = rr[i]
    if is0:
        dg = max(1, digits - 2)
        if rest:
            nc = max(len(rr[i]) for i in rest)
            if dg > 1 and dg + 6 > nc:
                dg = max(1, nc - 7)
            sep = "" if (dg == 1 and nc <= 6) else " "
        else:
            sep = "" if dg == 1 else " "
        txt = "<" + sep + format_number(eps, digits=dg, scipen=scipen)
        for i in is0:
            out[i] = txt
    return out


# --------------------------------------------------------------------------- formatC


def formatC(x, width: Optional[int] = None, digits: Optional[int] = None,
            format: Optional[str] = None, flag: str = "") -> List[str]:
    """R's ``formatC(x, width, digits, format, flag)`` for numbers: C ``sprintf`` of each
    element on its own.

    As in R, ``digits`` defaults to 4 (2 for ``format = "d"``), a negative one means C's 6,
    and ``width`` defaults to ``digits + 1`` when ``digits`` is given (else 1); ``format`` is
    one of ``"d"`` (values truncated to integers), ``"f"``, ``"e"``, ``"E"``, ``"g"``,
    ``"G"`` (default) or ``"fg"`` (``digits`` significant digits in fixed notation, trailing
    zeros dropped unless ``flag`` has ``"#"``).
    """
    if format is None:
        format = "g"
    if format not in ("d", "f", "e", "E", "g", "G", "fg"):
        raise ValueError(f"formatC: unknown format {format!r}")
    if width is None and digits is None:
        width = 1
    if digits is None:
        digits = 2 if format == "d" else 4
    elif digits < 0:
        digits = 6
    if width is None:
        width = digits + 1
    elif width == 0:
        width = digits
    if digits > 0 and "#" in flag:
        digits = -digits
    dig, rm_trailing_0 = abs(digits), digits >= 0
    cflag = flag.replace("'", "").replace("I", "")
    out = []
    for v in _flat(x):
        if is_na(v) or math.isinf(float(v)):
            s = "NA" if _is_true_na(v) else ("NaN" if math.isnan(float(v)) else
                                             ("Inf" if float(v) > 0 else "-Inf"))
            w = abs(width)
            out.append(s.ljust(w) if (flag == "-" or width < 0) else s.rjust(w))
            continue
        v = float(v)
        if format == "d":
            out.append(("%" + cflag + "*d") % (width, int(v)))
        elif format == "fg":
            out.append(_format_fg(v, width, dig, cflag, rm_trailing_0))
        else:
            out.append(("%" + cflag + "*.*" + format) % (width, dig, v))
    return out


def _format_fg(xx: float, width: int, dig: int, flag: str, rm_trailing_0: bool) -> str:
    if xx == 0.0:
        return "0"
    ax = abs(xx)
    iex = int(math.floor(math.log10(ax) + 1e-12))
    X = _round1(ax / 10.0 ** iex + 1e-12, dig - 1)
    if iex > 0 and X >= 10:
        xx = X * 10.0 ** iex
        iex += 1
    if iex == -4 and abs(xx) < 1e-4:
        iex = -5
    if iex < -4:
        s = ("%" + flag + ".*f") % (dig - 1 - iex, xx)
        return s.rstrip("0") if rm_trailing_0 else s
    return ("%" + flag + "*.*g") % (width, (iex + 1) if iex >= dig else dig, xx)


# --------------------------------------------------------------------------- quantile


def quantile7(x, probs: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> np.ndarray:
    """R's ``quantile(x, probs, type = 7)`` (the default), NA removed, same arithmetic."""
    a = np.sort(np.asarray([float(v) for v in _flat(x) if not is_na(v)], dtype=float))
    n = a.size
    out = np.empty(len(probs))
    for j, p in enumerate(probs):
        p = min(1.0, max(0.0, float(p)))
        index = 1 + max(n - 1, 0) * p
        lo = math.floor(index)
        hi = math.ceil(index)
        qs = a[lo - 1]
        if index > lo and a[hi - 1] != qs:
            h = index - lo
            qs = (1 - h) * qs + h * a[hi - 1]
        out[j] = qs
    return out
