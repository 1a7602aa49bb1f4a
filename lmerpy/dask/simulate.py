"""Simulated responses and the parametric bootstrap of a fit on a Dask DataFrame.

``simulate()`` is a lazy Dask DataFrame (one partition per data partition, columns ``sim_1`` …
``sim_nsim``): each partition rebuilds its rows' model matrices with the fit's template and
draws its responses where it lives. ``bootMer()`` of a linear mixed model costs one pass per
batch of simulations: each partition draws the same responses as ``simulate()`` and returns
only their cross-products with Z and X (Z'Wỹ*, X'Wỹ*, ỹ*'Wỹ* for ỹ* = y* − offset − Xβ̂, one
column per simulation); every refit then runs on the client from the fit's reduced blocks and
those products (no further pass).

Random numbers (NumPy generators from one :class:`numpy.random.SeedSequence`): the fresh
random effects u of simulation k come from the key (0, k) on the client (q numbers per
simulation); the noise of partition i in simulation k from the key (1, i, k) on the worker.
The draws therefore do not depend on the number of workers or on the batching, and
``simulate(seed=s)`` and ``bootMer(seed=s)`` draw the same responses. They are not the draws
of the in-memory ``simulate`` (which draws all rows from one stream).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..arguments import LOGICAL, NSIM, SEED
from ..errors import ArgumentError
from .fit import add_parts

__all__ = ["simulate", "bootstrap_responses", "simulate_part", "reduce_part", "draw_rows",
           "SimulatedResponse", "BATCH"]

#: simulations per bootstrap pass (each partition holds rows × BATCH draws at once)
BATCH = 64


def _entropy(seed, caller):
    """The root entropy of the draws (a fresh one for ``seed=None``)."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2 ** 63 - 1))
    seed = SEED("seed", seed, caller)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return ss.entropy


def _rng(entropy, *key):
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=tuple(key)))


def _use_u(use_u, re_form, caller):
    """True: condition on the conditional modes; False: fresh random effects for every term
    (the whole-term choices ``use_u`` and ``re_form=None/NA``)."""
    from ..inference.reform import NA, parse_re_form
    use_u = LOGICAL("use_u", use_u, caller)
    if re_form is None:
        return use_u
    if use_u:
        raise ArgumentError("should specify only one of use_u and re_form")
    if parse_re_form(re_form, caller) is NA:
        return False
    raise ArgumentError(f"{caller}: re_form conditioning on some terms is not supported on a "
                        "Dask DataFrame yet; use use_u=True (all terms) or re_form=NA (none)")


def _fresh_effects(fit, ks, entropy, use_u):
    """Λu per simulation k in ``ks`` (q × len(ks)), on Λ's scale (relative to σ for an LMM);
    zeros when conditioning on the modes."""
    q = int(fit.design.q)
    B = np.zeros((q, len(ks)))
    if use_u:
        return B
    lt = fit.design.lambdat_at(fit.theta)
    for j, k in enumerate(ks):
        u = _rng(entropy, 0, int(k)).standard_normal(q)
        B[:, j] = np.asarray(lt.T @ u).reshape(-1)
    return B


def _kind(fit):
    """The binomial response's form: 0/1 codes of a factor, ``cbind`` counts, or numbers."""
    if fit.design.info.get("response_levels"):
        return "factor"
    resp = getattr(fit.design.formula, "response", None)
    if getattr(resp, "func", None) == "cbind" and len(getattr(resp, "args", ())) == 2:
        return "cbind"
    return "numeric"


def _spec(fit, entropy, use_u):
    call = getattr(fit, "call", None) or {}
    fam = getattr(fit, "family", None)
    return {"design": fit.design, "formula": fit.design.formula,
            "weights": call.get("weights"), "offset": call.get("offset"),
            "beta": np.asarray(fit.fixef().to_numpy(), dtype=float),
            "b": np.asarray(fit.getME("b"), dtype=float).reshape(-1),
            "family": fam, "sigma": float(fit.sigma()), "entropy": entropy,
            "use_u": bool(use_u), "kind": _kind(fit) if fam is not None else "numeric",
            "levels": list(fit.design.info.get("response_levels") or [])}


