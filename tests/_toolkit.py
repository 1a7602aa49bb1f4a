"""Shared loading for the toolkit goldens (tests/reference/toolkit, made by make_toolkit.R)."""
import dataclasses
import json
import warnings
from functools import lru_cache

import numpy as np
import pytest

import lmerpy
from _compare import fit_at_lme4_theta
from _reference import LME4_GLMER, REF, load_case_data
from lmerpy.optimize.derivs import compute_derivs

TOOLKIT = REF / "toolkit"


def case_ids():
    return sorted(p.stem for p in TOOLKIT.glob("*.json")
                  if "fn" in json.loads(p.read_text()))


@lru_cache(maxsize=None)
def load_ref(case_id):
    return json.loads((TOOLKIT / f"{case_id}.json").read_text())


@lru_cache(maxsize=None)
def fitted(case_id):
    """The case's fit at lme4's optimum: LMMs at lme4's θ̂, GLMMs at its (θ̂, β̂) with the
    derivatives recomputed there (as test_glmer_reference's ``fit_at_lme4``): lmerpy's own
    optimum is within lme4's tolerance of it, which moves what is not stationary there
    (standard errors, conditional modes) in the 4th to 6th digit."""
    ref = load_ref(case_id)
    data = load_case_data({"data": ref["data"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref["fn"] == "lmer":
            kw = {"weights": ref["weights"]} if ref.get("weights") else {}
            fit = lmerpy.lmer(ref["formula"], data, REML=ref["REML"], **kw)
            return fit_at_lme4_theta(fit, ref["theta"])
        fam = getattr(lmerpy, ref["family"])(link=ref["link"])
        fit = lmerpy.glmer(ref["formula"], data, family=fam, control=LME4_GLMER)
        return glmm_at_lme4(fit, ref)


def glmm_at_lme4(fit, ref):
    dev = fit.devfun
    x = np.concatenate((np.asarray(ref["theta"], dtype=float),
                        np.asarray(ref["fixef"], dtype=float)))
    opt = dataclasses.replace(fit.optsum, theta=x, fmin=dev(x))
    d = compute_derivs(dev, x, dev.lower, None, use_gradient=False)
    opt.derivs = {k: d[k] for k in ("gradient", "Hessian", "method")}
    return lmerpy.mkGlmerMod(dev, opt, fit.design, data=fit.data, call=fit.call)


def rel_tol(ref):
    """1e-6 relative throughout."""
    return 1e-6


def approx(value, ref, abs=1e-12):
    return pytest.approx(value, rel=rel_tol(ref), abs=abs)


def scalar(x):
    """A golden's length-1 array or scalar as a float (null -> NaN)."""
    if isinstance(x, list):
        x = x[0]
    return np.nan if x is None else float(x)


EMMEANS = TOOLKIT / "emmeans"


@lru_cache(maxsize=None)
def emmeans_ref(case):
    """A golden of make_emmeans.R (its model, lme4's optimum, emmeans' tables)."""
    return json.loads((EMMEANS / f"{case}.json").read_text())


@lru_cache(maxsize=None)
def emmeans_fit(case):
    """The model of an emmeans golden at lme4's optimum (LMMs at θ̂, GLMMs at (θ̂, β̂))."""
    ref = emmeans_ref(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_case_data({"data": ref["data"]})
        if "family" in ref:
            fam = getattr(lmerpy, ref["family"])(link=ref["link"])
            return glmm_at_lme4(lmerpy.glmer(ref["formula"], data, family=fam), ref)
        fit = lmerpy.lmer(ref["formula"], data)
    return fit_at_lme4_theta(fit, ref["theta"])
