"""The nlme goldens (tests/reference/nlme, made by make_gls.R) and fits of their cases."""
import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from lmerpy import nlme

NLME = Path(__file__).parent / "reference" / "nlme"


def load_nlme_data(name):
    """A data set written by make_gls.R: csv.gz + levels (factors with R's level order)."""
    df = pd.read_csv(NLME / "data" / f"{name}.csv.gz", keep_default_na=True)
    meta = json.loads((NLME / "data" / f"{name}.levels.json").read_text())
    ordered = set(meta.get("ordered") or [])
    for col, levels in (meta.get("levels") or {}).items():
        levels = [levels] if isinstance(levels, str) else levels
        df[col] = pd.Categorical(df[col].astype(str).where(df[col].notna()),
                                 categories=[str(x) for x in levels], ordered=col in ordered)
    df.attrs["name"] = name
    return df


def gls_case_ids():
    return sorted(p.stem for p in (NLME / "gls").glob("*.json"))


@functools.lru_cache(maxsize=None)
def gls_case(case_id):
    return json.loads((NLME / "gls" / f"{case_id}.json").read_text())


def build_structure(spec):
    """A structure from the goldens' spec ``{"fn", "args", "kwargs"}`` (nested for varComb)."""
    if spec is None:
        return None
    def value(v):
        return build_structure(v) if isinstance(v, dict) and "fn" in v else v
    fn = getattr(nlme, spec["fn"])
    args = [value(a) for a in spec.get("args") or []]
    kwargs = {k: value(v) for k, v in (spec.get("kwargs") or {}).items()}
    return fn(*args, **kwargs)


def gls_kwargs(ref):
    return dict(correlation=build_structure(ref.get("correlation")),
                weights=build_structure(ref.get("weights")), method=ref["method"],
                na_action=ref["na_action"])


@functools.lru_cache(maxsize=None)
def gls_fit(case_id, at_nlme=False):
    """The case fitted by lmerpy; ``at_nlme=True``: evaluated at nlme's structure parameters
    (no optimisation; a ``fitted(.)`` covariate iterated to its fixed point there)."""
    ref = gls_case(case_id)
    kw = gls_kwargs(ref)
    if at_nlme:
        kw["control"] = {"start": ref.get("struct_unconstrained") or [], "optimize": False}
    return nlme.gls(ref["formula"], load_nlme_data(ref["data"]), **kw)


def na(values):
    """A golden vector with JSON nulls (R's NA) as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


# --------------------------------------------------------------------------- lme (make_lme.R)


def lme_case_ids():
    return sorted(p.stem for p in (NLME / "lme").glob("*.json"))


@functools.lru_cache(maxsize=None)
def lme_case(case_id):
    return json.loads((NLME / "lme" / f"{case_id}.json").read_text())


def lme_random(spec):
    """lme's ``random`` from the goldens: a formula string, or level -> formula / pdMat spec."""
    if isinstance(spec, str):
        return spec
    return {k: v if isinstance(v, str) else build_structure(v) for k, v in spec.items()}


def lme_struct_start(ref):
    out = []
    for key in ("corStruct", "varStruct"):
        if key in ref["struct"]:
            out += ref["struct"][key]["unconstrained"] or []
    return out


@functools.lru_cache(maxsize=None)
def lme_fit(case_id, at_nlme=False):
    """The case fitted by lmerpy; ``at_nlme=True``: evaluated at nlme's estimates (structure
    parameters and the random effects' relative covariances, no optimisation)."""
    ref = lme_case(case_id)
    kw = dict(random=lme_random(ref["random"]), correlation=build_structure(ref.get("correlation")),
              weights=build_structure(ref.get("weights")), method=ref["method"],
              na_action=ref["na_action"])
    if at_nlme:
        kw["control"] = {"start": lme_struct_start(ref), "optimize": False,
                         "random_start": {k: np.array(v["rows"], dtype=float)
                                          for k, v in ref["re_scaled"].items()}}
    return nlme.lme(ref["formula"], load_nlme_data(ref["data"]), **kw)


def pql_case_ids():
    return sorted(p.stem for p in (NLME / "glmmpql").glob("*.json"))


@functools.lru_cache(maxsize=None)
def pql_case(case_id):
    return json.loads((NLME / "glmmpql" / f"{case_id}.json").read_text())


@functools.lru_cache(maxsize=None)
def pql_fit(case_id):
    """The glmmPQL case (make_glmmpql.R) fitted by lmerpy."""
    from lmerpy import families
    ref = pql_case(case_id)
    family = getattr(families, ref["family"])(link=ref["link"])
    return nlme.glmmPQL(ref["fixed"], ref["random"], family, load_nlme_data(ref["data"]),
                        weights=ref.get("weights"), correlation=pql_correlation(case_id))


def pql_correlation(case_id):
    """The correlation structure of a glmmPQL case (make_glmmpql.R writes R's call)."""
    return {"epil_ar1": lambda: nlme.corAR1(form="~ period | subject")}.get(
        case_id, lambda: None)()
