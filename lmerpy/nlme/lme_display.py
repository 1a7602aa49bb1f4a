"""nlme's printed output for lme fits.

R equivalent: ``print.lme``, ``print.summary.lme``, ``print.reStruct`` /
``print.summary.pdMat``, ``print.VarCorr.lme`` and ``print.VarCov`` (nlme 3.1) at R's
defaults ``options(digits = 7, width = 80)``. Each function returns what ``paste(capture.output(
print(x)), collapse = "\\n")`` gives in R.
"""
from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from ..display.rformat import format_number, format_numbers, quantile7, round_r, signif, \
    zapsmall
from ..display.rprint import print_matrix, print_named_vector, print_numeric_matrix
from ..display.rtext import abbreviate
from .display import format_correlation, format_data_frame, format_structures

__all__ = ["format_lme_print", "format_lme_summary", "format_lme_varcorr", "format_lme_varcov",
           "random_effects_text"]


def _level_label(fit: Any, i: int) -> str:
    """nlme's name of level ``i`` (1 = outermost): ``Variety %in% Block``."""
    groups = [lv.group for lv in fit.levels[:i]]
    return " %in% ".join(reversed(groups))


def _pd_lines(fit: Any, i: int, resid: bool) -> List[str]:
    lv = fit.levels[i - 1]
    pd = lv.pd
    t = fit.re_term(i)
    S = fit.re_covariance(i).to_numpy()
    sigma = fit.sigma()
    sd = np.sqrt(np.diag(S))
    names = list(t.cnms)
    p = len(names)
    lines = [f" Formula: ~{pd.rhs} | {_level_label(fit, i)}"]
    no_corr = pd.r_class in ("pdDiag", "pdIdent")
    if p == 1 or no_corr:
        if p > 1:
            lines.append(f" Structure: {pd.structure_title}")
        vals = list(sd) + ([sigma] if resid else [])
        cn = names + (["Residual"] if resid else [])
        lines.append(print_numeric_matrix(np.array([vals]), row_names=["StdDev:"],
                                          col_names=cn, digits=7))
        return lines
    lines.append(f" Structure: {pd.structure_title}")
    corr = S / np.outer(sd, sd)
    rr, cc = np.tril_indices(p, -1)
    order = np.lexsort((rr, cc))
    rr, cc = rr[order], cc[order]
    cells_txt = format_numbers(list(round_r(corr[rr, cc], 3)), digits=7)
    grid = [["" for _ in range(p)] for _ in range(p)]
    for a, c, s in zip(rr.tolist(), cc.tolist(), cells_txt):
        grid[a][c] = s
    sd_txt = format_numbers(list(sd) + ([sigma] if resid else []), digits=7)
    col_names = ["StdDev", "Corr"] + [""] * (p - 2)
    rows = []
    abbr = abbreviate(names, minlength=6) if pd.r_class == "pdLogChol" else [""] * p
    for i in range(p):
        row = [sd_txt[i]] + (abbr[:p - 1] if i == 0 else grid[i][:p - 1])
        rows.append(row)
    rnames = list(names)
    if resid:
        rows.append([sd_txt[p]] + [""] * (p - 1))
        rnames.append("Residual")
    lines.append(print_matrix(rows, row_names=rnames, col_names=col_names))
    return lines


def random_effects_text(fit: Any) -> List[str]:
    """``print(summary(fit$modelStruct$reStruct), sigma)``: per level, outermost first."""
    lines = ["Random effects:"]
    for i in range(1, fit.Q + 1):
        lines += _pd_lines(fit, i, resid=(i == fit.Q))
        lines.append("")
    return lines


def _structures(fit: Any) -> List[str]:
    pc, pv = fit.structure_split()
    cor = fit.correlation.summary(pc) if fit.correlation is not None else None
    var = fit.weights.summary(pv) if fit.weights is not None else None
    if cor is None and var is None:
        return []
    txt = format_structures(cor, var)
    return [txt] if txt else []


def _groups_text(fit: Any) -> List[str]:
    counts = [len(labs) for labs in fit.frame.group_labels]
    if fit.Q == 1:
        return [f"Number of Groups: {counts[0]} "]
    names = [_level_label(fit, i) for i in range(1, fit.Q + 1)]
    return ["Number of Groups: ", print_named_vector(counts, names, digits=7)]


def _header(fit: Any) -> List[str]:
    return [f"Linear mixed-effects model fit by {'REML' if fit.REML else 'maximum likelihood'}",
            f"  Data: {fit.frame.data_name or 'data'} "]


def format_lme_print(fit: Any, width: int = 80) -> str:
    """nlme's ``print.lme``."""
    lines = _header(fit)
    kind = "restricted-" if fit.REML else ""
    lines.append(f"  Log-{kind}likelihood: {format_number(float(fit.logLik()), digits=7)}")
    lines.append(f"  Fixed: {fit.frame.formula_text} ")
    lines.append(print_named_vector(list(fit.estimate.beta), list(fit.frame.gls.colnames),
                                    digits=7, width=width))
    lines.append("")
    lines += random_effects_text(fit)
    lines += _structures(fit)
    lines.append(f"Number of Observations: {fit.nobs()}")
    lines += _groups_text(fit)
    return "\n".join(lines)


def _p_column(p) -> List[str]:
    return format_numbers(list(round_r(np.asarray(p, dtype=float), 4)), digits=7)


