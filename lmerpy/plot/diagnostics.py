"""Residual diagnostics: R's ``plot(fit)`` and ``qqnorm(resid(fit))``.

R equivalents: ``plot(fit)`` (lme4's ``plot.merMod``: Pearson residuals against fitted values),
``qqnorm(residuals(fit)); qqline(residuals(fit))``.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from ..errors import LmerpyError
from ._figure import one_axes
from .smooth import lowess

__all__ = ["ppoints", "qqplot_residuals", "residuals_vs_fitted"]


def ppoints(n):
    """R's ``ppoints(n)``: probability points (i − a)/(n + 1 − 2a), a = 3/8 for n ≤ 10, else 1/2."""
    n = int(n)
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a) if n > 0 else np.zeros(0)


def qqline_coefficients(y, probs=(0.25, 0.75)):
    """R's ``qqline(y)``: intercept and slope of the line through the quartile pairs."""
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    yq = np.quantile(y, probs)          # R's quantile type 7 (numpy's default "linear")
    xq = norm.ppf(probs)
    slope = (yq[1] - yq[0]) / (xq[1] - xq[0])
    return float(yq[0] - slope * xq[0]), float(slope)


def _residuals(fit, type):
    if not (hasattr(fit, "residuals") and hasattr(fit, "fitted")):
        raise LmerpyError(f"expected a fitted mixed model, not a {fit.__class__.__name__}")
    return np.asarray(fit.residuals(type=type), dtype=float)


def qqplot_residuals(fit, type="pearson", line=True, figsize=None, ax=None):
    """Normal quantile-quantile plot of the residuals (R: ``qqnorm(resid(fit)); qqline(...)``).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    type : str
        Residual type passed to ``fit.residuals(type=...)`` (``"pearson"``, ``"response"``,
        ``"deviance"``…).
    line : bool
        Draw R's ``qqline`` (through the first and third quartiles).
    figsize : (float, float), optional
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes (and return it) instead of a new Figure.

    Returns
    -------
    matplotlib.figure.Figure or matplotlib.axes.Axes
        The new Figure (or ``ax``), one axes: theoretical quantiles ``qnorm(ppoints(n))`` on x, sorted residuals on y
        (artist gid ``"points"``), and the line (gid ``"qqline"``).
    """
    r = _residuals(fit, type)
    r = np.sort(r[np.isfinite(r)])
    fig, ax = one_axes(ax, figsize, (5.0, 5.0), "qqplot_residuals")
    q = norm.ppf(ppoints(r.shape[0]))
    ax.plot(q, r, linestyle="none", marker="o", markersize=4, markerfacecolor="none",
            label="residuals", gid="points")
    if line and r.shape[0] >= 2:
        a, b = qqline_coefficients(r)
        ax.axline((0.0, a), slope=b, color="C3", linewidth=1, label="qqline", gid="qqline")
    ax.set_title("Normal Q-Q Plot")
    ax.set_xlabel("Theoretical Quantiles")
    ax.set_ylabel(f"Sample Quantiles ({type} residuals)")
    ax.grid(True, color="0.9")
    return ax if fig is None else fig


def residuals_vs_fitted(fit, type="pearson", smooth=False, span=2.0 / 3.0, figsize=None,
                        ax=None):
    """Residuals against fitted values (R: ``plot(fit)``, lme4's ``plot.merMod``).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    type : str
        Residual type (lme4's default is ``"pearson"``).
    smooth : bool
        Add R's ``lowess`` smoother (span ``span``) of the residuals on the fitted values.
    span : float
        The smoother's ``f``.
    figsize : (float, float), optional
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes (and return it) instead of a new Figure.

    Returns
    -------
    matplotlib.figure.Figure or matplotlib.axes.Axes
        The new Figure (or ``ax``), one axes with the points (artist gid ``"points"``), a dashed line at zero (``"zero"``)
        and, if asked, the smoother (``"lowess"``).
    """
    r = _residuals(fit, type)
    f = np.asarray(fit.fitted(), dtype=float)
    if f.shape != r.shape:
        raise LmerpyError(f"fitted values ({f.shape[0]}) and residuals ({r.shape[0]}) differ "
                          "in length")
    ok = np.isfinite(f) & np.isfinite(r)
    fig, ax = one_axes(ax, figsize, (6.0, 4.5), "residuals_vs_fitted")
    ax.plot(f[ok], r[ok], linestyle="none", marker="o", markersize=4, markerfacecolor="none",
            label="residuals", gid="points")
    ax.axhline(0.0, color="0.4", linestyle="--", linewidth=1, gid="zero")
    if smooth and ok.sum() >= 2:
        sx, sy = lowess(f[ok], r[ok], f=span)
        ax.plot(sx, sy, color="C3", linewidth=1.5, label="lowess", gid="lowess")
    ax.set_xlabel("Fitted values")
    ax.set_ylabel(f"{type.capitalize()} residuals")
    ax.grid(True, color="0.9")
    return ax if fig is None else fig
