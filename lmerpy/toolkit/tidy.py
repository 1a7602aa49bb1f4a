"""Tidy tables of a fitted mixed model (R: broom.mixed 0.2.9's ``tidy``, ``glance`` and
``augment`` methods for ``merMod``).

Column names are broom's (``std.error``, ``conf.low``, ``.fitted``…); rows are in broom's order.
Confidence intervals are Wald intervals (normal quantiles), as broom.mixed computes them for
``merMod`` fits by default (``conf.method = "Wald"``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Sequence, Union

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..arguments import LOGICAL, Choice, Number
from ..errors import ArgumentError
from ..threads import fit_threads
from .influence import cooks_distance, cooks_from, hat_values

if TYPE_CHECKING:
    from ..models.base import MixedModel

EFFECTS = ("fixed", "ran_pars", "ran_vals")
_EFFECT = Choice(EFFECTS)
_SCALES = Choice(("sdcor", "vcov"))
_LEVEL = Number(lower=0, upper=1)


def _effects(value) -> List[str]:
    if value is None:
        return ["ran_pars", "fixed"]
    if isinstance(value, str):
        return [_EFFECT("effects", value, "tidy")]
    if isinstance(value, (list, tuple)) and value:
        return [_EFFECT("effects", v, "tidy") for v in value]
    raise ArgumentError(f"tidy: 'effects' must be one of {', '.join(map(repr, EFFECTS))} or a "
                        f"list of them; got {value!r}")


def _level(conf_level) -> float:
    level = _LEVEL("conf_level", conf_level, "tidy")
    if not 0 < level < 1:
        raise ArgumentError(f"tidy: 'conf_level' must be strictly between 0 and 1; got {level!r}")
    return level


def _is_glmm(fit) -> bool:
    return getattr(fit, "r_kind", "lmer") != "lmer"


def tidy_fixed(fit: MixedModel, conf_int: bool = False, conf_level: float = 0.95) -> pd.DataFrame:
    """broom.mixed's fixed-effects rows: term, estimate, std.error, statistic (z tests with
    p.value for GLMMs without a scale parameter, as lme4's summary), conf.low/conf.high."""
    beta = fit.fixef()
    se = np.sqrt(np.diag(fit.vcov().to_numpy()))
    est = beta.to_numpy()
    out = pd.DataFrame({"effect": "fixed", "term": list(beta.index), "estimate": est,
                        "std.error": se, "statistic": est / se})
    if _is_glmm(fit) and not fit.use_sc:
        out["p.value"] = 2.0 * norm.sf(np.abs(est / se))
    if conf_int:
        z = norm.ppf(0.5 + conf_level / 2.0)
        out["conf.low"] = est - z * se
        out["conf.high"] = est + z * se
    return out


def tidy_ran_pars(fit: MixedModel, scales: str = "sdcor") -> pd.DataFrame:
    """broom.mixed's random-effects parameters: per term, for each column its SD
    (``sd__name``) then its correlations with the later columns (``cor__a.b``); the residual
    SD last (``sd__Observation``, group ``Residual``). ``scales="vcov"``: variances and
    covariances (``var__``, ``cov__``)."""
    groups, terms, values = [], [], []
    sd_name, cor_name = ("sd", "cor") if scales == "sdcor" else ("var", "cov")
    vc = fit.VarCorr()
    for t in vc:
        cov = np.asarray(t.cov, dtype=float)
        sd = np.sqrt(np.diag(cov))
        p = len(t.names)
        for i in range(p):
            groups.append(t.group)
            terms.append(f"{sd_name}__{t.names[i]}")
            values.append(sd[i] if scales == "sdcor" else cov[i, i])
            for j in range(i + 1, p):
                groups.append(t.group)
                terms.append(f"{cor_name}__{t.names[i]}.{t.names[j]}")
                if scales == "sdcor":
                    values.append(cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan)
                else:
                    values.append(cov[i, j])
    if fit.use_sc:
        s = float(fit.sigma())
        groups.append("Residual")
        terms.append(f"{sd_name}__Observation")
        values.append(s if scales == "sdcor" else s * s)
    return pd.DataFrame({"effect": "ran_pars", "group": groups, "term": terms,
                         "estimate": np.asarray(values, dtype=float)})


def tidy_ran_vals(fit: MixedModel, conf_int: bool = False, conf_level: float = 0.95
                  ) -> pd.DataFrame:
    """broom.mixed's conditional modes: group, level, term, estimate, std.error (conditional
    SD), conf.low/conf.high (estimate ± z·std.error)."""
    re = fit.ranef(condVar=True).as_dataframe()
    out = pd.DataFrame({"effect": "ran_vals", "group": re["grpvar"].astype(object),
                        "level": re["grp"].astype(str).astype(object),
                        "term": re["term"].astype(object),
                        "estimate": re["condval"].to_numpy(dtype=float),
                        "std.error": re["condsd"].to_numpy(dtype=float)})
    if conf_int:
        z = norm.ppf(0.5 + conf_level / 2.0)
        out["conf.low"] = out["estimate"] - z * out["std.error"]
        out["conf.high"] = out["estimate"] + z * out["std.error"]
    return out


