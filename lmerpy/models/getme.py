"""``getME(fit, name)``: lme4's one door to every internal piece of a fitted model.

R equivalent: ``lme4::getME``. Names and meanings follow lme4 1.1 (``Lind`` is 1-based as in R;
``L`` is the sparse Cholesky factor of P(Λ'Z'WZΛ + I)P') and lme4 2.x for the covariance
parameters: ``par`` (what the optimizer moves, named by ``getParNames``), ``theta`` (Λ's
values), ``lower`` and ``upper`` (the bounds of ``par``; ``upper`` is lmerpy's, lme4 2.1 keeps
it in ``reTrms``) and ``reCovs`` (the terms' covariance structures).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Sequence, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ArgumentError

if TYPE_CHECKING:
    from .base import MixedModel


def _devcomp(fit):
    s, d = fit._sol, fit.design
    n, p, q = d.n, d.p, d.q
    cmp = {"ldL2": s.ldL2, "ldRX2": s.ldRX2, "wrss": s.wrss, "ussq": s.ussq, "pwrss": s.pwrss,
           "drsum": np.nan, "REML": s.reml_criterion if getattr(fit, "REML", False) else np.nan,
           "dev": s.deviance_ml if not getattr(fit, "REML", False) else np.nan,
           "sigmaML": float(np.sqrt(s.pwrss / n)), "sigmaREML": float(np.sqrt(s.pwrss / (n - p))),
           "tolPwrss": np.nan}
    dims = {"N": n, "n": n, "p": p, "nmp": n - p, "nth": len(d.theta), "q": q, "nAGQ": np.nan,
            "compDev": 1, "useSc": int(fit._use_sc), "reTrms": len(d.reterms),
            "REML": p if getattr(fit, "REML", False) else 0, "GLMM": 0, "NLMM": 0}
    return {"cmp": cmp, "dims": dims}


def _tlist(fit) -> Dict[str, np.ndarray]:
    """lme4's ``getME(fit, "Tlist")``: each term's relative covariance factor Λᵢ (k × k, lower
    triangular, the same for every level), named by the grouping factor (repeated names kept
    apart as term order, as the list's names repeat in R)."""
    des = fit.design
    layout = des.layout
    theta = np.asarray(fit.theta, dtype=float)
    out: Dict[str, np.ndarray] = {}
    for i, (cov, name) in enumerate(zip(layout.covariances, des.cnms)):
        key = name if name not in out else f"{name}.{i}"
        out[key] = cov.lambda_from_theta(theta[layout.theta_slice(i)])
    return out


def _getters():
    d = lambda f: f.design  # noqa: E731
    return {
        "X": lambda f: d(f).X,
        "Z": lambda f: sp.csc_matrix(d(f).Zt.T),
        "Zt": lambda f: d(f).Zt,
        "Ztlist": lambda f: {k: d(f).Zt[t.row_offset:t.row_offset + t.n_rows]
                             for k, t in zip(d(f).cnms, d(f).reterms)},
        "mmList": lambda f: [t.X for t in d(f).reterms],
        "y": lambda f: d(f).y,
        "mu": lambda f: np.asarray(f._sol.fitted),
        "u": lambda f: np.asarray(f._sol.u),
        "b": lambda f: np.asarray(f._sol.b),
        "Gp": lambda f: d(f).Gp,
        "Lambdat": lambda f: d(f).lambdat_at(f.theta),
        "Lambda": lambda f: d(f).lambdat_at(f.theta).T.tocsc(),
        "Lind": lambda f: np.asarray(d(f).Lind),
        "Tlist": _tlist,
        "A": lambda f: (d(f).lambdat_at(f.theta) @ d(f).Zt).tocsc(),
        "RX": lambda f: np.asarray(f._sol.RX),
        "RZX": lambda f: np.asarray(f._sol.RZX),
        "L": lambda f: f._sol.L,
        "sigma": lambda f: f.sigma(),
        "flist": lambda f: d(f).flist,
        "fixef": lambda f: f.fixef(),
        "beta": lambda f: f.fixef().to_numpy(),
        "theta": lambda f: pd.Series(f.theta, index=list(d(f).theta_names)),
        "par": lambda f: pd.Series(f.par, index=list(d(f).par_names)),
        "lower": lambda f: np.asarray(d(f).lower),
        "upper": lambda f: np.asarray(d(f).upper),
        "reCovs": lambda f: list(d(f).layout.covariances),
        "REML": lambda f: int(d(f).p) if getattr(f, "REML", False) else 0,
        "is_REML": lambda f: bool(getattr(f, "REML", False)),
        "n_rtrms": lambda f: len(d(f).reterms),
        "n_rfacs": lambda f: d(f).flist.shape[1],
        "N": lambda f: d(f).n,
        "n": lambda f: d(f).n,
        "p": lambda f: d(f).p,
        "q": lambda f: d(f).q,
        "p_i": lambda f: np.array([t.n_columns for t in d(f).reterms]),
        "l_i": lambda f: np.array([t.n_levels for t in d(f).reterms]),
        "q_i": lambda f: np.array([t.n_rows for t in d(f).reterms]),
        "k": lambda f: len(d(f).reterms),
        "m_i": lambda f: np.array([t.n_theta for t in d(f).reterms]),
        "m": lambda f: len(d(f).theta),
        "cnms": lambda f: d(f).cnms,
        "devcomp": _devcomp,
        "offset": lambda f: d(f).offset,
        "weights": lambda f: d(f).weights,
        "devfun": lambda f: f.devfun,
        "optsum": lambda f: f.optsum,
    }


NAMES = tuple(_getters())


def get_me(fit: MixedModel, name: Union[str, Sequence[str]]) -> Any:
    """Return one internal piece by lme4's name (see :data:`NAMES`)."""
    if isinstance(name, (list, tuple)):
        return {n: get_me(fit, n) for n in name}
    getters = _getters()
    extra = getattr(fit, "_getme_extra", None)
    if extra is not None and name in extra():
        return extra()[name]
    if name not in getters:
        raise ArgumentError(f"getME: unknown name {name!r}; available: {', '.join(NAMES)}")
    return getters[name](fit)
