"""nlme's printed output for gls fits, from plain data.

R equivalent: ``print.gls``, ``print.summary.gls``, the ``print.summary`` methods of nlme's
``corStruct`` and ``varFunc`` classes, ``print.correlation``, ``print.anova.lme`` and
``print.intervals.gls`` (nlme 3.1), at R's defaults ``options(digits = 7, width = 80)``.
Each function returns the text ``paste(capture.output(print(x)), collapse = "\\n")`` gives in
R (no final newline); the model is never read here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from ..display.rformat import as_character, format_number, format_numbers, quantile7, round_r, \
    zapsmall
from ..display.rprint import print_matrix, print_named_vector, print_numeric_matrix
from ..display.rtext import abbreviate
from .corstruct import CorSummary
from .varfunc import VarSummary

__all__ = ["format_varcov", "GlsPrintInput", "format_data_frame", "format_structures", "format_gls_print",
           "format_gls_summary", "format_correlation", "format_anova_terms", "format_anova_lrt",
           "format_intervals", "IntervalsBlock", "LBlock", "format_anova_contrast"]


def format_data_frame(columns: Sequence[Sequence[str]], col_names: Sequence[str],
                      row_names: Sequence[str], width: int = 80) -> str:
    """R's ``print.data.frame`` of already formatted columns: cells and headers
    right-justified, row names left-justified."""
    return print_matrix([list(r) for r in zip(*columns)], row_names=list(row_names),
                        col_names=list(col_names), right=True, width=width)


def _cat_line(*parts: str) -> str:
    return " ".join(parts)


def format_correlation(corr, names: Sequence[str], title: str = " Correlation:",
                       rdig: int = 3, width: int = 80) -> str:
    """nlme's ``print.correlation``: the lower triangle rounded to ``rdig`` decimals, columns
    labelled by ``abbreviate(names, rdig + 3)``; nothing for a 1 x 1 matrix."""
    c = np.asarray(corr, dtype=float)
    p = c.shape[1]
    if p <= 1:
        return ""
    rows, cols = np.tril_indices(p, -1)
    order = np.lexsort((rows, cols))                   # R's column-major x[lower.tri(x)]
    rows, cols = rows[order], cols[order]
    cells = format_numbers(list(round_r(c[rows, cols], rdig)), digits=7)
    grid = [["" for _ in range(p)] for _ in range(p)]
    for r, k, s in zip(rows, cols, cells):
        grid[r][k] = s
    col_names = abbreviate(list(names), minlength=rdig + 3)
    body = print_matrix([g[:-1] for g in grid[1:]], row_names=list(names)[1:],
                        col_names=col_names[:-1], width=width)
    return f"{title} \n{body}"


# --------------------------------------------------------------------------- structures


def _cor_text(s: CorSummary) -> List[str]:
    lines = [f"Correlation Structure: {s.struct_name}", f" Formula: {s.formula} ",
             " Parameter estimate(s):"]
    if s.matrix is not None:
        M = s.matrix.shape[0]
        lab = [str(i + 1) for i in range(M)]
        txt = format_correlation(s.matrix, lab)
        if txt:
            lines.append(txt)
    else:
        lines.append(print_named_vector(s.values, s.names, digits=7))
    return lines


def _var_text(s: VarSummary, header: bool = True) -> List[str]:
    if s.kind == "none":
        return []
    if s.kind == "fixed":
        return ["Variance function:", " Structure: fixed weights", f" Formula: {s.formula} "]
    if s.kind == "empty":
        return [f"Variance function structure of class {s.r_class} with no parameters, or "
                f"uninitialized"]
    if s.kind == "comb":
        out = [f"{s.struct_name} "]
        for part in s.parts:
            out += _var_text(part, header=False)
        return out
    lines = (["Variance function:"] if header else []) + [
        f" Structure: {s.struct_name}", f" Formula: {s.formula} ", " Parameter estimates:"]
    if s.kind == "matrix":
        lines.append(print_numeric_matrix(s.matrix, row_names=s.row_names,
                                          col_names=s.col_names, digits=7))
    else:
        lines.append(print_named_vector(s.values, s.names, digits=7))
    return lines


def format_structures(cor: Optional[CorSummary], var: Optional[VarSummary]) -> str:
    """``print(summary(modelStruct))``: the correlation structure, then the variance
    function."""
    lines: List[str] = []
    if cor is not None:
        lines += _cor_text(cor)
    if var is not None:
        lines += _var_text(var)
    return "\n".join(lines)


# --------------------------------------------------------------------------- gls


@dataclass
class GlsPrintInput:
    """What ``print(fit)`` and ``print(summary(fit))`` show, as plain data."""

    REML: bool
    formula: str
    data_name: str
    logLik: float
    AIC: float
    BIC: float
    coef_names: List[str]
    coef: np.ndarray
    se: np.ndarray
    vcov: np.ndarray
    df_resid: int
    nobs: int
    sigma: float
    pearson: np.ndarray
    row_names: List[str] = field(default_factory=list)
    cor: Optional[CorSummary] = None
    var: Optional[VarSummary] = None

    @property
    def has_structure(self) -> bool:
        return self.cor is not None or self.var is not None


def _header(s: GlsPrintInput) -> List[str]:
    return [f"Generalized least squares fit by {'REML' if s.REML else 'maximum likelihood'}",
            f"  Model: {s.formula} ", f"  Data: {s.data_name} "]


def _tail_df(s: GlsPrintInput) -> str:
    return f"Degrees of freedom: {s.nobs} total; {s.nobs - len(s.coef)} residual"


def format_gls_print(s: GlsPrintInput, width: int = 80) -> str:
    """nlme's ``print.gls``."""
    lines = _header(s)
    kind = "restricted-" if s.REML else ""
    lines.append(f"  Log-{kind}likelihood: {format_number(s.logLik, digits=7)}")
    lines += ["", "Coefficients:", print_named_vector(list(s.coef), s.coef_names, digits=7,
                                                      width=width), ""]
    if s.has_structure:
        txt = format_structures(s.cor, s.var)
        if txt:
            lines.append(txt)
    lines.append(_tail_df(s))
    lines.append(f"Residual standard error: {format_number(s.sigma, digits=7)} ")
    return "\n".join(lines)


