"""Interval plots side by side: one panel per parameter, one row per group (an estimate and
its interval), as lme4's ``plot(confint(lmList(...)))`` draws the groups' intervals.
"""
from __future__ import annotations

from typing import Any, Sequence, Tuple

import numpy as np

from ..errors import ArgumentError
from ._figure import new_figure

__all__ = ["interval_panels"]

#: (panel title, row labels, estimates, lower limits, upper limits)
Panel = Tuple[str, Sequence[str], np.ndarray, np.ndarray, np.ndarray]


def _draw(ax, panel: Panel, labels_shown: bool) -> None:
    title, labels, est, lo, hi = panel
    y = np.arange(len(labels))
    ax.hlines(y, lo, hi, color="C0", linewidth=1.2)
    ax.plot(est, y, "o", color="C0", markersize=3.5)
    ax.set_yticks(y)
    ax.set_yticklabels(list(labels) if labels_shown else [""] * len(labels))
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", color="0.9", linewidth=0.6)


def interval_panels(panels: Sequence[Panel], ax: Any = None):
    """Draw ``panels`` side by side (shared rows). Returns the Figure; with ``ax`` (one Axes
    for one panel, or a sequence of Axes, one per panel) draws there and returns ``ax``."""
    if not panels:
        raise ArgumentError("interval_panels: nothing to plot")
    if ax is not None:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) != len(panels):
            raise ArgumentError(f"ax: {len(panels)} panels need {len(panels)} Axes, got "
                                f"{len(axes)}")
        for i, (a, p) in enumerate(zip(axes, panels)):
            _draw(a, p, labels_shown=i == 0)
        return ax
    n_rows = len(panels[0][1])
    fig = new_figure(2.6 * len(panels) + 0.8, max(2.5, 0.22 * n_rows + 1.0))
    axs = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for i, (a, p) in enumerate(zip(axs, panels)):
        _draw(a, p, labels_shown=i == 0)
    fig.tight_layout()
    return fig
