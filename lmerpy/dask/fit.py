"""``lmer(formula, data=ddf)`` on a Dask DataFrame: two passes over the data, then the fit.

See :mod:`lmerpy.dask` for the contract. The passes run on whatever scheduler Dask uses (a
``distributed.Client`` when one is active); the client receives per-partition level sets in
pass 1 and the reduced cross-products in pass 2, never rows of data (except a few sample
rows per partition, for the skeleton's numeric columns).
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..arguments import BACKEND, LOGICAL, NA_ACTION, VERBOSE
from ..errors import ArgumentError, DataError, LmerpyError
from ..warnings import RankDeficiencyWarning, warn

__all__ = ["levels_pass", "lmer_dask", "reduce_products", "rank_keep", "scan_levels", "tree_sum", "SPLIT_EVERY"]

#: partial sums combined per node of the tree reduction
SPLIT_EVERY = 8


def tree_sum(parts, split_every, combine=None):
    """Sum delayed partial sums in a tree (``split_every`` per node, ``combine(*parts)`` at
    each; the cross-products' :func:`.products.combine_many` by default): log depth, and only
    partial sums travel between workers."""
    import dask
    from .products import combine_many
    node = dask.delayed(combine_many if combine is None else combine, pure=True)
    level = list(parts)
    while len(level) > 1:
        level = [node(*level[i:i + split_every]) for i in range(0, len(level), split_every)]
    return level[0]


def add_parts(parts, keys=None, all_keys=(), max_keys=()):
    """One node of a tree reduction of dict partial sums: ``keys`` added (every key when None),
    ``all_keys`` and-ed, ``max_keys`` (where present) maxed; ``None`` parts (partitions
    without rows) skipped."""
    out = None
    for a in parts:
        if a is None:
            continue
        if out is None:
            out = dict(a)
            continue
        for k in (a if keys is None else keys):
            out[k] = out[k] + a[k]
        for k in all_keys:
            out[k] = out[k] and a[k]
        for k in max_keys:
            if k in out:
                out[k] = max(out[k], a[k])
    return out


def reduce_products(ddf, template, formula, weights, offset, split_every=SPLIT_EVERY):
    """Pass 2: the reduced partial sums of every partition (a dict; None if no row is
    complete)."""
    import dask
    from .products import partition_products
    parts = ddf.to_delayed()
    task = dask.delayed(partition_products, pure=True)
    tmpl = dask.delayed(template, traverse=False)
    mapped = [task(p, tmpl, formula, weights, offset, i) for i, p in enumerate(parts)]
    (out,) = dask.compute(tree_sum(mapped, split_every))
    return out


def scan_levels(ddf, plan):
    """Pass 1: each partition's column kinds, levels and sample rows."""
    import dask
    from .levels import scan_partition
    task = dask.delayed(scan_partition, pure=True)
    return list(dask.compute(*[task(p, plan) for p in ddf.to_delayed()]))


def rank_keep(XtX):
    """lme4's kept columns (``qr(X, tol = 1e-7)``), from X'X: a square root S of X'X (S'S =
    X'X) has the same column inner products as X, hence the same selection."""
    from ..design.model_matrix import drop_rank_deficient
    p = XtX.shape[0]
    if not p:
        return np.zeros(0, dtype=np.int64)
    lam, V = np.linalg.eigh(0.5 * (XtX + XtX.T))
    S = (V * np.sqrt(np.clip(lam, 0.0, None))) @ V.T
    return drop_rank_deficient(S)


def _scalar_intercept_start(design, red):
    """lme4's start for models whose random terms are all scalar intercepts on distinct
    grouping factors (:func:`lmerpy.optimize.lme4_start`), from the reduced sums:
    v_i = Σ_l n_l (ȳ_l − ȳ)² / (n − 1), v_e = var(y) − Σ v_i; None when it does not apply."""
    terms = list(design.reterms)
    if not terms or any(list(t.cnms) != ["(Intercept)"] for t in terms):
        return None
    if len({t.group_name for t in terms}) != len(terms) or not design.layout.is_identity:
        return None
    n = red["n"]
    if n < 2:
        return None
    v = []
    for t in terms:
        sl = slice(int(t.row_offset), int(t.row_offset) + int(t.n_rows))
        cnt, ys = red["z_count"][sl], red["z_ysum"][sl]
        ok = cnt > 0
        means = ys[ok] / cnt[ok]
        v.append(float(np.sum(cnt[ok] * (means - red["y_mean"]) ** 2)) / (n - 1))
    v = np.array(v)
    v_e = red["y_m2"] / (n - 1) - v.sum()
    if not (np.isfinite(v_e) and v_e > 0):
        return None
    v_rel = v / v_e
    lo = np.asarray(design.lower, dtype=float)
    if np.all(v_rel >= np.where(np.isfinite(lo), lo, 0.0) ** 2):
        return np.sqrt(v_rel)
    return None


def lmer_dask(formula, data, REML=True, weights=None, offset=None, contrasts=None,
              na_action="omit", control=None, start=None, verbose=0, backend=None,
              split_every=SPLIT_EVERY, progress=None):
    """:func:`lmerpy.lmer` on a ``dask.dataframe.DataFrame`` (same arguments; ``weights`` and
    ``offset`` name columns). Two passes over the data: the levels pass and the
    cross-products pass (see :mod:`lmerpy.dask`); the fit itself runs on the client.

    The result is a :class:`~lmerpy.models.LinearMixedModel`: ``summary()`` (without the
    scaled-residual quantiles, which need the data), ``fixef``, ``ranef``, ``VarCorr``,
    ``vcov``, ``sigma``, ``logLik``, ``AIC``/``BIC``, ``anova``, Wald and profile ``confint``
    work from the reduced blocks; ``fitted``, ``residuals``, ``predict`` and ``simulate`` are
    lazy Dask objects; ``bootMer`` simulates and reduces on the cluster (one pass per batch);
    ``model_matrix`` raises :class:`~lmerpy.errors.DataNotHereError`.
    """
    from ..design.lformula import as_formula
    REML = LOGICAL("REML", REML, "lmer")
    na_action = NA_ACTION("na_action", na_action, "lmer")
    verbose = VERBOSE("verbose", verbose, "lmer")
    backend = BACKEND("backend", backend, "lmer")
    if na_action != "omit":
        raise ArgumentError(f"na_action={na_action!r} on a Dask DataFrame is not supported yet: "
                            "rows with a missing value are dropped per partition (\"omit\")")
    if not isinstance(split_every, int) or isinstance(split_every, bool) or split_every < 2:
        raise ArgumentError(f"split_every must be an integer >= 2, not {split_every!r}")
    f = as_formula(formula)
    if getattr(f.fixed, "has_dot", False):
        f = f.expand_dot([str(c) for c in data.columns])
    if f.response is None:
        from ..design.frame import check_formula
        check_formula(f)
    from .passes import PassLog
    log = PassLog(progress, caller="lmer")
    try:
        return _lmer_passes(f, data, REML, weights, offset, contrasts, na_action, control,
                            start, verbose, backend, split_every, log, formula)
    finally:
        log.close()


def levels_pass(f, data, weights, offset, log):
    """The columns' plan and the one pass over the data that fixes the factor levels (R's
    order) and checks the dtypes, logged as the "levels" pass."""
    from .levels import plan_columns
    t0 = time.perf_counter()
    plan = plan_columns(f, data.columns, dict(data.dtypes.items()), weights, offset)
    scans = scan_levels(data, plan)
    log.append(("levels", time.perf_counter() - t0))
    return plan, scans


def _lmer_passes(f, data, REML, weights, offset, contrasts, na_action, control, start,
                 verbose, backend, split_every, log, formula):
    from ..models.lmm import LinearMixedModel, optimizeLmer
    from ..models.start import start_parts
    from ..pls import LmmDeviance
    from ..pls.crossprod import ReducedProducts
    from .design import ReducedDesign
    from .levels import template_design
    plan, scans = levels_pass(f, data, weights, offset, log)
    t1 = time.perf_counter()
    template = template_design(f, plan, scans, REML, weights, offset, contrasts)
    red = reduce_products(data, template, f, weights, offset, split_every)
    t2 = time.perf_counter()
    log.append(("cross-products", t2 - t1))
    if red is None or red.get("empty"):
        raise DataError("0 (non-NA) cases: every row has a missing value in a variable the "
                        "model uses (in every partition)")
    n = red["n"]
    if red["yo_max"] - red["yo_min"] == 0:
        resp = f.response.deparse()
        raise DataError(f"the response is constant ({resp} = {red['yo_min']:g} in every row): "
                        "the residual variance cannot be estimated")
    keep = rank_keep(red["XtX"])
    p_full = red["XtX"].shape[0]
    messages, dropped = [], []
    if keep.size < p_full:
        from ..design.model_matrix import rank_message
        msg = rank_message(p_full - keep.size)
        warn(msg, RankDeficiencyWarning)
        messages.append(msg)
        kept = set(keep.tolist())
        dropped = [template.X_colnames[i] for i in range(p_full) if i not in kept]
        c = np.zeros(p_full)
        A = red["XtWX"][np.ix_(keep, keep)]
        b = (red["XtWX"] @ red["shift"] + red["XtWe"])[keep]
        c[keep] = np.linalg.lstsq(A, b, rcond=None)[0]
        from .products import recenter
        red = recenter(red, c)
    _check_weight_scale(red["w_max"])
    design = ReducedDesign(template, n, keep, dropped, red["n_dropped"], red["col_max"],
                           messages, XtX=red["XtX"])
    products = ReducedProducts(red["ZtWZ"], red["ZtWX"][:, keep],
                               red["XtWX"][np.ix_(keep, keep)], red["ZtWe"], red["XtWe"][keep],
                               red["eWe"], red["shift"][keep], n)
    devfun = LmmDeviance.from_products(design, products, red["sum_log_w"], REML=REML,
                                       backend=backend)
    control = _as_control(control)
    par0, _ = start_parts(start, design, fixef_used=False)
    if par0 is None:
        par0 = _scalar_intercept_start(design, red)
    if par0 is None:
        from ..design.scales import start_par
        par0 = start_par(design)
    opt = optimizeLmer(devfun, start=par0, control=control, verbose=verbose)
    log.append(("fit", time.perf_counter() - t2))
    sol = devfun.solve(np.asarray(opt.theta, dtype=float))
    from ..models.finite import check_finite_fit
    check_finite_fit(design, sol)
    call = dict(formula=formula, data=data, REML=REML, weights=weights, offset=offset,
                contrasts=contrasts, na_action=na_action, control=control, start=start,
                verbose=verbose, backend=backend)
    fit = LinearMixedModel(design, devfun, opt, sol, data=data, call=call)
    fit.dask_log = log.as_list()
    return fit


def _as_control(control):
    from ..optimize import as_control, lmerControl
    c = as_control(control, "lmer", "lmer")
    return c if c is not None else lmerControl()


def _check_weight_scale(w_max):
    """The in-memory fit rescales θ for weights beyond 2^(±2·SCALE_EXPONENT)
    (:func:`lmerpy.design.scales.weight_exponent`); not on this path yet."""
    from ..design.scales import SCALE_EXPONENT
    if w_max > 0 and math.isfinite(w_max) and abs(math.log2(w_max)) > 2 * SCALE_EXPONENT:
        raise LmerpyError(f"prior weights on an extreme scale (largest {w_max:.3g}) are not "
                          "supported on a Dask DataFrame yet; divide them by a power of 2")
