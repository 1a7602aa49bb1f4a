"""lme4's bounded Nelder–Mead simplex method (R: ``lme4::Nelder_Mead``).

lme4 ships its own Nelder–Mead (derived from NLopt 2.2.4's ``nldrmd``), and glmer's second
stage runs it by default. Its evaluation path differs from current NLopt's ``LN_NELDERMEAD`` in
ways that change how many deviance evaluations a glmer fit needs (VerbAgg: 385 with lme4's
rules, 547 with NLopt's), so :func:`lmerpy.optimize.minimize_bounded` runs this implementation
for ``method="nelder_mead"``; NLopt's stays reachable as ``method="LN_NELDERMEAD"``.

The rules, as lme4 applies them:

* **Initial simplex**: the start x₀ and the n points x₀ + s_i e_i (s = ``initial_step``, lme4's
  ``xst``). A vertex beyond a bound is put on the bound when that is more than 0.1·|s_i| away
  from x₀, else it steps |s_i| the other way (and, beyond the other bound too, half-way to the
  farther bound). The n + 1 vertices are evaluated in that order.
* **Iteration**: with l / h the first indices of the lowest / highest vertex value and c the
  centroid of the vertices other than h, reflect x_r = c + (c − x_h), every point pinned to the
  box. If f_r < f_l, expand to x_e = c + 2(c − x_h) and keep x_e when f_e is below the *old*
  f_h (lme4's test; NLopt compares it with f_r), else x_r. Otherwise, if f_r < f_h keep x_r;
  else contract inside, x_c = c − ½(c − x_h), kept when f_c < f_r and f_c < f_h; else shrink
  every vertex half-way towards x_l and evaluate all n + 1 vertices again (x_l included).
* **Stopping**: only on x — when, in every coordinate, the largest distance of a vertex from
  the centroid c is below ``xtol_abs`` (lme4's ``xt``; default 5e-4·``xst``), or when a new
  point coincides (to 1e-13 relative) with c or with the vertex it replaces. lme4's
  ``FtolAbs``/``FtolRel`` are stored but never tested, so ``ftol_*`` settings are accepted and
  have no effect. Also on ``maxeval`` (lme4: after ``maxfun + 1`` evaluations, with "failure to
  converge in maxfun evaluations") and when a value falls below ``stopval`` (lme4's
  ``MinfMax``).
* **Result**: the first point with the lowest value seen (not necessarily a current vertex).

The vertices are kept as Python floats (IEEE doubles: the same roundings as lme4's Eigen and
NumPy's elementwise arithmetic, sums taken vertex by vertex in the same order), which for a
simplex of a few points costs a third of NumPy's per-call overhead; on smooth test functions
the evaluation path is lme4's to the last bit (``tests/test_minimize_neldermead.py``).
"""
from __future__ import annotations

import math
import time
from functools import reduce
from operator import add

import numpy as np

__all__ = ["nelder_mead", "NelderMeadResult", "NM_MESSAGES", "SimplexError"]

#: lme4's messages (R: ``Nelder_Mead(...)$message``) by NLopt-style status code.
NM_MESSAGES = {
    2: "objective function went below allowed minimum",
    3: "objective function values converged to within tolerance",
    4: "parameter values converged to within tolerance",
    5: "failure to converge in {maxeval} evaluations",
    6: "maximum time reached",
}

# step factors: reflection, expansion, contraction (inside), shrink
_REFLECT, _EXPAND, _CONTRACT, _SHRINK = 1.0, 2.0, -0.5, -0.5


class SimplexError(ValueError):
    """The initial simplex cannot be built inside the bounds (lme4: "cannot generate feasible
    simplex"); ``parameter`` is the 0-based index of the parameter at fault."""

    def __init__(self, message, parameter=None):
        super().__init__(message)
        self.parameter = parameter