def _draw(spec, B, ks, df, index):
    """(partition design, η without fresh effects (m,), draws (m, len(ks)) or (m, 2, len(ks)))
    of one partition; (None, None, None) without complete rows."""
    from .products import partition_design
    d = partition_design(df, spec["design"], spec["formula"], spec["weights"], spec["offset"],
                         index, glmer=spec["family"] is not None)
    if d is None or d.get("empty"):
        return None, None, None
    eta = _eta(spec, d["X"], d["Zt"], d["off"])
    return d, eta, draw_rows(spec, B, ks, d["X"], d["Zt"], d["off"], d["w"], d["y"], index,
                             eta=eta)


def _eta(spec, X, Zt, off):
    m = Zt.shape[1]
    eta = np.asarray(off, dtype=float).reshape(m) + (X @ spec["beta"] if X.shape[1] else 0.0)
    if spec["use_u"]:
        eta = eta + np.asarray(Zt.T @ spec["b"]).reshape(m)
    return np.asarray(eta, dtype=float).reshape(m)


def draw_rows(spec, B, ks, X, Zt, off, w, y, index, eta=None):
    """The draws of simulations ``ks`` on rows with model matrices X, Zt (q × m), offset,
    prior weights and (for ``cbind`` sizes) response y: (m, len(ks)), or (m, 2, len(ks)) for
    ``cbind``; an LMM's on σ's scale without η (σ(ZΛu + ε/√w) = σ × this)."""
    fam = spec["family"]
    m = Zt.shape[1]
    eta = _eta(spec, X, Zt, off) if eta is None else eta
    reff = np.asarray(Zt.T @ B, dtype=float).reshape(m, len(ks))
    w = np.asarray(w, dtype=float).reshape(m)
    idx = 0 if index is None else int(index)
    if fam is None:                       # LMM: Λu and ε/√w on σ's scale
        sd = 1.0 / np.sqrt(np.where(w > 0, w, 1.0))
        noise = np.column_stack([_rng(spec["entropy"], 1, idx, int(k)).standard_normal(m)
                                 for k in ks]) if len(ks) else np.zeros((m, 0))
        return reff + noise * sd[:, None]
    from ..inference.simulate import draw_family
    mu = np.asarray(fam.linkinv(eta[:, None] + reff), dtype=float)
    size = None
    if spec["kind"] == "cbind":
        size = w * np.asarray(y, dtype=float).sum(axis=1)
    sigma = spec["sigma"] if getattr(fam, "has_scale", False) else 1.0
    cols = [draw_family(fam, mu[:, j:j + 1], w, sigma, _rng(spec["entropy"], 1, idx, int(k)),
                        kind=spec["kind"], size=size)
            for j, k in enumerate(ks)]               # each (m, 1), or (m, 2, 1) for cbind
    if not cols:
        return np.zeros((m, 2, 0) if spec["kind"] == "cbind" else (m, 0))
    return np.concatenate(cols, axis=-1)


def _names(spec, nsim):
    names = [f"sim_{k + 1}" for k in range(nsim)]
    if spec["kind"] != "cbind":
        return names
    resp = spec["formula"].response
    args = [a.deparse() for a in getattr(resp, "args", ())] or ["successes", "failures"]
    return [f"{s}.{a}" for s in names for a in args]


def _frame(spec, Y, index, nsim):
    names = _names(spec, nsim)
    if spec["kind"] == "cbind":
        flat = np.concatenate([Y[:, :, k] for k in range(nsim)], axis=1)
        return pd.DataFrame(flat, index=index, columns=names)
    if spec["kind"] == "factor":
        return pd.DataFrame({nm: pd.Categorical.from_codes((Y[:, k] > 0).astype(np.int64),
                                                           categories=spec["levels"])
                             for k, nm in enumerate(names)}, index=index)
    return pd.DataFrame(Y, index=index, columns=names)


def simulate_part(df, spec, B, nsim, partition_info=None):
    """The simulated responses of one partition's complete rows (a pandas DataFrame)."""
    index = None if partition_info is None else partition_info.get("number")
    ks = list(range(nsim))
    d, eta, Y = _draw(spec, B, ks, df, index)
    if d is None:
        return _frame(spec, np.zeros((0, 2, nsim)) if spec["kind"] == "cbind"
                      else np.zeros((0, nsim)), df.index[:0], nsim)
    if spec["family"] is None:
        Y = eta[:, None] + spec["sigma"] * Y          # η + σ(ZΛu + ε/√w)
    return _frame(spec, Y, d["sub"].index, nsim)


