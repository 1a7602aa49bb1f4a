"""Many refits of one linear mixed model with new responses (R: a loop of ``refit(fit, y)``).

:func:`refit_responses` is what ``bootMer``, ``PBmodcomp`` and simulate-and-refit loops use.
For small models (all of A dense, see :attr:`LmmDeviance.batchable`) the responses are
refitted together: their cross-products Z'Wỹ, X'Wỹ, ỹ'Wỹ come from one matrix product, and a
batched quasi-Newton optimizer (:mod:`lmerpy.optimize.batched`) moves every response's θ at
once from the fit's θ̂, with the analytic gradient, evaluated for the whole batch in one array
pass (:mod:`lmerpy.pls.lmm.batched`). Each refit reaches its own optimum to the rounding level
of the criterion, as the default ``refit`` does (BOBYQA, then Newton polishing): the two agree
to optimizer tolerance, not bit for bit.

A response whose optimum is at or near a boundary (a θ on its bound 0 within lme4's singular
tolerance 1e-4), or that does not converge, is refitted by :meth:`LinearMixedModel.refit`, so
convergence messages and singular fits are those of the ordinary path. Larger models, GLMMs,
and a ``control`` other than the fit's own are refitted one by one, each reusing the design,
the cross-products and the symbolic factorisation (``refit``).

The refits are :class:`BatchRefit` objects: fitted models whose β̂, σ̂, θ̂ and criterion come
from the batch, the rest (the solution, the deviance function for the new response) built
the first time something asks for it.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, List, Sequence

import numpy as np
import pandas as pd

from ..arguments import new_response
from ..errors import LmerpyError
from ..threads import fit_threads
from .lmm import LinearMixedModel

if TYPE_CHECKING:
    from .base import MixedModel

__all__ = ["refit_responses", "refit_plan", "prepare_batches", "BatchRefit", "SINGULAR_TOL", "BATCH_SIZE",
           "batch_ready"]

#: θ on a bound 0 within this is lme4's singular fit (``isSingular(tol = 1e-4)``): refitted
#: by the ordinary path, which reports it
SINGULAR_TOL = 1e-4


class BatchRefit(LinearMixedModel):
    """A refit from :func:`refit_responses`: a :class:`LinearMixedModel` whose deviance
    function and full solution are built on first use."""

    def __init__(self, parent: LinearMixedModel, y: np.ndarray, optsum: Any,
                 beta: np.ndarray, sigma: float) -> None:
        self.design = parent.design
        self.optsum = optsum
        self._data = parent._data
        self.call = parent.call
        self._parent_dev = parent.devfun
        self._y = y
        self._beta = beta
        self._sigma = sigma
        self._names = _fixef_index(parent)
        self._dev: Any = None
        self._full: Any = None

    @property
    def devfun(self):
        if self._dev is None:
            self._dev = self._parent_dev.with_response(self._y)
        return self._dev

    @property
    def _sol(self):
        if self._full is None:
            from .finite import check_finite_fit
            sol = self.devfun.solve(np.asarray(self.optsum.theta, dtype=float))
            check_finite_fit(self.design, sol)
            self._full = sol
        return self._full

    @property
    def REML(self) -> bool:
        return bool(self._parent_dev.REML)

    def fixef(self) -> pd.Series:
        return pd.Series(self._beta.copy(), index=self._names)

    def sigma(self) -> float:
        return self._sigma


def _fixef_index(fit):
    idx = getattr(fit, "_fixef_index_cache", None)
    if idx is None:
        idx = pd.Index([str(c) for c in fit.design.X_colnames])
        fit._fixef_index_cache = idx
    return idx


def batch_ready(fit: MixedModel, control: Any = None) -> bool:
    """Whether :func:`refit_responses` refits ``fit``'s responses as one batch."""
    dev: Any = getattr(fit, "devfun", None)
    return (isinstance(fit, LinearMixedModel) and control is None
            and bool(getattr(dev, "batchable", False)) and dev.n_theta > 0)


