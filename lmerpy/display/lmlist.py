"""Printed text of lme4's ``lmList`` results: ``show(lmList4)``, nlme's
``print.summary.lmList`` (which lme4's summary uses) and the ``lmList4.confint`` array
(plain numbers in; NaN prints as R's NA; no final newline, as the other printers).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .rformat import format_number
from .rprint import print_numeric_matrix

__all__ = ["format_lmlist", "format_lmlist_summary", "format_lmlist_confint", "percent_labels",
           "deparse_call"]

#: one block of a 3-d array: its name, row names, column names and values
Block = Tuple[str, Sequence[str], Sequence[str], np.ndarray]

#: R's deparse() width.cutoff
WIDTH_CUTOFF = 60


def _na(values: np.ndarray) -> list:
    """NaN -> None (printed NA), row by row."""
    a = np.asarray(values, dtype=float)
    return [[None if np.isnan(v) else float(v) for v in row] for row in a]


def _matrix(rows: Sequence[str], cols: Sequence[str], values) -> str:
    return print_numeric_matrix(_na(values), row_names=list(rows), col_names=list(cols))


def percent_labels(probs: Sequence[float]) -> List[str]:
    """R's ``paste(format(100 * p, trim = TRUE, scientific = FALSE, digits = 3), "%")``."""
    return [f"{format_number(100 * p, digits=3)} %" for p in probs]


def deparse_call(func: str, args: Sequence[str]) -> str:
    """``cat(deparse(call))``: arguments written in turn, a new line (indented four spaces)
    before an argument once the line is longer than deparse's cutoff; ``cat`` joins the lines
    with a blank."""
    lines: List[str] = []
    line = f"{func}("
    for i, arg in enumerate(args):
        if len(line) > WIDTH_CUTOFF:
            lines.append(line)
            line = "    "
        line += arg + (", " if i < len(args) - 1 else ")")
    lines.append(line)
    return " ".join(lines)


def format_lmlist(call: str, groups: Sequence[str], names: Sequence[str], coef,
                  pooled: Optional[Tuple[int, int, float]]) -> str:
    """``show(lmList4)``: the call, the coefficients' data frame and, when the residual
    standard deviation is pooled, ``(total observations, pooled df, pooled sd)``."""
    lines = [f"Call: {call} ", "Coefficients:", _matrix(groups, names, coef)]
    if pooled is not None:
        n, df, sd = pooled
        lines += ["", f"Degrees of freedom: {n} total; {df} residual",
                  f"Residual standard error: {format_number(sd)}"]
    return "\n".join(lines)


def format_lmlist_summary(model: str, group: str, data_name: str, blocks: Sequence[Block],
                          pooled: Optional[Tuple[float, int]]) -> str:
    """nlme's ``print.summary.lmList`` as lme4's ``summary(lmList)`` prints it: the model
    line (lme4 leaves the grouping formula NULL, so R prints ``| NULL``), one coefficient
    table per coefficient and the pooled residual standard error."""
    response, rhs = (s.strip() for s in model.split("~", 1))
    lines = ["Call:", f"  Model: {response} ~ {rhs} | NULL ", f"   Data: {data_name} ", "",
             "Coefficients:"]
    for name, rows, cols, values in blocks:
        lines += [f"   {name} ", _matrix(rows, cols, values)]
    if pooled is not None:
        sd, df = pooled
        lines += ["", f"Residual standard error: {format_number(sd)} on {df} degrees of freedom"]
    lines.append("")
    return "\n".join(lines)


def format_lmlist_confint(blocks: Sequence[Block]) -> str:
    """``show(confint(lmList))``: an S4 object's header, then R's print of the 3-d array
    (``, , name`` and each slice, its columns formatted one by one)."""
    lines = ['An object of class "lmList4.confint"']
    for name, rows, cols, values in blocks:
        lines += [f", , {name}", "", _matrix(rows, cols, values), ""]
    return "\n".join(lines)
