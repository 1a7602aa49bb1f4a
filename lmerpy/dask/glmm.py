"""``glmer(formula, data=ddf)`` on a Dask DataFrame: PIRLS with its n-long steps on the workers.

Passes (see :mod:`lmerpy.dask` for the levels pass and the template design):

1. **Levels pass**, as for ``lmer``.
2. **Design pass**: per partition (:func:`build_part`, on a worker) the model frame, X, Z (sparse,
   the template's row layout), the family's response (:class:`lmerpy.pls.glmm.glm_response.
   GlmResponse`: its checks and warnings, named by partition) and the map from the working
   weights to Z'WZ on the partition's own pattern. The parts are *persisted* on the workers:
   no later pass rebuilds a design. The pass returns n, X'X (the rank check), Z'Z's pattern,
   the scale stand-ins and the warnings.
3. **PIRLS passes**: each evaluation of the Laplace deviance is a PIRLS run on the client
   (:func:`lmerpy.pls.glmm.reduced.pirls_products`) whose n-long steps are passes
   (:func:`eval_part`): at η = offset + Xβ + Zb each partition returns Σ deviance residuals,
   Σ aic, Σ Pearson², and the working products Z'WZ (sparse), Z'WX, X'WX, Z'Wz, X'Wz; a tree
   reduction sums them. One pass per PIRLS iteration (plus one per step halving); the products
   at each stage's start are formed once. The Laplace deviance at the mode (glmer's default
   optimizer) runs PIRLS from the previous evaluation's mode, whose last pass's products it
   reuses.
4. **Gradient passes** (:func:`gradient_part`): one per gradient of the Laplace deviance
   (:mod:`lmerpy.pls.glmm.reduced_gradient`): the client sends K'A⁻¹ on Z'Z's pattern, each
   partition returns Z'g, X'g, Z's (and the Newton-weight products for a non-canonical link).
"""
from __future__ import annotations

import math
import time
import warnings
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from ..errors import ArgumentError, DataError, DataNotHereError, LmerpyError
from .fit import add_parts

__all__ = ["GlmmPart", "build_part", "eval_part", "gradient_part", "glmer_dask", "DaskSource", "HeldParts",
           "fit_on_parts", "simulated_part", "refit_simulated"]

#: families whose Laplace deviance is reduced exactly (no dispersion parameter)
_FAMILIES = ("binomial", "poisson")


