"""Shared loading for the toolkit goldens (tests/reference/toolkit, made by make_toolkit.R)."""
import json
import warnings
from functools import lru_cache

import numpy as np
import pytest

import lmerpy
from _compare import fit_at_lme4_theta
from _reference import REF

TOOLKIT = REF / "toolkit"


def case_ids():
    return sorted(p.stem for p in TOOLKIT.glob("*.json")
                  if "fn" in json.loads(p.read_text()))


@lru_cache(maxsize=None)
def load_ref(case_id):
    return json.loads((TOOLKIT / f"{case_id}.json").read_text())


@lru_cache(maxsize=None)
def fitted(case_id):
    """The case's fit: LMMs at lme4's θ̂ (lmerpy's own optimum is within lme4's tolerance of
    it), GLMMs as lmerpy fits them."""
    ref = load_ref(case_id)
    data = lmerpy.datasets.load(ref["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref["fn"] == "lmer":
            fit = lmerpy.lmer(ref["formula"], data, REML=ref["REML"])
            return fit_at_lme4_theta(fit, ref["theta"])
        fam = getattr(lmerpy, ref["family"])(link=ref["link"])
        return lmerpy.glmer(ref["formula"], data, family=fam)


def rel_tol(ref):
    """1e-6 relative; the Poisson GLMM 1e-4 (its lmerpy and lme4 optima differ in the 5th
    digit — lme4's glmer stops within its tolerance — and R² refits the null model)."""
    return 1e-4 if ref.get("family") == "poisson" else 1e-6


def approx(value, ref, abs=1e-12):
    return pytest.approx(value, rel=rel_tol(ref), abs=abs)


def scalar(x):
    """A golden's length-1 array or scalar as a float (null -> NaN)."""
    if isinstance(x, list):
        x = x[0]
    return np.nan if x is None else float(x)
