"""Plots of the conditional modes of the random effects (the BLUPs) with their intervals.

R equivalents: ``lattice::dotplot(ranef(fit, condVar = TRUE))`` (the caterpillar plot) and
``lattice::qqmath(ranef(fit, condVar = TRUE))``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ..errors import LmerpyError
from ._figure import check_level, figure_size, grid_shape, new_figure, panel_axes
from .diagnostics import ppoints

__all__ = ["caterpillar", "qqplot_ranef"]

#: above this many levels a panel's level labels are not drawn (they would overlap)
MAX_LABELLED_LEVELS = 60


@dataclass
class RanefPanel:
    """One grouping factor and one term: levels, conditional modes and conditional SDs."""

    group: str
    term: str
    levels: np.ndarray
    condval: np.ndarray
    condsd: np.ndarray      # NaN when the fit has no conditional variances


def ranef_panels(fit, group=None):
    """The conditional modes as a list of :class:`RanefPanel`, factors and terms in lme4's order.

    Parameters
    ----------
    fit : fitted mixed model
    group : str or sequence of str, optional
        Restrict to these grouping factors (names as in ``ranef(fit)``).
    """
    if not hasattr(fit, "ranef"):
        raise LmerpyError(f"expected a fitted mixed model, not a {fit.__class__.__name__}")
    re = fit.ranef(condVar=True)
    names = list(re.keys())
    if group is None:
        wanted = names
    else:
        wanted = [group] if isinstance(group, str) else list(group)
        unknown = [g for g in wanted if g not in names]
        if unknown:
            raise LmerpyError(f"no grouping factor named {unknown[0]!r} in the model; "
                              f"its grouping factors are {', '.join(names)}")
    panels = []
    for name in wanted:
        frame = re[name]
        try:
            sd = re.condsd(name)
        except (KeyError, AttributeError):
            sd = None
        levels = np.asarray([str(v) for v in frame.index], dtype=object)
        for col in frame.columns:
            sdv = sd[col].to_numpy(dtype=float) if sd is not None else np.full(len(frame), np.nan)
            panels.append(RanefPanel(name, str(col), levels, frame[col].to_numpy(dtype=float), sdv))
    return panels


def caterpillar(fit, group=None, level=0.95, figsize=None, ax=None):
    """Caterpillar plot of the random effects (R: ``dotplot(ranef(fit, condVar = TRUE))``).

    One row of panels per grouping factor, one panel per term. In each row the levels are
    sorted by the conditional mode of the factor's first term (as lme4 orders them) and every
    panel of the row uses that order; each mode is drawn with its interval
    ``condval ± qnorm((1 + level)/2) · condsd``.

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    group : str or sequence of str, optional
        Only these grouping factors (default: all).
    level : float
        Coverage of the conditional intervals.
    figsize : (float, float), optional
    ax : matplotlib Axes or sequence of Axes, optional
        Draw the panels into these (factor by factor, term by term; one Axes when there is
        one panel) instead of a new Figure; ``ax`` is returned.

    Returns
    -------
    matplotlib.figure.Figure (or ``ax``)
        Axes in the order factor by factor, term by term. In each, the artist with gid
        ``"condval"`` holds the sorted modes (x) at y = 0, 1, …, ``"interval"`` the intervals.
    """
    z = norm.ppf(0.5 + check_level(level) / 2.0)
    panels = ranef_panels(fit, group)
    groups = list(dict.fromkeys(p.group for p in panels))
    by_group = {g: [p for p in panels if p.group == g] for g in groups}
    ncols = max(len(v) for v in by_group.values())
    heights = [min(len(by_group[g][0].levels), 80) for g in groups]
    heights = [max(h, 4) for h in heights]
    given = None if ax is None else iter(panel_axes(ax, len(panels), "caterpillar"))
    fig = spec = None
    if given is None:
        default = (2.0 + 3.0 * ncols, min(2.0 + 0.17 * sum(heights) + 0.6 * len(groups), 24.0))
        fig = new_figure(*figure_size(figsize, default))
        spec = fig.add_gridspec(len(groups), ncols, height_ratios=heights)
    for row, g in enumerate(groups):
        first = by_group[g][0]
        order = np.argsort(first.condval, kind="stable")
        ypos = np.arange(order.shape[0])
        share = None
        for col, p in enumerate(by_group[g]):
            if given is not None:
                axk = next(given)
            else:
                axk = fig.add_subplot(spec[row, col], sharey=share)
                share = share or axk
            x, sd = p.condval[order], p.condsd[order]
            if np.any(np.isfinite(sd)):
                axk.hlines(ypos, x - z * sd, x + z * sd, color="C0", linewidth=1, gid="interval")
            axk.plot(x, ypos, linestyle="none", marker="o", markersize=3.5, color="C0",
                     gid="condval")
            axk.axvline(0.0, color="0.5", linestyle="--", linewidth=0.8, gid="zero")
            axk.set_title(p.term if len(groups) == 1 else f"{g}: {p.term}", fontsize=10)
            axk.grid(True, axis="x", color="0.9")
            axk.set_ylim(-0.7, ypos.shape[0] - 0.3)
            if col == 0:
                axk.set_ylabel(g)
                if ypos.shape[0] <= MAX_LABELLED_LEVELS:
                    axk.set_yticks(ypos)
                    axk.set_yticklabels(p.levels[order], fontsize=7 if ypos.shape[0] > 30 else 8)
                else:
                    axk.set_yticks([])
            else:
                axk.tick_params(axis="y", labelleft=False)
    if fig is None:
        return ax
    fig.tight_layout()
    return fig


def qqplot_ranef(fit, group=None, level=0.95, intervals=True, ncols=None, figsize=None,
                 ax=None):
    """Normal QQ plots of the conditional modes, one panel per term (R: ``qqmath(ranef(fit,
    condVar = TRUE))``, drawn the ``qqnorm`` way round).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    group : str or sequence of str, optional
        Only these grouping factors (default: all).
    level : float
        Coverage of the conditional intervals.
    intervals : bool
        Draw ``condval ± qnorm((1 + level)/2) · condsd`` as vertical bars.
    ncols : int, optional
        Panels per row.
    figsize : (float, float), optional
    ax : matplotlib Axes or sequence of Axes, optional
        Draw the panels into these (one per grouping factor and term) instead of a new
        Figure; ``ax`` is returned.

    Returns
    -------
    matplotlib.figure.Figure (or ``ax``)
        One axes per (grouping factor, term): theoretical quantiles ``qnorm(ppoints(n))`` on x,
        sorted modes on y (artist gid ``"condval"``), intervals (gid ``"interval"``).
    """
    z = norm.ppf(0.5 + check_level(level) / 2.0)
    panels = ranef_panels(fit, group)
    nrows, ncols = grid_shape(len(panels), ncols)
    given = None if ax is None else panel_axes(ax, len(panels), "qqplot_ranef")
    fig = None
    if given is None:
        fig = new_figure(*figure_size(figsize, (1.0 + 3.6 * ncols, 0.8 + 3.2 * nrows)))
    for k, p in enumerate(panels):
        axk = given[k] if given is not None else fig.add_subplot(nrows, ncols, k + 1)
        order = np.argsort(p.condval, kind="stable")
        y, sd = p.condval[order], p.condsd[order]
        q = norm.ppf(ppoints(y.shape[0]))
        if intervals and np.any(np.isfinite(sd)):
            axk.vlines(q, y - z * sd, y + z * sd, color="C0", linewidth=0.8, alpha=0.7,
                       gid="interval")
        axk.plot(q, y, linestyle="none", marker="o", markersize=3.5, color="C0", gid="condval")
        axk.axhline(0.0, color="0.5", linestyle="--", linewidth=0.8, gid="zero")
        axk.set_title(f"{p.group}: {p.term}", fontsize=10)
        axk.set_xlabel("Standard normal quantiles")
        if k % ncols == 0:
            axk.set_ylabel("Conditional mode")
        axk.grid(True, color="0.9")
    if fig is None:
        return ax
    fig.tight_layout()
    return fig
