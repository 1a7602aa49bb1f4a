"""n-long results of a fit on a Dask DataFrame, as lazy Dask Series aligned with its partitions.

``fitted()``, ``residuals()`` and ``predict()`` (on the fit's own rows, or on a Dask
``newdata``) are ``map_partitions`` over the data: each partition rebuilds its model frame
with the fit's template design (levels, contrasts) and applies β̂ and the conditional modes
b̂; nothing is computed until the result is. Rows with a missing value in a variable the
model uses are dropped per partition, as in the fit (R's ``na.omit``).

The functions the workers run get only what they need (the design without n-long data, β̂,
b̂, the family), never the fit object with its own data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ArgumentError

__all__ = ["fitted", "residuals", "predict", "on_cluster"]


def on_cluster(fit) -> bool:
    """True for a fit whose data are a Dask DataFrame (its results are lazy)."""
    return getattr(fit, "dask_log", None) is not None


def _spec(fit):
    call = getattr(fit, "call", None) or {}
    fam = getattr(fit, "family", None)
    return {"design": fit.design, "formula": fit.design.formula,
            "weights": call.get("weights"), "offset": call.get("offset"),
            "beta": np.asarray(fit.fixef().to_numpy(), dtype=float),
            "b": np.asarray(fit.getME("b"), dtype=float).reshape(-1),
            "family": fam, "sigma": float(fit.sigma()), "glmer": fam is not None}


def _eta(df, spec, index):
    from .products import partition_design
    d = partition_design(df, spec["design"], spec["formula"], spec["weights"], spec["offset"],
                         index, glmer=spec["glmer"])
    if d is None or d.get("empty"):
        return None, None
    eta = d["off"] + d["Zt"].T @ spec["b"]
    if d["X"].shape[1]:
        eta = eta + d["X"] @ spec["beta"]
    return d, np.asarray(eta, dtype=float)


def _empty(df):
    return pd.Series(np.zeros(0), index=df.index[:0], dtype=float)


def fitted_part(df, spec, index=None):
    """Fitted values (response scale) of one partition's complete rows."""
    d, eta = _eta(df, spec, index)
    if d is None:
        return _empty(df)
    fam = spec["family"]
    v = fam.linkinv(eta) if fam is not None else eta
    return pd.Series(np.asarray(v, dtype=float), index=d["sub"].index)


def residuals_part(df, spec, type, scaled, index=None):
    """Residuals of one partition's complete rows (the in-memory ``residuals`` types)."""
    d, eta = _eta(df, spec, index)
    if d is None:
        return _empty(df)
    fam = spec["family"]
    if fam is None:                       # LMM: response (or Pearson: the same, unweighted)
        y = np.asarray(d["y"], dtype=float).reshape(-1)
        r = y - eta
        if type == "pearson" and d["w"] is not None:
            r = r * np.sqrt(d["w"])
    else:
        from types import SimpleNamespace
        from ..pls.glmm.glm_response import GlmResponse
        resp = GlmResponse(SimpleNamespace(y=d["y"], weights=d["w"], offset=d["off"],
                                           fr=d["sub"], info={}), fam)
        mu = fam.linkinv(eta)
        if type == "deviance":
            r = np.sign(resp.y - mu) * np.sqrt(np.clip(resp.dev_resids(mu), 0.0, None))
        elif type == "pearson":
            r = resp.pearson(mu)
        elif type == "working":
            r = (resp.y - mu) / fam.mu_eta(eta)
        else:
            r = resp.y - mu
    if scaled:
        r = r / spec["sigma"]
    return pd.Series(np.asarray(r, dtype=float), index=d["sub"].index)


def predict_part(df, spec, re_form, allow_new_levels, type):
    """``predict(fit, newdata = df)`` of one partition of ``newdata``."""
    from ..inference.predict import predict as run
    return run(spec["light"], newdata=df, re_form=re_form, allow_new_levels=allow_new_levels,
               type=type)


def _map(ddf, func, *args):
    return ddf.map_partitions(func, *args, meta=pd.Series(dtype=float),
                              align_dataframes=False)


def _with_index(func):
    def run(df, *args, partition_info=None):
        i = None if partition_info is None else partition_info.get("number")
        return func(df, *args, index=i)
    return run


def fitted(fit):
    """``fit.fitted()`` on the fit's Dask data: a lazy Dask Series (one partition per data
    partition)."""
    return _map(fit.data, _with_index(fitted_part), _spec(fit))


def residuals(fit, type, scaled=False):
    """``fit.residuals(type, scaled)`` on the fit's Dask data (lazy)."""
    return _map(fit.data, _with_index(residuals_part), _spec(fit), type, scaled)


class _Light:
    """What :func:`lmerpy.inference.predict.predict` reads of a fit, without its data."""

    def __init__(self, fit):
        self.design = fit.design
        self.family = getattr(fit, "family", None)
        self._fixef = fit.fixef()
        self._b = np.asarray(fit.getME("b"), dtype=float)
        self._ranef = fit.ranef()

    def fixef(self):
        return self._fixef

    def getME(self, name):
        if name == "b":
            return self._b
        raise ArgumentError(f"getME({name!r}) is not available on the workers")

    def ranef(self, *args, **kwargs):
        return self._ranef


def predict(fit, newdata=None, re_form=None, allow_new_levels=False, type="link"):
    """``fit.predict(...)`` lazily: on the fit's own Dask data (``newdata=None``) or on a Dask
    ``newdata`` (then only the formula's ``offset()`` terms count, as in memory)."""
    if newdata is None:
        if re_form is None:
            spec = _spec(fit)
            if type == "link" or spec["family"] is None:
                spec = dict(spec, family=None)
            return _map(fit.data, _with_index(fitted_part), spec)
        newdata = fit.data
    spec = {"light": _Light(fit)}
    return _map(newdata, predict_part, spec, re_form, allow_new_levels, type)
