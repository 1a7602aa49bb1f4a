"""Profile zeta plots: R's ``xyplot(profile(fit))`` (lme4's ``xyplot.thpr``).

For each parameter the profile gives ζ (the signed square root of the change in deviance) at a
sequence of values. As lme4, the plot interpolates ζ by a natural cubic spline of the parameter
(``interpSpline``) and finds where ζ reaches ±√χ²₁(conf) through the inverse spline
(``backSpline``: the cubic Hermite interpolant of the parameter on ζ through the same knots,
with slopes 1/ζ'), which is also how ``confint(profile(fit))`` gets its limits.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.interpolate import CubicHermiteSpline, CubicSpline
from scipy.stats import norm

from ..errors import LmerpyError
from ._figure import figure_size, grid_shape, new_figure, panel_axes

__all__ = ["profile_plot", "profile_frame", "zeta_splines", "ZetaSpline"]

#: lme4's default confidence levels marked on the plot
DEFAULT_CONF = (0.5, 0.8, 0.9, 0.95, 0.99)


def profile_frame(prof) -> pd.DataFrame:
    """The profile as R's ``as.data.frame(profile(fit))``: ``.zeta``, the parameter columns,
    ``.par`` (which parameter each row profiles) and ``.focal``.

    Accepts the object ``lmerpy.profile(fit)`` returns (anything with ``.as_dataframe()``) or
    such a DataFrame itself.
    """
    if hasattr(prof, "as_dataframe"):
        df = prof.as_dataframe()
    elif isinstance(prof, pd.DataFrame):
        df = prof
    else:
        raise LmerpyError("profile_plot needs a profile (lmerpy.profile(fit)) or its "
                          f"as_dataframe(), not a {prof.__class__.__name__}")
    for col in (".zeta", ".par"):
        if col not in df.columns:
            raise LmerpyError(f"the profile has no {col!r} column (expected the columns of "
                              "as.data.frame(profile(fit)): .zeta, the parameters, .par, .focal)")
    return df


def _parameters(df):
    par = df[".par"]
    if isinstance(par.dtype, pd.CategoricalDtype):
        present = set(par.dropna().astype(str))
        return [str(c) for c in par.cat.categories if str(c) in present]
    return list(dict.fromkeys(str(v) for v in par.dropna()))


@dataclass
class ZetaSpline:
    """The interpolated profile of one parameter.

    Attributes
    ----------
    name : str
    x, zeta : ndarray
        The profile points used as knots (sorted by x, duplicates dropped).
    forward : callable
        x → ζ (natural cubic spline; R's ``interpSpline``).
    inverse : callable or None
        ζ → x (R's ``backSpline``); ``None`` when ζ is not monotone in x. Gives NaN outside
        the profiled range of ζ.
    """

    name: str
    x: np.ndarray
    zeta: np.ndarray
    forward: Callable
    inverse: Callable | None

    def limits(self, zeta_values):
        """Parameter values where ζ equals each of ``zeta_values`` (NaN where out of range)."""
        z = np.asarray(zeta_values, dtype=float)
        if self.inverse is None:
            return np.full(z.shape, np.nan)
        lo, hi = np.min(self.zeta), np.max(self.zeta)
        out = np.asarray(self.inverse(np.clip(z, lo, hi)), dtype=float)
        return np.where((z >= lo) & (z <= hi), out, np.nan)


def _spline(name, x, z):
    ok = np.isfinite(x) & np.isfinite(z)
    x, z = x[ok], z[ok]
    order = np.argsort(x, kind="stable")
    x, z = x[order], z[order]
    keep = np.concatenate([[True], np.diff(x) > 0]) if x.size else np.zeros(0, dtype=bool)
    x, z = x[keep], z[keep]
    if x.size < 2:
        return None
    if x.size == 2:
        slope = (z[1] - z[0]) / (x[1] - x[0])
        forward = CubicHermiteSpline(x, z, [slope, slope])
    else:
        forward = CubicSpline(x, z, bc_type="natural")
    inverse = None
    dz = np.diff(z)
    if np.all(dz > 0) or np.all(dz < 0):
        slopes = forward(x, 1)
        if np.all(slopes != 0) and np.all(np.sign(slopes) == np.sign(dz[0])):
            zk, xk, sk = (z, x, slopes) if dz[0] > 0 else (z[::-1], x[::-1], slopes[::-1])
            inverse = CubicHermiteSpline(zk, xk, 1.0 / sk)
    return ZetaSpline(name, x, z, forward, inverse)


def zeta_splines(prof, which=None):
    """Interpolating splines of ζ for each profiled parameter, in the profile's order.

    Parameters
    ----------
    prof : profile object or DataFrame
        See :func:`profile_frame`.
    which : sequence of str, optional
        Parameter names (``".sig01"``, ``".sigma"``, ``"(Intercept)"``…); default all.

    Returns
    -------
    dict of str to ZetaSpline or None
        ``None`` for a parameter with fewer than two finite profile points.
    """
    df = profile_frame(prof)
    names = _parameters(df)
    if which is not None:
        which = [which] if isinstance(which, str) else list(which)
        unknown = [w for w in which if w not in names]
        if unknown:
            raise LmerpyError(f"the profile has no parameter {unknown[0]!r}; "
                              f"profiled parameters: {', '.join(names)}")
        names = which
    out = {}
    par = df[".par"].astype(str).to_numpy()
    for name in names:
        if name not in df.columns:
            raise LmerpyError(f"the profile has no column for parameter {name!r}")
        rows = par == name
        out[name] = _spline(name, df.loc[rows, name].to_numpy(dtype=float),
                            df.loc[rows, ".zeta"].to_numpy(dtype=float))
    return out


def profile_plot(prof, conf=DEFAULT_CONF, absVal=False, which=None, points=True, ncols=None,
                 figsize=None, ax=None):
    """Profile ζ plots, one panel per parameter (R: ``xyplot(profile(fit), conf, absVal)``).

    Parameters
    ----------
    prof : profile object or DataFrame
        ``lmerpy.profile(fit)`` or its ``as_dataframe()`` (R's ``as.data.frame(profile(fit))``).
    conf : sequence of float
        Confidence levels marked on each panel: vertical segments from ζ = ±√χ²₁(conf) down to
        ζ = 0 at the interpolated limits (lme4's default 0.5, 0.8, 0.9, 0.95, 0.99).
    absVal : bool
        Plot |ζ| instead of ζ (R's ``absVal = TRUE``).
    which : sequence of str, optional
        Parameters to plot (default all, in the profile's order).
    points : bool
        Also draw the profiled points themselves.
    ncols : int, optional
        Panels per row.
    figsize : (float, float), optional
    ax : matplotlib Axes or sequence of Axes, optional
        Draw the panels into these (one per parameter) instead of a new Figure; ``ax`` is
        returned.

    Returns
    -------
    matplotlib.figure.Figure (or ``ax``)
        One axes per parameter, titled by its name. Artist gids: ``"spline"`` (the curve),
        ``"profile_points"``, ``"conf_limits"`` (a LineCollection of the vertical segments,
        lower then upper limit for each level in increasing order; a limit the profile does not
        reach, lme4's NA, has no segment).
    """
    conf = np.atleast_1d(np.asarray(conf, dtype=float))
    if conf.size == 0 or np.any(~np.isfinite(conf) | (conf <= 0) | (conf >= 1)):
        raise LmerpyError("values of 'conf' must be strictly between 0 and 1")
    levels = np.sort(norm.ppf(0.5 + conf / 2.0))
    splines = zeta_splines(prof, which)
    names = list(splines)
    nrows, ncols = grid_shape(len(names), ncols if ncols is not None else min(len(names), 4))
    given = None if ax is None else panel_axes(ax, len(names), "profile_plot")
    fig = None
    if given is None:
        fig = new_figure(*figure_size(figsize, (0.8 + 3.0 * ncols, 0.6 + 2.8 * nrows)))
    share = None
    for k, name in enumerate(names):
        if given is not None:
            axk = given[k]
        else:
            axk = fig.add_subplot(nrows, ncols, k + 1, sharey=share)
            share = share or axk
        spl = splines[name]
        axk.set_title(name, fontsize=10)
        axk.grid(True, color="0.9")
        if k % ncols == 0:
            axk.set_ylabel("|ζ|" if absVal else "ζ")
        if spl is None:
            axk.text(0.5, 0.5, "too few profile points", transform=axk.transAxes, ha="center")
            continue
        grid = np.linspace(spl.x[0], spl.x[-1], 101)
        curve = spl.forward(grid)
        axk.plot(grid, np.abs(curve) if absVal else curve, color="C0", gid="spline")
        if points:
            axk.plot(spl.x, np.abs(spl.zeta) if absVal else spl.zeta, linestyle="none", marker="o",
                    markersize=2.5, color="C0", alpha=0.6, gid="profile_points")
        segments = []
        for lv in levels:
            for zeta in (-lv, lv):
                xs = float(spl.limits([zeta])[0])
                if np.isfinite(xs):
                    segments.append([(xs, abs(zeta) if absVal else zeta), (xs, 0.0)])
        if segments:
            from matplotlib.collections import LineCollection
            axk.add_collection(LineCollection(segments, colors="C3", linewidths=0.9,
                                              linestyles="--", gid="conf_limits"))
    if fig is None:
        return ax
    fig.tight_layout()
    return fig
