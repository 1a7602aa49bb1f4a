"""Generalized linear mixed models: ``glmer()``, its modular steps, and the fitted-model class.

R equivalents: ``lme4::glmer`` and its steps ``glFormula`` → ``mkGlmerDevfun`` →
``optimizeGlmer`` (stage 1: θ with β inside PIRLS, the nAGQ = 0 fit) → ``updateGlmerDevfun``
→ ``optimizeGlmer`` (stage 2: (θ, β) on the Laplace or adaptive Gauss–Hermite deviance) →
``mkMerMod``, and the ``glmerMod`` methods. ``glmer_nb`` is in :mod:`lmerpy.models.glmer_nb`.

As lme4, every evaluation of the deviance restarts PIRLS from one linear predictor and takes
log|L|² from the working weights one PIRLS step before ũ: that deviance is what lme4 optimizes
and differentiates, so its estimates, log-likelihoods and (Hessian-based) standard errors are
reproduced to about 1e-5 (see :mod:`lmerpy.pls.glmm.deviance`).

Where lmerpy differs from lme4 (on purpose):

* the log-likelihood of nAGQ > 1 fits is on the Laplace scale (it includes the saturated
  constant; lme4 issue #161), so ``logLik``/``AIC``/``BIC`` and the summary's criteria line
  differ from lme4's printout by that constant — every other number is lme4's;
* nAGQ > 1 is refused for families with a dispersion parameter (Gamma, inverse Gaussian),
  whose quadrature "deviance" has no log-likelihood scale.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional, Union

import numpy as np
import pandas as pd

from ..arguments import (BACKEND, LOGICAL, LOGICAL_OR_NONE, NA_ACTION, NAGQ, PREDICT_TYPE,
                         VERBOSE, Choice, argument_error, new_response, numeric_vector, show,
                         unknown_keywords)
from ..design.scales import check_response_scale, scale_summary
from ..errors import ArgumentError, FitError, LmerpyError
from ..threads import fit_threads
from ..warnings import ConvergenceWarning, LmerpyDeprecationWarning, warn
from ..families import Family, as_family, binomial
from .base import LogLik, MixedModel
from .naresid import naresid
from .start import start_parts

if TYPE_CHECKING:
    from ..design.structures import Design
    from ..optimize.control import Control
    from ..optimize.optsum import OptSummary
    from ..pls.glmm.deviance import GlmmDeviance
    from ..types import (ArrayLike, Backend, ContrastsArg, DataLike, FormulaLike, NaAction,
                         ReForm, StartArg, VectorArg)

    #: what ``family=`` accepts: a Family, a Family class (``binomial``) or R's name
    FamilyArg = Union[Family, type, str]

__all__ = [
    "GeneralizedLinearMixedModel",
    "glFormula",
    "glmer",
    "mkGlmerDevfun",
    "mkGlmerMod",
    "optimizeGlmer",
    "updateGlmerDevfun",
]

_RESIDUAL_TYPE = Choice(("deviance", "pearson", "working", "response"))
_WEIGHTS_TYPE = Choice(("prior", "working"))
_VCOV_FALLBACK = ("variance-covariance matrix computed from finite-difference Hessian is\n"
                  "not positive definite or contains NA values: falling back to var-cov "
                  "estimated from RX")


class GeneralizedLinearMixedModel(MixedModel):
    """A fitted generalized linear mixed model (R: class ``glmerMod``).

    Attributes
    ----------
    family : lmerpy.families.Family
    nAGQ : int
        0 (PIRLS only), 1 (Laplace) or the number of adaptive Gauss–Hermite nodes.
    optsum : OptSummary
        The last stage's optimization (R: ``fit@optinfo``).
    optsum_stage1 : OptSummary or None
        The first stage's (nAGQ = 0) optimization when a second stage followed.
    """

    r_class = "glmerMod"
    r_kind = "glmer"
    REML = False

    def __init__(self, design: Design, devfun: Any, optsum: OptSummary, solution: Any,
                 family: Family, nAGQ: int, data: DataLike = None,
                 call: Optional[Mapping[str, Any]] = None,
                 optsum_stage1: Optional[OptSummary] = None) -> None:
        super().__init__(design, devfun, optsum, solution, data=data, call=call)
        self.family = family
        self.nAGQ = int(nAGQ)
        self._use_sc = bool(family.has_scale)
        self.optsum_stage1 = optsum_stage1
        self._vcov_cache = None

    # ------------------------------------------------------------------ parameters
    @property
    def theta(self) -> np.ndarray:
        return np.asarray(self._sol.theta, dtype=float)

    def sigma(self) -> float:
        """R: ``sigma(fit)``: 1 for binomial/Poisson/negative binomial; for Gamma and inverse
        Gaussian the estimated scale sqrt(pwrss / n) (lme4's ``sigmaML``)."""
        return float(self._sol.sigma)

    def npar(self) -> int:
        """β, ``par``, the scale (if any) and the negative binomial θ (lme4's
        ``npar.merMod``)."""
        n = self.design.p + self.design.n_par + int(self._use_sc)
        return n + int("Negative Binomial" in self.family.family)

    def logLik(self) -> LogLik:
        """R: ``logLik(fit)``: −deviance/2 at the optimum, on the Laplace scale for every
        nAGQ (lme4 omits the saturated constant for nAGQ > 1)."""
        return LogLik(-0.5 * self._sol.criterion, self.npar(), self.nobs(), REML=False)

    def deviance(self) -> float:
        """R: ``deviance(fit)``: the sum of squared deviance residuals at the conditional
        modes (not −2 logLik, as lme4)."""
        dr = self._sol.devres
        return float(self._sol.drsum if dr is None else np.sum(dr))

    def _summary_deviance(self):
        return -2.0 * float(self.logLik())

    # ------------------------------------------------------------------ vcov
    def _vcov_beta(self):
        if self._vcov_cache is None:
            self._vcov_cache = vcov_glmm(self.optsum, self._sol, self.design.n_par)
        return self._vcov_cache

    def vcov(self, use_hessian: Optional[bool] = None) -> pd.DataFrame:
        """R: ``vcov(fit, use.hessian = NULL)``: from the post-fit Hessian of the deviance
        over (θ, β) when the fit has one (nAGQ >= 1; by differences of the Laplace deviance's
        analytic gradient or lme4's of its deviance, ``glmerControl(hessian=...)``),
        2·[H⁻¹]_ββ, else (and with
        lme4's warning when that matrix is not positive definite) σ²(R_X'R_X)⁻¹."""
        use_hessian = LOGICAL_OR_NONE("use_hessian", use_hessian, "vcov")
        names = list(self.design.X_colnames)
        if use_hessian is False:
            V = self._sol.sigma ** 2 * self._sol.unsc()
        else:
            if use_hessian and (self.optsum.derivs is None
                                or np.shape(self.optsum.derivs["Hessian"])[0]
                                <= self.design.n_par):
                raise LmerpyError("'use.hessian'=TRUE specified, but Hessian is unavailable")
            V = self._vcov_beta()
        return pd.DataFrame(np.asarray(V, dtype=float), index=names, columns=names)

    # ------------------------------------------------------------------ per observation
    def fitted(self) -> pd.Series:
        """R: ``fitted(fit)``: the conditional means μ on the response scale (proportions for
        binomial); padded with NaN to the data's rows for ``na_action="exclude"``."""
        return super().fitted()

    def _fitted_values(self) -> np.ndarray:
        return np.asarray(self._sol.mu, dtype=float)

    def residuals(self, type: Literal["deviance", "pearson", "working", "response"] = "deviance",
                  scaled: bool = False) -> pd.Series:
        """R: ``residuals(fit, type = "deviance" | "pearson" | "working" | "response",
        scaled = FALSE)``; deviance residuals by default; padded with NaN to the data's rows
        for ``na_action="exclude"`` (R's ``naresid``)."""
        type = _RESIDUAL_TYPE("type", type, "residuals")
        scaled = LOGICAL("scaled", scaled, "residuals")
        if getattr(self, "dask_log", None) is not None:      # data on a cluster: lazy
            from ..dask import lazy_residuals
            return lazy_residuals(self, type, scaled)
        return naresid(self.design, self._residual_values(type, scaled))

    def _residual_values(self, type="deviance", scaled=False) -> np.ndarray:
        """The residuals of the model frame's rows (never padded; ``type`` already checked)."""
        resp = self.devfun.resp
        y, mu = resp.y, self._sol.mu
        if type == "deviance":
            d = np.sqrt(np.clip(self._sol.devres, 0.0, None))
            r = np.where(y > mu, d, -d)
        elif type == "pearson":
            r = resp.pearson(mu)
        elif type == "working":
            r = (y - mu) / self.family.mu_eta(self._sol.eta)
        else:
            r = y - mu
        if scaled:
            r = r / self.sigma()
        return np.asarray(r, dtype=float)


    def predict(self, newdata: DataLike = None, re_form: ReForm = None,
                allow_new_levels: bool = False, type: Literal["link", "response"] = "link",
                **kwargs: Any) -> pd.Series:
        """R: ``predict(fit, newdata, re.form, type = "link" | "response")``. For the fitted
        data with all random effects: the linear predictor η (offset included) or μ."""
        type = PREDICT_TYPE("type", type, "predict")
        allow_new_levels = LOGICAL("allow_new_levels", allow_new_levels, "predict")
        if newdata is None and re_form is None and not kwargs \
                and getattr(self, "dask_log", None) is None:
            v = self._sol.eta if type == "link" else self._sol.mu
            return naresid(self.design, np.asarray(v, dtype=float))
        return super().predict(newdata=newdata, re_form=re_form,
                               allow_new_levels=allow_new_levels, type=type, **kwargs)

    def weights(self, type: Literal["prior", "working"] = "prior") -> pd.Series:
        """R: ``weights(fit, type = "prior" | "working")``."""
        type = _WEIGHTS_TYPE("type", type, "weights")
        if type == "prior":
            return pd.Series(self.devfun.resp.weights.copy(), index=self.design.fr.index)
        resp = self.devfun.resp
        _, w, _ = resp.working(self._sol.eta, self._sol.eta)
        return pd.Series(w, index=self.design.fr.index)

    # ------------------------------------------------------------------ getME
    def _getme_extra(self):
        return _LazyME(self)

    # ------------------------------------------------------------------ refitting
    @fit_threads
    def refit(self, newresp: Optional[ArrayLike] = None, control: Optional[Control] = None,
              calc_derivs: Optional[bool] = None) -> GeneralizedLinearMixedModel:
        """R: ``refit(fit, newresp)``: the same model for a new response (e.g. simulated),
        reusing the design, the PIRLS structure and the factorisation, warm-started from the
        fit's estimates (see :mod:`lmerpy.models.glmm_refit`). The result is the optimum a
        fresh :func:`glmer` fit on that response reaches (log-likelihoods agree to ~1e-8;
        with a non-canonical link, whose deviance is not smooth, the fresh fit's steps are
        replayed and the result is that fit's). Unlike lme4's refit, which starts PIRLS from
        the old estimates and so optimizes a slightly different deviance (cbpp: 2e-4 of
        log-likelihood away from a fresh fit).

        Parameters
        ----------
        newresp : array_like, optional
            The new response (as the fit's: a numeric vector, (n, 2) ``cbind`` counts or,
            for binomial fits, a factor); a list, numpy array, pandas Series or DataFrame.
            None refits the fit's own response. Anything not numeric is a
            :class:`~lmerpy.errors.DataError` (lme4's "response must be numeric").
        control : Control, optional
            ``glmerControl(...)`` for both stages; by default the fit's control with a
            BOBYQA second stage in coordinates whitened by the fit's Hessian.
        calc_derivs : bool, optional
            Override the control's ``calc_derivs``: False skips the finite-difference
            Hessian at the optimum (and with it lme4's gradient checks and the Hessian-based
            ``vcov``) — all a parametric bootstrap of the log-likelihood needs.
        """
        if getattr(self, "dask_log", None) is not None:      # data on a cluster
            from ..dask import refit_on_cluster
            return refit_on_cluster(self, newresp)
        from .glmm_refit import refit_glmm
        calc_derivs = LOGICAL_OR_NONE("calc_derivs", calc_derivs, "refit")
        control = _control(control, "glmer", "refit")
        design = self.design
        if newresp is not None:
            design = _with_response(design, newresp, self.family)
        return refit_glmm(self, design, self.family, control=control, calc_derivs=calc_derivs,
                          same_response=newresp is None)

    def update(self, formula: Optional[FormulaLike] = None, **kwargs: Any
               ) -> GeneralizedLinearMixedModel:
        """R: ``update(fit, ...)``: refit with some arguments changed (``formula`` whole)."""
        import inspect
        from .glmer_nb import glmer_nb
        args = dict(self.call)
        fit_fn = glmer_nb if args.pop("fn", "glmer") == "glmer.nb" else glmer
        unknown_keywords("update", kwargs, inspect.signature(fit_fn).parameters)
        args.update(kwargs)
        if formula is not None:
            args["formula"] = formula
        if fit_fn is glmer_nb:
            args.pop("family", None)
        return fit_fn(**args)


class _LazyME:
    """getME names a GLMM answers differently from an LMM (computed on request)."""

    def __init__(self, fit):
        self.fit = fit
        s = fit._sol

        def resp():      # n-long: read only when asked (a fit on a Dask DataFrame has none)
            return fit.devfun.resp

        self._get = {
            "y": lambda: resp().y.copy(),
            "mu": lambda: s.mu.copy(),
            "u": lambda: s.u.copy(),
            "b": lambda: s.b.copy(),
            "L": lambda: s.L,
            "RX": lambda: s.RX,
            "RZX": lambda: s.RZX,
            "weights": lambda: resp().weights.copy(),
            "offset": lambda: resp().offset.copy(),
            "devcomp": lambda: _devcomp(fit),
            "Lambdat": lambda: s.Lambdat,
            "Lambda": lambda: s.Lambdat.T.tocsc(),
            "glmer.nb.theta": lambda: _nb_theta(fit),
        }

    def __contains__(self, name):
        return name in self._get

    def __getitem__(self, name):
        return self._get[name]()


def _nb_theta(fit):
    th = getattr(fit.family, "theta", None)
    if th is None:
        raise LmerpyError("getME(fit, 'glmer.nb.theta'): not a negative binomial fit")
    return float(th)


def _devcomp(fit):
    s, d = fit._sol, fit.design
    n, p, q = d.n, d.p, d.q
    ldRX2 = (float(2.0 * np.log(np.abs(np.diag(s.RX))).sum()) if s.RX is not None else np.nan)
    cmp = {"ldL2": s.ldL2, "ldRX2": ldRX2, "wrss": s.wrss, "ussq": s.ussq, "pwrss": s.pwrss,
           "drsum": s.drsum, "REML": np.nan, "dev": s.criterion,
           "sigmaML": s.sigma if fit._use_sc else np.nan, "sigmaREML": np.nan,
           "tolPwrss": fit.devfun.tolPwrss}
    dims = {"N": n, "n": n, "p": p, "nmp": n - p, "nth": len(fit.theta), "q": q,
            "nAGQ": fit.nAGQ, "compDev": 1, "useSc": int(fit._use_sc),
            "reTrms": len(d.reterms), "REML": 0, "GLMM": 1, "NLMM": 0}
    return {"cmp": cmp, "dims": dims}


def vcov_glmm(optsum, sol, n_theta):
    """lme4's ``vcov.merMod`` for a GLMM: 2·sym(H⁻¹)_ββ from the Hessian H of the deviance over
    (θ, β) — (``par``, β): ``n_theta`` is the length of ``par`` — when available;
    σ²(R_X'R_X)⁻¹ otherwise or (with lme4's warning) when that matrix is not positive definite
    or has missing values."""
    V = sol.sigma ** 2 * sol.unsc()
    derivs = getattr(optsum, "derivs", None)
    H = None if derivs is None else np.atleast_2d(np.asarray(derivs.get("Hessian"), dtype=float))
    if H is None or H.shape[0] <= n_theta:
        return V
    # a fit in rescaled coordinates (columns on extreme scales, lmerpy.optimize.coords) is
    # inverted and checked there, then transformed back: the same matrix, well conditioned
    s = getattr(optsum, "coord_scale", None)
    s = None if s is None or np.shape(s) != (H.shape[0],) else np.asarray(s, dtype=float)
    if s is not None:
        H = H * np.outer(s, s)
    try:
        Hi = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        Hi = np.full(H.shape, np.nan)
    Vh = Hi[n_theta:, n_theta:]
    Vh = Vh + Vh.T
    bad = not np.all(np.isfinite(Vh))
    if not bad:
        bad = bool(np.min(np.linalg.eigvalsh(Vh)) <= 0)
    if bad:
        warn(_VCOV_FALLBACK, ConvergenceWarning)
        return V
    if s is not None:
        Vh = Vh * np.outer(s[n_theta:], s[n_theta:])
    return Vh


def _with_response(design, newresp, family=None):
    """A copy of the design with a new response (vector, (n, 2) counts or, for binomial
    fits, a factor); ``family`` defaults to the design's."""
    import dataclasses
    fam = family if family is not None else design.info.get("family")
    binom = getattr(fam, "family", "binomial") == "binomial"
    y = new_response(newresp, design.n, caller="refit", columns=(1, 2) if binom else (1,),
                     factor=binom)
    check_response_scale(y, "newresp", design.offset, response_minus_offset=False)
    return dataclasses.replace(design, y=y)


# ---------------------------------------------------------------------- modular steps


def glFormula(formula: FormulaLike, data: DataLike, family: FamilyArg = binomial,
              weights: VectorArg = None, offset: VectorArg = None,
              contrasts: ContrastsArg = None, na_action: NaAction = "omit",
              control: Optional[Control] = None) -> Design:
    """R: ``glFormula(formula, data, family, ...)``: the model frame, X, the random-effects
    structures and lme4's glmer checks (a factor or ``cbind(successes, failures)`` response,
    a constant response is an error, the level checks with ``<=``).

    Returns
    -------
    Design
        With ``info["family"]`` set to the family.
    """
    from ..design import build_design
    from ..optimize import glmerControl
    fam = as_family(family)
    na_action = NA_ACTION("na_action", na_action, "glFormula")
    control = _control(control, "glmer", "glFormula")
    if fam.family.startswith("quasi"):
        raise ArgumentError(f'"quasi" families cannot be used in glmer (family '
                            f'{fam.family!r})')
    ctl = control if control is not None else glmerControl()
    design = build_design(formula, data, REML=False, weights=weights, offset=offset,
                          contrasts=contrasts, na_action=na_action, glmer=True,
                          control=ctl.design_checks())
    design.info["family"] = fam
    return design


@fit_threads
def mkGlmerDevfun(glmod: Design, family: Optional[FamilyArg] = None, nAGQ: int = 0,
                  control: Optional[Control] = None, backend: Optional[Backend] = None, *,
                  structure: Any = None) -> GlmmDeviance:
    """R: ``mkGlmerDevfun(fr, X, reTrms, family, nAGQ = 0)``: the deviance function after the
    initial PIRLS at the start θ (θ → deviance with β in PIRLS for nAGQ = 0; (θ, β) →
    deviance for nAGQ >= 1).

    Returns
    -------
    lmerpy.pls.glmm.deviance.GlmmDeviance
        Called outside a fit, each call runs with lmerpy's BLAS threads, as a fit does
        (:mod:`lmerpy.threads`; about 4 µs a call), and leaves the pools as it found them.
    """
    from ..optimize import glmerControl
    from ..pls.glmm.deviance import GlmmDeviance
    nAGQ = NAGQ("nAGQ", nAGQ, "mkGlmerDevfun")
    backend = BACKEND("backend", backend, "mkGlmerDevfun")
    control = _control(control, "glmer", "mkGlmerDevfun")
    fam = as_family(family if family is not None else glmod.info.get("family", binomial()))
    ctl = control if control is not None else glmerControl()
    return GlmmDeviance(glmod, fam, nAGQ=nAGQ, tolPwrss=ctl.tolPwrss, backend=backend,
                        init_beta=bool(ctl.nAGQ0initStep), structure=structure)


@fit_threads
def updateGlmerDevfun(devfun: GlmmDeviance, nAGQ: int = 1) -> GlmmDeviance:
    """R: ``updateGlmerDevfun(devfun, reTrms, nAGQ)``: the (θ, β) deviance for nAGQ >= 1,
    its PIRLS started from the first stage's linear predictor."""
    nAGQ = NAGQ("nAGQ", nAGQ, "updateGlmerDevfun")
    if nAGQ < 1:
        raise argument_error("nAGQ", nAGQ, "an integer from 1 to 100", "updateGlmerDevfun")
    return devfun.stage2(nAGQ)


@fit_threads
def optimizeGlmer(devfun: GlmmDeviance, control: Optional[Control] = None,
                  nAGQ: Optional[int] = None, start: Optional[ArrayLike] = None, verbose: int = 0,
                  beta_sd: Optional[ArrayLike] = None) -> OptSummary:
    """R: ``optimizeGlmer(devfun, stage = 1 | 2, ...)``: minimise the deviance.

    The stage follows the deviance: θ only (stage 1, the control's first optimizer, boundary
    snapping only when it is the final stage, i.e. ``nAGQ == 0``) or (θ, β) (stage 2, the
    second optimizer with lme4's adjusted initial steps, then boundary snapping and, with
    ``calc_derivs``, the finite-difference gradient and Hessian at the optimum).

    Parameters
    ----------
    devfun : GlmmDeviance
    control : Control, optional
        ``glmerControl()`` by default.
    nAGQ : int, optional
        The fit's nAGQ (decides whether stage 1 is final); defaults to ``devfun.nAGQ``.
    start : array_like, optional
        The stage's start (``par``, or (``par``, β); θ for unstructured terms); default
        ``devfun.start()``.
    beta_sd : array_like, optional
        Standard errors of β for Nelder–Mead's initial steps (stage 2).

    Returns
    -------
    OptSummary
    """
    from ..optimize import OptimizerError, glmerControl, optimize_glmer
    ctl = _control(control, "glmer", "optimizeGlmer")
    ctl = ctl if ctl is not None else glmerControl()
    verbose = VERBOSE("verbose", verbose, "optimizeGlmer")
    x0 = devfun.start() if start is None else numeric_vector("start", start, "optimizeGlmer")
    if x0.shape[0] != len(devfun.lower):
        raise ArgumentError(f"optimizeGlmer: start has {x0.shape[0]} values; the deviance "
                            f"takes {len(devfun.lower)}: {show(start)}")
    target = devfun.nAGQ if nAGQ is None else NAGQ("nAGQ", nAGQ, "optimizeGlmer")
    upper = getattr(devfun, "upper", None)
    n_cov = getattr(devfun, "n_par", devfun.n_theta)
    try:
        if devfun.nAGQ == 0:
            return optimize_glmer(devfun, x0, devfun.lower, ctl, verbose, stage=1, nAGQ=target,
                                  upper=upper)
        return optimize_glmer(devfun, x0, devfun.lower, ctl, verbose, stage=2, nAGQ=target,
                              n_theta=n_cov, beta_sd=beta_sd, upper=upper)
    except OptimizerError as e:
        k = getattr(e, "parameter", None)
        if k is None:
            raise
        # a parameter too large for the optimizer's steps (|β| ~ 1e16: an offset or a
        # column on an extreme scale): say which, and the data's scales
        design = devfun.design
        names = list(getattr(design, "par_names", design.theta_names)) + \
            list(design.X_colnames)
        what = (f"θ '{names[k]}'" if k < n_cov else f"the fixed effect '{names[k]}'") \
            if k < len(names) else f"parameter {k + 1}"
        raise FitError(f"{e}: {what} = {x0[k]:.6g} is beyond the optimizer's resolution; "
                       f"the data are probably on an extreme scale. "
                       f"{scale_summary(design)}") from None


@fit_threads
def mkGlmerMod(devfun: GlmmDeviance, opt: OptSummary, glmod: Optional[Design] = None,
               data: DataLike = None, call: Optional[Mapping[str, Any]] = None,
               optsum_stage1: Optional[OptSummary] = None) -> GeneralizedLinearMixedModel:
    """R: ``mkMerMod(environment(devfun), opt, reTrms, fr)`` for a GLMM."""
    from .finite import check_finite_fit
    sol = devfun.solve(np.asarray(opt.theta, dtype=float))
    design = devfun.design if glmod is None else glmod
    check_finite_fit(design, sol, glmm=True, has_scale=sol.has_scale)
    return GeneralizedLinearMixedModel(design, devfun, opt, sol, devfun.family, devfun.nAGQ,
                                       data=data, call=call, optsum_stage1=optsum_stage1)


def _start_parts(start, design):
    """(``par`` start or None, β start or None) from ``start`` (array = ``par``, or dict
    par/theta/fixef)."""
    return start_parts(start, design)


def fit_glmm(glmod, fam, nAGQ=1, control=None, start=None, verbose=0, backend=None,
             data=None, call=None, precise=False, structure=None, devfun=None):
    """glmer's fitting steps on a design (shared by :func:`glmer`, ``glmer_nb`` and refits);
    ``precise`` evaluates the Laplace deviance at ũ itself (see ``GlmmDeviance.precise``);
    ``structure`` reuses another fit's PIRLS structure (same design but the response);
    ``devfun`` is the first stage's deviance when already made (a fit on reduced products,
    :mod:`lmerpy.pls.glmm.reduced`)."""
    from ..optimize import check_conv, glmerControl
    from ..pls.glmm.agq import check_agq
    ctl = control if control is not None else glmerControl()
    check_agq(glmod, nAGQ)
    th_start, fe_start = _start_parts(start, glmod)
    if fe_start is not None and nAGQ == 0:
        raise ArgumentError("should not specify both start$fixef and nAGQ==0")
    if devfun is None:
        devfun = mkGlmerDevfun(glmod, fam, nAGQ=0 if ctl.nAGQ0initStep else 1, control=ctl,
                               backend=backend, structure=structure)
    devfun.precise = bool(precise)
    opt1 = None
    if ctl.nAGQ0initStep:
        opt1 = optimizeGlmer(devfun, ctl, nAGQ=nAGQ, start=th_start, verbose=verbose)
        if nAGQ == 0:
            check_conv(devfun, opt1, devfun.lower, ctl)
            return mkGlmerMod(devfun, opt1, glmod, data=data, call=call)
        sol1 = devfun.solve(opt1.theta, precise=False)
        th2 = opt1.theta
        beta_sd = np.sqrt(np.diag(sol1.unsc()))
        dev2 = updateGlmerDevfun(devfun, nAGQ)
        dev2.precise = bool(precise)
    else:
        dev2 = devfun.stage2(nAGQ) if nAGQ > 1 else devfun
        dev2.precise = bool(precise)
        th2 = devfun.par0 if th_start is None else th_start
        beta_sd = None
    beta2 = dev2.beta0 if fe_start is None else fe_start
    opt = optimizeGlmer(dev2, ctl, nAGQ=nAGQ, start=np.concatenate((th2, beta2)),
                        verbose=verbose, beta_sd=beta_sd)
    if ctl.calc_derivs:
        check_conv(dev2, opt, dev2.lower, ctl)
    return mkGlmerMod(dev2, opt, glmod, data=data, call=call, optsum_stage1=opt1)


@fit_threads
def glmer(formula: FormulaLike, data: DataLike, family: FamilyArg = binomial, nAGQ: int = 1,
          weights: VectorArg = None, offset: VectorArg = None, contrasts: ContrastsArg = None,
          na_action: NaAction = "omit", control: Optional[Control] = None,
          start: StartArg = None, verbose: int = 0, backend: Optional[Backend] = None,
          progress: Optional[bool] = None) -> GeneralizedLinearMixedModel:
    """Fit a generalized linear mixed-effects model (R: ``lme4::glmer``).

    Parameters
    ----------
    formula : str
        An lme4 formula, e.g. ``"cbind(incidence, size - incidence) ~ period + (1 | herd)"``.
    data : DataFrame-like
        A pandas, polars or pyarrow table, anything with ``__arrow_c_stream__`` or
        ``__dataframe__``, or a dict of equal-length columns. Never modified. A
        ``dask.dataframe.DataFrame``, or parquet files named by a path or glob ending in
        ``.parquet`` (or a list of them), is fitted where it lives (see :mod:`lmerpy.dask`).
    family : Family, Family class or str
        ``binomial()`` (default), ``poisson()``, ``Gamma(link="log")``, ``inverse_gaussian()``,
        ``gaussian(link="log")``, ``negative_binomial(theta)``, or a name (``"poisson"``).
        Binomial responses: 0/1 numbers, booleans, a two-level factor (first level =
        failure), ``cbind(successes, failures)``, or proportions with ``weights``.
        ``gaussian()`` with the identity link fits ``lmer()`` instead, with lme4's warning.
    nAGQ : int
        0: θ only, β estimated in PIRLS (fast, approximate); 1: Laplace (default); > 1:
        adaptive Gauss–Hermite quadrature with nAGQ nodes (one scalar random-effects term).
    weights, offset : optional
        Prior weights and an offset, one per row (or a column name / R expression).
    contrasts : dict, optional
    na_action : {"omit", "exclude", "fail"}
        As for :func:`lmerpy.lmer` (``"exclude"`` pads the per-observation results with NaN
        to the rows of ``data``).
    control : Control, optional
        ``glmerControl(...)``.
    start : array-like or dict, optional
        The covariance parameters' start (``par``; θ for unstructured terms), or
        ``{"par": ..., "fixef": ...}`` / ``{"theta": ..., "fixef": ...}`` (θ is mapped to
        ``par``).
    verbose : int
    backend : {"cholmod", "scipy"}, optional

    progress : bool, optional
        Dask DataFrames only: a progress bar of the passes over the data (None: shown when
        the fit runs longer than a few seconds; False: never). Ignored in memory.

    Returns
    -------
    GeneralizedLinearMixedModel
        (A :class:`LinearMixedModel` for lme4's deprecated ``family=gaussian()`` shortcut.)
    """
    from ..design.dataframe import as_data_frame
    from ..optimize import glmerControl
    if isinstance(data, (str, list, tuple)) or hasattr(type(data), "__fspath__"):
        from ..dask import is_parquet_source, read_parquet
        if is_parquet_source(data):      # parquet files: opened by Dask, fitted on the cluster
            data = read_parquet(data)
    if type(data).__module__.split(".")[0] in ("dask", "dask_expr"):
        from ..dask import glmer_dask, is_dask_dataframe
        if is_dask_dataframe(data):      # the data stay on the cluster (lmerpy[dask])
            return glmer_dask(formula, data, family=family, nAGQ=nAGQ, weights=weights,
                              offset=offset, contrasts=contrasts, na_action=na_action,
                              control=control, start=start, verbose=verbose, backend=backend,
                              progress=progress)
    LOGICAL_OR_NONE("progress", progress, "glmer")
    data = as_data_frame(data)
    fam = as_family(family)
    nAGQ = NAGQ("nAGQ", nAGQ, "glmer")
    na_action = NA_ACTION("na_action", na_action, "glmer")
    verbose = VERBOSE("verbose", verbose, "glmer")
    backend = BACKEND("backend", backend, "glmer")
    if fam.family == "gaussian" and fam.link == "identity":
        warn("calling glmer() with family=gaussian (identity link) as a shortcut to lmer() is "
             "deprecated; please call lmer() directly", LmerpyDeprecationWarning)
        from .lmm import lmer
        return lmer(  # type: ignore[return-value]  # the deprecated shortcut returns an LMM
            formula, data, weights=weights, offset=offset, contrasts=contrasts,
            na_action=na_action, start=start, verbose=verbose, backend=backend)
    control = _control(control, "glmer", "glmer")
    if control is None:
        control = glmerControl()
    glmod = glFormula(formula, data, family=fam, weights=weights, offset=offset,
                      contrasts=contrasts, na_action=na_action, control=control)
    call = {"fn": "glmer", "formula": formula, "data": data, "family": fam, "nAGQ": nAGQ,
            "weights": weights, "offset": offset, "contrasts": contrasts,
            "na_action": na_action, "control": control, "start": start, "verbose": verbose,
            "backend": backend}
    return fit_glmm(glmod, fam, nAGQ=nAGQ, control=control, start=start, verbose=verbose,
                    backend=backend, data=data, call=call)


def _control(control, mod_type, caller):
    from ..optimize import as_control
    return as_control(control, mod_type, caller)
