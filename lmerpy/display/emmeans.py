"""emmeans' printed tables (``print.summary_emm``, emmeans 1.8): the means or contrasts, split
by the ``by`` variables, and the annotations below them. Plain data in (a DataFrame of the
summary and what it is), text out; no final newline, as R's ``capture.output`` shows it.

emmeans chooses the digits itself (its ``opt.digits`` option, on by default): for each row
the interval estimate ± 2 SE is looked at, and the table shows enough significant digits to
tell those three numbers apart (at least 3). Test statistics get 3 decimals, p-values 4
(``<.0001`` below that), degrees of freedom are rounded to 2 decimals before formatting.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from .rformat import format_numbers, round_r, zapsmall
from .rprint import print_matrix

__all__ = ["format_emm_summary", "optimal_digits"]

TEST_STATISTICS = ("t.ratio", "z.ratio", "F.ratio", "T.square")


def _opt_dig(x: np.ndarray) -> int:
    """emmeans' ``.opt.dig``: significant digits that separate the values of ``x``."""
    mx = float(np.max(np.abs(x)))
    z = np.array([x.min(), x.max()]) / mx
    dz = float(zapsmall(np.array([z[1] - z[0], z[0], z[1]]), digits=8)[0])
    if dz == 0 or not math.isfinite(dz):
        return 3
    zz = float(round_r(1.51 - math.log10(dz)))
    return int(max(zz, 3))


def optimal_digits(estimate: Sequence[float], se: Sequence[float]) -> int:
    """emmeans' digits for a table: the largest ``.opt.dig`` of (est - 2 SE, est, est + 2 SE)
    over the rows."""
    est = np.asarray(estimate, dtype=float)
    s = np.asarray(se, dtype=float)
    rows = [np.array([e - 2 * v, e, e + 2 * v]) for e, v in zip(est, s)
            if math.isfinite(e) and math.isfinite(v)]
    return max((_opt_dig(r) for r in rows), default=3)


def _fixed(values: np.ndarray, decimals: int) -> List[str]:
    """``format(round(x, d), nsmall = d, sci = FALSE)``."""
    return format_numbers(list(round_r(values, decimals)), digits=7, nsmall=decimals,
                          scipen=1000)


def format_emm_summary(table: pd.DataFrame, estimate: str, by: Sequence[str] = (),
                       messages: Sequence[str] = (), digits: Optional[int] = None) -> str:
    """Print an emmeans summary as ``print.summary_emm`` does.

    Parameters
    ----------
    table : DataFrame
        The summary's columns in order: label columns (strings), then numbers.
    estimate : str
        The estimate's column (``emmean``, ``prob``, ``estimate``, ``odds.ratio``...).
    by : sequence of str
        Columns that split the table into blocks (``dose = low:``), in the table's order.
    messages : sequence of str
        The annotations printed below, one per line.
    """
    cols = list(table.columns)
    numeric = {c: pd.api.types.is_numeric_dtype(table[c]) and c not in by for c in cols}
    if digits is None and "SE" in table:
        digits = optimal_digits(table[estimate].to_numpy(float), table["SE"].to_numpy(float))
    cells = {}
    for c in cols:
        if not numeric[c]:
            cells[c] = [str(v) for v in table[c]]
            continue
        v = zapsmall(table[c].to_numpy(dtype=float))
        if c in TEST_STATISTICS:
            cells[c] = _fixed(v, 3)
        elif c == "p.value":
            txt = _fixed(v, 4)
            cells[c] = ["<.0001" if s.strip() == "0.0000" else s for s in txt]
        else:
            if c == "df":
                v = round_r(v, 2)
            cells[c] = format_numbers(list(v), digits=digits if digits is not None else 7)
            if c == estimate and np.isnan(v).any():
                cells[c] = ["nonEst" if np.isnan(x) else s for x, s in zip(v, cells[c])]
    shown = [c for c in cols if c not in by]
    widths = {c: max([len(c), 1] + [len(s) for s in cells[c]]) for c in shown}
    just = {c: numeric[c] for c in shown}

    def block(rows: Sequence[int]) -> str:
        body = [[cells[c][i].rjust(widths[c]) if just[c] else cells[c][i].ljust(widths[c])
                 for c in shown] for i in rows]
        names = [c if just[c] else c.ljust(widths[c]) for c in shown]
        return print_matrix(body, row_names=[""] * len(rows), col_names=names, right=True)

    lines: List[str] = []
    if not by:
        lines += [block(range(len(table))), ""]
    else:
        shown_by = {b: _by_labels(table[b]) for b in by}
        keys = [tuple(shown_by[b][i] for b in by) for i in range(len(table))]
        order = sorted(range(len(table)), key=lambda i: tuple(
            _level_rank(table[b], i) for b in reversed(list(by))))
        seen: List[tuple] = []
        for i in order:
            if keys[i] not in seen:
                seen.append(keys[i])
        for key in seen:
            rows = [i for i in order if keys[i] == key]
            head = ", ".join(f"{b} = {v}" for b, v in zip(by, key))
            lines += [f"{head}:", block(rows), ""]
    lines += [f"{m} " for m in dict.fromkeys(messages)]
    return "\n".join(lines)


def _by_labels(col: pd.Series) -> List[str]:
    """A by variable's values as emmeans names its groups (numbers as R formats them)."""
    if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
        return [s.strip() for s in format_numbers(list(zapsmall(col.to_numpy(float))))]
    return [str(v) for v in col]


def _level_rank(col: pd.Series, i: int):
    """R's ``order()`` key of a by column: a factor's level position; for other columns the
    position of the value's first appearance (the tables come in their groups' order)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return int(col.cat.codes.iloc[i])
    firsts = list(dict.fromkeys(col.tolist()))
    return firsts.index(col.iloc[i])
