"""Negative binomial GLMMs with the shape θ estimated: ``glmer_nb()`` (R: ``lme4::glmer.nb``).

As lme4: a Poisson ``glmer`` fit gives the means for MASS's ``theta.ml`` start θ₀ (its first
stage, nAGQ = 0, is enough for a start: lme4 fits it fully); then log θ
is optimized by Brent's method on log θ₀ ± 3 (tolerance 5e-5) with −2 log-likelihood (Laplace,
saturated constants included: lme4 issue #287) as the objective, each evaluation refitting
(θ_RE, β) from the previous optimum; the model at θ̂ is then fitted with the control's
optimizer (lme4's Nelder–Mead), derivatives and checks. ``getME(fit, "glmer.nb.theta")``
gives θ̂.

Where lme4 is fragile, lmerpy is not:

* the profiled deviance is the Laplace deviance at ũ itself (``GlmmDeviance.precise``, with
  Newton steps on the observed information): lme4's carries an error of about 3e-3 here
  (log|L|² one slowly converging PIRLS step behind, depending on the previous refit), which
  makes its one-dimensional search noisy;
* the search's refits run BOBYQA in coordinates where β is whitened by R_X, from the
  previous optimum (a handful of evaluations once close);
* a start θ can be given (``theta=``, lme4 issue #423);
* ``theta.ml`` does not stop the fit when its Newton iteration diverges (data that look
  Poisson) or goes negative: the start is clamped and the search decides;
* when the optimum lands on an end of the search interval the interval is moved and the search
  repeated (lme4 returns the interval's end); when the profile has flattened out towards large
  θ (less than 0.01 of deviance over two units of log θ: the Poisson limit) θ̂ is set to 1e6, beyond which the data are Poisson for every practical
  purpose, and a warning says so (as for any θ̂ above 1e5);
* a refit that fails at some θ (PIRLS not converging at an extreme θ) makes that θ infeasible
  for the search instead of aborting the fit.
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Literal, Optional, Tuple

import numpy as np
from scipy.optimize import minimize_scalar

from ..arguments import (BACKEND, COUNT, NA_ACTION, NAGQ, VERBOSE, Number, argument_error,
                         numeric_vector)
from ..errors import FitError
from ..threads import fit_threads
from ..warnings import ConvergenceWarning, warn
from ..families import negative_binomial, poisson, theta_ml
from .glmm import fit_glmm, glFormula

if TYPE_CHECKING:
    from ..optimize.control import Control
    from ..types import (Backend, ContrastsArg, DataLike, FormulaLike, NaAction, StartArg,
                         VectorArg)
    from .glmm import GeneralizedLinearMixedModel

__all__ = ["glmer_nb"]

#: largest θ searched: beyond it the negative binomial is a Poisson to 1e-6 in variance
THETA_MAX = 1e6
#: deviance change over two units of log θ below which a profile rising towards large θ is
#: taken as the Poisson limit (0.01 is far below any likelihood-ratio test's resolution)
FLAT = 1e-2

_THETA = Number(lower=0, open_lower=True, none=True)
_TOL = Number(lower=0, open_lower=True)


@fit_threads
def glmer_nb(formula: FormulaLike, data: DataLike, weights: VectorArg = None,
             offset: VectorArg = None, contrasts: ContrastsArg = None,
             na_action: NaAction = "omit", control: Optional[Control] = None,
             start: StartArg = None, verbose: int = 0, backend: Optional[Backend] = None,
             nAGQ: int = 1, link: Literal["log", "identity", "sqrt"] = "log",
             theta: Optional[float] = None, interval: Optional[Tuple[float, float]] = None,
             tol: float = 5e-5, max_interval_moves: int = 4) -> GeneralizedLinearMixedModel:
    """Fit a negative binomial GLMM, estimating its shape θ (R: ``lme4::glmer.nb``).

    Parameters
    ----------
    formula, data, weights, offset, contrasts, na_action, control, start, verbose, backend
        As for :func:`lmerpy.glmer`.
    nAGQ : int
        As for :func:`lmerpy.glmer` (lme4's ``glmer.nb`` passes it on too).
    link : {"log", "identity", "sqrt"}
    theta : float, optional
        Start for θ (R: ``initCtrl = list(theta = ...)``); by default MASS's ``theta.ml`` on
        the fitted means of a Poisson fit.
    interval : (float, float), optional
        Search interval for log θ; default log(start) ± 3 (lme4's).
    tol : float
        Tolerance of the search on log θ (lme4's 5e-5).
    max_interval_moves : int
        How often the interval may be moved when the optimum sits on one of its ends.

    Returns
    -------
    GeneralizedLinearMixedModel
        Family ``negative_binomial(θ̂)`` (printed ``Negative Binomial(3.3034)``);
        ``getME(fit, "glmer.nb.theta")`` is θ̂; ``fit.nb_search`` holds the search's
        evaluations (``theta``, ``deviance``) and its messages.
    """
    from ..design.dataframe import as_data_frame
    from ..optimize import as_control, glmerControl
    data = as_data_frame(data)
    nAGQ = NAGQ("nAGQ", nAGQ, "glmer_nb")
    na_action = NA_ACTION("na_action", na_action, "glmer_nb")
    verbose = VERBOSE("verbose", verbose, "glmer_nb")
    backend = BACKEND("backend", backend, "glmer_nb")
    theta = _THETA("theta", theta, "glmer_nb")
    tol = _TOL("tol", tol, "glmer_nb")
    max_interval_moves = COUNT("max_interval_moves", max_interval_moves, "glmer_nb")
    if interval is not None:
        iv = numeric_vector("interval", interval, "glmer_nb")
        if iv.shape[0] != 2 or not iv[0] < iv[1]:
            raise argument_error("interval", interval, "two numbers (lower, upper) with "
                                 "lower < upper (log theta)", "glmer_nb")
        interval = (float(iv[0]), float(iv[1]))
    ctl = as_control(control, "glmer", "glmer_nb")
    ctl = ctl if ctl is not None else glmerControl()
    fam0 = negative_binomial(1.0, link=link)  # validates the link
    glmod = glFormula(formula, data, family=fam0, weights=weights, offset=offset,
                      contrasts=contrasts, na_action=na_action, control=ctl)
    call = {"fn": "glmer.nb", "formula": formula, "data": data, "weights": weights,
            "offset": offset, "contrasts": contrasts, "na_action": na_action, "control": ctl,
            "start": start, "verbose": verbose, "backend": backend, "nAGQ": nAGQ, "link": link,
            "tol": tol}
    notes = []
    quick = ctl.replace(calc_derivs=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g0 = fit_glmm(glmod, poisson(link=link), nAGQ=0, control=quick, start=start,
                      backend=backend, data=data, call=call)
    if theta is None:
        resp = g0.devfun.resp
        th0, info = theta_ml(resp.y, g0.getME("mu"), weights=resp.weights, limit=20, eps=2 * tol)
        if info["warning"]:
            notes.append(f"theta.ml: {info['warning']}")
        if not (np.isfinite(th0) and th0 > 0):
            th0 = 1.0
        th0 = min(max(th0, 1e-3), THETA_MAX)
        if verbose:
            print(f"th := est_theta(glmer(..)) = {th0:g}")
    else:
        th0 = theta
    # the search: each θ's profiled deviance by a refit of (θ_RE, β) from the previous
    # optimum (warm start), on the Laplace deviance at ũ itself (smooth in θ)
    state = {"start": _Start.from_fit(g0), "log": []}

    def objective(t):
        th = math.exp(t)
        try:
            dev, st = _profile_refit(glmod, negative_binomial(th, link=link), state["start"],
                                     g0.devfun.S, nAGQ)
        except (FitError, np.linalg.LinAlgError):
            state["log"].append((th, math.inf))
            return math.inf
        state["start"] = st
        state["log"].append((th, dev))
        if verbose:
            print(f"{len(state['log']):2d}: th={th:#15.10g}, dev={dev:#14.8f}")
        return dev

    lo, hi = ((math.log(th0) - 3.0, math.log(th0) + 3.0) if interval is None
              else (float(interval[0]), float(interval[1])))
    tmax = math.log(THETA_MAX)
    t_best = None
    for _ in range(max_interval_moves + 1):
        hi = min(hi, tmax)
        res = minimize_scalar(objective, bounds=(lo, hi), method="bounded",
                              options={"xatol": tol})
        t_best = float(res.x)
        width = hi - lo
        if t_best - lo < 10 * tol and lo > -math.log(THETA_MAX):
            lo, hi = lo - 0.8 * width, lo + 0.2 * width
            continue
        if hi - t_best < 10 * tol and hi < tmax:
            # on the upper end: a profile that has flattened out (less than FLAT of deviance
            # over two units of log θ) is the Poisson limit; otherwise search further up
            if objective(t_best - 2.0) - float(res.fun) < FLAT:
                t_best = tmax
                break
            lo, hi = hi - 0.2 * width, hi + 0.8 * width
            continue
        break
    assert t_best is not None  # max_interval_moves >= 0 (COUNT): the search ran
    theta_hat = math.exp(t_best)
    if t_best >= math.log(THETA_MAX / 10):
        msg = (f"glmer_nb: the negative binomial theta is {theta_hat:.4g} (limit "
               f"{THETA_MAX:g}): the data show no overdispersion beyond the random effects; a "
               "Poisson GLMM fits as well")
        notes.append(msg)
        warn(msg, ConvergenceWarning)
    # final fit at θ̂ from the search's last optimum: the control's optimizer (lme4's
    # Nelder-Mead), the derivatives and lme4's checks (vcov from the Hessian)
    final = _final_fit(glmod, negative_binomial(theta_hat, link=link), state["start"],
                       g0, ctl, nAGQ, data, call)
    final.nb_search = {"theta": [t for t, _ in state["log"]],
                       "deviance": [d for _, d in state["log"]],
                       "start": th0, "interval": (lo, hi), "messages": notes}
    return final


class _Start:
    """Where a refit starts: (θ, β), the linear predictor (offset excluded), β's scale and
    R_X (β's curvature at fixed θ, None when not available)."""

    def __init__(self, theta, beta, lp0, beta_sd, RX=None):
        self.theta, self.beta, self.lp0, self.beta_sd = theta, beta, lp0, beta_sd
        self.RX = RX

    @classmethod
    def from_fit(cls, fit):
        sd = np.sqrt(np.clip(np.diag(fit._sol.unsc()), 0.0, None))
        return cls(fit.par.copy(), fit._sol.beta.copy(), fit._sol.eta - fit.devfun.resp.offset,
                   np.where(np.isfinite(sd) & (sd > 0), sd, 1.0), fit._sol.RX)

    def transform(self):
        """x = x₀ + T z for the search's refits: θ_RE on a 0.1 scale, β whitened by R_X
        (see :func:`lmerpy.models.glmm_refit.whitening`)."""
        from .glmm_refit import rx_hessian, whitening
        nt = self.theta.shape[0]
        H = rx_hessian(nt, self.beta_sd, self)
        return whitening(H, nt, 0.1, self.beta_sd / np.sqrt(2.0))


def _deviance(glmod, family, start, structure, nAGQ):
    from ..pls.glmm.deviance import GlmmDeviance
    dev = GlmmDeviance(glmod, family, nAGQ=max(nAGQ, 1), structure=structure, lp0=start.lp0,
                       beta0=start.beta)
    dev.precise = True
    return dev


def _profile_refit(glmod, family, start, structure, nAGQ):
    """min over (θ_RE, β) of the deviance at a fixed negative binomial θ: BOBYQA from
    ``start`` in coordinates where θ_RE is on a 0.1 scale and β is whitened by the start's
    R_X (β's correlations removed: the unscaled covariates of count models make them
    strong)."""
    from .glmm_refit import WhitenedBobyqa
    dev = _deviance(glmod, family, start, structure, nAGQ)
    x0 = np.concatenate((start.theta, start.beta))
    nt = start.theta.shape[0]
    opt = WhitenedBobyqa(start.transform(), nt, rhobeg=0.2)
    res = opt(dev, x0, dev.lower, dev.upper)
    x = res["x"]
    sol = dev.solve(x)
    sd = np.sqrt(np.clip(np.diag(sol.unsc()), 0.0, None))
    nxt = _Start(x[:nt].copy(), x[nt:].copy(), sol.eta - dev.resp.offset,
                 np.where(np.isfinite(sd) & (sd > 0), sd, start.beta_sd), sol.RX)
    return float(res["fun"]), nxt


def _final_fit(glmod, family, start, g0, control, nAGQ, data, call):
    """The fit at θ̂: the control's stage-2 optimizer from the search's optimum, with the
    derivatives and lme4's convergence checks."""
    from ..optimize import check_conv
    from .glmm import mkGlmerMod, optimizeGlmer
    dev = _deviance(glmod, family, start, g0.devfun.S, nAGQ)
    opt = optimizeGlmer(dev, control, nAGQ=max(nAGQ, 1),
                        start=np.concatenate((start.theta, start.beta)),
                        beta_sd=start.beta_sd)
    if control.calc_derivs:
        check_conv(dev, opt, dev.lower, control)
    return mkGlmerMod(dev, opt, glmod, data=data, call=call)