def simulate(fit, nsim=1, seed=None, use_u=False, re_form=None):
    """``fit.simulate(nsim, seed, use_u, re_form)`` of a fit on a Dask DataFrame: a lazy Dask
    DataFrame with the data's partitions (complete rows only), columns ``sim_1`` … (for a
    ``cbind`` response ``sim_k.<successes>`` and ``sim_k.<failures>``)."""
    nsim = NSIM("nsim", nsim, "simulate")
    cond = _use_u(use_u, re_form, "simulate")
    entropy = _entropy(seed, "simulate")
    spec = _spec(fit, entropy, cond)
    B = _fresh_effects(fit, range(nsim), entropy, cond)
    meta = simulate_part(fit.data._meta, spec, B, nsim)
    return fit.data.map_partitions(simulate_part, spec, B, nsim, meta=meta,
                                   align_dataframes=False)


# ----------------------------------------------------------------------------- bootstrap


class SimulatedResponse:
    """A simulated response of a GLMM fit on a Dask DataFrame, drawn on the workers when a
    refit needs it (``fit.refit(resp)``: bootMer): simulation ``k`` of
    :func:`simulate` with the same seed."""

    def __init__(self, spec, B, k):
        self.spec = spec
        self.B = np.asarray(B, dtype=float).reshape(-1, 1)
        self.k = int(k)


def reduce_part(df, spec, B, ks, index):
    """One bootstrap pass on a worker: per simulation k in ``ks`` the products of
    ỹ* = y* − offset − Xβ̂ with W: Z'Wỹ* (q × K), X'Wỹ* (p × K), ỹ*'Wỹ* (K); None without
    complete rows."""
    d, eta, Y = _draw(spec, B, ks, df, index)
    if d is None:
        return None
    s = spec["sigma"]
    R = s * Y                                             # σ(Zb* + ε/√w)
    if spec["use_u"]:
        R = R + np.asarray(d["Zt"].T @ spec["b"]).reshape(-1, 1)
    w = np.asarray(d["w"], dtype=float).reshape(-1, 1)
    WR = w * R
    return {"ZtWR": np.asarray(d["Zt"] @ WR), "XtWR": d["X"].T @ WR,
            "RWR": np.einsum("mk,mk->k", R, WR)}


def combine_reduced(*parts):
    return add_parts(parts, ("ZtWR", "XtWR", "RWR"))


def bootstrap_responses(fit, nsim, seed, use_u=False, re_form=None, progress=None):
    """The simulated responses of ``bootMer(fit, ...)`` on a Dask DataFrame, one per
    simulation, for ``fit.refit``. A linear mixed model's are reduced response products: one
    pass per :data:`BATCH` simulations, logged in ``fit.dask_log`` as ``"bootstrap"``; the
    refits need no pass. A GLMM's are :class:`SimulatedResponse` s, drawn on the
    workers by each refit (a distributed PIRLS fit: hundreds of passes per simulation)."""
    import dask
    from ..pls.crossprod import reduced_response
    from .fit import SPLIT_EVERY, tree_sum
    from .passes import PassLog
    nsim = NSIM("nsim", nsim, "bootMer")
    cond = _use_u(use_u, re_form, "bootMer")
    entropy = _entropy(seed, "bootMer")
    spec = _spec(fit, entropy, cond)
    if getattr(fit, "family", None) is not None:    # drawn on the workers at each refit
        spec = dict(spec, design=None)
        return [SimulatedResponse(spec, _fresh_effects(fit, [k], entropy, cond), k)
                for k in range(nsim)]
    beta = spec["beta"]
    q, p = int(fit.design.q), beta.shape[0]
    log = PassLog(progress, desc="lmerpy bootstrap passes", caller="bootMer")
    out = []
    try:
        parts = fit.data.to_delayed()
        task = dask.delayed(reduce_part, pure=True)
        for k0 in range(0, nsim, BATCH):
            t0 = time.perf_counter()
            ks = list(range(k0, min(nsim, k0 + BATCH)))
            B = dask.delayed(_fresh_effects(fit, ks, entropy, cond), traverse=False)
            sp = dask.delayed(spec, traverse=False)
            mapped = [task(df, sp, B, ks, i) for i, df in enumerate(parts)]
            (red,) = dask.compute(tree_sum(mapped, SPLIT_EVERY, combine_reduced))
            for j in range(len(ks)):
                out.append(reduced_response(red["ZtWR"][:, j], red["XtWR"][:, j],
                                            red["RWR"][j], beta, q, p))
            log.append(("bootstrap", time.perf_counter() - t0))
    finally:
        log.close()
    if getattr(fit, "dask_log", None) is not None:
        fit.dask_log.extend(log.as_list())
    return out
