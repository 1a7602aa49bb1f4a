"""R's ``print.default`` layouts and ``stats::printCoefmat``.

Each function returns the printed text the way ``paste(capture.output(print(x)),
collapse = "\\n")`` shows it in R: no final newline.

* :func:`print_named_vector` -- a named vector (``print(c(a = 1, b = 2))``).
* :func:`print_matrix` -- a character matrix (``print(m, quote = FALSE, right = )``), split
  into column blocks when wider than ``width`` exactly as R does.
* :func:`print_numeric_matrix` -- a numeric matrix (each column formatted on its own).
* :func:`format_coef_table` -- ``printCoefmat()``: estimates and standard errors rounded
  together, test statistics, ``format.pval`` p-values, significance stars and legend.
* :func:`format_anova` -- ``print.anova()`` (model comparison and ANOVA tables).
"""
from __future__ import annotations

import math
from typing import Iterable, List, Optional, Sequence

import numpy as np

from .rformat import DBL_EPSILON, format_numbers, format_pval, is_na, round_r, zapsmall
from .rtext import cat, strwrap

__all__ = [
    "print_vector", "print_named_vector", "print_matrix", "print_numeric_matrix", "format_coef_table",
    "star_symbols", "SIGNIF_LEGEND", "format_anova",
]

#: ``attr(symnum(p, ...), "legend")`` with R's UTF-8 curly quotes
SIGNIF_LEGEND = ("0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 "
                 "0.1 \u2018 \u2019 1")


