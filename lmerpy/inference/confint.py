"""Confidence intervals for the parameters of a fitted mixed model (R: ``confint(fit)``).

R equivalents: ``lme4:::confint.merMod`` (``method = "profile"``, ``"Wald"``, ``"boot"``),
``lme4:::confint.thpr`` and ``lme4:::confint.bootMer`` (``boot::boot.ci`` percentile, basic and
normal intervals, computed by :meth:`lmerpy.inference.bootstrap.BootResult.confint`).

Rows follow lme4: the variance parameters (``.sig01``, ``.sig02``, …), ``.sigma`` for models
with a residual scale, then the fixed effects; with ``oldNames=False`` the variance parameters
are ``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, …, ``sigma``. The variance
parameters are in lme4 1.1's order (θ's: sd₁, cor, sd₂ per term) for formulas without
covariance calls and in lme4 2.x's (per term all SDs, then the correlations: ``cor_rho|g`` for
``cs``/``ar1``) for formulas with ``us()``/``diag()``/``cs()``/``ar1()``
(:func:`~.varpar.lme4_2_order`).
Columns are named like R's (``2.5 %``, ``97.5 %``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Literal, Optional

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..arguments import LEVEL, LOGICAL, NSIM, SEED, Choice, argument_error
from ..errors import ArgumentError, LmerpyError
from ..threads import fit_threads
from ..warnings import LmerpyMessage, warn
from .bootstrap import BOOT_CI_TYPE
from .profile import profile, select_parameters, var_par_names
from .profile_base import percent_labels
from .varpar import VarScale

if TYPE_CHECKING:
    from ..models.base import MixedModel
    from ..types import Parm, Seed

__all__ = ["confint", "percent_labels"]

_METHODS = ("profile", "Wald", "boot")
_METHOD = Choice(_METHODS, fold_case=True)


def _use_sc(fit):
    return bool(getattr(fit, "use_sc", True))


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


def _boot_statistic(fit, vn):
    """lme4's default bootstrap statistic: sd/cor parameters (and sigma), then fixed effects
    (the profile's scale and order, :class:`~.varpar.VarScale`, from each refit's ``par``)."""
    vs = VarScale(fit)

    def fun(m):
        sc = _use_sc(m)
        sig = float(m.sigma()) if sc else 1.0
        # lme4: the SDs of an LMM are scaled by sigma; a GLMM's stay on the theta scale
        lmm = getattr(m, "r_kind", "lmer") != "glmer"
        vals = list(vs.values(m.par, sig if lmm else 1.0))
        if sc:
            vals.append(sig)
        vals.extend(m.fixef().to_numpy())
        return pd.Series(vals, index=vn + list(m.fixef().index))

    return fun


def _boot(fit, names, vn, level, nsim, boot_type, seed, FUN, **kwargs):
    from .bootstrap import bootMer
    stat = FUN if FUN is not None else _boot_statistic(fit, vn)
    bb = bootMer(fit, stat, nsim=nsim, seed=seed, **kwargs)
    t = np.asarray(bb.t, dtype=float)
    if t.size == 0 or np.all(np.isnan(t)):
        raise LmerpyError("*all* bootstrap runs failed!")
    tab = bb.confint(type=boot_type, level=level)
    a = (1.0 - level) / 2.0
    tab.columns = percent_labels([a, 1.0 - a])
    return tab.loc[names] if FUN is None else tab


@fit_threads
def confint(fit: MixedModel, parm: Parm = None, level: float = 0.95,
            method: Literal["profile", "Wald", "boot"] = "profile", nsim: int = 500,
            boot_type: Literal["perc", "basic", "norm"] = "perc", oldNames: bool = True,
            seed: Seed = None, FUN: Optional[Callable[[Any], Any]] = None, quiet: bool = False,
            **kwargs: Any) -> pd.DataFrame:
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
    method = _METHOD("method", method, "confint")
    boot_type = BOOT_CI_TYPE("boot_type", boot_type, "confint")
    level = LEVEL("level", level, "confint")
    nsim = NSIM("nsim", nsim, "confint")
    oldNames = LOGICAL("oldNames", oldNames, "confint")
    quiet = LOGICAL("quiet", quiet, "confint")
    seed = SEED("seed", seed, "confint")
    if FUN is not None and not callable(FUN):
        raise argument_error("FUN", FUN, "a function of the fitted model (or None)", "confint")
    vn = _var_names(fit, oldNames)
    an = vn + list(fit.design.X_colnames)
    names = select_parameters(parm, an, an, len(vn), "parm", "confint")
    if not names:
        raise ArgumentError(f"confint: parm {parm!r} selects no parameter")
    if method == "Wald":
        return _wald(fit, names, vn, level)
    if not quiet:
        kind = "profile" if method == "profile" else "bootstrap"
        warn(f"Computing {kind} confidence intervals ...", LmerpyMessage)
    if method == "profile":
        pr = profile(fit, which=names, signames=oldNames, **kwargs)
        return pr.confint(level=level).loc[[n for n in names if n in pr.profiles]]
    return _boot(fit, names, vn, level, nsim, boot_type, seed, FUN, **kwargs)
