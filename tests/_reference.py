"""Loading the lme4 golden cases and their data for the tests (no R needed)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy

REF = Path(__file__).parent / "reference"

#: glmer on lme4's optimizer path (glmer's default is gradient-based, see
#: lmerpy.optimize.laplace): the fits whose numbers are compared with lme4's printed digits
LME4_GLMER = lmerpy.glmerControl(optimizer=["bobyqa", "Nelder_Mead"])


def all_cases(*subdirs):
    """Every golden JSON in tests/reference (top level) and the given sub-folders."""
    out = []
    for d in (REF, *[REF / s for s in subdirs]):
        for p in sorted(d.glob("*.json")):
            ref = json.loads(p.read_text())
            ref.setdefault("id", p.stem)
            ref["_path"] = str(p)
            out.append(ref)
    return out


def lmer_cases():
    """The lmer fits that lme4 completed (no expected error)."""
    return [r for r in all_cases("lmer") if r.get("fn") == "lmer" and "expect_error" not in r
            and "error" not in r]


def glmer_cases():
    """The glmer and glmer.nb fits lme4 completed."""
    return [r for r in all_cases("glmer") if r.get("fn") in ("glmer", "glmer.nb")
            and "expect_error" not in r and "error" not in r]


def case_params(cases, slow_nobs):
    """One ``pytest.param`` per case, with the case's id; marked ``slow`` above ``slow_nobs``
    observations."""
    out = []
    for ref in cases:
        marks = [pytest.mark.slow] if ref["nobs"] > slow_nobs else []
        out.append(pytest.param(ref, id=ref["id"], marks=marks))
    return out


def load_case_data(ref):
    """The case's data set: bundled in lmerpy, or tests/reference/data/NAME.csv (+ levels)."""
    name = ref["data"]
    csv = REF / "data" / f"{name}.csv"
    if not csv.exists():
        return lmerpy.datasets.load(name)
    df = pd.read_csv(csv, keep_default_na=True)
    meta_path = REF / "data" / f"{name}.levels.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    ordered = set(meta.get("ordered") or [])
    for col, levels in (meta.get("levels") or {}).items():
        if isinstance(levels, str):
            levels = [levels]
        df[col] = pd.Categorical(df[col].astype(str).where(df[col].notna()),
                                 categories=[str(x) for x in levels], ordered=col in ordered)
    df.attrs["name"] = name
    return df


def column_expression(expr, data):
    """Evaluate the goldens' simple weight expressions ('w', '1/w') without eval()."""
    expr = expr.replace(" ", "")
    if expr.startswith("1/"):
        return 1.0 / data[expr[2:]].to_numpy(dtype=float)
    return data[expr].to_numpy(dtype=float)


def case_kwargs(ref, data):
    """lmer/glmer keyword arguments for a golden case (weights, contrasts, offset...)."""
    kw = {}
    if ref.get("weights"):
        kw["weights"] = ref["weights"]   # an R expression over the columns, as lme4 takes it
    if ref.get("contrasts"):
        facs = [c for c in data.columns
                if isinstance(data[c].dtype, pd.CategoricalDtype) and not data[c].dtype.ordered]
        kw["contrasts"] = {c: ref["contrasts"] for c in facs}
    args = ref.get("args") or {}
    for key, value in args.items():
        if key == "contrasts":
            kw["contrasts"] = {k: (np.asarray(v, dtype=float) if isinstance(v, list) else v)
                               for k, v in value.items()}
        elif key == "offset_column":
            kw["offset"] = value             # a column name, printed as lme4's " Offset:" line
        elif key == "weights_column":
            kw["weights"] = data[value].to_numpy(dtype=float)
        else:
            raise KeyError(f"case {ref['id']}: unknown args key {key!r}")
    return kw


STRUCTURED = REF / "structured"


def structured_goldens():
    """The lme4 2.1 goldens for structured covariance terms (tests/reference/structured): one
    dict per JSON file, ``kind`` "fit" or "anova"."""
    return [json.loads(p.read_text()) for p in sorted(STRUCTURED.glob("*.json"))
            if p.name != "timings.json"]


def load_structured_data(name):
    """A structured golden's data set: tests/reference/structured/data/NAME.csv.gz (+ levels
    JSON, R's level order and ordered factors), else lmerpy's bundled data set NAME."""
    csv = STRUCTURED / "data" / f"{name}.csv.gz"
    if not csv.exists():
        return lmerpy.datasets.load(name)
    df = pd.read_csv(csv, keep_default_na=True)
    meta = json.loads((STRUCTURED / "data" / f"{name}.levels.json").read_text())
    ordered = set(meta.get("ordered") or [])
    for col, levels in (meta.get("levels") or {}).items():
        levels = [levels] if isinstance(levels, str) else levels
        df[col] = pd.Categorical(df[col].astype(str), categories=[str(x) for x in levels],
                                 ordered=col in ordered)
    df.attrs["name"] = name
    return df