def prepare_batches(fit: MixedModel) -> None:
    """Compute what every batch of ``fit``'s refits shares (the Hessian they start from, Λ's
    pattern) now, so that batches may then run in threads without touching ``fit``'s
    deviance function."""
    from ..pls.lmm.batched import prepare
    if batch_ready(fit):
        _start_hessian(fit)
        prepare(fit.devfun)


def _start_hessian(fit):
    H = getattr(fit, "_refit_hessian", None)
    if H is None:
        H = fit._refit_hessian = _hessian_at_optimum(fit)
    return H


def _hessian_at_optimum(fit):
    d = getattr(fit.optsum, "derivs", None) or {}
    H = d.get("Hessian")
    if H is not None and getattr(fit.optsum, "coord_scale", None) is None:
        H = np.asarray(H, dtype=float)
        if H.shape == (fit.devfun.n_theta,) * 2 and np.all(np.isfinite(H)):
            return H
    from ..optimize.derivs import derivs_analytic
    dev = fit.devfun
    return np.asarray(derivs_analytic(dev, np.asarray(fit.par, dtype=float), dev.lower,
                                      dev.upper)["Hessian"], dtype=float)


#: responses refitted as one batch (fixed, so that a result never depends on how the
#: responses are shared among workers: each batch is the same computation wherever it runs)
BATCH_SIZE = 250


def refit_plan(fit: MixedModel, ys: Sequence[np.ndarray],
               control: Any = None) -> List[Callable[[], MixedModel]]:
    """One function per response returning its refit: the batched optimisation is done here
    (batches of :data:`BATCH_SIZE` in order), what remains per response — building the model
    object, or the ordinary ``refit`` where the batch did not converge — is done by the call,
    so that its warnings and errors belong to that response (``bootMer`` records them per
    refit)."""
    ys = list(ys)
    if not ys or not batch_ready(fit, control):
        return [functools.partial(_plain_refit, fit, y, control) for y in ys]
    out: List[Callable[[], MixedModel]] = [
        functools.partial(_plain_refit, fit, y, None) for y in ys]
    good = [(i, y) for i, y in enumerate(_checked_all(fit, ys))
            if y is not None]     # a response refit() rejects is rejected by its own call
    for s in range(0, len(good), BATCH_SIZE):
        part = good[s:s + BATCH_SIZE]
        try:
            made = _refit_batched(fit, [y for _, y in part])
        except LmerpyError:     # the ordinary path reports it, response by response
            continue
        for (i, _), make in zip(part, made):
            out[i] = make
    return out


def _checked_all(fit, ys):
    """:func:`_checked` of every response; float arrays of the right length (what simulate
    gives) checked together: finite, and on a scale refit() accepts."""
    from ..design.scales import EXTREME_EXPONENT
    n = fit.design.n
    if ys and all(isinstance(y, np.ndarray) and y.dtype == np.float64 and y.shape == (n,)
                  for y in ys):
        Y = np.column_stack(ys)
        off = np.asarray(fit.design.offset, dtype=float).reshape(-1) \
            if fit.design.offset is not None else np.zeros(n)
        with np.errstate(invalid="ignore"):
            m = np.abs(Y - off[:, None]).max(axis=0)
        hi, lo = 2.0 ** EXTREME_EXPONENT, 2.0 ** -EXTREME_EXPONENT
        fine = np.isfinite(m) & (m <= hi) & ((m == 0) | (m >= lo))
        return [Y[:, b].copy() if fine[b] else _checked(fit, ys[b]) for b in range(len(ys))]
    return [_checked(fit, y) for y in ys]


def _checked(fit, y):
    """``y`` as refit() takes it, or None where refit() would raise."""
    from ..design.scales import check_response_scale
    try:
        v = new_response(y, fit.design.n, caller="refit")
        check_response_scale(v, "newresp", fit.design.offset)
    except LmerpyError:
        return None
    return v


