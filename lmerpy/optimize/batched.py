"""Many small bound-constrained minimisations at once: quasi-Newton (BFGS) steps on a batch.

For refits of one design (bootstrap, ``PBmodcomp``, simulation studies): every response has
its own optimum, but the criterion and its gradient are evaluated for all of them in one
array pass (:func:`lmerpy.pls.lmm.batched.batched_criterion`), so the optimizer works on the
whole batch too: each problem keeps its own point, inverse-Hessian approximation and step
length; the iteration's evaluations are one call for every problem still running.

The inverse Hessian starts from the Hessian at the original fit's optimum (close to every
refit's), so steps are nearly Newton's from the first one. A problem stops when its predicted
decrease ½ g'H⁻¹g is at the rounding level of the criterion (as
:func:`~lmerpy.optimize.polish.newton_polish`). Problems that leave the interior of the bounds,
meet a non-finite value or do not converge within ``max_iter`` are reported as not converged:
the caller refits those one by one with the ordinary optimizer.

R equivalent: none.
"""
from __future__ import annotations

from typing import Callable, Tuple

import numpy as np

from .polish import NOISE

__all__ = ["minimize_batched", "BatchResult"]

_ARMIJO = 1e-4
_MAX_HALVINGS = 30


class BatchResult:
    """The outcome of :func:`minimize_batched` for each problem.

    Attributes
    ----------
    x : ndarray (B, k)
    fun : ndarray (B,)
    extra : ndarray (B, ...)
        The third value of the objective at ``x`` (e.g. β̂).
    converged : ndarray of bool (B,)
    n_iter, n_evals : ndarray of int (B,)
    """

    def __init__(self, x, fun, extra, converged, n_iter, n_evals):
        self.x, self.fun, self.extra = x, fun, extra
        self.converged, self.n_iter, self.n_evals = converged, n_iter, n_evals


def _noise(f):
    return NOISE * np.maximum(1.0, np.abs(f))


def minimize_batched(fun: Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]],
                     x0: np.ndarray, lower: np.ndarray, hessian: np.ndarray,
                     max_iter: int = 60) -> BatchResult:
    """Minimise B problems from their starts ``x0`` (B × k) above ``lower`` (k,).

    Parameters
    ----------
    fun : callable
        ``fun(idx, X) -> (f, g, extra)`` for problems ``idx`` at the rows of ``X``: values
        (NaN where undefined), gradients and one more array kept at the accepted points.
    hessian : ndarray (k, k)
        The Hessian the inverse approximations start from (positive definite; else the
        identity is used).
    """
    x = np.array(x0, dtype=float)
    B, k = x.shape
    lower = np.asarray(lower, dtype=float).reshape(-1)
    try:
        H0 = np.linalg.inv(np.linalg.cholesky(0.5 * (hessian + hessian.T)))
        H0 = H0.T @ H0
    except np.linalg.LinAlgError:
        H0 = np.eye(k)
    Hi = np.broadcast_to(H0, (B, k, k)).copy()
    allidx = np.arange(B)
    f, g, extra = fun(allidx, x)
    extra = np.array(extra, dtype=float)
    n_evals = np.ones(B, dtype=np.int64)
    n_iter = np.zeros(B, dtype=np.int64)
    converged = np.zeros(B, dtype=bool)
    active = np.isfinite(f) & np.all(np.isfinite(g), axis=1) & np.all(x > lower, axis=1)
    for _ in range(max_iter):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        ga = g[a]
        P = -np.einsum("bij,bj->bi", Hi[a], ga)
        slope = np.einsum("bi,bi->b", ga, P)                 # g'p = −g'H⁻¹g
        done = -0.5 * slope <= _noise(f[a])
        converged[a[done]] = True
        active[a[done]] = False
        bad = ~done & ~(slope < 0)
        active[a[bad]] = False
        keep = ~done & ~bad
        a, P, slope = a[keep], P[keep], slope[keep]
        if a.size == 0:
            break
        n_iter[a] += 1
        # at most 0.9 of the way to a bound (a problem that ends on one is not converged)
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(P < 0, (lower - x[a]) / P, np.inf)
        alpha = np.minimum(1.0, 0.9 * room.min(axis=1))
        pending = np.ones(a.size, dtype=bool)
        xn = np.empty_like(x[a])
        fn = np.full(a.size, np.nan)
        gn = np.empty_like(P)
        en = np.empty((a.size,) + extra.shape[1:])
        for _h in range(_MAX_HALVINGS):
            s = np.flatnonzero(pending)
            if s.size == 0:
                break
            xs = x[a[s]] + alpha[s, None] * P[s]
            fs, gs, es = fun(a[s], xs)
            n_evals[a[s]] += 1
            ok = (np.isfinite(fs) & np.all(np.isfinite(gs), axis=1)
                  & (fs <= f[a[s]] + _ARMIJO * alpha[s] * slope[s] + _noise(f[a[s]])))
            t = s[ok]
            xn[t], fn[t], gn[t], en[t] = xs[ok], fs[ok], gs[ok], es[ok]
            pending[t] = False
            alpha[s[~ok]] *= 0.5
        failed = pending
        active[a[failed]] = False
        a, P = a[~failed], P[~failed]
        xn, fn, gn, en = xn[~failed], fn[~failed], gn[~failed], en[~failed]
        if a.size == 0:
            continue
        sv = xn - x[a]
        yv = gn - g[a]
        sy = np.einsum("bi,bi->b", sv, yv)
        x[a], f[a], g[a], extra[a] = xn, fn, gn, en
        upd = sy > 1e-12 * np.sqrt(np.einsum("bi,bi->b", sv, sv) * np.einsum("bi,bi->b", yv, yv))
        if np.any(upd):
            u = a[upd]
            s_, y_, r = sv[upd], yv[upd], 1.0 / sy[upd]
            Hy = np.einsum("bij,bj->bi", Hi[u], y_)
            yHy = np.einsum("bi,bi->b", y_, Hy)
            # H⁺ = H − r(s y'H + H y s') + (r² y'Hy + r) s s'
            Hi[u] = (Hi[u] - r[:, None, None] * (s_[:, :, None] * Hy[:, None, :]
                                                 + Hy[:, :, None] * s_[:, None, :])
                     + ((r * r * yHy + r)[:, None, None]) * s_[:, :, None] * s_[:, None, :])
        # a problem that has reached a bound stops here (not converged: the caller decides)
        edge = np.any(x[a] <= lower + 0.0, axis=1)
        active[a[edge]] = False
    return BatchResult(x, f, extra, converged, n_iter, n_evals)
