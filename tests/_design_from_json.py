"""Test helper: build a :class:`lmerpy.design.structures.Design` straight from a reference JSON.

The ``design`` block of ``tests/reference/*.json`` holds lme4's X, Zt and Lambdat (0-based
triplets), Lind and lower; the response comes from the bundled data set. This lets the PLS
core be tested against lme4's own design matrices, independently of lmerpy's design stage.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

import lmerpy.datasets
from lmerpy.design.structures import Design, ReTerm

REF_DIR = Path(__file__).parent / "reference"


def load_ref(case):
    with open(REF_DIR / f"{case}.json") as fh:
        return json.load(fh)


def lmm_cases_with_design():
    """Ids of the reference LMM fits (lmer) that carry a ``design`` block."""
    out = []
    for path in sorted(REF_DIR.glob("*.json")):
        ref = json.loads(path.read_text())
        if ref.get("fn") == "lmer" and ref.get("design"):
            out.append(ref["id"])
    return out


def _sparse(tr):
    return sp.csc_matrix(sp.coo_matrix((np.asarray(tr["x"], dtype=float),
                                        (np.asarray(tr["i"]), np.asarray(tr["j"]))),
                                       shape=(tr["nrow"], tr["ncol"])))


def _group_codes(df, group_name, levels):
    parts = group_name.split(":")
    lab = df[parts[0]].astype(str)
    for p in parts[1:]:
        lab = lab + ":" + df[p].astype(str)
    cat = pd.Categorical(lab, categories=levels)
    codes = np.asarray(cat.codes, dtype=np.int64)
    assert (codes >= 0).all(), f"unmatched level of {group_name}"
    return codes


def design_from_ref(ref, weights=None, offset=None, y=None):
    """A Design built from ``ref["design"]`` (optionally with other weights/offset/response)."""
    d = ref["design"]
    df = lmerpy.datasets.load(ref["data"])
    resp = ref["formula"].split("~")[0].strip()
    yv = np.asarray(df[resp], dtype=float) if y is None else np.asarray(y, dtype=float)
    X = np.asarray(d["X"], dtype=float).reshape(len(yv), -1)
    Zt = _sparse(d["Zt"])
    Lt = _sparse(d["Lambdat"])
    Lind = np.asarray(d["Lind"], dtype=np.int64)
    lower = np.array([-np.inf if v is None else float(v) for v in d["lower"]])
    theta0 = np.where(lower == 0, 1.0, 0.0)
    rownames = d["Zt_rownames"]
    reterms, flist_cols, assign = [], [], []
    row, th = 0, 0
    for key, cols in d["cnms"].items():
        gname = key if key in d["flist_names"] else re.sub(r"\.\d+$", "", key)
        nc = len(cols)
        ngr = ref["ngrps"][gname]
        levels = [rownames[row + k * nc] for k in range(ngr)]
        codes = _group_codes(df, gname, levels)
        Xi = np.zeros((len(yv), nc))
        Zr = Zt[row:row + ngr * nc].tocoo()
        lev, c = Zr.row // nc, Zr.row % nc
        ok = codes[Zr.col] == lev
        Xi[Zr.col[ok], c[ok]] = Zr.data[ok]
        reterms.append(ReTerm(gname, list(cols), levels, codes, Xi, theta_offset=th,
                              row_offset=row))
        if gname not in flist_cols:
            flist_cols.append(gname)
        assign.append(flist_cols.index(gname))
        row += ngr * nc
        th += nc * (nc + 1) // 2
    flist = pd.DataFrame({g: pd.Categorical(np.asarray(reterms[assign.index(i)].levels)[
        reterms[assign.index(i)].codes]) for i, g in enumerate(flist_cols)})
    n = len(yv)
    return Design(
        formula=None, fr=df, y=yv, X=X, X_colnames=list(d["X_colnames"]),
        offset=np.zeros(n) if offset is None else np.asarray(offset, dtype=float),
        weights=np.ones(n) if weights is None else np.asarray(weights, dtype=float),
        reterms=reterms, Zt=Zt, Lambdat=Lt, Lind=Lind, theta=theta0, lower=lower,
        theta_names=list(ref["theta_names"]), flist=flist, assign=assign,
        REML=bool(ref["REML"]))


def scalar_terms_design(df, response, X, X_colnames, groups, REML=True, weights=None,
                        offset=None):
    """A Design for intercept-only terms ``(1|g1) + (1|g2) + ...`` (in the order given)."""
    n = len(df)
    reterms, rows, cols = [], [], []
    off = 0
    for th, g in enumerate(groups):
        cat = pd.Categorical(df[g])
        cat = cat.remove_unused_categories()
        codes = np.asarray(cat.codes, dtype=np.int64)
        levels = [str(v) for v in cat.categories]
        reterms.append(ReTerm(g, ["(Intercept)"], levels, codes, np.ones((n, 1)),
                              theta_offset=th, row_offset=off))
        rows.append(off + codes)
        cols.append(np.arange(n))
        off += len(levels)
    q = off
    Zt = sp.csc_matrix(sp.coo_matrix((np.ones(n * len(groups)),
                                      (np.concatenate(rows), np.concatenate(cols))),
                                     shape=(q, n)))
    Lt = sp.identity(q, format="csc")
    Lind = np.concatenate([np.full(t.n_levels, i + 1) for i, t in enumerate(reterms)])
    ntheta = len(groups)
    flist = pd.DataFrame({g: pd.Categorical(df[g]) for g in groups})
    return Design(
        formula=None, fr=df, y=np.asarray(df[response], dtype=float),
        X=np.asarray(X, dtype=float), X_colnames=list(X_colnames),
        offset=np.zeros(n) if offset is None else offset,
        weights=np.ones(n) if weights is None else weights,
        reterms=reterms, Zt=Zt, Lambdat=Lt, Lind=Lind, theta=np.ones(ntheta),
        lower=np.zeros(ntheta), theta_names=[f"{g}.(Intercept)" for g in groups],
        flist=flist, assign=list(range(ntheta)), REML=REML)


def insteval_design(REML=True):
    """InstEval ``y ~ service + (1|s) + (1|d) + (1|dept)`` (lme4's term order s, d, dept)."""
    df = lmerpy.datasets.load("InstEval")
    X = np.column_stack((np.ones(len(df)), (df["service"].astype(str) == "1").astype(float)))
    return scalar_terms_design(df, "y", X, ["(Intercept)", "service1"], ["s", "d", "dept"],
                               REML=REML)
