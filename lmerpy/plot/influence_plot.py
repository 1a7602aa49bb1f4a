"""Cook's distances as a dot plot, one row per deleted case or group (R: ``dotplot`` of
``cooks.distance(influence(fit, groups = "Subject"))``, as the teaching decks draw it, or car's
``infIndexPlot``).

It takes what lmerpy's toolkit returns (an ``Influence`` from ``lmerpy.influence`` or the
Series of ``lmerpy.cooks_distance``) without importing the toolkit: an object with a
``cooks_distance()`` method or a pandas Series of distances.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ._figure import one_axes

__all__ = ["plot_influence"]

#: more rows than this are drawn without a label each
MAX_LABELLED = 60


def _distances(obj) -> pd.Series:
    if isinstance(obj, pd.Series):
        return obj.astype(float)
    fn = getattr(obj, "cooks_distance", None)
    if callable(fn):
        return pd.Series(fn()).astype(float)
    raise ArgumentError("plot_influence: needs what lmerpy.influence(fit) or "
                        "lmerpy.cooks_distance(fit) returns (a pandas Series of distances), "
                        f"not {type(obj).__name__}")


def plot_influence(obj: Any, cutoff: Optional[float] = None, sort: bool = False,
                   ax: Any = None, figsize: Any = None) -> Any:
    """Dot plot of Cook's distances (R: ``dotplot(cooks.distance(influence(fit, groups)))``).

    Parameters
    ----------
    obj : Influence or pandas.Series
        ``lmerpy.influence(fit, groups=...)`` (its ``cooks_distance()``) or the distances
        themselves (``lmerpy.cooks_distance(fit)``), indexed by case or group.
    cutoff : float, optional
        Draw a dashed line there (default 4/n, the usual rule of thumb; 0 draws none).
    sort : bool
        Order the rows by distance (default: the units' order).
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes (and return it); default a new Figure.
    figsize : (float, float), optional
        Size of the new Figure.

    Returns
    -------
    matplotlib.figure.Figure or matplotlib.axes.Axes
        The new Figure, or ``ax`` when one was given. The artist with gid ``"cooks"`` holds
        the distances (x) at y = 0, 1, …; ``"cutoff"`` the line.
    """
    d = _distances(obj)
    n = d.shape[0]
    if n == 0:
        raise ArgumentError("plot_influence: no distances to plot")
    if sort:
        d = d.iloc[np.argsort(d.to_numpy(), kind="stable")]
    ypos = np.arange(n)
    default = (5.0, min(1.5 + 0.18 * min(n, MAX_LABELLED + 20), 16.0))
    fig, ax = one_axes(ax, figsize, default, "plot_influence")
    vals = d.to_numpy(dtype=float)
    ax.hlines(ypos, 0.0, np.where(np.isfinite(vals), vals, 0.0), color="0.8", linewidth=0.8)
    ax.plot(vals, ypos, linestyle="none", marker="o", markersize=4, color="C0", gid="cooks")
    c = 4.0 / n if cutoff is None else float(cutoff)
    if c > 0:
        ax.axvline(c, color="C3", linestyle="--", linewidth=0.8, gid="cutoff")
    ax.set_xlabel("Cook's distance")
    ax.set_ylabel(str(d.index.name or getattr(obj, "groups", "") or ""))
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(left=0.0)
    if n <= MAX_LABELLED:
        ax.set_yticks(ypos)
        ax.set_yticklabels([str(v) for v in d.index], fontsize=7 if n > 30 else 8)
    else:
        ax.set_yticks([])
    ax.grid(True, axis="x", color="0.9")
    if fig is not None:
        fig.tight_layout()
        return fig
    return ax
