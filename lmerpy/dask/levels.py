"""Pass 1 over the partitions: column kinds, factor levels, and the template Design.

Per partition (on the workers, :func:`scan_partition`): each used column's kind and, on the
complete rows, the distinct values of every factor/grouping column (distinct combinations for
columns that form an interaction grouping factor together) and a few sample rows. On the
client (:func:`template_design`): the union of those, checked for dtype drift, laid out as a
small *skeleton* frame that holds every level, and the Design lmerpy builds on it (its levels,
in R's order, are the global ones: lmerpy's own design code orders them).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError, LmerpyError, UnknownColumnError
from ..formula.terms import Call, Name
from ..formula.walk import walk_nodes

__all__ = ["ColumnPlan", "plan_columns", "scan_partition", "template_design", "KINDS"]

#: the kinds a column may have; int and float are both "numeric" (R coerces)
KINDS = ("numeric", "factor", "logical")
#: calls whose argument is read as a factor (its distinct values are levels)
_FACTOR_CALLS = frozenset(("factor", "as.factor", "ordered", "as.ordered", "interaction"))
#: sample rows kept per partition (values for the skeleton's numeric columns)
N_SAMPLE = 4


@dataclass
class ColumnPlan:
    """Which data columns a fit reads and how.

    Attributes
    ----------
    columns : list of str
        Every column the formula, ``weights`` and ``offset`` read.
    components : list of list of str
        Columns whose distinct combinations are collected together (a grouping factor
        ``a:b`` or ``a/b`` needs the pairs present, not each column's levels); every factor
        column is in exactly one.
    level_columns : set of str
        Columns read as factors (strings, categoricals, booleans, and numeric columns used as
        grouping factors or inside ``factor()``).
    """

    columns: List[str]
    components: List[List[str]] = field(default_factory=list)
    level_columns: set = field(default_factory=set)


def _names(e) -> List[str]:
    return [n.name for n in walk_nodes(e) if isinstance(n, Name)]


def plan_columns(formula, columns, dtypes: Dict[str, object], weights=None,
                 offset=None) -> ColumnPlan:
    """The columns a fit of ``formula`` reads from a frame with ``columns`` (and their
    ``dtypes`` from the Dask DataFrame's metadata, to know which are factors)."""
    cols = [str(c) for c in columns]
    used = [v for v in formula.all_vars()]
    for arg, what in ((weights, "weights"), (offset, "offset")):
        if arg is None:
            continue
        if not isinstance(arg, str):
            raise LmerpyError(f"{what}= on a Dask DataFrame must name a column (a string), not "
                              f"{type(arg).__name__}: per-row values would have to be "
                              "partitioned like the data")
        used.append(arg)
    used = list(dict.fromkeys(used))
    missing = [u for u in used if u not in cols]
    if missing:
        raise UnknownColumnError(f"column '{missing[0]}' is not in the data (columns: "
                                 f"{', '.join(cols[:20])}{', ...' if len(cols) > 20 else ''})")
    level = set()
    groups: List[set] = []
    for rt in formula.random:
        g = set()
        for e in rt.group:
            g.update(_names(e))
        g &= set(used)
        if g:
            groups.append(g)
            level |= g
    exprs = list(formula.fixed.variables) + [v for t in formula.fixed.terms for v in t.factors]
    for rt in formula.random:
        exprs += list(rt.lhs.variables) + [v for t in rt.lhs.terms for v in t.factors]
    for e in exprs:
        for node in walk_nodes(e):
            if isinstance(node, Call) and node.func in _FACTOR_CALLS:
                level.update(_names(node))
    for u in used:
        if _is_factor_dtype(dtypes.get(u)):
            level.add(u)
    # merge overlapping groups; every other level column is a component of its own
    merged: List[set] = []
    for g in groups:
        hit = [m for m in merged if m & g]
        for m in hit:
            merged.remove(m)
            g = g | m
        merged.append(g)
    inside = set().union(*merged) if merged else set()
    comps = [[u for u in used if u in m] for m in merged]
    comps += [[u] for u in used if u in level and u not in inside]
    return ColumnPlan(columns=used, components=comps, level_columns=level)


def _is_factor_dtype(dt) -> bool:
    if dt is None:
        return False
    if isinstance(dt, pd.CategoricalDtype):
        return True
    return not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)


def column_kind(s: pd.Series) -> Optional[str]:
    """``"numeric"``, ``"factor"``, ``"logical"``, None for a column with no value in this
    partition, or the pandas inferred type (``"mixed"``, ``"datetime64"``...) otherwise."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return "factor"
    if pd.api.types.is_bool_dtype(dt):
        return "logical"
    if pd.api.types.is_numeric_dtype(dt):
        return "numeric" if s.notna().any() else None
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    if inferred == "empty":
        return None
    if inferred == "string":
        return "factor"
    if inferred == "boolean":
        return "logical"
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "numeric"
    return inferred


def scan_partition(df: pd.DataFrame, plan: ColumnPlan) -> dict:
    """What pass 1 needs from one partition (runs on a worker; small result)."""
    used = df[plan.columns] if len(plan.columns) else df.iloc[:, :0]
    kinds, dtypes, cats = {}, {}, {}
    for c in plan.columns:
        s = used[c]
        kinds[c] = column_kind(s)
        dtypes[c] = str(s.dtype)
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats[c] = (list(s.cat.categories), bool(s.cat.ordered))
    complete = used.notna().all(axis=1).to_numpy() if len(plan.columns) else \
        np.ones(len(df), dtype=bool)
    ok = used[complete]
    combos = []
    for comp in plan.components:
        sub = ok[comp].copy()
        for c in comp:
            if isinstance(sub[c].dtype, pd.CategoricalDtype):
                sub[c] = sub[c].astype(object)
        combos.append(sub.drop_duplicates().reset_index(drop=True))
    return {"rows": int(len(df)), "complete": int(complete.sum()), "kinds": kinds,
            "dtypes": dtypes, "categories": cats, "combos": combos,
            "sample": ok.head(N_SAMPLE).reset_index(drop=True)}


def _unite_kinds(plan, scans):
    """Each column's kind over all partitions; dtype drift is a DataError naming the column
    and the two partitions."""
    out = {}
    for c in plan.columns:
        first = {}
        for i, sc in enumerate(scans):
            k = sc["kinds"][c]
            if k is None:
                continue
            if k not in KINDS:
                raise DataError(f"column '{c}' holds {k} values in partition {i} (dtype "
                                f"{sc['dtypes'][c]}); lmerpy reads numbers, strings, "
                                "categoricals and booleans")
            first.setdefault(k, i)
        if len(first) > 1:
            (k1, i1), (k2, i2) = sorted(first.items(), key=lambda kv: kv[1])[:2]
            raise DataError(f"column '{c}' changes type across partitions: {k1} "
                            f"({scans[i1]['dtypes'][c]}) in partition {i1} but {k2} "
                            f"({scans[i2]['dtypes'][c]}) in partition {i2}; give it one type "
                            f"in every partition (e.g. ddf['{c}'].astype(...))")
        out[c] = next(iter(first)) if first else None
    return out


def _categories(plan, scans, kinds):
    """Per factor column: (categories in order, ordered) when every partition holding values
    has it as a categorical (union in order of appearance, as R's rbind of factors), else
    None (strings: lmerpy orders them as R sorts)."""
    out = {}
    for c in plan.columns:
        if kinds.get(c) != "factor":
            continue
        parts = [sc for sc in scans if sc["kinds"][c] is not None]
        if parts and all(c in sc["categories"] for sc in parts):
            cats: List[object] = []
            seen = set()
            for sc in parts:
                for v in sc["categories"][c][0]:
                    if v not in seen:
                        seen.add(v)
                        cats.append(v)
            out[c] = (cats, all(sc["categories"][c][1] for sc in parts))
    return out


def skeleton_frame(plan, scans) -> pd.DataFrame:
    """A small frame holding every level (every combination for an interaction grouping) of
    the data's complete rows, numeric columns filled from sample rows."""
    kinds = _unite_kinds(plan, scans)
    samples = [sc["sample"] for sc in scans if len(sc["sample"])]
    if not samples:
        raise DataError("0 (non-NA) cases: every row has a missing value in a variable the "
                        "model uses (in every partition)")
    sample = pd.concat(samples, ignore_index=True)
    combos = []
    for j, comp in enumerate(plan.components):
        parts = [sc["combos"][j] for sc in scans if len(sc["combos"][j])]
        combos.append(pd.concat(parts, ignore_index=True).drop_duplicates()
                      .reset_index(drop=True))
    m = max([len(sample)] + [len(c) for c in combos])
    cols = {}
    for c in plan.columns:
        cols[c] = np.resize(sample[c].astype(object).to_numpy(), m)
    for comp, cb in zip(plan.components, combos):
        idx = np.resize(np.arange(len(cb)), m)
        for c in comp:
            cols[c] = cb[c].to_numpy()[idx]
    cats = _categories(plan, scans, kinds)
    frame = {}
    for c in plan.columns:
        k = kinds[c]
        v = cols[c]
        if k == "numeric":
            frame[c] = pd.to_numeric(pd.Series(v), errors="raise").to_numpy()
        elif k == "logical":
            frame[c] = v.astype(bool)
        elif c in cats:
            frame[c] = pd.Categorical(v, categories=cats[c][0], ordered=cats[c][1])
        else:
            frame[c] = pd.Series(v, dtype=object)
    return pd.DataFrame(frame)


#: the design checks that compare with the number of rows are made on the real n after the
#: reduction; on the skeleton they would compare with its few rows
_SKELETON_CHECKS = {"check.nobs.vs.nlev": "ignore", "check.nobs.vs.nRE": "ignore",
                    "check.nobs.vs.rankZ": "ignore", "check.rankX": "ignore",
                    "check.scaleX": "ignore", "check.response.not.const": "ignore"}


def template_design(formula, plan, scans, REML, weights, offset, contrasts, glmer=False):
    """The Design of the skeleton frame (levels, contrasts, names, terms of the whole data)."""
    from ..design import build_design
    skeleton = skeleton_frame(plan, scans)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # scale messages about the skeleton's values
        design = build_design(formula, skeleton, REML=REML, weights=weights, offset=offset,
                              contrasts=contrasts, na_action="omit", control=_SKELETON_CHECKS,
                              glmer=glmer)
    data_dependent = sorted({k[0] for k in design.info.get("state", {})
                             if isinstance(k, tuple) and k[0] in ("poly", "scale")})
    if data_dependent:
        raise FormulaError(f"{' and '.join(f'{d}()' for d in data_dependent)} on a Dask "
                           "DataFrame is not supported yet (its coefficients need a pass over "
                           "the data); compute the column before fitting")
    return design
