"""lme4's printed output: ``print(summary(fit))``, ``print(fit)`` and ``print(VarCorr(fit))``.

Each piece follows the lme4 (1.1-x) function of the same job (and lme4 2.x's ``formatVC`` for
models written with covariance calls, :mod:`lmerpy.display.formatvc`): ``.prt.methTit``,
``.prt.family``, ``.prt.call``, ``.prt.aictab``, ``.prt.resids``, ``formatVC`` / ``.prt.VC``,
``.prt.grps``, ``printCoefmat``, the correlation of fixed effects, and ``.prt.warn``. Every
function returns the printed text as ``paste(capture.output(...), collapse = "\\n")`` shows it.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .formatvc import format_vc_table_structured
from .inputs import SummaryInput, VarCorrBlock
from .rformat import format_number, format_numbers, is_na, quantile7, round_r, zapsmall
from .rprint import format_coef_table, print_matrix, print_named_vector
from .rtext import abbreviate, cat, deparse_lines, make_names, strwrap

__all__ = [
    "method_title", "format_title", "format_aictab", "format_residual_quantiles",
    "format_vc_table", "format_varcorr", "format_ngrps", "format_fixef_correlation",
    "format_summary", "format_print", "COR_MAX", "negative_binomial_family_name",
]

#: lme4's ``getOption("lme4.summary.cor.max")``
COR_MAX = 12


def _text(printed: str) -> str:
    """What ``capture.output`` keeps of printed text: drop one final newline."""
    return printed[:-1] if printed.endswith("\n") else printed


# --------------------------------------------------------------------------- header


def method_title(kind: str, REML: bool, nAGQ: int = 1) -> str:
    """lme4's ``methTitle()``: ``"Linear mixed model fit by REML"`` etc.

    An ML fit of an LMM ends in a space (R's ``paste()`` of an empty piece), which is why
    lme4 prints two spaces before ``['lmerMod']``.
    """
    glmm = kind == "glmer"
    head = ("Generalized linear" if glmm else "Linear") + " mixed model fit by "
    if REML:
        return head + "REML"
    if glmm:
        how = ("(Laplace Approximation)" if nAGQ == 1 else
               f"(Adaptive Gauss-Hermite Quadrature, nAGQ = {int(nAGQ)})")
    else:
        how = ""
    return head + "maximum likelihood " + how


def format_title(title: str, class_name: str, width: int = 80) -> str:
    """lme4's ``.prt.methTit``: ``title ['class']``, or, when longer than the width, the title
    wrapped with a 2-space indent and the class in brackets without quotes."""
    if len(title) + 5 + len(class_name) > width:
        lines = strwrap(title, width=width - 2, exdent=2)
        return _text(cat(lines, " [", class_name, "]", sep="", fill=True, width=width))
    return f"{title} ['{class_name}']"


def negative_binomial_family_name(theta: float) -> str:
    """The family name ``glmer.nb`` fits print (MASS's ``negative.binomial(theta)$family``):
    ``"Negative Binomial(3.3034)"`` -- theta rounded to 4 decimals, shown with 7 digits."""
    return f"Negative Binomial({format_number(round_r(float(theta), 4), 7)})"


def _family_line(family: Optional[str], link: Optional[str], width: int) -> Optional[str]:
    if family is None:
        return None
    parts = [" Family:", family]
    if link is not None:
        parts.append(" ( " + link + " )")
    return _text(cat(*parts, fill=True, width=width))


def _call_lines(s: SummaryInput, long: bool, width: int) -> List[str]:
    out = []

    def line(label, value):
        if value is None:
            return
        vals = [value] if isinstance(value, str) else list(value)
        out.append(_text(cat(label, vals, fill=True, width=width)))

    fml = s.formula
    if isinstance(fml, str) and "\n" not in fml:
        fml = deparse_lines(fml)              # R's deparse() splits long formulas
    elif isinstance(fml, str):
        fml = fml.split("\n")
    line("Formula:", fml)
    line("   Data:", s.data_name)
    line("Weights:", s.weights_name)
    line(" Offset:", s.offset_name)
    if long and s.control_text and s.control_text != "lmerControl()":
        line("Control:", s.control_text)
    line(" Subset:", s.subset_name)
    return out


def format_aictab(criteria: dict, digits: int = 1, width: int = 80) -> str:
    """lme4's ``.prt.aictab``: ``REML criterion at convergence: 1743.6`` for REML fits, else
    the AIC/BIC/logLik/deviance/df.resid table, rounded to ``digits`` decimals."""
    keys = list(criteria)
    if keys == ["REML"]:
        v = round_r(float(criteria["REML"]), digits)
        return _text(cat("REML criterion at convergence:", format_number(v, 7),
                         fill=True, width=width))
    vals = [round_r(float(criteria[k]), digits) for k in keys]
    txt = format_numbers(vals, digits=7)
    if "df.resid" in keys:
        i = keys.index("df.resid")
        txt[i] = format_number(vals[i], 7)
    return print_named_vector(txt, keys, width=width)


def format_residual_quantiles(resid, digits: int = 4, title: str = "Scaled residuals:",
                              width: int = 80) -> str:
    """lme4's ``.prt.resids``: the title, the five type-7 quantiles zapped to ``digits + 1``
    and printed with ``digits``, and a blank line."""
    r = np.asarray([float(v) for v in np.ravel(np.asarray(resid, dtype=object)) if not is_na(v)])
    rq = list(zapsmall(quantile7(r), digits + 1)) if r.size else [None] * 5   # R: NA
    body = print_named_vector(rq, ["Min", "1Q", "Median", "3Q", "Max"], digits=digits,
                              width=width)
    return title + " \n" + body + "\n"


# --------------------------------------------------------------------------- random effects


def _unique_groups(blocks: Sequence[VarCorrBlock]) -> List[str]:
    groups = [b.group for b in blocks]
    if len(set(groups)) < len(groups):     # lme4's mkVarCorr: make.names(unique = TRUE)
        return make_names(groups, unique=True)
    return groups


def format_vc_table(blocks: Sequence[VarCorrBlock], sigma: Optional[float], digits: int,
                    comp: Sequence[str] = ("Std.Dev.",), use_sc: Optional[bool] = None
                    ) -> Tuple[List[List[str]], List[str]]:
    """lme4's ``formatVC()``: the random-effects table as (rows of strings, column names).

    Variances (the squared standard deviations) and standard deviations are each formatted
    together with ``format(digits = )``; correlations with ``max(2, digits - 2)`` decimals,
    lower triangle only. When a block carries lme4 2.x's ``vcmat_class``, the table is lme4
    2.x's (reformulas' ``formatVC``, :mod:`lmerpy.display.formatvc`); else lme4 1.1's.
    """
    avail = ["Variance", "Std.Dev."]
    use_c = []
    for c in comp:
        m = [a for a in avail if a.startswith(c)]
        if not c or len(m) != 1:
            raise ValueError(f"Illegal 'comp': {c}")
        use_c.append(m[0])
    if not use_c:
        raise ValueError("Must *either* show variances or standard deviations")
    if use_sc is None:
        use_sc = sigma is not None
    groups = _unique_groups(blocks)
    if any(b.vcmat_class is not None for b in blocks):
        return format_vc_table_structured(blocks, groups, sigma, digits, use_c, use_sc)
    sds: List[float] = []
    names: List[str] = []
    grp_col: List[str] = []
    for g, b in zip(groups, blocks):
        sd = [float(v) for v in np.ravel(b.stddev)]
        sds.extend(sd)
        names.extend(b.names)
        grp_col.extend([g] + [""] * (len(sd) - 1))
    if use_sc:
        sds.append(float(sigma))  # type: ignore[arg-type]  # use_sc: sigma is a number
        names.append("")
        grp_col.append("Residual")
    cols = {"Groups": grp_col, "Name": names}
    if "Variance" in use_c:
        cols["Variance"] = format_numbers([v * v for v in sds], digits=digits)
    if "Std.Dev." in use_c:
        cols["Std.Dev."] = format_numbers(sds, digits=digits)
    colnames = ["Groups", "Name"] + use_c
    rows = [[cols[c][i] for c in colnames] for i in range(len(sds))]
    lens = [len(b.names) for b in blocks]
    if any(n > 1 for n in lens):
        maxlen = max(lens)
        dig = max(2, digits - 2)
        corr_rows: List[List[str]] = []
        for b in blocks:
            p = len(b.names)
            cm = np.eye(p) if b.corr is None else np.asarray(b.corr, dtype=float)
            cc = format_numbers(list(round_r(cm, dig).ravel()), nsmall=dig)
            for i in range(p):
                r = [cc[i * p + j] if j < i else "" for j in range(p)]
                corr_rows.append(r + [""] * (maxlen - p))
        corr_rows = [r[:maxlen - 1] for r in corr_rows]
        while len(corr_rows) < len(rows):
            corr_rows.append([""] * (maxlen - 1))
        rows = [r + c for r, c in zip(rows, corr_rows)]
        colnames = colnames + ["Corr"] + [""] * (maxlen - 2)
    return rows, colnames


def _vc_text(blocks, sigma, digits, comp, use_sc, width) -> str:
    rows, colnames = format_vc_table(blocks, sigma, digits, comp, use_sc)
    return print_matrix(rows, [""] * len(rows), colnames, right=False, width=width)


def format_varcorr(blocks: Sequence[VarCorrBlock], sigma: Optional[float] = None,
                   comp: Sequence[str] = ("Variance", "Std.Dev."), digits: int = 5,
                   width: int = 80) -> str:
    """R: ``print(VarCorr(fit), comp = comp, digits = digits)``.

    Parameters
    ----------
    blocks : list of VarCorrBlock
    sigma : float or None
        Residual standard deviation; None (no ``Residual`` row) for families without scale.
    comp : sequence of str
        ``"Variance"`` and/or ``"Std.Dev."`` (R's ``comp``; partial names allowed).
    digits : int
        R's default for ``print(VarCorr(fit))`` is ``max(3, getOption("digits") - 2)`` = 5.
    """
    if isinstance(comp, str):
        comp = (comp,)
    return _vc_text(blocks, sigma, digits, comp, sigma is not None, width)


def _count(n) -> str:
    from .rformat import as_character
    return str(int(n)) if float(n) == int(n) else as_character(n)


def format_ngrps(ngrps: Sequence[Tuple[str, int]], nobs: int, width: int = 80) -> str:
    """lme4's ``.prt.grps``: ``Number of obs: 180, groups:  Subject, 18``."""
    grp = "; ".join(f"{g}, {_count(n)}" for g, n in ngrps)
    return _text(cat(f"Number of obs: {int(nobs)}, groups: ", grp, fill=True, width=width))


# --------------------------------------------------------------------------- fixed effects


def _cov2cor(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    inv_sd = np.sqrt(1.0 / np.diag(v))
    r = inv_sd[:, None] * v * inv_sd[None, :]
    np.fill_diagonal(r, 1.0)
    return r


def format_fixef_correlation(names: Sequence[str], vcov, width: int = 80) -> str:
    """The ``Correlation of Fixed Effects:`` block of lme4's summary (without its title):
    correlations rounded to 3 decimals, lower triangle, rows abbreviated to >= 11 characters
    and columns to 6 (R's ``abbreviate``)."""
    corr = _cov2cor(vcov)
    p = corr.shape[0]
    cells = format_numbers(list(round_r(corr, 3).ravel(order="F")), nsmall=3)
    rns = abbreviate(names, minlength=11)
    cns = abbreviate(names, minlength=6)
    rows = []
    for i in range(1, p):
        rows.append([cells[j * p + i] if j < i else "" for j in range(p - 1)])
    return print_matrix(rows, rns[1:], cns[:p - 1], right=False, width=width)


def _coef_matrix(s: SummaryInput):
    est = np.asarray(s.estimate, dtype=float)
    se = np.asarray(s.std_error, dtype=float)
    cols = [est, se]
    names = ["Estimate", "Std. Error"]
    for nm, vals in s.extra_columns:
        cols.append(np.asarray(vals, dtype=float))
        names.append(nm)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols.append(est / se)
    names.append(s.statistic_name)
    if s.p_values is not None:
        cols.append(np.asarray(s.p_values, dtype=float))
        names.append(s.p_value_name)
    return np.column_stack(cols) if est.size else np.zeros((0, len(cols))), names


def _trailer(s: SummaryInput, summary_style: bool) -> str:
    msgs = [m for m in s.conv_messages if m is not None]
    warns = list(s.optimizer_warnings)
    if not (s.conv_code > 0 or msgs or warns):
        return ""
    if s.conv_code == 0:
        m = "(OK)"
    elif s.optimizer_message is not None:
        m = f"({s.optimizer_message})"
    else:
        m = ""
    convmsg = f"optimizer ({s.optimizer}) convergence code: {int(s.conv_code)} {m}"
    if summary_style:      # print(fit): one line with counts
        return cat(convmsg, f"; {len(warns)} optimizer warnings; {len(msgs)} lme4 warnings",
                   "\n", sep=" ")
    return cat(convmsg, *([msgs] if msgs else []), *([warns] if warns else []), sep="\n") + "\n"


def _header(s: SummaryInput, width: int, long: bool) -> str:
    title = s.title or method_title(s.kind, s.REML, s.nAGQ)
    cls = s.class_name or ("glmerMod" if s.kind == "glmer" else "lmerMod")
    out = format_title(title, cls, width) + "\n"
    fam = _family_line(s.family, s.link, width)
    if fam is not None:
        out += fam + "\n"
    for ln in _call_lines(s, long, width):
        out += ln + "\n"
    return out


def format_summary(s: SummaryInput, width: int = 80, digits: int = 4,
                   signif_stars: bool = True,
                   ranef_comp: Sequence[str] = ("Variance", "Std.Dev."),
                   show_resids: bool = True) -> str:
    """R: ``print(summary(fit))`` (lme4's ``print.summary.merMod``), as text.

    Parameters
    ----------
    s : SummaryInput
    width : int
        R's ``options(width)``.
    digits : int
        lme4's default ``max(3, getOption("digits") - 3)`` = 4.
    signif_stars : bool
        R's ``options(show.signif.stars)``.
    ranef_comp, show_resids
        R's ``print(summary(fit), ranef.comp = , show.resids = )``.
    """
    out = _header(s, width, long=True)
    out += "\n"
    out += format_aictab(s.criteria, 1, width) + "\n"
    out += "\n"
    if show_resids and s.scaled_residuals is not None:
        out += format_residual_quantiles(s.scaled_residuals, digits, width=width) + "\n"
    out += "Random effects:\n"
    if isinstance(ranef_comp, str):
        ranef_comp = (ranef_comp,)
    out += _vc_text(s.varcorr, s.sigma, digits, ranef_comp, s.use_sc, width) + "\n"
    out += format_ngrps(s.ngrps, s.nobs, width) + "\n"
    p = len(s.coef_names)
    if p > 0:
        out += "\nFixed effects:\n"
        mat, names = _coef_matrix(s)
        out += format_coef_table(mat, s.coef_names, names, digits=digits,
                                 signif_stars=signif_stars, width=width) + "\n"
        correlation = s.correlation
        if correlation is None:
            correlation = p <= COR_MAX
        if correlation and p > 1:
            out += "\nCorrelation of Fixed Effects:\n"
            out += format_fixef_correlation(s.coef_names, s.vcov, width) + "\n"
    if s.fit_messages and any(len(m) > 0 for m in s.fit_messages):
        out += "fit warnings:\n" + "".join(m + "\n" for m in s.fit_messages)
    out += _trailer(s, summary_style=False)
    return _text(out)


def format_print(s: SummaryInput, width: int = 80, digits: int = 4,
                 ranef_comp: Sequence[str] = ("Std.Dev.",)) -> str:
    """R: ``print(fit)`` (lme4's ``print.merMod``): criteria to 4 decimals, a Std.Dev.-only
    random-effects table (R's ``ranef.comp``) and the fixed effects as a named vector."""
    if isinstance(ranef_comp, str):
        ranef_comp = (ranef_comp,)
    out = _header(s, width, long=False)
    out += format_aictab(s.criteria, 4, width) + "\n"
    out += "Random effects:\n"
    out += _vc_text(s.varcorr, s.sigma, digits, ranef_comp, s.use_sc, width) + "\n"
    out += format_ngrps(s.ngrps, s.nobs, width) + "\n"
    if len(s.coef_names) > 0:
        out += "Fixed Effects:\n"
        vals = format_numbers(list(np.asarray(s.estimate, dtype=float)), digits=digits)
        out += print_named_vector(vals, list(s.coef_names), gap=2, width=width) + "\n"
    else:
        out += "No fixed effect coefficients\n"
    if s.fit_messages and any(len(m) > 0 for m in s.fit_messages):
        out += "fit warnings:\n" + "".join(m + "\n" for m in s.fit_messages)
    out += _trailer(s, summary_style=True)
    return _text(out)