@fit_threads
def refit_responses(fit: MixedModel, ys: Sequence[np.ndarray],
                    control: Any = None) -> List[MixedModel]:
    """``[fit.refit(y) for y in ys]``, batched where the model allows (module docstring).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    ys : sequence of ndarray
        Responses, one value per observation of the model frame.
    control : optional
        Passed to ``refit``; any control other than None refits one by one.
    """
    return [make() for make in refit_plan(fit, ys, control)]


def _plain_refit(fit, y, control):
    return fit.refit(y, control=control) if control is not None else fit.refit(y)


def _refit_batched(fit, ys):
    from ..optimize.batched import minimize_batched
    from ..optimize.optsum import OptSummary
    from ..pls.lmm.batched import ResponseBatch, batched_criterion
    dev = fit.devfun
    Y = np.column_stack([np.asarray(y, dtype=float).reshape(-1) for y in ys])
    batch = ResponseBatch(dev, Y)
    theta0 = np.asarray(fit.par, dtype=float)

    def fun(idx, X):
        return batched_criterion(dev, batch, idx, X)

    # no bounds: the criterion is even in each column of a term's template, so an optimum
    # with a negative diagonal θ is the bounded problem's optimum with that column negated
    free = np.full(dev.n_theta, -np.inf)
    res = minimize_batched(fun, np.tile(theta0, (len(ys), 1)), free, _start_hessian(fit))
    res.x = _rectify(dev, res.x)
    bounded = np.isfinite(dev.lower)
    near = np.any(res.x[:, bounded] - dev.lower[bounded] < SINGULAR_TOL, axis=1)
    ok = res.converged & ~near
    df = dev.n - dev.p if dev.REML else dev.n
    settings = {"method": "batched BFGS", "start": "the fit's theta",
                "hessian": "the fit's, at its optimum"}
    plan: List[Callable[[], MixedModel]] = []
    for b, y in enumerate(ys):
        if not ok[b]:
            # the ordinary optimizer, from the batch's end point when it converged there
            start = None
            if res.converged[b]:
                start = res.x[b].copy()
                start[bounded] = np.maximum(start[bounded], dev.lower[bounded])
            plan.append(functools.partial(_refit_one, fit, y, start))
            continue
        x = res.x[b].copy()
        opt = OptSummary(optimizer="batched_bfgs", settings=dict(settings),
                         theta_start=theta0, theta=x, fmin=float(res.fun[b]),
                         feval=int(res.n_evals[b]), return_code=0, message="converged",
                         lower=dev.lower, upper=dev.upper,
                         optimizer_evals=int(res.n_evals[b]),
                         gradient_evals=int(res.n_evals[b]))
        beta, r2 = res.extra[b, :-1].copy(), float(res.extra[b, -1])
        plan.append(functools.partial(BatchRefit, fit, Y[:, b], opt, beta,
                                      float(np.sqrt(r2 / df))))
    return plan


def _rectify(dev, X):
    """:meth:`LmmDeviance.rectify` of every row of X at once."""
    X = np.array(X, dtype=float)
    groups = dev.layout.theta_groups() if dev.layout is not None else dev.par_groups()
    for c in groups:            # diagonal entry first
        c = np.asarray(c)
        neg = X[:, c[0]] < 0
        if neg.any():
            X[np.ix_(neg, c)] *= -1.0
    return X


def _refit_one(fit, y, start=None):
    """``fit.refit(y)``, started at ``start`` (the fit's θ̂ when None)."""
    if start is None:
        return fit.refit(y)
    from .lmm import mkMerMod, optimizeLmer
    devfun = fit.devfun.with_response(np.asarray(y, dtype=float))
    opt = optimizeLmer(devfun, start=start, control=fit.call.get("control"))
    return mkMerMod(devfun, opt, fit.design, data=fit._data, call=fit.call)
