"""The variance components behind Nakagawa's R² and the ICC (R: ``insight::get_variance``).

For a fitted mixed model:

- ``var_fixed``: the variance of the fixed-effects linear predictor Xβ̂ (denominator n − 1,
  R's ``var``);
- ``var_random``: the *mean* random-effects variance (Johnson 2014, eq. 10): for each
  random-effects term with covariance Σ over columns Z of the fixed-effects model matrix,
  ``trace(Z Σ Zᵀ) / n``, summed over terms. Random slopes that are not columns of X are left out
  (with a warning, as insight does); a term whose grouping factor has one level per
  observation (an observation-level random effect) counts as additive dispersion instead.
  ``None`` when the fit is singular at ``tolerance`` (insight: "Can't compute random effect
  variances");
- ``var_distribution``: σ² for linear mixed models; π²/3, 1 and π²/6 for binomial models with
  logit, probit and cloglog links; for Poisson (log link) the lognormal approximation
  ``log(1 + 1/μ)``, μ = exp(β₀) of the null model (the same random effects, fixed part ``~ 1``),
  refitted here (Nakagawa, Johnson & Schielzeth 2017);
- ``var_dispersion``: the observation-level random-effect variance (0 when there is none);
- ``var_residual`` = ``var_distribution`` + ``var_dispersion``.

Numbers as performance 0.10 / insight 0.19 compute them (goldens in tests/reference/toolkit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Optional

import numpy as np
import pandas as pd

from ..arguments import Number
from ..errors import ArgumentError
from ..warnings import InferenceWarning, warn
from ..threads import fit_threads

if TYPE_CHECKING:
    from ..models.base import MixedModel

TOLERANCE = Number(lower=0)

#: the distribution-specific variance of the binomial family's links (Nakagawa et al. 2017)
_BINOMIAL = {"logit": math.pi ** 2 / 3.0, "probit": 1.0, "cloglog": math.pi ** 2 / 6.0}


@dataclass
class VarianceComponents:
    """The components of :func:`get_variance` (R: ``insight::get_variance(fit)``'s list)."""

    var_fixed: float
    var_random: Optional[float]
    var_distribution: float
    var_dispersion: float
    #: random-intercept variance per term (``var.intercept``, named by the term's group)
    var_intercept: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    #: random-slope variances (``var.slope``, named ``group.column``)
    var_slope: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))

    @property
    def var_residual(self) -> float:
        return self.var_distribution + self.var_dispersion


def is_glmm(fit: MixedModel) -> bool:
    return getattr(fit, "r_kind", "lmer") != "lmer"


def group_factor(label: str, ngrps: Dict[str, int]) -> str:
    """The grouping factor of a VarCorr term label (``Subject.1`` for a factor repeated by
    ``||`` or several terms is the factor ``Subject``)."""
    if label in ngrps:
        return label
    base, _, k = label.rpartition(".")
    return base if k.isdigit() and base in ngrps else label


def _observation_level(term, n_obs: int, ngrps: Dict[str, int]) -> bool:
    return (list(term.names) == ["(Intercept)"]
            and ngrps.get(group_factor(term.group, ngrps)) == n_obs)


@fit_threads
def get_variance(fit: MixedModel, tolerance: float = 1e-5) -> VarianceComponents:
    """R: ``insight::get_variance(fit, tolerance = 1e-5)``: see the module's documentation."""
    tolerance = TOLERANCE("tolerance", tolerance, "get_variance")
    Xa = np.asarray(fit.getME("X"), dtype=float)
    beta = fit.fixef()
    eta = Xa @ beta.to_numpy()
    n = eta.shape[0]
    var_fixed = float(np.var(eta, ddof=1)) if n > 1 else 0.0
    glmm = is_glmm(fit)
    ngrps = {k: int(v) for k, v in fit.ngrps().items()}
    colnames = list(beta.index)
    intercepts: Dict[str, float] = {}
    slopes: Dict[str, float] = {}
    var_random = 0.0
    var_dispersion = 0.0
    missing = []
    for term in fit.VarCorr():
        names = list(term.names)
        cov = np.asarray(term.cov, dtype=float)
        group = group_factor(term.group, ngrps)
        for i, nm in enumerate(names):
            if nm == "(Intercept)":
                intercepts.setdefault(group, float(cov[i, i]))
            else:
                slopes[f"{group}.{nm}"] = float(cov[i, i])
        if glmm and _observation_level(term, n, ngrps):
            var_dispersion += float(cov[0, 0])
            continue
        keep = [i for i, nm in enumerate(names) if nm in colnames]
        missing += [nm for nm in names if nm not in colnames]
        if not keep:
            continue
        Z = Xa[:, [colnames.index(names[i]) for i in keep]]
        S = cov[np.ix_(keep, keep)]
        var_random += float(np.einsum("ij,jk,ik->", Z, S, Z)) / n
    if missing:
        warn("Random slopes not present as fixed effects. This artificially inflates the "
             f"conditional random effect variances ({', '.join(sorted(set(missing)))}). "
             "Solution: Respecify fixed structure!", InferenceWarning)
    random: Optional[float] = var_random
    if fit.isSingular(tol=tolerance):
        warn("Can't compute random effect variances. Some variance components equal zero. "
             "Your model may suffer from singularity (see isSingular). Solution: Respecify "
             "random structure! You may also decrease the `tolerance` level to enforce the "
             "calculation of random effect variances.", InferenceWarning)
        random = None
    return VarianceComponents(
        var_fixed=var_fixed, var_random=random,
        var_distribution=_distribution_variance(fit),
        var_dispersion=var_dispersion,
        var_intercept=pd.Series(intercepts, dtype=float),
        var_slope=pd.Series(slopes, dtype=float))


def _distribution_variance(fit: MixedModel) -> float:
    if not is_glmm(fit):
        return float(fit.sigma()) ** 2
    fam = getattr(fit, "family")
    name, link = fam.family, fam.link
    if name == "binomial" and link in _BINOMIAL:
        return _BINOMIAL[link]
    if name == "poisson" and link == "log":
        mu = math.exp(float(null_model(fit).fixef().iloc[0]))
        return math.log1p(1.0 / mu)
    raise ArgumentError(f"r2_nakagawa/icc: the distribution-specific variance of the {name} "
                        f"family with link {link!r} is not available (binomial with logit, "
                        "probit or cloglog link, Poisson with log link, and linear mixed "
                        "models are)")


@fit_threads
def null_model(fit: MixedModel) -> MixedModel:
    """R: ``insight::null_model(fit)``: the model refitted with the fixed part ``~ 1`` and the
    same random effects (and the same family, data and controls)."""
    f = fit.design.formula
    parts = ["1"] + [t.deparse() for t in f.random]
    lhs = f.response.deparse() if f.response is not None else ""
    return fit.update(formula=f"{lhs} ~ {' + '.join(parts)}")
