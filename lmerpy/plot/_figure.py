"""Figure creation shared by the plots: matplotlib is imported here, lazily, and only here.

A plot function never calls ``plt.show()`` and never picks a GUI. When the caller already uses
pyplot (``matplotlib.pyplot`` is imported), the figure is made with ``plt.figure`` so that
``plt.show()`` and notebooks display it as usual; otherwise it is a bare
:class:`matplotlib.figure.Figure`, which needs no backend at all (``fig.savefig`` renders it
with Agg), so the plots work headless without touching the backend setting.
"""
from __future__ import annotations

import math
import sys

from ..errors import LmerpyError


def require_matplotlib():
    """Import matplotlib or raise a clear error naming the optional extra."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise LmerpyError("lmerpy.plot needs matplotlib: pip install 'lmerpy[plot]' "
                          "(or pip install matplotlib)") from exc
    return matplotlib


def new_figure(width, height):
    """A new Figure of the given size in inches (see the module docstring for which kind)."""
    require_matplotlib()
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt
        return plt.figure(figsize=(width, height))
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height))


def grid_shape(n, ncols=None):
    """Rows and columns for ``n`` panels (about square, wider than tall)."""
    if n < 1:
        raise LmerpyError("nothing to plot")
    if ncols is None:
        ncols = math.ceil(math.sqrt(n))
    ncols = max(1, min(int(ncols), n))
    return math.ceil(n / ncols), ncols


def figure_size(figsize, default):
    """``figsize`` if the caller gave one (width, height in inches), else ``default``."""
    if figsize is None:
        return default
    try:
        w, h = (float(v) for v in figsize)
    except (TypeError, ValueError):
        raise LmerpyError(f"figsize must be (width, height) in inches, not {figsize!r}") from None
    if not (w > 0 and h > 0):
        raise LmerpyError(f"figsize must be positive, not {figsize!r}")
    return w, h


def check_level(level):
    """A confidence level strictly between 0 and 1 (R's ``level``)."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise LmerpyError(f"level must be a number between 0 and 1, not {level!r}") from None
    if not 0.0 < lv < 1.0:
        raise LmerpyError(f"level must be strictly between 0 and 1, not {level!r}")
    return lv


# ------------------------------------------------------------------ drawing into the caller's axes


def check_axes(ax, caller):
    """``ax`` if it is a matplotlib Axes (anything with ``plot`` and ``figure``)."""
    if not (hasattr(ax, "plot") and hasattr(ax, "figure")):
        raise LmerpyError(f"{caller}: ax must be a matplotlib Axes (or, for a plot of several "
                          f"panels, a sequence of them), not {type(ax).__name__}")
    return ax


def one_axes(ax, figsize, default, caller):
    """(new Figure or None, the Axes to draw in): the caller's ``ax``, or the only Axes of a
    new Figure of ``figsize`` (default ``default``)."""
    if ax is None:
        fig = new_figure(*figure_size(figsize, default))
        return fig, fig.add_subplot(1, 1, 1)
    return None, check_axes(ax, caller)


def panel_axes(ax, n, caller):
    """The first ``n`` Axes of the caller's ``ax``: one Axes (for one panel), or a sequence or
    array of Axes (e.g. ``plt.subplots(2, 3)[1]``) with at least ``n``."""
    if hasattr(ax, "flat"):
        axes = list(ax.flat)
    elif hasattr(ax, "plot"):
        axes = [ax]
    else:
        try:
            axes = list(ax)
        except TypeError:
            axes = [ax]
    axes = [check_axes(a, caller) for a in axes]
    if len(axes) < n:
        raise LmerpyError(f"{caller}: the plot has {n} panels but ax holds {len(axes)} Axes")
    return axes[:n]
