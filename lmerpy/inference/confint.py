"""Confidence intervals for the parameters of a fitted mixed model (R: ``confint(fit)``).

R equivalents: ``lme4:::confint.merMod`` (``method = "profile"``, ``"Wald"``, ``"boot"``),
``lme4:::confint.thpr`` and ``lme4:::confint.bootMer`` (``boot::boot.ci`` percentile, basic and
normal intervals).

Rows follow lme4: the variance parameters in θ order (``.sig01``, ``.sig02``, …), ``.sigma``
for models with a residual scale, then the fixed effects; with ``oldNames=False`` the variance
parameters are ``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, …, ``sigma``.
Columns are named like R's (``2.5 %``, ``97.5 %``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..errors import LmerpyError, LmerpyMessage
from .profile import _select, profile, theta_to_sdcor, var_par_names

__all__ = ["confint", "percent_labels", "boot_ci"]

_METHODS = ("profile", "Wald", "boot")
_BOOT_TYPES = ("perc", "basic", "norm")


def percent_labels(probs):
    """R's ``format.perc(probs, 3)``: ``["2.5 %", "97.5 %"]`` for ``[0.025, 0.975]``."""
    from ..display.rformat import format_numbers
    vals = [100.0 * float(p) for p in probs]
    text = format_numbers(vals, digits=3)
    return [t.strip() + " %" for t in text]


def _use_sc(fit):
    return bool(getattr(fit, "_use_sc", True))


def _var_names(fit, old_names):
    return var_par_names(fit, old_names, use_sc=_use_sc(fit))


def _wald(fit, names, vn, level):
    a = (1.0 - level) / 2.0
    probs = [a, 1.0 - a]
    beta = fit.fixef()
    se = np.sqrt(np.diag(np.asarray(fit.vcov(), dtype=float)))
    q = norm.ppf(probs)
    table = np.full((len(vn) + len(beta), 2), np.nan)
    table[len(vn):] = beta.to_numpy()[:, None] + se[:, None] * q[None, :]
    full = pd.DataFrame(table, index=vn + list(beta.index), columns=percent_labels(probs))
    return full.loc[names]


def boot_ci(t0, t, level=0.95, type="perc"):
    """Bootstrap confidence limits of one statistic (R: ``boot::boot.ci(type = ...)``'s
    ``percent``, ``basic`` and ``normal`` intervals).

    Parameters
    ----------
    t0 : float
        The statistic on the original data.
    t : array_like
        Its bootstrap replicates (non-finite ones are dropped, as boot does).
    level : float
    type : {"perc", "basic", "norm"}

    Returns
    -------
    ndarray (2,)
        Lower and upper limits.
    """
    t = np.asarray(t, dtype=float)
    t = t[np.isfinite(t)]
    if type == "norm":
        if t.size < 2:
            return np.full(2, np.nan)
        bias = t.mean() - t0
        merr = np.sqrt(np.var(t, ddof=1)) * norm.ppf((1.0 + level) / 2.0)
        return np.array([t0 - bias - merr, t0 - bias + merr])
    if type == "perc":
        alpha = np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0])
        return _norm_inter(t, alpha)
    if type == "basic":
        alpha = np.array([(1.0 + level) / 2.0, (1.0 - level) / 2.0])
        return 2.0 * t0 - _norm_inter(t, alpha)
    raise LmerpyError(f"boot_type must be one of {', '.join(_BOOT_TYPES)}; got {type!r}")


def _norm_inter(t, alpha):
    """boot's ``norm.inter``: order statistics interpolated on the normal quantile scale."""
    R = t.size
    if R == 0:
        return np.full(alpha.shape, np.nan)
    rk = (R + 1) * alpha
    if not np.all((rk > 1) & (rk < R)):
        warnings.warn("extreme order statistics used as endpoints", UserWarning, stacklevel=4)
    k = np.trunc(rk).astype(int)
    ts = np.sort(t)
    out = np.empty(alpha.shape)
    for i, (kk, r, a) in enumerate(zip(k, rk, alpha)):
        if kk == 0:
            out[i] = ts[0]
        elif kk >= R:
            out[i] = ts[R - 1]
        elif kk == r:
            out[i] = ts[kk - 1]
        else:
            z1, z2, z3 = norm.ppf(a), norm.ppf(kk / (R + 1)), norm.ppf((kk + 1) / (R + 1))
            out[i] = ts[kk - 1] + (z1 - z2) / (z3 - z2) * (ts[kk] - ts[kk - 1])
    return out


