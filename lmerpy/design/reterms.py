"""Random-effects terms: grouping factors, Zt, the Λ' template and θ/par layout (from each term's
covariance structure, :mod:`lmerpy.design.covariance`), lme4's checks.

R equivalents: ``lme4::mkReTrms`` and ``mkBlist`` (grouping factor via ``%i%``, raw model
matrix of the bar's left side, Khatri-Rao product for Zt, term reordering, ``Lambdat``,
``Lind``, ``theta``, ``lower``, ``flist`` with its ``assign``), ``tnames`` (θ names) and the
checks ``checkNlevels`` and ``checkZdims``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DesignError, FormulaError
from ..warnings import DesignWarning, warn
from .covariance import STRUCTURES, CovarianceLayout, make_covariance
from .values import Factor, drop_unused, to_factor
from .model_matrix import model_matrix
from .naming import var_name
from .sparse import index_dtype, trusted_csc
from .structured_terms import structured_term_checks
from .structures import ReTerm, lazy, lazy_fields

__all__ = ["interact", "grouping_factor", "RandomEffects", "build_reterms", "term_covariance",
           "lambdat_template", "build_zt", "theta_names", "DEFAULT_CHECKS", "GLMER_CHECKS"]

DEFAULT_CHECKS = {
    "check.nobs.vs.rankZ": "ignore", "check.nobs.vs.nlev": "stop", "check.nlev.gtreq.5": "ignore",
    "check.nlev.gtr.1": "stop", "check.nobs.vs.nRE": "stop", "check.rankX": "message+drop.cols",
    "check.scaleX": "warning", "check.formula.LHS": "stop",
}
GLMER_CHECKS = dict(DEFAULT_CHECKS, **{"check.response.not.const": "stop"})


def interact(f1: Factor, f2: Factor) -> Factor:
    """lme4's ``f1 %i% f2``: the combinations present, labelled ``"l1:l2"``, ordered with the
    first factor varying slowest."""
    n2 = len(f2.levels)
    miss = (f1.codes < 0) | (f2.codes < 0)
    key = np.where(miss, -1, f1.codes * n2 + f2.codes)
    uniq, inv = np.unique(key[~miss], return_inverse=True)
    codes = np.full(key.shape[0], -1, dtype=np.int64)
    codes[~miss] = inv
    levels = [f"{f1.levels[k // n2]}:{f2.levels[k % n2]}" for k in uniq.tolist()]
    return Factor(codes, levels)


def grouping_factor(group_exprs, values: Dict[Any, Any]) -> Factor:
    """The grouping factor of a bar (R: ``factor(eval(makeFac(a %i% b)), exclude = NA)``)."""
    facs = [to_factor(values[g], var_name(g)) for g in group_exprs]
    f = facs[0]
    for g in facs[1:]:
        f = interact(f, g)
    return drop_unused(Factor(f.codes, list(f.levels), False, False))


#: Λ' templates of up to this many rows are remembered by term structure (a model refitted or
#: fitted again has the same one); larger ones are cheap next to the fit and not kept
_TEMPLATE_CACHE_Q = 5_000


@functools.lru_cache(maxsize=32)
def _lambdat_parts(covariances, n_levels):
    """Read-only (rows, Lind, indptr, theta, lower, q) of the Λ' template of the terms with
    these covariance structures and numbers of levels."""
    lay = CovarianceLayout(covariances)
    lam, lind = lay.lambdat_template(n_levels)
    theta0 = lay.par_to_theta(lay.start)
    out = (lam.indices, lind, lam.indptr, theta0, lay.lower, lam.shape[0])
    for a in out[:-1]:
        a.flags.writeable = False
    return out


def lambdat_template(terms: List[ReTerm]):
    """lme4's ``Lambdat`` (CSC, at the starting θ), ``Lind`` (1-based), ``theta`` and the
    lower bounds of ``par`` (R: ``upReTrms``), from each term's covariance structure
    (:meth:`lmerpy.design.covariance.CovarianceLayout.lambdat_template`).

    Fresh arrays every call (the pattern of a structure seen before is remembered)."""
    covs = tuple(t.covariance for t in terms)
    nls = tuple(int(t.n_levels) for t in terms)
    if sum(c.k * nl for c, nl in zip(covs, nls)) <= _TEMPLATE_CACHE_Q:
        parts = _lambdat_parts(covs, nls)
    else:
        parts = _lambdat_parts.__wrapped__(covs, nls)
    rows, lind, indptr, theta0, lower0, q = parts
    lam = trusted_csc(theta0[lind - 1], rows.copy(), indptr.copy(), (q, q))
    return lam, lind.copy(), theta0.copy(), lower0.copy()


def build_zt(terms: List[ReTerm], n: int) -> sp.csc_matrix:
    """Zt (q x n, CSC): column j holds, for each term, ``X_i[j, :]`` at rows
    ``offset_i + level_j * p_i + (0..p_i-1)``; explicit zeros dropped (lme4's ``drop0``)."""
    q = sum(t.n_rows for t in terms)
    if not terms:
        return sp.csc_matrix((0, n))
    k = sum(t.n_columns for t in terms)
    idx = index_dtype(q, n, n * k)
    rows: np.ndarray = np.empty((n, k), dtype=idx)       # one row of this per column of Zt
    vals = np.empty((n, k))
    c = 0
    for t in terms:
        p = t.n_columns
        base: np.ndarray = np.asarray(t.codes).astype(idx)
        if p > 1:
            base *= p
        base += t.row_offset
        for j in range(p):
            np.add(base, j, out=rows[:, c + j])
        vals[:, c:c + p] = np.asarray(t.X, dtype=float).reshape(n, p)
        c += p
    data, indices = vals.reshape(-1), rows.reshape(-1)
    indptr: np.ndarray = np.arange(0, n * k + 1, k, dtype=idx)
    zeros = np.flatnonzero(data == 0)
    if zeros.size:             # drop explicit zeros; each column loses its own
        keep = np.ones(data.shape[0], dtype=bool)
        keep[zeros] = False
        data, indices = data[keep], indices[keep]
        del keep
        indptr[1:] -= np.cumsum(np.bincount(zeros // k, minlength=n)).astype(idx)
    return trusted_csc(data, indices, indptr, (q, n))


def theta_names(terms: List[ReTerm]) -> List[str]:
    """lme4's names of θ (``tnames``; lme4 2.x's ``getThetaNames``): ``g.c`` for a diagonal
    entry, ``g.row.col`` below the diagonal."""
    return CovarianceLayout([t.covariance for t in terms]).theta_names(
        [(t.group_name, list(t.cnms)) for t in terms])


@dataclass
class RandomEffects:
    """The random-effects part of a design (R: ``reTrms``)."""

    terms: List[ReTerm]
    Zt: sp.csc_matrix
    Lambdat: sp.csc_matrix
    Lind: np.ndarray
    theta: np.ndarray
    lower: np.ndarray
    theta_names: List[str]
    flist: pd.DataFrame
    assign: List[int]
    messages: List[str]


lazy_fields(RandomEffects, "flist", "theta_names")   # built on first access


def _act(level: str, msg: str, exc=DesignError):
    if level == "stop":
        raise exc(msg)
    if level in ("warning", "message"):
        warn(msg, DesignWarning)


def build_reterms(random_terms, values: Dict[Any, Any], n: int,
                  checks: Optional[Dict[str, str]] = None, glmer: bool = False) -> RandomEffects:
    """Build every random-effects term and lme4's Λ/θ structures.

    Parameters
    ----------
    random_terms : sequence of lmerpy.formula.terms.RandomTerm
    values : dict
        The model frame's variables.
    n : int
        Number of observations.
    checks : dict, optional
        lme4's ``check.*`` levels (``"stop"``, ``"warning"``, ``"ignore"``).
    glmer : bool
        Use glmer's comparisons (``allow.n = TRUE``: a term may have as many levels or random
        effects as observations).
    """
    if not random_terms:
        raise FormulaError("No random effects terms specified in formula")
    checks = dict(GLMER_CHECKS if glmer else DEFAULT_CHECKS, **(checks or {}))
    built: List[Any] = []
    for rt in random_terms:
        ff = grouping_factor(rt.group, values)
        X_i, spec = model_matrix(rt.lhs, values, None, n=n)
        label = f"{rt.lhs_text} | {rt.group_label}"
        if X_i.shape[1] == 0:
            raise DesignError(f"random-effects term ({label}) has no columns: its left side "
                              f"'{rt.lhs_text}' is empty")
        if np.isnan(X_i).any():
            raise DesignError(f"NA in Z (random-effects model matrix) for term ({label})")
        built.append((rt, ff, X_i, spec, label, term_covariance(rt, X_i.shape[1], label)))
    checks = structured_term_checks([(b[0], b[3]) for b in built], checks)
    nl = [len(b[1].levels) for b in built]
    if any(b > a for a, b in zip(nl, nl[1:])):
        order = np.argsort(np.array(nl), kind="stable")[::-1]
        built = [built[i] for i in order]
    terms: List[ReTerm] = []
    row_off = theta_off = par_off = 0
    for rt, ff, X_i, spec, label, cov in built:
        t = ReTerm(group_name=rt.group_label, cnms=list(spec.colnames), levels=list(ff.levels),
                   codes=np.asarray(ff.codes, dtype=np.int64), X=X_i, theta_offset=theta_off,
                   row_offset=row_off, term_label=label, group_exprs=tuple(rt.group),
                   lhs_spec=spec, double_bar=bool(getattr(rt, "double_bar", False)),
                   covariance=cov, par_offset=par_off)
        terms.append(t)
        row_off += t.n_rows
        theta_off += t.n_theta
        par_off += t.n_par
    # flist: distinct grouping factors by name, in term order
    names = [t.group_name for t in terms]
    unique = list(dict.fromkeys(names))
    assign = [unique.index(nm) for nm in names]
    first = {nm: names.index(nm) for nm in unique}

    def flist():
        return pd.DataFrame({nm: pd.Categorical.from_codes(terms[first[nm]].codes,
                                                           categories=terms[first[nm]].levels)
                             for nm in unique})
    messages = _check_levels(unique, [terms[first[nm]].n_levels for nm in unique], n, checks,
                             glmer)
    messages += _check_zdims(terms, n, checks, glmer)
    Zt = build_zt(terms, n)
    lam, lind, theta0, lower0 = lambdat_template(terms)
    return RandomEffects(terms=terms, Zt=Zt, Lambdat=lam, Lind=lind, theta=theta0, lower=lower0,
                         theta_names=lazy(lambda: theta_names(terms)), flist=flist, assign=assign,
                         messages=messages)


def term_covariance(random_term, k: int, label: str = ""):
    """The covariance structure of a random-effects term with ``k`` columns, from the
    parsed term's ``structure`` (``"us"`` — the default —, ``"diag"``, ``"cs"``, ``"ar1"``:
    lme4 2.x's ``us(x | g)``... specials) and ``hom`` (True, False, or None for lme4's
    default of the structure)."""
    kind = getattr(random_term, "structure", None) or "us"
    hom = getattr(random_term, "hom", None)
    where = f" in the random-effects term ({label})" if label else ""
    if kind not in STRUCTURES:
        raise FormulaError(f"unknown covariance structure {kind!r}{where}; use one of "
                           f"{', '.join(STRUCTURES)}")
    if hom is not None and not isinstance(hom, (bool, np.bool_)):
        raise FormulaError(f"'hom' is not TRUE or FALSE in special call {kind}(){where}; "
                           f"got hom={hom!r}")
    if kind == "us" and hom is not None:
        raise FormulaError(f"us() has no argument 'hom'{where}; got hom={hom!r}")
    return make_covariance(kind, int(k), None if hom is None else bool(hom))


def _check_levels(names, nlevels, n, checks, allow_n):
    out = []
    nlev = [int(k) for k in nlevels]
    lvl = checks.get("check.nlev.gtr.1", "stop")
    if lvl != "ignore" and any(k < 2 for k in nlev):
        bad = [nm for nm, k in zip(names, nlev) if k < 2]
        msg = f"grouping factors must have > 1 sampled level (problems: {', '.join(bad)})"
        _act(lvl, msg)
        out.append(msg)
    lvl = checks.get("check.nobs.vs.nlev", "stop")
    bad_mask = [k > n if allow_n else k >= n for k in nlev]
    if lvl != "ignore" and any(bad_mask):
        bad = [nm for nm, b in zip(names, bad_mask) if b]
        msg = (f"number of levels of each grouping factor must be {'<=' if allow_n else '<'} "
               f"number of observations (problems: {', '.join(bad)})")
        _act(lvl, msg)
        out.append(msg)
    lvl = checks.get("check.nlev.gtreq.5", "ignore")
    if lvl != "ignore" and any(k < 5 for k in nlev):
        msg = "grouping factors with < 5 sampled levels may give unreliable estimates"
        _act(lvl, msg)
        out.append(msg)
    return out


def _check_zdims(terms, n, checks, allow_n):
    lvl = checks.get("check.nobs.vs.nRE", "stop")
    out = []
    if lvl == "ignore":
        return out
    for t in terms:
        q = t.n_rows
        unident = n < q if allow_n else n <= q
        if unident:
            rstr = "" if allow_n else " and the residual variance (or scale parameter)"
            msg = (f"number of observations (={n}) {'<' if allow_n else '<='} number of random "
                   f"effects (={q}) for term ({t.term_label}); the random-effects parameters"
                   f"{rstr} are probably unidentifiable")
            _act(lvl, msg)
            if msg not in out:
                out.append(msg)
    return out
