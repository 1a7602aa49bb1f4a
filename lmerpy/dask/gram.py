"""One pass for cross-products of recoded fixed-effects matrices (lmerTest's type III
hypotheses of a fit on a Dask DataFrame).

Each partition rebuilds its complete rows' X (the fit's template) and the model matrices of
the given recoded designs on the same rows, and returns A'A for A = [X, M₁, M₂, …]; a tree
reduction sums them. Only a (p + Σ width)² matrix reaches the client.
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["gram_part", "gram_pass"]


def gram_part(df, spec, designs, index):
    """A'A of one partition's complete rows (None without any)."""
    from ..design import model_matrices_for
    from .products import partition_design
    d = partition_design(df, spec["design"], spec["formula"], spec["weights"], spec["offset"],
                         index, glmer=spec["glmer"])
    if d is None or d.get("empty"):
        return None
    mats = [d["X"]] + [np.asarray(model_matrices_for(nd, d["sub"], fixed=True,
                                                     random=False).X, dtype=float)
                       for nd in designs]
    A = np.hstack(mats)
    return A.T @ A


def _add(*parts):
    out = None
    for a in parts:
        if a is not None:
            out = a if out is None else out + a
    return out


def gram_pass(fit, designs):
    """The summed A'A over the fit's data for A = [X, the recoded designs' X...] (one pass,
    logged in ``fit.dask_log`` as ``"cross-products"``)."""
    import dask
    from .fit import SPLIT_EVERY, tree_sum
    t0 = time.perf_counter()
    call = getattr(fit, "call", None) or {}
    spec = {"design": fit.design, "formula": fit.design.formula,
            "weights": call.get("weights"), "offset": call.get("offset"),
            "glmer": getattr(fit, "family", None) is not None}
    task = dask.delayed(gram_part, pure=True)
    sp = dask.delayed(spec, traverse=False)
    ds = dask.delayed(list(designs), traverse=False)
    mapped = [task(df, sp, ds, i) for i, df in enumerate(fit.data.to_delayed())]
    (G,) = dask.compute(tree_sum(mapped, SPLIT_EVERY, _add))
    if getattr(fit, "dask_log", None) is not None:
        fit.dask_log.append({"pass": "cross-products", "seconds": time.perf_counter() - t0})
    return G