def _boot_statistic(fit, vn):
    """lme4's default bootstrap statistic: sd/cor parameters (and sigma), then fixed effects."""
    blocks = [(int(t.theta_offset), int(t.n_columns)) for t in fit.design.reterms]

    def fun(m):
        sc = _use_sc(m)
        sig = float(m.sigma()) if sc else 1.0
        vals = list(theta_to_sdcor(m.theta, blocks, sig))
        if sc:
            vals.append(sig)
        vals.extend(m.fixef().to_numpy())
        return pd.Series(vals, index=vn + list(m.fixef().index))

    return fun


def _boot(fit, names, vn, level, nsim, boot_type, seed, FUN, **kwargs):
    try:
        from .bootstrap import bootMer
    except ImportError as e:  # part of lmerpy.inference not installed
        raise LmerpyError("confint(method='boot') needs lmerpy.inference.bootstrap.bootMer") from e
    stat = FUN if FUN is not None else _boot_statistic(fit, vn)
    bb = bootMer(fit, stat, nsim=nsim, seed=seed, **kwargs)
    t0 = pd.Series(getattr(bb, "t0"))
    t = getattr(bb, "t")
    t = pd.DataFrame(np.asarray(t, dtype=float), columns=list(t0.index)) \
        if not isinstance(t, pd.DataFrame) else t
    if np.all(np.isnan(t.to_numpy(dtype=float))):
        raise LmerpyError("*all* bootstrap runs failed!")
    a = (1.0 - level) / 2.0
    rows = []
    for j, nm in enumerate(t0.index):
        rows.append(boot_ci(float(t0.iloc[j]), t.iloc[:, j].to_numpy(dtype=float), level,
                            boot_type))
    tab = pd.DataFrame(np.array(rows).reshape(-1, 2), index=list(t0.index),
                       columns=percent_labels([a, 1.0 - a]))
    if FUN is None:
        return tab.loc[names]
    return tab


def confint(fit, parm=None, level=0.95, method="profile", nsim=500, boot_type="perc",
            oldNames=True, seed=None, FUN=None, quiet=False, **kwargs) -> pd.DataFrame:
    """Confidence intervals for the parameters of a fitted model (R: ``confint(fit, ...)``,
    lme4's ``confint.merMod``).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    parm : None, str, int or list
        Parameters: names (``".sig01"``, ``".sigma"``, ``"Days"``), ``"theta_"`` (the variance
        parameters), ``"beta_"`` (the fixed effects), or 0-based positions in lme4's order
        (variance parameters first). None: all.
    level : float
        Confidence level.
    method : {"profile", "Wald", "boot"}
        Likelihood profile (lme4's default), Wald intervals from ``vcov`` (NaN for variance
        parameters), or a parametric bootstrap (``bootMer``).
    nsim : int
        Bootstrap replicates.
    boot_type : {"perc", "basic", "norm"}
        R's ``boot.type``.
    oldNames : bool
        ``.sig01``/``.sigma`` names (True) or ``sd_(Intercept)|Subject``/``sigma`` (False).
    seed : int, optional
        Seed of the bootstrap.
    FUN : callable, optional
        Bootstrap statistic (then all of its components are returned).
    quiet : bool
        Suppress lme4's ``Computing profile confidence intervals ...`` message.
    **kwargs
        Passed to :func:`lmerpy.inference.profile.profile` or ``bootMer``.

    Returns
    -------
    DataFrame
        One row per parameter, columns ``"2.5 %"`` and ``"97.5 %"`` (for ``level=0.95``).
    """
    if method not in _METHODS:
        low = {m.lower(): m for m in _METHODS}
        if isinstance(method, str) and method.lower() in low:
            method = low[method.lower()]
        else:
            raise LmerpyError(f"unknown confidence interval method {method!r}; use one of "
                              f"{', '.join(_METHODS)}")
    if boot_type not in _BOOT_TYPES:
        raise LmerpyError(f"boot_type must be one of {', '.join(_BOOT_TYPES)}; got "
                          f"{boot_type!r}")
    if not 0 < float(level) < 1:
        raise LmerpyError(f"level must be between 0 and 1; got {level!r}")
    vn = _var_names(fit, oldNames)
    an = vn + list(fit.design.X_colnames)
    names = _select(parm, an, an, len(vn))
    if not names:
        raise LmerpyError(f"parm {parm!r} selects no parameter")
    if method == "Wald":
        return _wald(fit, names, vn, level)
    if not quiet:
        kind = "profile" if method == "profile" else "bootstrap"
        warnings.warn(f"Computing {kind} confidence intervals ...", LmerpyMessage, stacklevel=2)
    if method == "profile":
        pr = profile(fit, which=names, signames=oldNames, **kwargs)
        return pr.confint(level=level).loc[[n for n in names if n in pr.profiles]]
    return _boot(fit, names, vn, level, nsim, boot_type, seed, FUN, **kwargs)