def _p_column(p) -> List[str]:
    return format_numbers(list(round_r(np.asarray(p, dtype=float), 4)), digits=7)


def format_gls_summary(s: GlsPrintInput, p_values, width: int = 80) -> str:
    """nlme's ``print.summary.gls``."""
    lines = _header(s)
    crit = format_data_frame([[format_number(s.AIC, digits=7)], [format_number(s.BIC, digits=7)],
                              [format_number(s.logLik, digits=7)]], ["AIC", "BIC", "logLik"],
                             [" "], width=width)
    lines.append(crit)
    if s.has_structure:
        lines.append("")
        txt = format_structures(s.cor, s.var)
        if txt:
            lines.append(txt)
    lines += ["", "Coefficients:"]
    t = np.asarray(s.coef) / np.asarray(s.se)
    cols = [format_numbers(list(zapsmall(s.coef)), digits=7),
            format_numbers(list(zapsmall(s.se)), digits=7),
            format_numbers(list(zapsmall(t)), digits=7), _p_column(p_values)]
    lines.append(format_data_frame(cols, ["Value", "Std.Error", "t-value", "p-value"],
                                   s.coef_names, width=width))
    if len(s.coef) > 1:
        v = np.asarray(s.vcov, dtype=float)
        sd = np.sqrt(np.diag(v))
        corr = v / sd[:, None] / sd[None, :]
        lines.append("")
        lines.append(format_correlation(corr, s.coef_names, title=" Correlation:", width=width))
    lines += ["", "Standardized residuals:"]
    r = np.asarray(s.pearson, dtype=float)
    if r.size > 5:
        q = quantile7(r)
        lines.append(print_named_vector(list(q), ["Min", "Q1", "Med", "Q3", "Max"], digits=7,
                                        width=width))
    else:
        lines.append(print_named_vector(list(r), list(s.row_names), digits=7, width=width))
    lines += ["", f"Residual standard error: {format_number(s.sigma, digits=7)} ", _tail_df(s)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- anova


def format_anova_terms(terms: Sequence[str], numDF, F, p, label: str, width: int = 80,
                       denDF=None) -> str:
    """nlme's ``print.anova.lme`` of a single model's F tests (``label`` is ``"Denom. DF:
    305 \\n"`` for gls; lme fits have a ``denDF`` column instead)."""
    pv = _p_column(p)
    pv = ["<.0001" if float(x) == 0 else x for x in pv]
    cols = [[str(int(d)) for d in numDF]]
    names = ["numDF"]
    if denDF is not None:
        cols.append(format_numbers(list(np.asarray(denDF, dtype=float)), digits=7))
        names.append("denDF")
    cols += [format_numbers(list(zapsmall(F)), digits=7), pv]
    body = format_data_frame(cols, names + ["F-value", "p-value"], list(terms), width=width)
    return label + body


@dataclass
class LBlock:
    """The ``L`` of an ``anova(fit, L = )`` test as nlme prints it: the non-zero rows and
    columns; ``one_row``: R drops a single row to a named vector (and a single entry to an
    unnamed one, ``[1] 1``)."""
    values: np.ndarray
    col_names: List[str]
    row_names: List[str]
    one_row: bool


def format_anova_contrast(label: str, numDF: int, denDF, F: float, p: float,
                          L: Optional[LBlock] = None, width: int = 80) -> str:
    """nlme's ``print.anova.lme`` of one ``Terms``/``L`` F test: the label, ``L``
    (zapsmall-ed), then the one-row table (``denDF`` for lme fits, None for gls)."""
    out = label
    if L is not None:
        vals = zapsmall(np.asarray(L.values, dtype=float))
        if L.one_row and vals.shape[1] == 1:
            out += "[1] " + format_numbers([vals[0, 0]], digits=7)[0] + "\n"
        elif L.one_row:
            out += print_named_vector(list(vals[0]), L.col_names, width=width) + "\n"
        else:
            out += print_numeric_matrix(vals, L.row_names, L.col_names, width=width) + "\n"
    pv = _p_column([p])
    pv = ["<.0001" if float(x) == 0 else x for x in pv]
    cols = [[str(int(numDF))]]
    names = ["numDF"]
    if denDF is not None:
        cols.append([format_number(denDF, digits=7)])
        names.append("denDF")
    cols += [format_numbers(list(zapsmall(np.array([F]))), digits=7), pv]
    names += ["F-value", "p-value"]
    return out + format_data_frame(cols, names, ["1"], width=width)


def _blank_na(values, zap: bool) -> List[str]:
    a = np.asarray([math.nan if v is None else float(v) for v in values], dtype=float)
    na = np.isnan(a)
    if zap:
        a = zapsmall(a)
    a = np.where(na, 0.0, a)
    out = format_numbers(list(a), digits=7)
    return ["" if m else s for s, m in zip(out, na)]


def format_anova_lrt(model_names: Sequence[str], df, AIC, BIC, logLik, test=None, L_ratio=None,
                     p=None, width: int = 80) -> str:
    """nlme's ``print.anova.lme`` of several models (likelihood-ratio tests)."""
    n = len(model_names)
    cols = [[str(i + 1) for i in range(n)], [str(int(d)) for d in df],
            _blank_na(AIC, True), _blank_na(BIC, True), _blank_na(logLik, True)]
    names = ["Model", "df", "AIC", "BIC", "logLik"]
    if test is not None:
        pr = np.asarray([math.nan if v is None else float(v) for v in p], dtype=float)
        na = np.isnan(pr)
        rounded = round_r(pr[~na], 4)
        txt = format_numbers(list(rounded), digits=7) if rounded.size else []
        pcol, k = [], 0
        for m in na:
            if m:
                pcol.append("")
            else:
                s = txt[k]
                pcol.append("<.0001" if float(s) == 0 else s)
                k += 1
        cols += [list(test), _blank_na(L_ratio, True), pcol]
        names += ["Test", "L.Ratio", "p-value"]
    return format_data_frame(cols, names, list(model_names), width=width)


# --------------------------------------------------------------------------- getVarCov


def format_varcov(V, kind: str = "Marginal", digits: int = 5, width: int = 80) -> str:
    """nlme's ``print.VarCov``: the matrix rounded to ``digits`` significant digits, then its
    standard deviations."""
    from ..display.rformat import signif
    v = np.asarray(V, dtype=float)
    body = print_numeric_matrix(signif(v, digits), digits=7, width=width)
    sds = signif(np.sqrt(np.diag(v)), digits)
    return (f"{kind} variance covariance matrix\n{body}\n  Standard Deviations: "
            + " ".join(format_number(float(s), digits=7) for s in sds) + " ")


# --------------------------------------------------------------------------- intervals


@dataclass
class IntervalsBlock:
    """One block of ``intervals(fit)``: ``label`` (``"Coefficients:"``), the row names and the
    (lower, est., upper) rows; for the residual standard error ``names`` is None (a named
    vector)."""

    key: str
    label: str
    names: Optional[List[str]]
    values: np.ndarray
    #: lme's random effects: per level (outermost first) its name, row names and rows
    levels: Optional[List[tuple]] = None


def format_intervals(blocks: Sequence[IntervalsBlock], level: float, width: int = 80) -> str:
    """nlme's ``print.intervals.gls`` and ``print.intervals.lme``."""
    lines = [f"Approximate {as_character(level * 100)}% confidence intervals"]
    for b in blocks:
        lines += ["", f" {b.label}"]
        if b.levels is not None:
            for name, rows, values in b.levels:
                lines.append(f"  Level: {name} ")
                lines.append(print_numeric_matrix(values, row_names=rows,
                                                  col_names=["lower", "est.", "upper"],
                                                  digits=7, width=width))
        elif b.names is None:
            lines.append(print_named_vector(list(b.values), ["lower", "est.", "upper"], digits=7,
                                            width=width))
        else:
            lines.append(print_numeric_matrix(b.values, row_names=b.names,
                                              col_names=["lower", "est.", "upper"], digits=7,
                                              width=width))
    return "\n".join(lines)
