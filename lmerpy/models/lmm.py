"""Linear mixed models: ``lmer()`` and its modular steps, and the fitted-model class.

R equivalents: ``lme4::lmer``, ``lFormula`` → ``mkLmerDevfun`` → ``optimizeLmer`` →
``mkMerMod``, and the ``lmerMod`` methods (``sigma``, ``logLik``, ``deviance``, ``REMLcrit``,
``residuals``, ``refit``, ``refitML``, ``update``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Literal, Mapping, Optional

import numpy as np
import pandas as pd

from ..arguments import (BACKEND, LOGICAL, LOGICAL_OR_NONE, NA_ACTION, VERBOSE, Choice,
                         new_response, unknown_keywords)
from ..design.scales import check_response_scale
from ..errors import DataError, LmerpyError
from ..threads import fit_threads
from ..warnings import LmerpyDeprecationWarning, warn
from .base import LogLik, MixedModel
from .naresid import naresid
from .start import start_parts

_RESIDUAL_TYPE = Choice(("response", "pearson", "working"))

if TYPE_CHECKING:
    from ..design.structures import Design
    from ..optimize.control import Control
    from ..optimize.optsum import OptSummary
    from ..pls import LmmDeviance
    from ..types import (ArrayLike, Backend, ContrastsArg, DataLike, FormulaLike, NaAction,
                         StartArg, VectorArg)


class LinearMixedModel(MixedModel):
    """A fitted linear mixed model (R: class ``lmerMod``)."""

    r_class = "lmerMod"

    @property
    def REML(self) -> bool:
        return bool(self.devfun.REML)

    def sigma(self) -> float:
        """R: ``sigma(fit)``: the residual standard deviation (REML or ML estimate as fitted)."""
        return float(self._sol.sigma)

    def logLik(self, REML: Optional[bool] = None) -> LogLik:
        """R: ``logLik(fit)``: −REMLcrit/2 for REML fits, −deviance/2 for ML fits."""
        REML = LOGICAL_OR_NONE("REML", REML, "logLik")
        reml = self.REML if REML is None else REML
        if reml and not self.REML:
            raise LmerpyError("cannot compute the REML log-likelihood of a model fitted by ML")
        value = -0.5 * (self._sol.reml_criterion if reml else self._sol.deviance_ml)
        return LogLik(value, self.npar(), self.nobs(), REML=reml)

    def REMLcrit(self) -> float:
        """R: ``REMLcrit(fit)``: the REML criterion at the optimum (REML fits only)."""
        if not self.REML:
            raise LmerpyError("REMLcrit: the model was fitted by ML; use deviance()")
        return float(self._sol.reml_criterion)

    def deviance(self, REML: Optional[bool] = None) -> float:
        """R: ``deviance(fit, REML = NULL)``.

        For an ML fit, the ML deviance. For a REML fit, ``REML=False`` gives the ML deviance
        evaluated at the REML estimates (as lme4); ``REML=None`` returns the REML criterion
        with lme4's deprecation warning.
        """
        REML = LOGICAL_OR_NONE("REML", REML, "deviance")
        if REML is None:
            if self.REML:
                warn("deviance() is deprecated for REML fits; use REMLcrit for the REML "
                     "criterion or deviance(.,REML=FALSE) for deviance calculated at the "
                     "REML fit", LmerpyDeprecationWarning)
                return float(self._sol.reml_criterion)
            return float(self._sol.deviance_ml)
        if REML:
            return self.REMLcrit()
        return float(self._sol.deviance_ml)

    def _summary_deviance(self):
        return float(self._sol.deviance_ml)

    def residuals(self, type: Literal["response", "pearson", "working"] = "response",
                  scaled: bool = False) -> pd.Series:
        """R: ``residuals(fit, type = "response" | "pearson" | "working", scaled = FALSE)``;
        with ``na_action="exclude"`` one per row of the data, NaN where a row was dropped
        (R's ``naresid``)."""
        type = _RESIDUAL_TYPE("type", type, "residuals")
        scaled = LOGICAL("scaled", scaled, "residuals")
        if getattr(self, "dask_log", None) is not None:      # data on a cluster: lazy
            from ..dask import lazy_residuals
            return lazy_residuals(self, type, scaled)
        return naresid(self.design, self._residual_values(type, scaled))

    def _residual_values(self, type="response", scaled=False) -> np.ndarray:
        """The residuals of the model frame's rows (never padded; ``type`` already checked)."""
        y = getattr(self.devfun.resp, "y", None)     # a refit's response, not the design's
        y = np.asarray(self.design.y if y is None else y, dtype=float)
        r = y - np.asarray(self._sol.fitted, dtype=float)
        if type == "pearson":
            r = r * np.sqrt(self.design.weights)
        if scaled:
            r = r / self.sigma()
        return r


    # ------------------------------------------------------------------ refitting
    @fit_threads
    def refit(self, newresp: Optional[ArrayLike] = None, REML: Optional[bool] = None,
              control: Optional[Control] = None) -> LinearMixedModel:
        """R: ``refit(fit, newresp)``: the same model with a new response, reusing the design,
        the cross-products of X and Z and the symbolic factorisation; starts at the current θ.

        ``newresp``: a numeric vector with one value per observation (a list, numpy array,
        pandas Series or one-column DataFrame; booleans count as 0/1); anything else is a
        :class:`~lmerpy.errors.DataError` (lme4's "response must be numeric")."""
        REML = LOGICAL_OR_NONE("REML", REML, "refit")
        control = _control(control, "lmer", "refit")
        devfun = self.devfun
        cluster = getattr(self, "dask_log", None) is not None     # a fit on a Dask DataFrame
        if REML is not None and REML != self.REML:
            if cluster:                   # the reduced blocks serve both criteria: no pass
                devfun = devfun.copy(REML=REML)
            else:
                own = getattr(devfun.resp, "y", None)
                devfun = mkLmerDevfun(self.design, REML=REML, backend=devfun.backend_name)
                if (newresp is None and own is not None
                        and not np.array_equal(own, self.design.y)):
                    devfun = devfun.with_response(own)      # a refit keeps its own response
        design = self.design
        if newresp is not None and cluster:
            from ..pls.crossprod import ReducedResponse
            if not isinstance(newresp, ReducedResponse):
                raise DataError("refit(newresp=...) of a fit on a Dask DataFrame takes a "
                                "response reduced on the cluster (as bootMer makes), not "
                                f"{type(newresp).__name__}: the rows are not on the client")
            devfun = devfun.with_reduced_response(newresp)
        elif newresp is not None:
            y = new_response(newresp, design.n, caller="refit")
            check_response_scale(y, "newresp", design.offset)
            devfun = devfun.with_response(y)
            design = devfun.design
        opt = optimizeLmer(devfun, start=self.par, control=control or self.call.get("control"))
        out = mkMerMod(devfun, opt, design, data=self._data, call=self.call)
        if cluster:
            setattr(out, "dask_log", list(getattr(self, "dask_log")))
        return out

    def refitML(self) -> LinearMixedModel:
        """R: ``refitML(fit)``: refit a REML fit by maximum likelihood."""
        if not self.REML:
            return self
        return self.refit(REML=False)

    def update(self, formula: Optional[FormulaLike] = None, **kwargs: Any) -> LinearMixedModel:
        """R: ``update(fit, ...)``: refit with some arguments changed (``formula`` given whole)."""
        import inspect
        unknown_keywords("update", kwargs, inspect.signature(lmer).parameters)
        args = dict(self.call)
        args.update(kwargs)
        if formula is not None:
            args["formula"] = formula
        return lmer(**args)


# ---------------------------------------------------------------------- modular steps


@fit_threads
def mkLmerDevfun(lf: Design, REML: Optional[bool] = None, backend: Optional[Backend] = None,
                 control: Optional[Control] = None) -> LmmDeviance:
    """R: ``mkLmerDevfun(fr, X, reTrms, REML)``: the profiled deviance as a function of θ.

    Parameters
    ----------
    lf : Design
        What :func:`lFormula` returns.
    REML : bool, optional
        Defaults to ``lf.REML``.
    backend : str, optional
        ``"cholmod"`` or ``"scipy"`` (blocked Cholesky); default None picks the faster one for
        the design (see ``lmerpy.show_config()`` for what is installed).

    Returns
    -------
    lmerpy.pls.LmmDeviance
        Callable θ → REML criterion or ML deviance; ``.gradient(θ)``, ``.solve(θ)``.
        Called outside a fit (e.g. ``scipy.optimize.minimize(devfun, theta0)``), each call
        runs with lmerpy's BLAS threads, as a fit does (:mod:`lmerpy.threads`; about 4 µs a
        call), and leaves the pools as it found them.
    """
    from ..pls import LmmDeviance
    REML = LOGICAL_OR_NONE("REML", REML, "mkLmerDevfun")
    backend = BACKEND("backend", backend, "mkLmerDevfun")
    y = np.asarray(lf.y, dtype=float)
    if y.ndim == 1 and y.size and np.ptp(y - np.asarray(lf.offset, dtype=float)) == 0:
        # lme4 fits this with sigma = 0 and a singular-fit message; the deviance is -Inf there
        raise DataError(f"the response is constant ({_response_label(lf)} = {y[0]:g} in every "
                        "row): the residual variance cannot be estimated")
    reml = lf.REML if REML is None else REML
    return LmmDeviance(lf, REML=reml, backend=backend)


def _response_label(lf):
    resp = getattr(lf.formula, "response", None)
    return resp.deparse() if resp is not None else "response"


@fit_threads
def optimizeLmer(devfun: LmmDeviance, start: StartArg = None, lower: Optional[ArrayLike] = None,
                 control: Optional[Control] = None, verbose: int = 0) -> OptSummary:
    """R: ``optimizeLmer(devfun, ...)``: minimise the profiled deviance over its parameters
    (θ; lme4 2.x's ``par`` for structured covariances).

    ``start``: ``par`` (θ for unstructured terms), or ``{"par": ...}`` / ``{"theta": ...}``.
    Returns the :class:`lmerpy.optimize.OptSummary` (optimizer, settings, start and final
    parameters, evaluation count, return code, fit log, convergence messages).
    """
    from ..optimize import check_conv, lme4_start_theta, optimize_lmer
    verbose = VERBOSE("verbose", verbose, "optimizeLmer")
    design = devfun.design
    control = _control(control, "lmer", "optimizeLmer")
    control = control if control is not None else _default_control()
    theta0, _ = start_parts(start, design, fixef_used=False)
    if theta0 is None:
        # lme4 starts models whose random terms are all scalar intercepts from the data
        theta0 = np.asarray(lme4_start_theta(design), dtype=float)
    low = np.asarray(design.lower if lower is None else lower, dtype=float)
    opt = optimize_lmer(devfun, theta0, low, control=control, verbose=verbose,
                        upper=np.asarray(design.upper, dtype=float))
    check_conv(devfun, opt, low, control)
    return opt


_DEFAULT_CONTROL: List[Control] = []


def _default_control():
    """``lmerControl()`` built once: a Control is frozen and the fit only reads it (building
    one validates every field, ~40 µs, a visible share of a small fit)."""
    if not _DEFAULT_CONTROL:
        from ..optimize import lmerControl
        _DEFAULT_CONTROL.append(lmerControl())
    return _DEFAULT_CONTROL[0]


@fit_threads
def mkMerMod(devfun: LmmDeviance, opt: OptSummary, lf: Optional[Design] = None,
             data: DataLike = None, call: Optional[Mapping[str, Any]] = None) -> LinearMixedModel:
    """R: ``mkMerMod(rho, opt, reTrms, fr)``: the fitted-model object at the optimum."""
    from .finite import check_finite_fit
    design = devfun.design if lf is None else lf
    sol = devfun.solve(np.asarray(opt.theta, dtype=float))
    check_finite_fit(design, sol)
    return LinearMixedModel(design, devfun, opt, sol, data=data, call=call)


@fit_threads
def lmer(formula: FormulaLike, data: DataLike, REML: bool = True, weights: VectorArg = None,
         offset: VectorArg = None, contrasts: ContrastsArg = None, na_action: NaAction = "omit",
         control: Optional[Control] = None, start: StartArg = None, verbose: int = 0,
         backend: Optional[Backend] = None, progress: Optional[bool] = None
         ) -> LinearMixedModel:
    """Fit a linear mixed-effects model (R: ``lme4::lmer``).

    Parameters
    ----------
    formula : str
        An lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : DataFrame-like
        A pandas, polars or pyarrow table, anything with ``__arrow_c_stream__`` or
        ``__dataframe__``, or a dict of equal-length columns. Never modified. A
        ``dask.dataframe.DataFrame`` is fitted where it lives (``pip install lmerpy[dask]``;
        see :mod:`lmerpy.dask`: ``weights``/``offset`` then name columns), and so are
        parquet files named by a path or glob ending in ``.parquet`` (or a list of them),
        opened with ``dask.dataframe.read_parquet``.
    REML : bool
        REML (default) or maximum likelihood. As in R, the strings ``"TRUE"``/``"FALSE"``
        (``"T"``, ``"F"``, ``"true"``, ``"false"``) are read as logicals; any other value
        that is not True or False is an :class:`~lmerpy.errors.ArgumentError`.
    weights, offset : array-like, optional
        Prior weights and an offset (added to any ``offset()`` terms), one per row of ``data``.
    contrasts : dict, optional
        Per-factor contrasts, R names: ``{"treat": "contr.sum"}``.
    na_action : {"omit", "exclude", "fail"}
        ``"omit"`` (R's ``na.omit``, also accepted by that name): rows with a missing value
        in any used variable are dropped; ``"exclude"`` (``na.exclude``): dropped as well, but
        ``fitted()``, ``residuals()``, ``predict()`` and ``simulate()`` give one value per
        row of ``data``, NaN at the dropped rows; ``"fail"``: missing values are an error.
    control : lmerpy.optimize.Control, optional
        ``lmerControl(...)``.
    start : array-like or dict, optional
        Starting covariance parameters: a vector with one value per ``par`` (θ for
        unstructured terms), or ``{"par": ...}`` or ``{"theta": ...}`` (lme4's start list;
        θ is mapped to ``par``; a ``"fixef"`` entry is checked and ignored, as β is profiled
        out).
    verbose : int or bool
        Print each evaluation when > 0.
    backend : str, optional
        ``"cholmod"`` or ``"scipy"``; default None picks the faster one for the design.

    progress : bool, optional
        Dask DataFrames only: a progress bar of the passes over the data (None: shown when
        the fit runs longer than a few seconds; False: never). Ignored in memory.

    Returns
    -------
    LinearMixedModel
    """
    from ..design import lFormula
    from ..design.dataframe import as_data_frame
    if isinstance(data, (str, list, tuple)) or hasattr(type(data), "__fspath__"):
        from ..dask import is_parquet_source, read_parquet
        if is_parquet_source(data):      # parquet files: opened by Dask, fitted on the cluster
            data = read_parquet(data)
    if type(data).__module__.split(".")[0] in ("dask", "dask_expr"):
        from ..dask import is_dask_dataframe, lmer_dask
        if is_dask_dataframe(data):      # the data stay on the cluster (lmerpy[dask])
            return lmer_dask(formula, data, REML=REML, weights=weights, offset=offset,
                             contrasts=contrasts, na_action=na_action, control=control,
                             start=start, verbose=verbose, backend=backend,
                             progress=progress)
    LOGICAL_OR_NONE("progress", progress, "lmer")
    data = as_data_frame(data)
    REML = LOGICAL("REML", REML, "lmer")
    na_action = NA_ACTION("na_action", na_action, "lmer")
    verbose = VERBOSE("verbose", verbose, "lmer")
    backend = BACKEND("backend", backend, "lmer")
    control = _control(control, "lmer", "lmer")
    checks = control.design_checks() if control is not None else None
    lf = lFormula(formula, data, REML=REML, weights=weights, offset=offset, contrasts=contrasts,
                  na_action=na_action, control=checks)
    devfun = mkLmerDevfun(lf, backend=backend)
    opt = optimizeLmer(devfun, start=start, control=control, verbose=verbose)
    call = dict(formula=formula, data=data, REML=REML, weights=weights, offset=offset,
                contrasts=contrasts, na_action=na_action, control=control, start=start,
                verbose=verbose, backend=backend)
    return mkMerMod(devfun, opt, lf, data=data, call=call)


def _control(control, mod_type, caller):
    from ..optimize import as_control
    return as_control(control, mod_type, caller)
