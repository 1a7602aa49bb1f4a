"""The random-effects table as lme4 2.x prints it: reformulas' ``formatVC()``.

lme4 2.x prints ``VarCorr`` (in ``print(fit)``, ``summary(fit)`` and ``print(VarCorr(fit))``)
with reformulas' ``formatVC``, which knows the covariance structures:

* the standard deviations shown per term are reformulas' ``get_sd``: all of them, except one
  for ``homcs`` and (homogeneous) ``ar1`` terms (:attr:`VarCorrBlock.n_stddev_printed`);
* the ``Corr`` column is ``format_corr``: the lower triangle of the correlation matrix for
  ``us`` (including its always-empty last column, which is why lme4 2.x prints one more
  column than lme4 1.1), nothing for ``diag``, and one value tagged with the structure for
  ``cs``/``homcs``/``ar1``/``hetar1`` -- Σ's own correlation [2, 1], so ``NaN (ar1)`` when an
  SD is 0, and ``1.00 (cs)`` for a one-column term;
* a term with more than 10 columns (``maxdim``) shows its first 10 and a row of ``...``;
* the ``Corr`` columns are left out when every entry is empty.

R equivalent: ``reformulas::formatVC`` (0.4.5), ``format_sdvar``, ``format_corr`` and
``assemble_sdcor``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .inputs import VarCorrBlock
from .rformat import format_numbers, round_r

__all__ = ["format_vc_table_structured", "MAXDIM"]

#: reformulas' ``formatVC(maxdim = 10)``: SD rows and correlation rows shown per term
MAXDIM = 10


def _n_sd(b: VarCorrBlock) -> int:
    return len(b.names) if b.n_stddev_printed is None else int(b.n_stddev_printed)


def _corr_cells(b: VarCorrBlock, digits: int) -> List[List[str]]:
    """reformulas' ``format_corr`` of one term: its rows of the ``Corr`` columns."""
    k = len(b.names)
    corr = None if b.corr is None else np.asarray(b.corr, dtype=float)
    if b.vcmat_class in ("diag", "homdiag"):
        return [[""]]
    if b.corr_label is not None:
        value = 1.0 if k == 1 or corr is None else float(corr[1, 0])
        text = format_numbers([round_r(value, digits)], nsmall=digits)[0]
        return [[f"{text} ({b.corr_label})"]]
    if corr is None:                               # one column: an empty 1 x 1 triangle
        return [[""]]
    m = min(MAXDIM, k)
    cc = format_numbers(list(round_r(corr[:m, :m], digits).ravel()), nsmall=digits)
    rows = [[cc[i * m + j] if j < i else "" for j in range(m)] for i in range(m)]
    if k > MAXDIM:
        rows.append(["..."] * m)
    return rows


def _pad(rows: List[List[str]], nrow: int, ncol: int) -> List[List[str]]:
    out = [r + [""] * (ncol - len(r)) for r in rows]
    return out + [[""] * ncol for _ in range(nrow - len(out))]


def format_vc_table_structured(blocks: Sequence[VarCorrBlock], groups: Sequence[str],
                               sigma: Optional[float], digits: int, use_c: Sequence[str],
                               use_sc: bool) -> Tuple[List[List[str]], List[str]]:
    """reformulas' ``formatVC``: (rows of strings, column names) of the random-effects table.

    ``groups`` are the terms' printed names (made unique), ``use_c`` the columns
    ``"Variance"``/``"Std.Dev."`` to show, ``digits`` the significant digits of SDs and
    variances (correlations get ``max(2, digits - 2)`` decimals).
    """
    corr_digits = max(2, digits - 2)
    names: List[List[str]] = []
    sds: List[List[float]] = []
    for b in blocks:
        n = _n_sd(b)
        names.append(list(b.names[:n]))
        sds.append([float(v) for v in np.ravel(b.stddev)[:n]])
    corr = [_corr_cells(b, corr_digits) for b in blocks]
    terms = list(groups)
    if use_sc:
        names.append([""])
        sds.append([float(sigma)])  # type: ignore[arg-type]  # use_sc: sigma is a number
        corr.append([[""]])
        terms.append("Residual")
    flat = [v for s in sds for v in s]
    cols = {}
    if "Variance" in use_c:
        cols["Variance"] = format_numbers([v * v for v in flat], digits=digits)
    if "Std.Dev." in use_c:
        cols["Std.Dev."] = format_numbers(flat, digits=digits)
    value_cols = [c for c in ("Variance", "Std.Dev.") if c in use_c]
    pos = 0
    sd_rows: List[List[List[str]]] = []
    for nm in names:
        rows = [[nm[i]] + [cols[c][pos + i] for c in value_cols] for i in range(len(nm))]
        pos += len(nm)
        if len(rows) > MAXDIM:                     # reformulas' trunc_rows
            rows = rows[:MAXDIM] + [["..."] * (1 + len(value_cols))]
        sd_rows.append(rows)
    max_cols = max(len(c[0]) for c in corr)
    out: List[List[str]] = []
    corr_out: List[List[str]] = []
    for term, srows, crows in zip(terms, sd_rows, corr):
        nrow = max(len(srows), len(crows))
        for i, r in enumerate(_pad(srows, nrow, 1 + len(value_cols))):
            out.append([term if i == 0 else ""] + r)
        corr_out.extend(_pad(crows, nrow, max_cols))
    colnames = ["Groups", "Name"] + value_cols
    if any(v != "" for r in corr_out for v in r):
        out = [r + c for r, c in zip(out, corr_out)]
        colnames += ["Corr"] + [""] * (max_cols - 1)
    return out, colnames