class NelderMeadResult:
    """What :func:`nelder_mead` returns: ``x``, ``fun``, ``status`` (NLopt-style: 4 x
    converged, 5 maxeval, 2 stopval, 6 maxtime), ``message`` (lme4's) and ``feval``."""

    __slots__ = ("x", "fun", "status", "message", "feval")

    def __init__(self, x, fun, status, message, feval):
        self.x, self.fun, self.status, self.message, self.feval = x, fun, status, message, feval


class _Stop(Exception):
    def __init__(self, status):
        super().__init__(status)
        self.status = status


def _close(a, b):
    """Elementwise |a − b| <= 1e-13 (|a| + |b|): the points coincide to rounding."""
    return np.abs(a - b) <= 1e-13 * (np.abs(a) + np.abs(b))


def _low_high(vals):
    """First indices of the lowest and of the highest value, scanning from the first vertex
    with strict comparisons (so a NaN is never chosen unless it is the first value)."""
    il = ih = 0
    lo = hi = vals[0]
    for j in range(1, len(vals)):
        v = vals[j]
        if v < lo:
            lo, il = v, j
        if v > hi:
            hi, ih = v, j
    return il, ih


def initial_simplex(x0, lower, upper, step):
    """The (n + 1, n) initial vertices (rows) for start ``x0`` and steps ``step``."""
    n = x0.shape[0]
    P = np.tile(x0, (n + 1, 1))
    for i in range(n):
        s, x, lo, hi = abs(step[i]), x0[i], lower[i], upper[i]
        v = x + step[i]
        if v > hi:                          # past the upper bound: onto it, or the other way
            v = hi if hi - x > 0.1 * s else x - s
        if v < lo:                          # past the lower bound: onto it, or the other way
            if x - lo > 0.1 * s:
                v = lo
            else:
                v = x + s
                if v > hi:                  # no room either way: half-way to the farther bound
                    v = 0.5 * ((hi if hi - x > x - lo else lo) + x)
        if _close(v, x):
            raise SimplexError(f"cannot generate a feasible simplex: parameter {i + 1} has no "
                               f"room to move within its bounds [{lo}, {hi}] from {x}",
                               parameter=i)
        P[i + 1, i] = v
    return P