@fit_threads
def tidy(fit: MixedModel, effects: Union[str, Sequence[str], None] = None,
         conf_int: bool = False, conf_level: float = 0.95, scales: str = "sdcor"
         ) -> pd.DataFrame:
    """R: ``broom.mixed::tidy(fit, effects = c("ran_pars", "fixed"), conf.int = FALSE,
    conf.level = 0.95, scales = "sdcor")``.

    ``effects`` is ``"fixed"``, ``"ran_pars"``, ``"ran_vals"`` or a list of them (default
    fixed effects and random-effects parameters). One DataFrame, fixed-effects rows first then
    ``ran_pars`` then ``ran_vals`` (broom's order); a ``group`` column when random-effects rows
    are present. Confidence intervals (``conf_int=True``) are Wald intervals for fixed effects
    and conditional modes; none are computed for ``ran_pars`` (broom.mixed's default
    ``conf.method = "Wald"`` leaves them NA).
    """
    which = _effects(effects)
    conf_int = LOGICAL("conf_int", conf_int, "tidy")
    conf_level = _level(conf_level)
    scales = _SCALES("scales", scales, "tidy")
    parts = []
    if "fixed" in which:
        parts.append(tidy_fixed(fit, conf_int, conf_level))
    if "ran_pars" in which:
        parts.append(tidy_ran_pars(fit, scales))
    if "ran_vals" in which:
        parts.append(tidy_ran_vals(fit, conf_int, conf_level))
    out = pd.concat(parts, ignore_index=True, sort=False)
    cols = ["effect"] + (["group"] if "group" in out else []) + (
        ["level"] if "level" in out else []) + ["term", "estimate"]
    cols += [c for c in ("std.error", "statistic", "p.value", "conf.low", "conf.high")
             if c in out]
    out = out[cols]
    if "group" in out:
        out["group"] = out["group"].astype(object).where(out["group"].notna(), None)
    return out


@fit_threads
def glance(fit: Any) -> pd.DataFrame:
    """R: ``broom.mixed::glance(fit)``: one row with nobs, sigma, logLik, AIC, BIC, REMLcrit
    (REML fits) or deviance (ML and GLMM fits), df.residual."""
    ll = fit.logLik()
    row = {"nobs": fit.nobs(), "sigma": float(fit.sigma()), "logLik": float(ll),
           "AIC": fit.AIC(), "BIC": fit.BIC()}
    if getattr(fit, "REML", False):
        row["REMLcrit"] = float(fit.REMLcrit())
    elif _is_glmm(fit):
        row["deviance"] = float(fit.deviance())
    else:
        row["deviance"] = float(fit.deviance(REML=False))
    row["df.residual"] = fit.df_residual()
    return pd.DataFrame([row])


def _augment_glmm(fit: MixedModel, frame: pd.DataFrame) -> pd.DataFrame:
    from ..warnings import InferenceWarning, warn
    fam = getattr(fit, "family")
    mu = np.asarray(fit.getME("mu"), dtype=float)
    y = np.asarray(fit.getME("y"), dtype=float)
    prior = np.asarray(fit.getME("weights"), dtype=float)
    off = np.asarray(fit.getME("offset"), dtype=float)
    eta = np.asarray(fam.linkfun(mu), dtype=float)
    var = np.asarray(fam.variance(mu), dtype=float)
    w_work = prior * np.asarray(fam.mu_eta(eta), dtype=float) ** 2 / var
    warn("the hat matrix may not make sense for GLMMs", InferenceWarning)
    hat = hat_values(fit)
    pearson = (y - mu) * np.sqrt(prior / var)
    cooks = cooks_from(fit, hat)
    frame[".fitted"] = eta
    frame[".resid"] = np.asarray(fit.residuals(type="deviance"), dtype=float)
    frame[".hat"] = hat
    frame[".cooksd"] = cooks
    frame[".fixed"] = np.asarray(fit.getME("X"), dtype=float) @ fit.fixef().to_numpy() + off
    frame[".mu"] = mu
    frame[".offset"] = off
    frame[".sqrtXwt"] = np.sqrt(w_work)
    frame[".sqrtrwt"] = np.sqrt(prior / var)
    frame[".weights"] = prior
    frame[".wtres"] = pearson
    frame[".eta"] = eta
    return frame


@fit_threads
def augment(fit: MixedModel) -> pd.DataFrame:
    """R: ``broom.mixed::augment(fit)``: the model frame plus
    ``.fitted``, ``.resid``, ``.hat``, ``.cooksd``, ``.fixed`` (population-level prediction),
    ``.mu``, ``.offset``, ``.sqrtXwt``, ``.sqrtrwt``, ``.weights``, ``.wtres``.

    For a GLMM, as broom.mixed: ``.fitted`` and ``.eta`` are the linear predictor, ``.mu``
    the conditional mean, ``.resid`` the deviance residuals, ``.wtres`` the Pearson ones,
    ``.sqrtXwt``/``.sqrtrwt`` the square roots of the working and the prior weights over the
    variance, and ``.hat``/``.cooksd`` lme4's (with its warning that the hat matrix "may not
    make sense for GLMMs")."""
    frame = fit.design.fr.copy()
    if _is_glmm(fit):
        return _augment_glmm(fit, frame)
    idx = frame.index
    fitted = np.asarray(fit.fitted(), dtype=float)
    resid = np.asarray(fit.residuals(), dtype=float)
    if fitted.shape[0] != frame.shape[0]:      # na_action="exclude" pads: keep frame rows
        keep = ~np.isnan(fitted)
        fitted, resid = fitted[keep], resid[keep]
    w = np.asarray(fit.getME("weights"), dtype=float)
    off = np.asarray(fit.getME("offset"), dtype=float)
    fixed = np.asarray(fit.getME("X"), dtype=float) @ fit.fixef().to_numpy() + off
    frame[".fitted"] = fitted
    frame[".resid"] = resid
    frame[".hat"] = hat_values(fit)
    frame[".cooksd"] = cooks_distance(fit).to_numpy()
    frame[".fixed"] = fixed
    frame[".mu"] = fitted
    frame[".offset"] = off
    frame[".sqrtXwt"] = np.sqrt(w)
    frame[".sqrtrwt"] = np.sqrt(w)
    frame[".weights"] = w
    frame[".wtres"] = resid * np.sqrt(w)
    frame.index = idx
    return frame