def format_lme_summary(s: Any, width: int = 80) -> str:
    """nlme's ``print.summary.lme``."""
    fit = s.fit
    lines = _header(fit)
    lines.append(format_data_frame([[format_number(s.AIC, digits=7)],
                                    [format_number(s.BIC, digits=7)],
                                    [format_number(s.logLik, digits=7)]],
                                   ["AIC", "BIC", "logLik"], [" "], width=width))
    lines.append("")
    lines += random_effects_text(fit)
    lines += _structures(fit)
    lines.append(f"Fixed effects:  {fit.frame.formula_text} ")
    tt = s.tTable
    cols = [format_numbers(list(zapsmall(tt["Value"].to_numpy())), digits=7),
            format_numbers(list(zapsmall(tt["Std.Error"].to_numpy())), digits=7),
            format_numbers(list(zapsmall(tt["DF"].to_numpy())), digits=7),
            format_numbers(list(zapsmall(tt["t-value"].to_numpy())), digits=7),
            _p_column(tt["p-value"].to_numpy())]
    lines.append(format_data_frame(cols, ["Value", "Std.Error", "DF", "t-value", "p-value"],
                                   list(tt.index), width=width))
    if tt.shape[0] > 1:
        lines.append(format_correlation(s.corFixed.to_numpy(), list(tt.index),
                                        title=" Correlation:", width=width))
    lines += ["", "Standardized Within-Group Residuals:"]
    r = np.asarray(fit.residuals(type="pearson"), dtype=float)
    r = r[~np.isnan(r)]
    if r.size > 5:
        lines.append(print_named_vector(list(quantile7(r)), ["Min", "Q1", "Med", "Q3", "Max"],
                                        digits=7, width=width))
    else:
        lines.append(print_named_vector(list(r), [str(i) for i in range(1, r.size + 1)],
                                        digits=7, width=width))
    lines += ["", f"Number of Observations: {fit.nobs()}"]
    lines += _groups_text(fit)
    return "\n".join(lines)


def _varcorr_level(fit: Any, i: int):
    """(formStr, row names, variances, sds, correlation cells or None)."""
    lv = fit.levels[i - 1]
    pd = lv.pd
    t = fit.re_term(i)
    S = fit.re_covariance(i).to_numpy()
    sd = np.sqrt(np.diag(S))
    names = list(t.cnms)
    p = len(names)
    form = f"{pd.r_class}({pd.rhs})"
    corr_cells = None
    if p >= 2 and pd.r_class not in ("pdDiag", "pdIdent"):
        corr = S / np.outer(sd, sd)
        rr, cc = np.tril_indices(p, -1)
        order = np.lexsort((rr, cc))
        rr, cc = rr[order], cc[order]
        txt = format_numbers(list(round_r(corr[rr, cc], 3)), digits=7)
        grid = [["" for _ in range(p)] for _ in range(p)]
        for r, c, s in zip(rr, cc, txt):
            grid[r][c] = s
        if pd.r_class == "pdLogChol":
            grid[0] = abbreviate(names, minlength=6)
        corr_cells = [row[:p - 1] for row in grid]
    return form, names, sd ** 2, sd, corr_cells


def format_lme_varcorr(fit: Any) -> str:
    """nlme's ``print(VarCorr(fit))``."""
    sigma = fit.sigma()
    levels = [_varcorr_level(fit, i) for i in range(1, fit.Q + 1)]
    if fit.Q == 1:
        form, names, var, sd, corr = levels[0]
        vtxt = format_numbers(list(var) + [sigma ** 2], digits=7)
        stxt = format_numbers(list(sd) + [sigma], digits=7)
        rows = [[a, b] for a, b in zip(vtxt, stxt)]
        cn = ["Variance", "StdDev"]
        if corr is not None:
            k = len(corr[0])
            cn += ["Corr"] + [""] * (k - 1)
            for r, c in zip(rows, corr + [[""] * k]):
                r += c
        body = print_matrix(rows, row_names=names + ["Residual"], col_names=cn)
        return f"{fit.levels[0].group} = {form} \n{body}"
    all_var = np.concatenate([lv[2] for lv in levels] + [np.array([sigma ** 2])])
    all_sd = np.concatenate([lv[3] for lv in levels] + [np.array([sigma])])
    vtxt = format_numbers(list(all_var), digits=7)
    stxt = format_numbers(list(all_sd), digits=7)
    max_corr = max([len(lv[4][0]) for lv in levels if lv[4] is not None] + [0])
    cn = ["Variance", "StdDev"] + (["Corr"] + [""] * (max_corr - 1) if max_corr else [])
    table: List[List[str]] = []
    rnames: List[str] = []
    k = 0
    for i, (form, names, var, sd, corr) in enumerate(levels):
        table.append([form, ""] + [""] * max_corr)
        rnames.append(f"{fit.levels[i].group} =")
        for j, nm in enumerate(names):
            row = [vtxt[k], stxt[k]] + [""] * max_corr
            if corr is not None:
                for c, v in enumerate(corr[j]):
                    row[2 + c] = v
            table.append(row)
            rnames.append(nm)
            k += 1
    table.append([vtxt[k], stxt[k]] + [""] * max_corr)
    rnames.append("Residual")
    return print_matrix(table, row_names=rnames, col_names=cn)


def format_lme_varcov(V, kind: str, names: Optional[List[str]], label: Optional[str],
                      digits: int = 5, width: int = 80) -> str:
    """nlme's ``print.VarCov`` of an lme fit's ``getVarCov``."""
    v = np.asarray(V, dtype=float)
    if names is None:
        names = [str(i + 1) for i in range(v.shape[0])]
    body = print_numeric_matrix(signif(v, digits), row_names=names, col_names=names, digits=7,
                                width=width)
    sds = signif(np.sqrt(np.diag(v)), digits)
    text = (f"{kind} variance covariance matrix\n{body}\n  Standard Deviations: "
            + " ".join(format_number(float(x), digits=7) for x in sds) + " ")
    return (f"{label} \n" + text) if label else text