class GlmmPart:
    """One partition's design and response, kept in a worker's memory between passes.

    Attributes
    ----------
    X : ndarray (m, p)
    Zt : scipy.sparse.csc_matrix (q, m)
    Z : scipy.sparse.csr_matrix (m, q)
    resp : GlmResponse
    Pz : scipy.sparse.csr_matrix (k, m)
        Working weights -> Z'WZ's values on the partition's pattern (``rows``, ``indptr``;
        ``keys`` = column·q + row, sorted).
    """

    def __init__(self, X, Zt, resp, index, n_dropped, col_max, y_range):
        self.X = np.ascontiguousarray(X, dtype=float)
        self.Zt = sp.csc_matrix(Zt)
        self.Z = sp.csr_matrix(self.Zt.T)
        self.resp = resp
        self.index = int(index)
        self.n_dropped = int(n_dropped)
        self.col_max = col_max
        self.y_range = y_range
        q, m = self.Zt.shape
        self.q, self.m = q, m
        cnt = np.diff(self.Zt.indptr)
        k = int(cnt[0]) if m else 0
        if m and not np.all(cnt == k):
            raise LmerpyError("internal error: rows of Z hold different numbers of entries")
        R = self.Zt.indices.astype(np.int64).reshape(m, k)
        V = np.asarray(self.Zt.data, dtype=float).reshape(m, k)
        keys, vals, obs = [], [], []
        rng = np.arange(m, dtype=np.int64)
        for a in range(k):
            for b in range(k):
                keys.append(R[:, b] * q + R[:, a])           # (row R[a], column R[b])
                vals.append(V[:, a] * V[:, b])
                obs.append(rng)
        keys_a = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
        uk, inv = np.unique(keys_a, return_inverse=True)
        self.keys = uk                          # column·q + row, sorted (CSC order)
        self.rows = (uk % q).astype(np.int32)
        self.indptr = np.concatenate(([0], np.cumsum(np.bincount(uk // q, minlength=q))))
        self.Pz = sp.csr_matrix((np.concatenate(vals) if vals else np.zeros(0),
                                 (inv.ravel(), np.concatenate(obs) if obs else inv.ravel())),
                                shape=(uk.shape[0], m))

    def subset(self, keep):
        """The part with the fixed-effects columns ``keep`` (lme4's rank check)."""
        out = object.__new__(GlmmPart)
        out.__dict__.update(self.__dict__)
        out.X = np.ascontiguousarray(self.X[:, keep])
        return out

    def zwz(self, w):
        return sp.csc_matrix((self.Pz @ w, self.rows, self.indptr), shape=(self.q, self.q))


def build_part(df, template, formula, family, weights, offset, index):
    """Pass 2 on a worker: ``(part or None, summary)`` of one partition."""
    from ..pls.glmm.glm_response import GlmResponse
    from .products import partition_design
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        d = partition_design(df, template, formula, weights, offset, index, glmer=True)
        if d is None or d.get("empty"):
            nd = 0 if d is None else int(d["n_dropped"])
            return None, {"n": 0, "n_dropped": nd, "warnings": [], "empty": True}
        ns = SimpleNamespace(y=d["y"], weights=d["w"], offset=d["off"], fr=d["sub"],
                             info={"response": template.info.get("response")})
        try:
            resp = GlmResponse(ns, family)
        except DataError as e:
            raise type(e)(f"partition {index}: {e}") from None
    y = np.asarray(resp.y)
    part = GlmmPart(d["X"], d["Zt"], resp, index, len(df) - d["m"],
                    [np.max(np.abs(Xi), axis=0) for _, Xi in d["terms"]],
                    (float(y.min()), float(y.max())) if np.ndim(d["y"]) == 1 else None)
    part.y_data = d["y"]                 # as the model frame gives them (simulate's sizes)
    part.w_data = np.asarray(d["w"], dtype=float)
    X = part.X
    pattern = sp.csc_matrix((np.ones(part.rows.shape[0]), part.rows, part.indptr),
                            shape=(part.q, part.q))
    summary = {
        "empty": False, "n": part.m, "n_dropped": part.n_dropped, "XtX": X.T @ X,
        "pattern": pattern, "col_max": part.col_max,
        "x_max": np.max(np.abs(X), axis=0) if X.shape[1] else np.zeros(0),
        "y_range": part.y_range,
        "warnings": [(f"partition {index}: {r.message}", r.category) for r in rec],
    }
    return part, summary


def _part(built):
    return built[0]


def _summary(built):
    return built[1]


def combine_summaries(*parts):
    """Sum of design-pass summaries (one node of the tree reduction)."""
    out = None
    for a in parts:
        if out is None:
            out = a
            continue
        if a["empty"] or out["empty"]:
            x, e = (out, a) if a["empty"] else (a, out)
            x = dict(x)
            x["n_dropped"] = x["n_dropped"] + e["n_dropped"]
            x["warnings"] = out["warnings"] + a["warnings"]
            out = x
            continue
        ry = None if (out["y_range"] is None or a["y_range"] is None) else \
            (min(out["y_range"][0], a["y_range"][0]), max(out["y_range"][1], a["y_range"][1]))
        out = {
            "empty": False, "n": out["n"] + a["n"], "n_dropped": out["n_dropped"] + a["n_dropped"],
            "XtX": out["XtX"] + a["XtX"], "pattern": out["pattern"] + a["pattern"],
            "col_max": [np.maximum(x, y) for x, y in zip(out["col_max"], a["col_max"])],
            "x_max": np.maximum(out["x_max"], a["x_max"]), "y_range": ry,
            "warnings": out["warnings"] + a["warnings"],
        }
    return out


def eval_part(part, req):
    """A PIRLS pass on a worker: sums and working products at the requested η (see
    :meth:`lmerpy.pls.glmm.reduced.ProductsSource.evaluate`); None for an empty part."""
    if part is None:
        return None
    kind, beta_eta, b, beta_fixed, delta = req
    resp, X, p = part.resp, part.X, part.X.shape[1]
    fam = resp.family
    off = resp.offset
    if kind == "mustart":
        eta = off + fam.linkfun(resp.mustart)
    elif beta_fixed is not None:
        eta = ((off + X @ beta_eta) if p else off) + part.Z @ b
    else:
        eta = off + part.Z @ b
        if p:
            eta = eta + X @ beta_eta
    with np.errstate(all="ignore"):
        mu = fam.linkinv(eta)
        dr = resp.dev_resids(mu)
        drsum = float(dr.sum())
        aic = float(resp.aic(mu, dev=drsum))
        wrss = float(resp.wrss(mu))
        mu, w, r = resp.working_parts(eta, mu)
        off_total = off + X @ beta_fixed if (beta_fixed is not None and p) else off
        z = (eta - off_total) + r
    finite = math.isfinite(float(w.sum())) and math.isfinite(float(z.sum()))
    wX = w[:, None] * X
    out = {"drsum": drsum, "aic": aic, "wrss": wrss, "finite": finite, "M": part.zwz(w),
           "ZWX": np.asarray(part.Zt @ wX).reshape(part.q, p), "XWX": X.T @ wX,
           "ZWz": np.asarray(part.Zt @ (w * z)).reshape(-1), "XWz": wX.T @ z}
    if delta is not None:            # the precise mode's stopping rule: how far η moved
        d_eta = part.Z @ delta[1]
        if p:
            d_eta = d_eta + X @ delta[0]
        out["dmax"] = float(np.max(np.abs(d_eta), initial=0.0))
        out["emax"] = float(np.max(np.abs(eta), initial=0.0))
    return out


def gradient_part(part, req):
    """A Laplace-gradient pass on a worker (:meth:`lmerpy.pls.glmm.reduced.ProductsSource.
    gradient`): at the mode's η, h = Pz'(K'A⁻¹) through the part's own pattern, g = h ∘ dW/dη
    + a, and the sums Z'g, X'g, Z's (and the Newton-weight products when ``observed``)."""
    if part is None:
        return None
    from ..pls.glmm.family_derivs import FamilyDerivatives
    beta_eta, b, keys, values, drsum, observed = req
    resp, X, p = part.resp, part.X, part.X.shape[1]
    eta = resp.offset + part.Z @ b
    if p:
        eta = eta + X @ beta_eta
    with np.errstate(all="ignore"):
        mu = resp.family.linkinv(eta)
        fd = FamilyDerivatives(resp, eta, mu, drsum)
        pos = np.searchsorted(keys, part.keys)
        h = part.Pz.T @ values[pos]
        g = h * fd.dW + fd.a
    out = {"zg": np.asarray(part.Zt @ g).reshape(-1), "xg": X.T @ g,
           "zs": np.asarray(part.Zt @ fd.s).reshape(-1)}
    if observed:
        wo = fd.Wo
        woX = wo[:, None] * X
        out["Mo"] = part.zwz(wo)
        out["ZWoX"] = np.asarray(part.Zt @ woX).reshape(part.q, p)
        out["XWoX"] = X.T @ woX
    return out


def combine_evals(*parts):
    """Sum of PIRLS-pass partial sums."""
    return add_parts(parts, ("drsum", "aic", "wrss", "M", "ZWX", "XWX", "ZWz", "XWz"),
                     all_keys=("finite",), max_keys=("dmax", "emax"))


def combine_gradients(*parts):
    """Sum of Laplace-gradient partial sums."""
    return add_parts(parts)


def _identity(x):
    return x


def _client():
    """The active ``distributed.Client``, or None (then Dask's own scheduler runs the
    passes)."""
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None


class _Runner:
    """Map a function over the persisted parts and tree-sum the results.

    With a ``distributed.Client`` the parts are futures held on the workers and a pass is a
    ``client.map`` plus ``client.submit`` per tree node (a few milliseconds of scheduling);
    otherwise ``dask.delayed`` graphs on Dask's default scheduler.
    """

    def __init__(self, split_every):
        self.client = _client()
        self.split_every = split_every

    def build(self, data, template, formula, family, weights, offset):
        import dask
        task = dask.delayed(build_part, pure=True)
        tmpl = dask.delayed(template, traverse=False)
        built = [task(p, tmpl, formula, family, weights, offset, i)
                 for i, p in enumerate(data.to_delayed())]
        if self.client is not None:
            futs = self.client.compute(built)
            return (self.client.map(_part, futs, pure=False),
                    self.client.map(_summary, futs, pure=False))
        built = list(dask.persist(*built))
        return ([dask.delayed(_part, pure=True)(b) for b in built],
                [dask.delayed(_summary, pure=True)(b) for b in built])

    def sum(self, items, combine):
        """Tree-sum already mapped items."""
        if self.client is not None:
            level = list(items)
            if len(level) <= self.split_every:      # few parts: sum on the client (one hop)
                return combine(*self.client.gather(level))
            while len(level) > 1:
                level = [self.client.submit(combine, *level[i:i + self.split_every],
                                            pure=False)
                         for i in range(0, len(level), self.split_every)]
            return level[0].result()
        import dask
        from .fit import tree_sum
        (out,) = dask.compute(tree_sum(items, self.split_every, combine))
        return out

    def map_sum(self, func, parts, arg, combine):
        if self.client is not None:
            a = self.client.scatter(arg, hash=False) if _nbytes(arg) > 100_000 else arg
            return self.sum(self.client.map(func, parts, [a] * len(parts), pure=False),
                            combine)
        import dask
        rq = dask.delayed(_identity, pure=True)(arg)
        task = dask.delayed(func, pure=True)
        return self.sum([task(p, rq) for p in parts], combine)

    def map(self, func, parts, arg):
        if self.client is not None:
            return self.client.map(func, parts, [arg] * len(parts), pure=False)
        import dask
        return list(dask.persist(*[dask.delayed(func, pure=True)(p, arg) for p in parts]))


def _nbytes(x):
    if isinstance(x, np.ndarray):
        return x.nbytes
    if isinstance(x, (tuple, list)):
        return sum(_nbytes(v) for v in x)
    return 0


class DaskSource:
    """The products source of :class:`lmerpy.pls.glmm.reduced.ReducedGlmmDeviance` on a Dask
    cluster: each call is one pass over the persisted parts, tree-summed."""

    def __init__(self, runner, parts, log):
        self.runner = runner
        self.parts = parts
        self.log = log

    def __getstate__(self):
        return _detached(self.__dict__)

    def _run(self, req, what, func=eval_part, combine=combine_evals):
        if self.parts is None:
            raise _detached_error("its Laplace deviance")
        t0 = time.perf_counter()
        out = self.runner.map_sum(func, self.parts, req, combine)
        dt = time.perf_counter() - t0
        self.log.append((what, dt))
        if out is None:
            raise DataError("0 (non-NA) cases in every partition")
        return out

    def start(self):
        return self._run(("mustart", None, None, None, None), "pirls")

    def evaluate(self, beta_eta, b, beta_fixed=None, delta=None):
        if delta is not None:
            delta = (np.asarray(delta[0], dtype=float), np.asarray(delta[1], dtype=float))
        return self._run(("eta", np.asarray(beta_eta, dtype=float), np.asarray(b, dtype=float),
                          None if beta_fixed is None else np.asarray(beta_fixed, dtype=float),
                          delta), "pirls")

    def gradient(self, beta_eta, b, keys, values, drsum, observed):
        return self._run((np.asarray(beta_eta, dtype=float), np.asarray(b, dtype=float),
                          np.asarray(keys), np.asarray(values, dtype=float), float(drsum),
                          bool(observed)), "gradient", gradient_part, combine_gradients)


class _ScaleView:
    """The model's design as the optimizer's coordinate scales read it: X is one row of each
    column's largest |value| over the data (all :func:`~lmerpy.design.scales.column_exponents`
    reads)."""

    def __init__(self, design, x_max):
        self._design = design
        self.X = np.asarray(x_max, dtype=float).reshape(1, -1)

    def __getattr__(self, name):
        design = self.__dict__.get("_design")      # absent while unpickling
        if design is None:
            raise AttributeError(name)
        return getattr(design, name)


def glmer_dask(formula, data, family="binomial", nAGQ=1, weights=None, offset=None,
               contrasts=None, na_action="omit", control=None, start=None, verbose=0,
               backend=None, split_every=None, progress=None):
    """:func:`lmerpy.glmer` on a ``dask.dataframe.DataFrame`` (binomial, incl. ``cbind()``
    responses and weights, and Poisson with offsets; ``nAGQ`` 0 or 1). ``weights`` and
    ``offset`` name columns.

    Passes: the levels pass, the design pass (parts persisted on the workers), then one pass
    per PIRLS iteration of every deviance evaluation and one per gradient (``fit.dask_log``).
    """
    from ..arguments import BACKEND, NA_ACTION, NAGQ, VERBOSE
    from ..design.lformula import as_formula
    from ..families import as_family
    from ..optimize import as_control, glmerControl
    from .fit import SPLIT_EVERY
    fam = as_family(family)
    nAGQ = NAGQ("nAGQ", nAGQ, "glmer")
    na_action = NA_ACTION("na_action", na_action, "glmer")
    verbose = VERBOSE("verbose", verbose, "glmer")
    backend = BACKEND("backend", backend, "glmer")
    split_every = SPLIT_EVERY if split_every is None else split_every
    if fam.family not in _FAMILIES:
        raise ArgumentError(f"glmer on a Dask DataFrame supports the binomial and Poisson "
                            f"families; {fam.family!r} is not supported there yet")
    if nAGQ > 1:
        raise ArgumentError(f"nAGQ = {nAGQ} on a Dask DataFrame is not supported (adaptive "
                            "quadrature needs the observations at every node); use nAGQ = 1")
    if na_action != "omit":
        raise ArgumentError(f"na_action={na_action!r} on a Dask DataFrame is not supported "
                            "yet: rows with a missing value are dropped per partition (\"omit\")")
    if not isinstance(split_every, int) or isinstance(split_every, bool) or split_every < 2:
        raise ArgumentError(f"split_every must be an integer >= 2, not {split_every!r}")
    ctl = as_control(control, "glmer", "glmer")
    ctl = ctl if ctl is not None else glmerControl()
    f = as_formula(formula)
    if getattr(f.fixed, "has_dot", False):
        f = f.expand_dot([str(c) for c in data.columns])
    from ..design.frame import check_formula
    check_formula(f)
    from .passes import PassLog
    log = PassLog(progress, caller="glmer")
    try:
        return _glmer_passes(f, data, fam, nAGQ, weights, offset, contrasts, na_action, ctl,
                             start, verbose, backend, split_every, log, formula)
    finally:
        log.close()


def _glmer_passes(f, data, fam, nAGQ, weights, offset, contrasts, na_action, ctl, start,
                  verbose, backend, split_every, log, formula):
    from ..warnings import RankDeficiencyWarning, warn
    from .design import ReducedDesign
    from .fit import levels_pass, rank_keep
    from .levels import template_design
    plan, scans = levels_pass(f, data, weights, offset, log)
    t1 = time.perf_counter()
    template = template_design(f, plan, scans, False, weights, offset, contrasts, glmer=True)
    template.info["family"] = fam
    runner = _Runner(split_every)
    parts, summaries = runner.build(data, template, f, fam, weights, offset)
    summ = runner.sum(summaries, combine_summaries)
    t2 = time.perf_counter()
    log.append(("design", t2 - t1))
    seen = set()
    for msg, cat in summ["warnings"]:
        if msg not in seen:
            seen.add(msg)
            warn(msg, cat)
    if summ["empty"]:
        raise DataError("0 (non-NA) cases: every row has a missing value in a variable the "
                        "model uses (in every partition)")
    yr = summ["y_range"]
    if yr is not None and yr[0] == yr[1]:
        raise DataError("Response is constant")
    keep = rank_keep(summ["XtX"])
    p_full = summ["XtX"].shape[0]
    messages, dropped = [], []
    if keep.size < p_full:
        from ..design.model_matrix import rank_message
        msg = rank_message(p_full - keep.size)
        warn(msg, RankDeficiencyWarning)
        messages.append(msg)
        kept = set(keep.tolist())
        dropped = [template.X_colnames[i] for i in range(p_full) if i not in kept]
        parts = runner.map(_subset, parts, keep)
    design = ReducedDesign(template, summ["n"], keep, dropped, summ["n_dropped"],
                           summ["col_max"], messages, XtX=summ["XtX"])
    call = {"fn": "glmer", "formula": formula, "data": data, "family": fam, "nAGQ": nAGQ,
            "weights": weights, "offset": offset, "contrasts": contrasts,
            "na_action": na_action, "control": ctl, "start": start, "verbose": verbose,
            "backend": backend}
    held = HeldParts(runner, parts, summ["pattern"], summ["x_max"][keep])
    return fit_on_parts(held, design, fam, call, log)


class HeldParts:
    """What a GLMM fit on a Dask DataFrame keeps on (and about) the workers: the runner, the
    persisted parts, Z'Z's pattern and the columns' largest |values| (the scale checks) —
    enough to fit again on a new response held on the workers (the bootstrap)."""

    def __init__(self, runner, parts, pattern, x_max):
        self.runner = runner
        self.parts = parts
        self.pattern = pattern
        self.x_max = np.asarray(x_max, dtype=float)

    def with_parts(self, parts):
        return HeldParts(self.runner, parts, self.pattern, self.x_max)

    def __getstate__(self):
        return _detached(self.__dict__)


def _detached(state):
    """A pickled fit keeps no handle on the cluster: the parts are futures (or persisted
    graphs) of one client's session, which a saved fit outlives."""
    state = dict(state)
    state["runner"] = state["parts"] = None
    return state


def _detached_error(what):
    return DataNotHereError(f"{what} is not available: this fit was pickled, and its data on "
                            "the workers are not part of a saved fit (fit the model again on "
                            "the Dask DataFrame)")


def fit_on_parts(held, design, fam, call, log):
    """glmer's fitting steps on the held parts: the Laplace deviance's PIRLS passes run on
    the workers, the rest on the client."""
    from ..models.glmm import fit_glmm
    from ..pls.glmm.reduced import ReducedGlmmDeviance
    ctl, backend = call["control"], call["backend"]
    source = DaskSource(held.runner, held.parts, log)
    devfun = ReducedGlmmDeviance(design, fam, source, held.pattern, int(design.p),
                                 nAGQ=0 if ctl.nAGQ0initStep else 1, tolPwrss=ctl.tolPwrss,
                                 backend=backend, init_beta=bool(ctl.nAGQ0initStep),
                                 scale_design=_ScaleView(design, held.x_max))
    t3 = time.perf_counter()
    fit = fit_glmm(design, fam, nAGQ=call["nAGQ"], control=ctl, start=call["start"],
                   verbose=call["verbose"], backend=backend, data=call["data"], call=call,
                   devfun=devfun)
    log.append(("fit", time.perf_counter() - t3))
    fit.dask_log = log.as_list()
    fit.dask_parts = held
    return fit


def simulated_part(part, arg):
    """The part with simulation k's response (drawn from the part's own rows)."""
    if part is None:
        return None
    from types import SimpleNamespace
    from ..pls.glmm.glm_response import GlmResponse
    from .simulate import draw_rows
    spec, B, k = arg
    Y = draw_rows(spec, B, [k], part.X, part.Zt, part.resp.offset, part.w_data, part.y_data,
                  part.index)
    y = Y[:, :, 0] if Y.ndim == 3 else Y[:, 0]
    out = object.__new__(GlmmPart)
    out.__dict__.update(part.__dict__)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns = SimpleNamespace(y=y, weights=part.w_data, offset=part.resp.offset, fr=None,
                             info={"response": None})
        out.resp = GlmResponse(ns, part.resp.family)
    out.y_data = y
    return out


def refit_simulated(fit, resp):
    """``fit.refit(resp)`` of a GLMM on a Dask DataFrame for a
    :class:`~.simulate.SimulatedResponse`:
    the parts get the simulated response on the workers, then a fresh fit (its PIRLS passes
    logged in the refit's ``dask_log``)."""
    from .passes import PassLog
    held = getattr(fit, "dask_parts", None)
    if held is None:
        raise DataNotHereError("the fit no longer holds its parts on the workers")
    if held.parts is None:
        raise _detached_error("a refit on the workers")
    log = PassLog(False, caller="refit")
    t0 = time.perf_counter()
    parts = held.runner.map(simulated_part, held.parts, (resp.spec, resp.B, resp.k))
    log.append(("simulate", time.perf_counter() - t0))
    try:
        return fit_on_parts(held.with_parts(parts), fit.design, fit.family, dict(fit.call), log)
    finally:
        log.close()


def _subset(part, keep):
    return None if part is None else part.subset(keep)


def not_here(what):
    """The error for an n-long result of a fit whose data stay on the cluster."""
    return DataNotHereError(f"{what} is not available: the fit's data stay on the cluster")
