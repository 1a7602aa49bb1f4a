"""Interpolating splines of a likelihood profile and their inverses.

R equivalents: ``splines::interpSpline`` (a natural cubic spline through the points, as a
piecewise polynomial), ``splines::backSpline`` (its inverse, piecewise cubic Hermite with the
reciprocal slopes at the knots and quadratic end pieces) and ``predict`` on them (NA outside
the knots), which ``lme4:::confint.thpr`` uses to read confidence limits off a profile;
``spline`` (Forsythe, Malcolm and Moler's cubic spline evaluated on an even grid), which
``MASS:::confint.profile.glm`` uses for a glm's profile.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

from ..errors import LmerpyError
from ..warnings import ProfileWarning, warn

__all__ = ["PolySpline", "approx_linear", "back_spline", "interp_spline", "spline_fmm"]


class SplineError(LmerpyError):
    """A profile cannot be splined (too few or repeated points, not monotone)."""


class PolySpline:
    """A piecewise polynomial: on ``(knots[i], knots[i+1]]`` (and at ``knots[0]``) the value is
    ``sum_k coef[i, k] * (x - knots[i])**k``. Outside ``[knots[0], knots[-1]]``: NaN, or for a
    natural spline the straight line with the end value and slope.

    R equivalent: classes ``polySpline`` / ``npolySpline`` and their ``predict`` methods.
    """

    def __init__(self, knots, coef, natural=False):
        self.knots = np.asarray(knots, dtype=float)
        self.coef = np.asarray(coef, dtype=float)
        self.natural = bool(natural)

    def __call__(self, x):
        x = np.atleast_1d(np.asarray(x, dtype=float))
        k = self.knots
        # R's cut(x, knots): interval i holds knots[i] < x <= knots[i+1]
        i = np.searchsorted(k, x, side="left") - 1
        i = np.where(x == k[0], 0, i)
        ok = (i >= 0) & (i < len(k) - 1) & np.isfinite(x)
        out = np.full(x.shape, np.nan)
        if ok.any():
            ii = i[ok]
            dx = x[ok] - k[ii]
            c = self.coef[ii]
            y = c[:, -1].copy()
            for j in range(c.shape[1] - 2, -1, -1):
                y = y * dx + c[:, j]
            out[ok] = y
        if self.natural:
            lo, hi = x < k[0], x > k[-1]
            out[lo] = self.coef[0, 0] + self.coef[0, 1] * (x[lo] - k[0])
            out[hi] = self.coef[-1, 0] + self.coef[-1, 1] * (x[hi] - k[-1])
        return out


def interp_spline(x, y) -> PolySpline:
    """Natural cubic interpolating spline of ``y`` on ``x`` (R: ``interpSpline(y ~ x)``),
    extended linearly beyond the end knots as R's ``predict.npolySpline``.

    Raises
    ------
    SplineError
        Fewer than 4 points or repeated ``x`` values (R's errors).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) == 0):
        raise SplineError("values of 'x' must be distinct")
    if x.size < 4:
        raise SplineError("must have at least 'ord'=4 points")
    cs = CubicSpline(x, y, bc_type="natural")
    coef = np.column_stack([y, cs(x, 1), cs(x, 2) / 2.0, cs(x, 3) / 6.0])
    coef[-1, 3] = 0.0
    coef[0, 2] = coef[-1, 2] = 0.0
    return PolySpline(x, coef, natural=True)


def back_spline(sp: PolySpline) -> PolySpline:
    """The inverse of a monotone cubic :class:`PolySpline` (R: ``splines::backSpline``).

    On each interior interval a cubic Hermite piece through the swapped points with slopes
    1/slope; the two end pieces are quadratics fixed by both end values and the slope at the
    inner knot (made linear when that would bend them the wrong way).
    """
    knots = sp.knots
    coef = sp.coef
    nk = knots.size
    if nk < 2:
        raise SplineError("a spline needs at least two knots")
    kdiff = np.diff(knots)
    if np.any(kdiff <= 0):
        raise SplineError("knot positions must be strictly increasing")
    bknots = coef[:, 0]
    adiff = np.diff(bknots)
    if np.all(adiff < 0):
        rev = True
    elif np.all(adiff > 0):
        rev = False
    else:
        raise SplineError("spline must be monotone")
    b = np.zeros((nk, 4))
    b[:, 0] = knots
    with np.errstate(divide="ignore"):
        b[:, 1] = 1.0 / coef[:, 1]
    for i in range(nk - 1):
        a = np.array([[adiff[i] ** 2, adiff[i] ** 3], [2 * adiff[i], 3 * adiff[i] ** 2]])
        rhs = np.array([kdiff[i] - adiff[i] * b[i, 1], b[i + 1, 1] - b[i, 1]])
        b[i, 2:4] = np.linalg.solve(a, rhs)
    b[nk - 1, 1:4] = np.nan
    if nk > 2:
        b[0, 3] = b[nk - 2, 3] = 0.0
        a = np.array([[adiff[0], adiff[0] ** 2], [1.0, 2 * adiff[0]]])
        b[0, 1:3] = np.linalg.solve(a, np.array([kdiff[0], 1.0 / coef[1, 1]]))
        b[nk - 2, 2] = (kdiff[-1] - adiff[-1] * b[nk - 2, 1]) / adiff[-1] ** 2
    if b[0, 2] > 0:
        b[0, 2] = 0.0
        b[0, 1] = kdiff[0] / adiff[0]
    if b[nk - 2, 2] < 0:
        b[nk - 2, 2] = 0.0
        b[nk - 2, 1] = kdiff[-1] / adiff[-1]
    if rev:
        return PolySpline(bknots[::-1], b[::-1])
    return PolySpline(bknots, b)


def approx_linear(x, y, xout):
    """R's ``approxfun(x, y)(xout)``: linear interpolation, ties averaged, NaN outside."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size == 0:
        return np.full(np.shape(xout), np.nan)
    ux, inv = np.unique(x, return_inverse=True)
    if ux.size < x.size:
        warn("collapsing to unique 'x' values", ProfileWarning)
    uy = np.bincount(inv, weights=y) / np.bincount(inv)
    xout = np.asarray(xout, dtype=float)
    if ux.size == 1:
        return np.where(xout == ux[0], uy[0], np.nan)
    out = np.interp(xout, ux, uy)
    return np.where((xout < ux[0]) | (xout > ux[-1]), np.nan, out)


def spline_fmm(x, y, n=None):
    """R's ``spline(x, y, n = 3 * length(x))`` with its default ``method = "fmm"``: the cubic
    spline through the points whose end pieces match the third derivative of the cubic through
    the four points at each end (Forsythe, Malcolm & Moler), evaluated at ``n`` equally spaced
    points from ``min(x)`` to ``max(x)``. Repeated ``x`` are averaged first (R's ``ties = mean``).
    Returns the two arrays ``(x_out, y_out)``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    ux, inv = np.unique(x[keep], return_inverse=True)
    if ux.size < 2:
        raise SplineError("spline needs at least two distinct points")
    uy = np.bincount(inv, weights=y[keep]) / np.bincount(inv)
    b, c, d = _fmm_coefficients(ux, uy)
    m = 3 * ux.size if n is None else int(n)
    xo = np.linspace(ux[0], ux[-1], m)
    i = np.clip(np.searchsorted(ux, xo, side="right") - 1, 0, ux.size - 1)
    dx = xo - ux[i]
    return xo, uy[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))


def _fmm_coefficients(x, y):
    """The piecewise cubic ``y[i] + b[i] dx + c[i] dx^2 + d[i] dx^3`` of the FMM spline."""
    n = x.size
    h = np.diff(x)
    slope = np.diff(y) / h
    if n == 2:
        z = np.zeros(2)
        return np.full(2, slope[0]), z, z.copy()
    # the second-derivative system: diagonal, right-hand side; off-diagonal h
    diag = np.empty(n)
    rhs = np.zeros(n)
    diag[1:-1] = 2.0 * (h[:-1] + h[1:])
    rhs[1:-1] = slope[1:] - slope[:-1]
    diag[0], diag[-1] = -h[0], -h[-1]
    if n > 3:                                  # third derivatives from the end points' cubics
        d3a = rhs[2] / (x[3] - x[1]) - rhs[1] / (x[2] - x[0])
        d3b = rhs[-2] / (x[-1] - x[-3]) - rhs[-3] / (x[-2] - x[-4])
        rhs[0] = d3a * h[0] ** 2 / (x[3] - x[0])
        rhs[-1] = -d3b * h[-1] ** 2 / (x[-1] - x[-4])
    off = np.append(h, 0.0)
    for i in range(1, n):                      # elimination (tridiagonal, symmetric)
        t = off[i - 1] / diag[i - 1]
        diag[i] -= t * off[i - 1]
        rhs[i] -= t * rhs[i - 1]
    sig = np.empty(n)
    sig[-1] = rhs[-1] / diag[-1]
    for i in range(n - 2, -1, -1):
        sig[i] = (rhs[i] - off[i] * sig[i + 1]) / diag[i]
    b = np.empty(n)
    c = 3.0 * sig
    d = np.empty(n)
    b[:-1] = slope - h * (sig[1:] + 2.0 * sig[:-1])
    d[:-1] = (sig[1:] - sig[:-1]) / h
    b[-1] = slope[-1] + h[-1] * (sig[-2] + 2.0 * sig[-1])
    d[-1] = d[-2]
    return b, c, d
