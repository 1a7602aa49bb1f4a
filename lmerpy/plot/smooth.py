"""Scatterplot smoothing as R's ``stats::lowess`` (Cleveland's robust locally weighted line).

The smoother drawn by :func:`lmerpy.plot.residuals_vs_fitted`; it gives R's numbers (same
span rounding, ``delta`` skipping with linear interpolation, tie handling, tricube and
bisquare weights, and MAD-based robustness steps).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError

__all__ = ["lowess"]


def _local_fit(x, y, xs, left, right, rw):
    """Weighted local line at ``xs`` over the window starting at ``left`` (0-based).

    Returns the fitted value, or None when every weight is zero.
    """
    n = x.shape[0]
    h = max(xs - x[left], x[right] - xs)
    h9, h1 = 0.999 * h, 0.001 * h
    tail = x[left:]
    r = np.abs(tail - xs)
    # the window runs on to the right past ties until a point is both beyond h9 and to the right
    stop = np.flatnonzero((r > h9) & (tail > xs))
    end = left + (stop[0] if stop.size else n - left)       # exclusive
    r = r[:end - left]
    w = np.where(r <= h1, 1.0, (1.0 - (r / h) ** 3) ** 3) if h > 0 else np.ones_like(r)
    w = np.where(r <= h9, w, 0.0)
    if rw is not None:
        w = w * rw[left:end]
    total = w.sum()
    if total <= 0.0:
        return None
    w = w / total
    xw = x[left:end]
    if h > 0.0:
        centre = np.dot(w, xw)
        spread = np.dot(w, (xw - centre) ** 2)
        if np.sqrt(spread) > 0.001 * (x[-1] - x[0]):
            w = w * ((xs - centre) / spread * (xw - centre) + 1.0)
    return float(np.dot(w, y[left:end]))


def _pass(x, y, span, delta, rw):
    """One smoothing pass over the sorted data; returns the fitted values."""
    n = x.shape[0]
    ys = np.empty(n)
    left, right = 0, span - 1
    last = -1          # the last point actually fitted
    i = 0
    while True:
        # slide the window right while that shrinks its radius around x[i]
        while right < n - 1 and x[i] - x[left] > x[right + 1] - x[i]:
            left += 1
            right += 1
        fit = _local_fit(x, y, x[i], left, right, rw)
        ys[i] = y[i] if fit is None else fit
        if last < i - 1:                      # points skipped by delta: interpolate
            j = np.arange(last + 1, i)
            alpha = (x[j] - x[last]) / (x[i] - x[last])
            ys[j] = alpha * ys[i] + (1.0 - alpha) * ys[last]
        last = i
        cut = x[last] + delta
        k = last + 1
        while k < n and x[k] <= cut:
            if x[k] == x[last]:               # ties take the fitted value
                ys[k] = ys[last]
                last = k
            k += 1
        i = max(last + 1, k - 1)
        if last >= n - 1:
            return ys


def lowess(x, y, f=2.0 / 3.0, iter=3, delta=None):
    """Robust locally weighted scatterplot smoothing (R: ``lowess(x, y, f, iter, delta)``).

    Parameters
    ----------
    x, y : array-like
        The points (same length, finite).
    f : float
        The span: the share of points that influence each smoothed value.
    iter : int
        Number of robustifying iterations.
    delta : float, optional
        Points closer than ``delta`` in x to the last fitted one are interpolated
        (R's default ``0.01 * diff(range(x))``).

    Returns
    -------
    (ndarray, ndarray)
        ``x`` sorted increasingly and the smoothed values, as R's ``list(x, y)``.
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise DataError(f"lowess: x and y lengths differ ({x.shape[0]} and {y.shape[0]})")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataError("lowess: x and y must be finite")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    n = x.shape[0]
    if n < 2:
        return x, y.copy()
    if delta is None:
        delta = 0.01 * (x[-1] - x[0])
    span = max(2, min(n, int(f * n + 1e-7)))
    rw = None
    ys = y
    for step in range(int(iter) + 1):
        ys = _pass(x, y, span, float(delta), rw)
        res = y - ys
        if step == int(iter):
            break
        scale = np.mean(np.abs(res))
        cmad = 6.0 * np.median(np.abs(res))
        if cmad < 1e-7 * scale:
            break
        r = np.abs(res)
        rw = np.where(r <= 0.001 * cmad, 1.0,
                      np.where(r <= 0.999 * cmad, (1.0 - (r / cmad) ** 2) ** 2, 0.0))
    return x, ys
