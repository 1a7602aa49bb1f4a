"""Lattice-style per-group panels: R's ``xyplot(y ~ x | g, data)``, optionally with the fitted
lines of a mixed model (population: ``predict(fit, re.form = NA)``; conditional: ``fitted(fit)``).

The ``y ~ x | g`` formula is read by a small parser of its own: names only (plain R names or
backquoted), no expressions, nothing evaluated.
"""
from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaSyntaxError, LmerpyError, UnknownColumnError
from ._figure import figure_size, grid_shape, new_figure, panel_axes

__all__ = ["panel_plot", "parse_panel_formula", "PanelFormula"]

_NAME = re.compile(r"[A-Za-z.][A-Za-z0-9._]*")


@dataclass(frozen=True)
class PanelFormula:
    """A parsed ``y ~ x | g1 * g2`` (``conditioning`` may be empty)."""

    response: str
    x: str
    conditioning: tuple


def _tokens(text):
    """(kind, value, column) for names, the operators ``~ | * +``, and the end."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "~|*+":
            out.append(("op", ch, i))
            i += 1
        elif ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise FormulaSyntaxError("unclosed backquote", text, i)
            if end == i + 1:
                raise FormulaSyntaxError("empty backquoted name", text, i)
            out.append(("name", text[i + 1:end], i))
            i = end + 1
        else:
            m = _NAME.match(text, i)
            if m is None or (m.group(0).startswith(".") and len(m.group(0)) > 1
                             and m.group(0)[1].isdigit()):
                raise FormulaSyntaxError(
                    f"unexpected {ch!r}: a panel formula is 'y ~ x | group' with column names "
                    "only (backquote names with other characters)", text, i)
            out.append(("name", m.group(0), i))
            i = m.end()
    out.append(("end", "", len(text)))
    return out


def parse_panel_formula(text) -> PanelFormula:
    """Parse ``"y ~ x | group"`` (conditioning ``g1 * g2`` or ``g1 + g2`` for several factors;
    ``"y ~ x"`` for one panel) into column names.

    Raises
    ------
    FormulaSyntaxError
        With a caret at the offending position.
    """
    if not isinstance(text, str):
        raise LmerpyError(f"the panel formula must be a string like 'y ~ x | group', not "
                          f"{text.__class__.__name__}")
    toks = _tokens(text)
    pos = 0

    def expect(kind, value=None, what=""):
        nonlocal pos
        k, v, col = toks[pos]
        if k != kind or (value is not None and v != value):
            found = "the end of the formula" if k == "end" else repr(v)
            raise FormulaSyntaxError(f"expected {what}, found {found}", text, col)
        pos += 1
        return v

    y = expect("name", what="the response column name")
    expect("op", "~", what="'~'")
    x = expect("name", what="the x column name after '~'")
    cond = []
    if toks[pos][0] != "end":
        expect("op", "|", what="'|' before the grouping column")
        cond.append(expect("name", what="a grouping column name after '|'"))
        while toks[pos][0] == "op" and toks[pos][1] in "*+":
            pos += 1
            cond.append(expect("name", what="a grouping column name"))
        expect("end", what="the end of the formula")
    return PanelFormula(y, x, tuple(cond))


# ---------------------------------------------------------------------- data


def _column(data, name):
    if name not in data.columns:
        close = difflib.get_close_matches(name, [str(c) for c in data.columns], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownColumnError(f"column {name!r} not found in data{hint}")
    col = data[name]
    if isinstance(col, pd.DataFrame):
        raise DataError(f"data has more than one column named {name!r}")
    return col


def _numeric(col, name, role):
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise DataError(f"the {role} {name!r} must be numeric, not {col.dtype}")
    return col.to_numpy(dtype=float, na_value=np.nan)


def _levels(col):
    """Labels per row (None where missing) and the level order (R's factor order)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in col.cat.categories]
        present = set(col.dropna().astype(str))
        order = [c for c in cats if c in present]
    else:
        values = col.dropna()
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            uniq = np.unique(values.to_numpy(dtype=float))
            order = [str(values[values.astype(float) == u].iloc[0]) for u in uniq]
        else:
            from ..design.rformat import r_sort_key
            order = sorted({str(v) for v in values}, key=r_sort_key)
    labels = np.array([None if pd.isna(v) else str(v) for v in col], dtype=object)
    return labels, order


def _x_positions(col, name):
    """Numeric x values, or category positions and their labels for a factor/string x."""
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        labels, order = _levels(col)
        where = {lv: i for i, lv in enumerate(order)}
        x = np.array([np.nan if v is None else where[v] for v in labels], dtype=float)
        return x, order
    return _numeric(col, name, "x variable"), None


def _fitted_lines(fit, data):
    """Population and conditional fitted values aligned to the rows of ``data`` (NaN where the
    fit dropped a row)."""
    if not (hasattr(fit, "fitted") and hasattr(fit, "design")):
        raise LmerpyError(f"fit must be a fitted mixed model, not a {fit.__class__.__name__}")
    if not data.index.is_unique:
        raise DataError("data has a duplicated index: cannot match its rows to the fit's")
    cond = fit.fitted()       # na_action="exclude": padded to the data's rows (NaN)
    index = fit.design.fr.index
    missing = index.difference(data.index)
    if len(missing):
        raise LmerpyError(f"the fit has rows that data does not have (index {missing[0]!r}, …): "
                          "pass the data frame the model was fitted to")
    d = fit.design
    eta = np.asarray(d.X, dtype=float) @ fit.fixef().to_numpy(dtype=float)
    eta = eta + np.asarray(d.offset, dtype=float).reshape(-1)
    family = getattr(fit, "family", None)
    pop = np.asarray(family.linkinv(eta), dtype=float) if family is not None else eta
    population = pd.Series(pop, index=index).reindex(data.index).to_numpy()
    conditional = cond.reindex(data.index).to_numpy(dtype=float)
    return population, conditional


def _mean_by_x(x, values):
    ok = np.isfinite(x) & np.isfinite(values)
    if not ok.any():
        return np.zeros(0), np.zeros(0)
    ux, inv = np.unique(x[ok], return_inverse=True)
    sums = np.bincount(inv, weights=values[ok])
    return ux, sums / np.bincount(inv)


def panel_plot(data, formula, fit=None, ncols=None, figsize=None, sharex=True, sharey=True,
               ax=None):
    """Per-group panels of y against x (R: ``lattice::xyplot(y ~ x | g, data)``).

    Parameters
    ----------
    data : DataFrame-like
        pandas, polars, pyarrow, a dict of columns... (as for :func:`lmerpy.lmer`). Never
        modified.
    formula : str
        ``"y ~ x | g"``; ``"y ~ x | g1 * g2"`` for a panel per combination; ``"y ~ x"`` for one
        panel. Column names only (backquote unusual names); nothing is evaluated.
    fit : LinearMixedModel or GeneralizedLinearMixedModel, optional
        A model fitted to ``data``: each panel then also shows the population line (fixed
        effects only, R's ``predict(fit, re.form = NA)``) and the conditional line
        (``fitted(fit)``), as the mean fitted value at each x of the group.
    ncols : int, optional
        Panels per row.
    figsize : (float, float), optional
    sharex, sharey : bool
        Common axis ranges (as lattice; for a new Figure).
    ax : matplotlib Axes or sequence of Axes, optional
        Draw the panels into these (one per group with data) instead of a new Figure; ``ax``
        is returned (the legend then goes on the first).

    Returns
    -------
    matplotlib.figure.Figure (or ``ax``)
        One axes per group with data, groups in factor-level order (first conditioning factor
        varying fastest), titled by the level. Artist gids: ``"data"``, ``"population"``,
        ``"conditional"``.
    """
    from ..design.dataframe import as_data_frame
    data = as_data_frame(data)
    pf = parse_panel_formula(formula)
    y = _numeric(_column(data, pf.response), pf.response, "response")
    x, x_labels = _x_positions(_column(data, pf.x), pf.x)
    cond = [_levels(_column(data, g)) for g in pf.conditioning]
    population = conditional = None
    if fit is not None:
        population, conditional = _fitted_lines(fit, data)
    keep = np.isfinite(y) & np.isfinite(x)
    for labels, _ in cond:
        keep &= np.array([v is not None for v in labels])
    if not keep.any():
        used = ", ".join((pf.response, pf.x, *pf.conditioning))
        raise DataError(f"no rows with non-missing {used}")
    # panels: every combination of levels with data, first factor varying fastest (lattice)
    combos: list[tuple | None] = [None]
    if cond:
        combos = [tuple(reversed(c)) for c in itertools.product(*[o for _, o in reversed(cond)])]
    panels = []
    for combo in combos:
        rows = keep.copy()
        if combo is not None:
            for (labels, _), level in zip(cond, combo):
                rows &= labels == level
        if rows.any():
            panels.append((combo, rows))
    nrows, ncols = grid_shape(len(panels), ncols)
    given = None if ax is None else panel_axes(ax, len(panels), "panel_plot")
    fig = None
    if given is None:
        fig = new_figure(*figure_size(figsize, (1.0 + 2.4 * ncols, 0.8 + 2.2 * nrows)))
    first = None
    for k, (combo, rows) in enumerate(panels):
        if given is not None:
            axk = given[k]
        else:
            axk = fig.add_subplot(nrows, ncols, k + 1, sharex=first if sharex else None,
                                  sharey=first if sharey else None)
        first = first or axk
        axk.plot(x[rows], y[rows], linestyle="none", marker="o", markersize=3, color="C0",
                 markerfacecolor="none", gid="data")
        if fit is not None:
            lines = ((population, "population", {"color": "0.35", "linestyle": "--"}),
                     (conditional, "conditional", {"color": "C3"}))
            for values, gid, style in lines:
                lx, ly = _mean_by_x(x[rows], values[rows])
                if lx.size:
                    axk.plot(lx, ly, linewidth=1.2, gid=gid, label=gid, **style)
        if combo is not None:
            axk.set_title(" / ".join(combo), fontsize=9, pad=3)
        if x_labels is not None:
            axk.set_xticks(range(len(x_labels)))
            axk.set_xticklabels(x_labels, rotation=90 if len(x_labels) > 4 else 0, fontsize=7)
        axk.tick_params(labelsize=7)
        axk.grid(True, color="0.92")
        if k % ncols == 0:
            axk.set_ylabel(pf.response)
        if k >= len(panels) - ncols:
            axk.set_xlabel(pf.x)
    if fit is not None:
        handles, names = first.get_legend_handles_labels()
        if handles:
            (first if fig is None else fig).legend(handles, names, loc="upper right",
                                                    fontsize=8, frameon=False)
    if fig is None:
        return ax
    fig.tight_layout(rect=(0, 0, 1, 0.97) if fit is not None else (0, 0, 1, 1))
    return fig