def print_vector(values: Sequence[float], digits: int = 7, width: int = 80) -> str:
    """R's ``print()`` of an unnamed numeric vector: ``[1] 0.9668680 0.2308798``, the values
    formatted together and wrapped at ``width`` with the index of each line's first value."""
    enc = format_numbers(list(values), digits=digits)
    n = len(enc)
    if n == 0:
        return "numeric(0)"
    w = max(len(s) for s in enc)
    labw = len(f"[{n}]")
    per_line = max(1, (width - labw) // (w + 1))
    lines = []
    for start in range(0, n, per_line):
        cells = "".join(" " + enc[k].rjust(w) for k in range(start, min(start + per_line, n)))
        lines.append(f"[{start + 1}]".rjust(labw) + cells)
    return "\n".join(lines)


def print_named_vector(values: Sequence, names: Sequence[str], digits: int = 7,
                       gap: int = 1, width: int = 80, quote: bool = False) -> str:
    """R's ``print()`` of a named vector.

    Parameters
    ----------
    values : sequence of str or of numbers
        Strings are printed as given (right-justified, as R does for named character
        vectors); numbers are formatted together with R's ``format(digits = )`` rules.
    names : sequence of str
    digits, gap, width : int
        R's ``print(digits = )``, ``print.gap`` and ``options(width)``.
    """
    vals = list(values)
    if vals and all(isinstance(v, str) for v in vals):
        enc = [f'"{v}"' if quote else v for v in vals]
    else:
        enc = format_numbers(vals, digits=digits)
    w = max([len(s) for s in enc] + [len(n) for n in names] + [0])
    per_line = max(1, width // (w + gap))
    lines = []
    for start in range(0, len(vals), per_line):
        idx = range(start, min(start + per_line, len(vals)))
        lines.append("".join(names[k].rjust(w) + " " * gap for k in idx))
        lines.append("".join(enc[k].rjust(w) + " " * gap for k in idx))
    return "\n".join(lines)


def _blocks(col_widths: List[int], rlabw: int, gap: int, width: int) -> List[range]:
    """Column blocks as R's printMatrix splits them (each line narrower than ``width``)."""
    out, jmin, c = [], 0, len(col_widths)
    while jmin < c:
        tot = rlabw
        jmax = jmin
        while True:
            tot += col_widths[jmax] + gap
            jmax += 1
            if not (jmax < c and tot + col_widths[jmax] + gap < width):
                break
        out.append(range(jmin, jmax))
        jmin = jmax
    return out


def print_matrix(cells: Sequence[Sequence[str]], row_names: Optional[Sequence[str]] = None,
                 col_names: Optional[Sequence[str]] = None, right: bool = False,
                 quote: bool = False, gap: int = 1, width: int = 80,
                 na_print: str = "NA", numeric: bool = False) -> str:
    """R's ``print(m, quote = FALSE, right = )`` of a character matrix.

    Parameters
    ----------
    cells : rows of strings (``None`` = NA, printed as ``na_print``)
    row_names, col_names : sequences of str, optional
        Without them R prints ``[1,]`` / ``[,1]``.
    right : bool
        Right-justify entries and column labels (default: left, as R).
    numeric : bool
        Lay out as R prints a numeric matrix (``[,1]`` labels right-justified too).
    """
    rows = [[na_print if v is None else (f'"{v}"' if quote else str(v)) for v in r] for r in cells]
    nr = len(rows)
    nc = len(rows[0]) if nr else (len(col_names) if col_names is not None else 0)
    if row_names is not None:
        rlabels = [str(v) for v in row_names]
        rlabw = max([len(v) for v in rlabels] + [0])
    else:
        rlabels = [f"[{i + 1},]" for i in range(nr)]
        rlabw = len(str(nr + 1)) + 3
    if col_names is not None:
        clabels = [str(v) for v in col_names]
    else:
        clabels = [f"[,{j + 1}]" for j in range(nc)]
    cw = []
    for j in range(nc):
        wj = max([len(rows[i][j]) for i in range(nr)] + [0])
        cw.append(max(wj, len(clabels[j])))
    lines = []
    if nc == 0:
        lines.append(" " * rlabw)
        lines.extend(lab.ljust(rlabw) for lab in rlabels)
        return "\n".join(lines)
    for blk in _blocks(cw, rlabw, gap, width):
        head = " " * rlabw
        for j in blk:
            lab = clabels[j]
            if col_names is None and not numeric:
                head += " " * gap + lab + " " * (cw[j] - len(lab))
            elif right or numeric:
                head += " " * (gap + cw[j] - len(lab)) + lab
            else:
                head += " " * gap + lab + " " * (cw[j] - len(lab))
        lines.append(head)
        for i in range(nr):
            if row_names is not None:
                ln = rlabels[i].ljust(rlabw)
            else:
                ln = rlabels[i].rjust(rlabw)
            for j in blk:
                v = rows[i][j]
                ln += " " * gap + (v.rjust(cw[j]) if right else v.ljust(cw[j]))
            lines.append(ln)
    return "\n".join(lines)


def print_numeric_matrix(x, row_names: Optional[Sequence[str]] = None,
                         col_names: Optional[Sequence[str]] = None, digits: int = 7,
                         gap: int = 1, width: int = 80, na_print: str = "NA") -> str:
    """R's ``print()`` of a numeric matrix: each column formatted separately (common decimals
    within a column), column labels right-justified."""
    a = np.asarray(x, dtype=object)
    nr, nc = a.shape
    cols = [format_numbers(list(a[:, j]), digits=digits, na_string=na_print) for j in range(nc)]
    cells = [[cols[j][i] for j in range(nc)] for i in range(nr)]
    return print_matrix(cells, row_names, col_names, right=True, gap=gap, width=width,
                        numeric=True)


# --------------------------------------------------------------------------- printCoefmat


def star_symbols(pv: Iterable) -> List[str]:
    """R's ``symnum(pv, cutpoints = c(0, .001, .01, .05, .1, 1), symbols = c("***", "**",
    "*", ".", " "))``: intervals closed on the right, 0 included; NA gives ``""``."""
    out = []
    for p in pv:
        if is_na(p):
            out.append("")
            continue
        p = float(p)
        if p <= 0.001:
            out.append("***")
        elif p <= 0.01:
            out.append("**")
        elif p <= 0.05:
            out.append("*")
        elif p <= 0.1:
            out.append(".")
        else:
            out.append(" ")
    return out


def _with_na(a: np.ndarray, na: np.ndarray) -> list:
    """Column-major values with R's NA as None (NA and NaN format to different widths)."""
    return [None if m else float(v)
            for v, m in zip(np.ravel(a, order="F"), np.ravel(na, order="F"))]


def _parse_num(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        return float("nan")


def format_coef_table(table, row_names: Optional[Sequence[str]], col_names: Sequence[str],
                      digits: int = 5, signif_stars: bool = True,
                      signif_legend: Optional[bool] = None, dig_tst: Optional[int] = None,
                      cs_ind: Optional[Sequence[int]] = None,
                      tst_ind: Optional[Sequence[int]] = None, zap_ind: Sequence[int] = (),
                      P_values: Optional[bool] = None, has_Pvalue: Optional[bool] = None,
                      eps_Pvalue: float = DBL_EPSILON, na_print: str = "NA",
                      width: int = 80) -> str:
    """R's ``printCoefmat(x, digits, signif.stars, ...)`` as text.

    Parameters
    ----------
    table : 2-D array_like of float (NaN or None = NA)
        The coefficient matrix (e.g. Estimate, Std. Error, t value[, Pr(>|t|)]).
    row_names, col_names : sequences of str (``row_names=None`` prints ``[1,]``...)
    digits : int
        R's ``digits`` (lme4's summary uses 4; R's default is ``max(3, getOption("digits")
        - 2)`` = 5).
    signif_stars : bool
        Add the significance-star column (and legend) when a p-value column is present.
    dig_tst : int, optional
        Digits of the test statistics (default ``max(1, min(5, digits - 1))``).
    cs_ind, tst_ind, zap_ind : sequences of int, optional
        0-based columns of coefficients/standard errors (rounded together), of test
        statistics, and to ``zapsmall``; defaults as R (``cs_ind`` = the first k columns,
        ``tst_ind`` = the next one).
    P_values, has_Pvalue : bool, optional
        Default: the last column is a p-value if its name starts with ``"Pr("`` or
        ``"p-v"`` and there are at least 4 columns.
    eps_Pvalue : float
        p-values below print as ``< eps`` (R: ``.Machine$double.eps``).

    Returns
    -------
    str
        The printed table (and ``---`` legend), without a final newline.
    """
    raw = np.asarray(table, dtype=object)
    if raw.ndim != 2:
        raise ValueError("'table' must be a coefficient matrix (2-D)")
    nr, nc = raw.shape
    xm = np.array([[float("nan") if v is None else float(v) for v in row] for row in raw],
                  dtype=float).reshape(nr, nc)
    is_true_na = np.array([[v is None or (not isinstance(v, (float, np.floating)) and is_na(v))
                            for v in row] for row in raw], dtype=bool).reshape(nr, nc)
    cn = list(col_names)
    if has_Pvalue is None:
        has_Pvalue = nc >= 4 and len(cn) > 0 and cn[-1][:3] in ("Pr(", "p-v")
    if P_values is None:
        P_values = has_Pvalue
    elif P_values and not has_Pvalue:
        raise ValueError("'P.values' is TRUE, but 'has.Pvalue' is not")
    if has_Pvalue and not P_values:
        xm = xm[:, :-1]
        is_true_na = is_true_na[:, :-1]
        cn = cn[:-1]
        nc -= 1
        has_Pvalue = False
    if tst_ind is None:
        k = nc - int(has_Pvalue) - 1
        tst_ind = [k] if k < nc else []
    else:
        tst_ind = list(tst_ind)
        k = nc - int(has_Pvalue) - len(tst_ind)
    if cs_ind is None:
        cs_ind = list(range(k))
    else:
        cs_ind = list(cs_ind)
        if len(cs_ind) > k:
            raise ValueError("wrong k / cs.ind")
    if dig_tst is None:
        dig_tst = max(1, min(5, digits - 1))
    Cf = [["" for _ in range(nc)] for _ in range(nr)]
    ina = np.isnan(xm)
    ok = ~ina
    for i in zap_ind:
        xm[:, i] = zapsmall(xm[:, i], digits)
    if cs_ind:
        coef_se = xm[:, cs_ind]
        acs = np.abs(coef_se)
        fin = np.isfinite(acs)
        if fin.any():
            nz = acs[fin & (acs != 0)]
            if nz.size:
                digmin = 1 + np.floor(np.log10(np.array([nz.min(), nz.max()])))
            else:
                digmin = np.array([1.0])
            dec = max(1, int(np.max(digits - digmin)))
            f = format_numbers(_with_na(round_r(coef_se, dec), is_true_na[:, cs_ind]),
                               digits=digits)
            pos = 0
            for jj, j in enumerate(cs_ind):
                for i in range(nr):
                    Cf[i][j] = f[pos]
                    pos += 1
    if tst_ind:
        t = xm[:, tst_ind]
        f = format_numbers(_with_na(round_r(t, dig_tst), is_true_na[:, tst_ind]), digits=digits)
        pos = 0
        for j in tst_ind:
            for i in range(nr):
                Cf[i][j] = f[pos]
                pos += 1
    others = [j for j in range(nc) if j not in cs_ind and j not in tst_ind
              and not (has_Pvalue and j == nc - 1)]
    for j in others:
        f = format_numbers(_with_na(xm[:, [j]], is_true_na[:, [j]]), digits=digits)
        for i in range(nr):
            Cf[i][j] = f[i]
    ok_t = ok.copy()
    for j in tst_ind:
        ok_t[:, j] = False
    last = nc - 1 if has_Pvalue else nc
    cells = [(i, j) for j in range(last) for i in range(nr) if ok_t[i, j]]
    fix = []
    for (i, j) in cells:
        shown = _parse_num(Cf[i][j])
        if not math.isnan(shown) and (xm[i, j] == 0) != (shown == 0):
            fix.append((i, j))
    if fix:
        f = format_numbers([xm[i, j] for (i, j) in fix], digits=max(1, digits - 1))
        for (i, j), s in zip(fix, f):
            Cf[i][j] = s
    for i in range(nr):
        for j in range(nc):
            if ina[i, j]:
                Cf[i][j] = "NaN" if not is_true_na[i, j] else na_print
    col_labels = list(cn)
    show_stars = False
    if P_values:
        pv = xm[:, nc - 1]
        okp = ok[:, nc - 1]
        if okp.any():
            fp = format_pval([pv[i] for i in range(nr) if okp[i]], digits=dig_tst,
                             eps=eps_Pvalue)
            it = iter(fp)
            for i in range(nr):
                if okp[i]:
                    Cf[i][nc - 1] = next(it)
            show_stars = signif_stars and bool(np.any(pv[okp] < 0.1))
            if show_stars:
                st = star_symbols(pv)
                wst = max(len(s) for s in st)
                for i in range(nr):
                    Cf[i].append(st[i].ljust(wst))
                col_labels.append("")
    text = print_matrix(Cf, row_names, col_labels, right=True, width=width, na_print=na_print)
    if signif_legend is None:
        signif_legend = show_stars
    if show_stars and signif_legend:
        sleg = [SIGNIF_LEGEND]
        if width < len(SIGNIF_LEGEND):
            sleg = strwrap(SIGNIF_LEGEND, width=width - 2, prefix="  ")
        extra = max(len(v.encode("utf-8")) - len(v) for v in sleg)
        text += "\n" + cat("---\nSignif. codes:  ", sleg, sep="", fill=width + 4 + extra,
                           width=width)[:-1]
    return text


# --------------------------------------------------------------------------- print.anova


def format_anova(table, row_names: Optional[Sequence[str]], col_names: Sequence[str],
                 heading: Optional[Sequence[str]] = None, digits: int = 5,
                 signif_stars: bool = True, width: int = 80) -> str:
    """R's ``print.anova()``: the heading lines, then ``printCoefmat`` with the columns R picks.

    Columns named ``"... value"``, ``F``, ``Cp`` or ``Chisq`` are test statistics; a last
    column starting ``P(``/``Pr(`` holds p-values; the rest, except ``*Df`` columns, are
    ``zapsmall``-ed; NA prints as blank.

    Parameters
    ----------
    table : 2-D array_like (None or NaN = NA)
    heading : sequence of str, optional
        R's ``attr(x, "heading")``: each element is printed followed by a newline.
    digits : int
        R's default ``max(getOption("digits") - 2, 3)`` = 5.
    """
    import re
    cn = list(col_names)
    nc = len(cn)
    has_p = bool(re.match(r"^(P|Pr)\(", cn[-1]))
    zap = list(range(nc - 1 if has_p else nc))
    tst = [j for j, c in enumerate(cn) if c[1:7] == " value"]
    tst += [j for j, c in enumerate(cn) if c in ("F", "Cp", "Chisq")]
    zap = [j for j in zap if j not in tst]
    zap = [j for j in zap if not cn[j].endswith("Df")]
    body = format_coef_table(table, row_names, cn, digits=digits, signif_stars=signif_stars,
                             cs_ind=[], tst_ind=tst, zap_ind=zap, P_values=has_p,
                             has_Pvalue=has_p, na_print="", width=width)
    head = "".join(h + "\n" for h in heading) if heading else ""
    return head + body
