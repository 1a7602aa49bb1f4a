"""Analysis-of-variance tables of mixed models (lme4's ``anova.merMod`` and ``drop1.merMod``).

* ``anova(m0, m1, …)``: likelihood-ratio tests between fits to the same data, ordered by
  number of parameters; REML fits are refitted by ML first (lme4's message).
* ``anova(m)``: lme4's sequential F table (sums of squares of R_X β̂ by term).
* ``drop1(m, test="Chisq")``: single-term deletions of fixed-effect terms, compared by ML.

Tables are :class:`AnovaTable` DataFrames whose ``str()`` is R's ``print.anova`` text.
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, List, Literal, Optional, Sequence, Union

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import LOGICAL, Choice, Number, argument_error, unknown_keywords
from ..errors import ArgumentError, DataError, DataNotHereError, LmerpyError
from ..warnings import InferenceWarning, LmerpyMessage, RefitWarning, warn
from .anova_table import AnovaTable, anova_table

if TYPE_CHECKING:
    from ..models.base import MixedModel
    from ..types import Scope

__all__ = ["AnovaTable", "anova", "drop1", "is_fit", "lrt_table", "same_response",
           "sequential_f_table"]

_DROP1_TEST = Choice(("Chisq", "none"))
_PENALTY = Number(lower=0)


def _is_glmm(fit) -> bool:
    return getattr(fit, "family", None) is not None


def is_fit(x) -> bool:
    """True for a fitted mixed model (lmer, glmer, glmer_nb)."""
    from ..models.base import MixedModel
    return isinstance(x, MixedModel)


def _is_reml(fit) -> bool:
    return not _is_glmm(fit) and bool(getattr(fit, "REML", False))


def _data_label(fit) -> str:
    data = getattr(fit, "data", None)
    name = data.attrs.get("name") if isinstance(data, pd.DataFrame) else None
    return name or "data"


def same_response(a, b) -> bool:
    """True when two fits have the same response values (NaN equal to NaN). Fits whose data
    stay on a cluster (a Dask DataFrame) compare the data collection's key and the response
    expression instead (their rows are never on the client)."""
    try:
        ya = np.asarray(a.design.y, dtype=float)
    except DataNotHereError:
        return _same_cluster_response(a, b)
    try:
        yb = np.asarray(b.design.y, dtype=float)
    except DataNotHereError:
        return False
    if ya.shape != yb.shape:
        return False
    return bool(np.array_equal(ya, yb, equal_nan=True))


def _same_cluster_response(a, b) -> bool:
    da, db = getattr(a, "data", None), getattr(b, "data", None)
    if da is None or db is None:
        return False
    if da is db:
        same_data = True
    else:                            # two handles on one Dask collection: the same token
        from dask.base import tokenize
        same_data = tokenize(da) == tokenize(db)
    ra, rb = a.design.formula.response, b.design.formula.response
    return bool(same_data and ra is not None and rb is not None
                and ra.deparse() == rb.deparse())


# ----------------------------------------------------------------------------- LRT


def lrt_table(models: Sequence, names: Sequence[str], refit: bool = True) -> AnovaTable:
    """Likelihood-ratio tests between nested fits (R: ``anova(m1, m2, …)``), see :func:`anova`."""
    models = list(models)
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise LmerpyError(f"anova: model names must be distinct, got {names}")
    nobs = [m.nobs() for m in models]
    if len(set(nobs)) > 1:
        raise DataError("models were not all fitted to the same size of dataset ("
                        + ", ".join(f"{n}: {k} observations" for n, k in zip(names, nobs)) + ")")
    for nm, m in zip(names[1:], models[1:]):
        if not same_response(models[0], m):
            raise DataError(f"all models must be fit to the same data: the response of {nm} "
                            f"differs from that of {names[0]}")
    reml = [_is_reml(m) for m in models]
    if refit:
        if any(reml):
            warn("refitting model(s) with ML (instead of REML)", RefitWarning)
            models = [m.refitML() if r else m for m, r in zip(models, reml)]
    elif any(reml) and not all(reml):
        warn("some models fit with REML = TRUE, some not", InferenceWarning)
    llks = [m.logLik() for m in models]
    npar = np.array([ll.df for ll in llks], dtype=float)
    order = np.argsort(npar, kind="stable")
    models = [models[i] for i in order]
    names = [names[i] for i in order]
    llks = [llks[i] for i in order]
    npar = npar[order]
    llk = np.array([float(ll) for ll in llks])
    n = float(llks[0].nobs)
    aic = -2.0 * llk + 2.0 * npar
    bic = -2.0 * llk + math.log(n) * npar
    chisq = np.full(len(models), np.nan)
    dfc = np.full(len(models), np.nan)
    pval = np.full(len(models), np.nan)
    if len(models) > 1:
        chisq[1:] = 2.0 * np.maximum(0.0, np.diff(llk))
        dfc[1:] = np.diff(npar)
        with np.errstate(invalid="ignore"):
            p = stats.chi2.sf(chisq[1:], dfc[1:])
        pval[1:] = np.where(dfc[1:] == 0, np.nan, p)
    values = np.column_stack([npar, aic, bic, llk, -2.0 * llk, chisq, dfc, pval])
    heading = [f"Data: {_data_label(models[0])}", "Models:"]
    heading += [f"{nm}: {m.design.formula.deparse()}" for nm, m in zip(names, models)]
    # lme4 2.x names the column -2*log(L); lmerpy prints the lme4 2.x way for models written
    # with covariance calls (as their summaries), lme4 1.1's "deviance" otherwise
    lme4_2 = any(getattr(m.design.formula, "has_specials", False) for m in models)
    criterion = "-2*log(L)" if lme4_2 else "deviance"
    return anova_table(values, names, ["npar", "AIC", "BIC", "logLik", criterion, "Chisq", "Df",
                                       "Pr(>Chisq)"], heading)


# ----------------------------------------------------------------------------- one model


def _term_labels(fit) -> List[str]:
    spec = fit.design.info.get("fixed")
    return [t.label for t in spec.terms] if spec is not None else []


def sequential_f_table(fit) -> AnovaTable:
    """lme4's one-model ``anova(fit)``: per fixed-effect term (intercept excluded) the number
    of columns, the sum of squares of the matching entries of R_X β̂, the mean square and
    F = mean square / σ̂²."""
    design = fit.design
    beta = fit.fixef().to_numpy(dtype=float)
    RX = np.asarray(fit.getME("RX"), dtype=float)
    ss = (RX @ beta) ** 2
    assign = np.asarray(design.info.get("X_assign", np.zeros(design.p, dtype=np.int64)))
    labels = _term_labels(fit)
    rows, dfs, sss = [], [], []
    for a in dict.fromkeys(assign.tolist()):
        if a == 0:
            continue
        mask = assign == a
        rows.append(labels[a - 1])
        dfs.append(int(mask.sum()))
        sss.append(float(ss[mask].sum()))
    dfs_a = np.asarray(dfs, dtype=float)
    ss_a = np.asarray(sss, dtype=float)
    ms = ss_a / dfs_a if len(dfs) else ss_a
    sigma = float(fit.sigma())
    f = ms / sigma ** 2
    values = np.column_stack([dfs_a, ss_a, ms, f]) if rows else np.zeros((0, 4))
    return anova_table(values, rows, ["npar", "Sum Sq", "Mean Sq", "F value"],
                  ["Analysis of Variance Table"])


# ----------------------------------------------------------------------------- anova()


def anova(*models: MixedModel, names: Optional[Sequence[str]] = None, refit: bool = True,
          type: Union[int, str, None] = None, ddf: Optional[str] = None,
          **named_models: MixedModel) -> AnovaTable:
    """Analysis-of-variance table(s) of mixed models (R: ``anova(object, ...)``).

    Parameters
    ----------
    *models : fitted models
        One model: lme4's sequential F table (``npar``, ``Sum Sq``, ``Mean Sq``,
        ``F value``). Several: the likelihood-ratio table.
    names : sequence of str, optional
        Row names for the models, in argument order. R takes the argument expressions
        (``anova(m0, m1)`` names the rows ``m0``, ``m1``); Python cannot see them, so give
        ``names=["m0", "m1"]`` or pass the models as keywords, ``anova(m0=m0, m1=m1)``.
        Otherwise rows are ``MODEL1``, ``MODEL2``, … (R's own fallback names).
    refit : bool
        Refit REML fits by ML before comparing (lme4's default), with lme4's message
        ``refitting model(s) with ML (instead of REML)`` as a
        :class:`lmerpy.warnings.RefitWarning`.
    type, ddf : optional
        One model only: an F table with denominator degrees of freedom (lmerTest's
        ``anova(m, type = 3, ddf = "Satterthwaite")``), computed by
        ``lmerpy.inference.ddf.anova_ddf``.
    **named_models : fitted models
        Models named by their keyword (after the positional ones).

    Returns
    -------
    AnovaTable
        A DataFrame; ``str()`` gives R's printed table. LRT tables have R's columns ``npar``,
        ``AIC``, ``BIC``, ``logLik``, ``deviance``, ``Chisq``, ``Df``, ``Pr(>Chisq)`` (NaN for
        R's NA), rows ordered by ``npar`` (ties kept in argument order), and the heading
        ``Data: …``, ``Models:``, ``name: formula`` (the data's name is its
        ``DataFrame.attrs["name"]``, as the summary's ``Data:`` line).

    Raises
    ------
    DataError
        Models fitted to data of different sizes (lme4's ``models were not all fitted to the
        same size of dataset``) or to different responses.
    """
    first = next(iter(models), next(iter(named_models.values()), None))
    if hasattr(first, "anova_of"):       # nlme's models (gls, lme, glmmPQL): their own anova
        kw: dict = {"names": names} if names is not None else {}
        if type is not None:
            kw["type"] = type
        return getattr(first, "anova_of")(*models, **kw, **named_models)
    refit = LOGICAL("refit", refit, "anova")
    fits = [m for m in models]
    extra = {k: v for k, v in named_models.items() if is_fit(v)}
    unknown_keywords("anova", {k: v for k, v in named_models.items() if k not in extra},
                     ("names", "refit", "type", "ddf"))
    for m in fits:
        if not is_fit(m):
            raise ArgumentError(f"anova: expected fitted models, got {m.__class__.__name__}")
    all_fits = fits + list(extra.values())
    if not all_fits:
        raise LmerpyError("anova: no model given")
    if len(all_fits) == 1:
        if type is not None or ddf is not None:
            from .ddf import anova_ddf
            kw = {}
            if type is not None:
                kw["type"] = type
            if ddf is not None:
                kw["ddf"] = ddf
            return anova_ddf(all_fits[0], **kw)
        return sequential_f_table(all_fits[0])
    if type is not None or ddf is not None:
        raise ArgumentError("anova: type and ddf apply to a single model")
    if names is not None:
        if isinstance(names, str):
            raise argument_error("names", names, "a sequence of model names", "anova")
        names = list(names)
        if len(names) != len(fits) and len(names) != len(all_fits):
            raise LmerpyError("model names vector and model list have different lengths")
        if len(names) == len(fits):
            names = names + list(extra)
    else:
        names = [f"MODEL{i + 1}" for i in range(len(fits))] + list(extra)
    return lrt_table(all_fits, names, refit=refit)


# ----------------------------------------------------------------------------- drop1


def _drop_scope(formula) -> List[str]:
    """R's ``drop.scope``: fixed-effect terms not contained in another term (marginality)."""
    terms = list(formula.fixed.terms)
    sets = [frozenset(t.factors) for t in terms]
    out = []
    for i, t in enumerate(terms):
        if not any(i != j and sets[i] < sets[j] for j in range(len(terms))):
            out.append(t.label)
    return out


def _formula_without(formula, drop: str) -> str:
    """The formula text with one fixed-effect term removed (R: ``update(f, ~ . - term)``)."""
    fx = formula.fixed
    parts = [t.label for t in fx.terms if t.label != drop]
    rhs = []
    if not fx.intercept:
        rhs.append("0")
    rhs += parts
    rhs += [f"offset({o.deparse()})" for o in fx.offsets]
    rhs += [rt.deparse() for rt in formula.random]
    if not parts and fx.intercept:
        rhs.insert(0, "1")
    lhs = formula.response.deparse() if formula.response is not None else ""
    return f"{lhs} ~ {' + '.join(rhs)}"


def _ml(fit):
    return fit.refitML() if _is_reml(fit) else fit


def drop1(fit: MixedModel, scope: Scope = None, test: Literal["Chisq", "none"] = "Chisq",
          k: float = 2.0) -> AnovaTable:
    """Single-term deletions (R: ``drop1(fit, scope, test = "Chisq")``).

    Each droppable fixed-effect term (by marginality, or those in ``scope``) is removed and
    the model refitted; models are compared by their ML AIC (lme4's ``extractAIC`` refits
    REML fits by ML), and with ``test="Chisq"`` by the likelihood-ratio statistic.

    Parameters
    ----------
    fit : fitted model
    scope : sequence of str, optional
        Term labels to try dropping (default: R's ``drop.scope``).
    test : {"Chisq", "none"}
    k : float
        The AIC penalty per parameter.

    Returns
    -------
    AnovaTable
        Rows ``<none>`` and each term; columns ``npar``, ``AIC`` (and ``LRT``, ``Pr(Chi)``),
        heading ``Single term deletions`` / ``Model:`` / the formula.
    """
    test = _DROP1_TEST("test", test, "drop1")
    k = _PENALTY("k", k, "drop1")
    formula = fit.design.formula
    labels = [t.label for t in formula.fixed.terms]
    if scope is None:
        scope = _drop_scope(formula)
    else:
        scope = [scope] if isinstance(scope, str) else list(scope)
        bad = [s for s in scope if s not in labels]
        if bad:
            raise ArgumentError(f"scope is not a subset of term labels: {', '.join(bad)} "
                              f"(terms: {', '.join(labels)})")
    base = _ml(fit)
    ll0 = base.logLik()
    rows = [(float(ll0.df), -2.0 * float(ll0) + k * ll0.df)]
    n0 = fit.nobs()
    for term in scope:
        text = _formula_without(formula, term)
        kw = {} if _is_glmm(fit) else {"REML": False}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LmerpyMessage)
            nfit = fit.update(formula=text, **kw)
        if nfit.nobs() != n0:
            raise DataError("number of rows in use has changed: remove missing values?")
        ll = _ml(nfit).logLik()
        rows.append((float(ll.df), -2.0 * float(ll) + k * ll.df))
    edf = np.array([r[0] for r in rows])
    aic = np.array([r[1] for r in rows])
    dfs = edf[0] - edf
    dfs[0] = np.nan
    cols = ["npar", "AIC"]
    values = [dfs, aic]
    if test == "Chisq":
        dev = aic - k * edf
        dev = dev - dev[0]
        dev[0] = np.nan
        p = np.full(dev.shape, np.nan)
        p[1:] = stats.chi2.sf(dev[1:], dfs[1:])
        cols += ["LRT", "Pr(Chi)"]
        values += [dev, p]
    heading = ["Single term deletions", "\nModel:", *formula.deparse_lines()]
    return anova_table(np.column_stack(values), ["<none>", *scope], cols, heading)