def nelder_mead(fun, x0, lower, upper, step, *, xtol_abs, xtol_rel=1e-7, maxeval=10000,
                stopval=-math.inf, maxtime=None):
    """Minimize ``fun`` over a box by lme4's Nelder–Mead (R: ``lme4::Nelder_Mead(fn, par,
    lower, upper, control = list(xst, xt, maxfun, XtolRel, MinfMax))``).

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float``; called with a fresh array each time.
    x0 : ndarray (n,)
        Start, inside the bounds.
    lower, upper : ndarray (n,)
        Bounds (±inf for none).
    step : array_like (n,)
        Initial steps (lme4's ``xst``; nonzero).
    xtol_abs : array_like (n,)
        Per-coordinate size of the simplex at which it has converged (lme4's ``xt``).
    xtol_rel : float
        lme4's ``XtolRel`` (with lme4's test it only matters for a simplex of size 0).
    maxeval : int
        Stop after ``maxeval + 1`` evaluations (lme4's ``maxfun``; 0 or less: no limit).
    stopval : float
        Stop as soon as a value below it is seen (lme4's ``MinfMax``).
    maxtime : float, optional
        Stop after this many seconds.

    Returns
    -------
    NelderMeadResult

    Raises
    ------
    SimplexError
        When a coordinate has no room for its initial step within the bounds.
    """
    x0 = np.array(x0, dtype=float)
    n = x0.shape[0]
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    step = np.broadcast_to(np.asarray(step, dtype=float), (n,))
    xt = np.broadcast_to(np.asarray(xtol_abs, dtype=float), (n,))
    xtol_rel = float(xtol_rel)
    maxeval = int(maxeval or 0)
    stopval = -math.inf if stopval is None else float(stopval)
    deadline = None if not maxtime or maxtime <= 0 else time.monotonic() + float(maxtime)
    # the simplex as lists of floats: a few vertices of a few coordinates, for which Python's
    # float arithmetic (IEEE, the same roundings as NumPy's elementwise operations) is
    # several times faster than NumPy's per-call overhead
    P = initial_simplex(x0, lo, hi, step).tolist()
    lo_l, hi_l, xt_l = lo.tolist(), hi.tolist(), np.asarray(xt, dtype=float).tolist()
    bounded = any(math.isfinite(v) for v in lo_l + hi_l)
    rel_half = 0.5 * xtol_rel
    best = [math.inf, P[0], 0]                  # value, point (a list: never changed in
    asarray = np.array                          # place), evaluations

    def evaluate(x):
        f = float(fun(asarray(x, dtype=float)))
        best[2] += 1
        if f < best[0]:
            best[0], best[1] = f, x
            if f < stopval:
                raise _Stop(2)
        if maxeval > 0 and best[2] > maxeval:
            raise _Stop(5)
        if deadline is not None and time.monotonic() >= deadline:
            raise _Stop(6)
        return f

    def close(a, b):
        return abs(a - b) <= 1e-13 * (abs(a) + abs(b))

    def move(base, factor, away):
        """base + factor·(base − away), pinned to the box; None when it coincides with base
        or with ``away`` in every coordinate (the simplex has collapsed)."""
        x = [b + factor * (b - a) for b, a in zip(base, away)]
        if bounded:
            x = [min(max(v, lo_i), hi_i) for v, lo_i, hi_i in zip(x, lo_l, hi_l)]
        if all(map(close, x, base)) or all(map(close, x, away)):
            return None
        return x

    def converged(cols, c):
        """lme4's test: in every coordinate, the largest distance of a vertex from c is
        below xt (max |p − c| = max(max p − c, c − min p) exactly: rounding is monotonic)."""
        for col, ci, t in zip(cols, c, xt_l):
            size = max(max(col) - ci, ci - min(col))
            if not size < t:
                if not (math.isfinite(size) and (size < rel_half * size
                                                  or (xtol_rel > 0 and size == 0))):
                    return False
        return True

    def centroid_sums(cols):
        # vertex by vertex, in order (the order of lme4's and NumPy's sums)
        return [reduce(add, col) for col in cols]

    status = 4
    try:
        vals = [evaluate(P[j]) for j in range(n + 1)]
        while True:
            il, ih = _low_high(vals)
            fl, fh = vals[il], vals[ih]
            xh = P[ih]
            cols = list(zip(*P))
            c = [(sm - h) / n for sm, h in zip(centroid_sums(cols), xh)]
            if converged(cols, c):
                break
            xr = move(c, _REFLECT, xh)
            if xr is None:
                break
            fr = evaluate(xr)
            if fr < fl:                         # new best: try twice as far
                xe = move(c, _EXPAND, xh)
                if xe is None:
                    break
                fe = evaluate(xe)
                keep, fk = (xe, fe) if fe < fh else (xr, fr)
            elif fr < fh:
                keep, fk = xr, fr
            else:                               # no better than the worst: contract inside
                xc = move(c, _CONTRACT, xh)
                if xc is None:
                    break
                fc = evaluate(xc)
                if fc < fr and fc < fh:
                    keep, fk = xc, fc
                else:                           # shrink towards the best vertex
                    xl = P[il]
                    for i in range(n + 1):
                        if i != il:
                            xi = move(xl, _SHRINK, P[i])
                            if xi is None:
                                raise _Stop(4)
                            P[i] = xi
                    vals = [evaluate(P[j]) for j in range(n + 1)]
                    continue
            P[ih] = keep
            vals[ih] = fk
    except _Stop as s:
        status = s.status
    msg = NM_MESSAGES[status].format(maxeval=maxeval)
    return NelderMeadResult(np.array(best[1], dtype=float), best[0], status, msg, best[2])
