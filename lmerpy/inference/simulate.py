"""Simulated responses from a fitted mixed model (lme4's ``simulate.merMod``).

For each simulation the random effects not conditioned on are drawn afresh, b = Λu with
u ~ N(0, I) per level, and the response is drawn from the conditional distribution:

* LMM: y = η + σ(ZΛu + ε/√w) with ε ~ N(0, I), where η holds Xβ, the offset and the
  conditional modes conditioned on (Λ is relative to σ, as in lme4);
* GLMM: η_sim = η + ZΛu, μ = g⁻¹(η_sim), and y from the family: binomial (Bernoulli,
  proportions with their weights, or ``cbind`` counts), Poisson, Gamma (shape w/σ²), inverse
  Gaussian (shape w/σ²), negative binomial (θ of the family), Gaussian (sd σ/√w).

Seeding uses a NumPy :class:`numpy.random.Generator`, so results are reproducible in Python
but are not R's random numbers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np
import pandas as pd

from ..arguments import LOGICAL, NSIM, SEED
from ..errors import ArgumentError, DataError, LmerpyError
from ..models.naresid import naresid_frame
from .predict import is_glmm, linear_predictor
from .reform import NA, group_factor_on, newdata_terms, parse_re_form, select_terms

if TYPE_CHECKING:
    from ..models.base import MixedModel
    from ..types import ArrayLike, DataLike, ReForm, Seed

__all__ = ["simulate", "simulate_responses", "as_generator"]


def as_generator(seed: Seed, caller: Optional[str] = None) -> np.random.Generator:
    """A NumPy Generator from ``seed`` (None, an int >= 0, a SeedSequence or a Generator);
    an ArgumentError naming ``caller`` for anything else."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(SEED("seed", seed, caller))


def _conditioning(use_u, re_form):
    """The ``re.form`` simulations condition on (lme4: ``use.u = TRUE`` is ``re.form = NULL``,
    the default ``use.u = FALSE`` is ``re.form = NA``)."""
    if re_form is None:
        return None if use_u else NA
    if use_u:
        raise ArgumentError("should specify only one of use_u and re_form")
    parsed = parse_re_form(re_form)
    return NA if parsed is NA else re_form


def _lambda_block(fit, i):
    """Λ_i (lower triangular, columns × columns) of term ``i`` at the fitted θ."""
    design = fit.design
    t = design.reterms[i]
    lt = design.lambdat_at(fit.theta)
    ro, nc = t.row_offset, t.n_columns
    return np.asarray(lt[ro:ro + nc, ro:ro + nc].todense()).T


def _new_random_effects(fit, terms, nsim, rng, newdata):
    """Z Λ u for fresh u ~ N(0, I), summed over ``terms``: shape (m, nsim)."""
    design = fit.design
    out = None
    xs = newdata_terms(fit, newdata, list(terms))[0] if newdata is not None else None
    for i in terms:
        t = design.reterms[i]
        if newdata is None:
            codes, X_i, nlev = t.codes, np.asarray(t.X, dtype=float), t.n_levels
        else:
            f = group_factor_on(t, newdata, design)
            codes, nlev = f.codes, len(f.levels)
            X_i = np.asarray(xs[i][1], dtype=float)
        lam = _lambda_block(fit, i)
        u = rng.standard_normal((nsim, max(nlev, 1), t.n_columns))
        b = u @ lam.T                                   # (nsim, levels, columns)
        ok = codes >= 0
        contrib = np.zeros((codes.shape[0], nsim))
        if ok.any():
            bi = b[:, codes[ok], :]                     # (nsim, m_ok, columns)
            contrib[ok] = np.einsum("mc,kmc->mk", X_i[ok], bi)
        out = contrib if out is None else out + contrib
    return out


def _prior_weights(fit, newdata, weights, m):
    if weights is not None:
        w = np.asarray(weights, dtype=float).reshape(-1)
        if w.shape[0] != m:
            raise DataError(f"weights have length {w.shape[0]}, expected {m}")
        return w
    if newdata is None:
        return np.asarray(fit.design.weights, dtype=float).reshape(-1)
    return np.ones(m)


def _response_kind(fit):
    design = fit.design
    y = np.asarray(design.y)
    if y.ndim == 2 and y.shape[1] == 2:
        return "cbind"
    if design.info.get("response_levels"):
        return "factor"
    return "numeric"


def _family_name(fam):
    name = str(getattr(fam, "family", ""))
    if name.lower().startswith("negative") or name == "negative.binomial":
        return "negative.binomial"
    return name


def draw_family(fam, mu, w, sigma, rng, kind="numeric", size=None):
    """Draw responses given means ``mu`` (m, nsim) from a GLM family.

    Parameters
    ----------
    fam : lmerpy.families.Family
        Its ``family`` name decides the distribution (R: lme4's ``simfunList``).
    mu : ndarray (m, nsim)
    w : ndarray (m,)
        Prior weights: binomial trials (proportion responses), Gamma / inverse Gaussian
        shape multipliers, Gaussian precision multipliers.
    sigma : float
        The fit's dispersion σ (Gamma, inverse Gaussian, Gaussian).
    kind : {"numeric", "factor", "cbind"}
        Binomial response form: proportions (successes / w), 0/1 codes, or successes and
        failures (``size`` trials per row) as an (m, 2, nsim) array.

    Returns
    -------
    ndarray (m, nsim), or (m, 2, nsim) for ``cbind``.
    """
    name = _family_name(fam)
    w = np.asarray(w, dtype=float).reshape(-1, 1)
    if name == "binomial":
        trials = np.asarray(size if kind == "cbind" else w, dtype=float).reshape(-1, 1)
        if np.any(np.abs(trials - np.round(trials)) > 1e-8):
            raise DataError("cannot simulate from non-integer prior.weights")
        n = np.round(trials).astype(np.int64)
        s = rng.binomial(np.broadcast_to(n, mu.shape), np.clip(mu, 0.0, 1.0))
        if kind == "cbind":
            return np.stack([s, n - s], axis=1).astype(float)
        if kind == "factor":
            return s.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, s / np.maximum(n, 1), 0.0)
    if name == "poisson":
        return rng.poisson(mu).astype(float)
    if name == "Gamma":
        shape = np.broadcast_to(w / sigma ** 2, mu.shape)
        return rng.gamma(shape, mu / shape)
    if name == "inverse.gaussian":
        lam = np.broadcast_to(w / sigma ** 2, mu.shape)
        return rng.wald(mu, lam)
    if name == "negative.binomial":
        theta = getattr(fam, "theta", None)
        if theta is None:
            raise LmerpyError("simulate: the negative binomial family has no theta")
        theta = float(theta)
        return rng.negative_binomial(theta, theta / (theta + mu)).astype(float)
    if name == "gaussian":
        sd = sigma / np.sqrt(np.where(w > 0, w, 1.0))
        return mu + sd * rng.standard_normal(mu.shape)
    raise LmerpyError(f"simulation not implemented for family '{name}'")


def simulate_responses(fit, nsim=1, seed=None, use_u=False, re_form=None, newdata=None,
                       allow_new_levels=False, weights=None):
    """Simulated responses as an array, for :func:`simulate` and the bootstrap.

    Returns
    -------
    Y : ndarray
        (m, nsim); (m, 2, nsim) for ``cbind`` binomial responses; 0/1 codes for a factor
        response.
    index : pandas.Index
    kind : str
        ``"numeric"``, ``"factor"`` or ``"cbind"``.
    """
    nsim = NSIM("nsim", nsim, "simulate")
    use_u = LOGICAL("use_u", use_u, "simulate")
    allow_new_levels = LOGICAL("allow_new_levels", allow_new_levels, "simulate")
    if newdata is not None:
        from ..design.dataframe import as_data_frame
        newdata = as_data_frame(newdata, "newdata")
    rng = as_generator(seed, "simulate")
    if re_form is not None:
        parse_re_form(re_form, "simulate")
    cond = _conditioning(use_u, re_form)
    eta, index = linear_predictor(fit, newdata, cond, allow_new_levels)
    m = eta.shape[0]
    design = fit.design
    sel = select_terms(fit, cond, newdata)
    partial = [design.reterms[i].term_label for i, c in sel.items()
               if 0 < c.size < design.reterms[i].n_columns]
    if partial:
        raise LmerpyError("simulate: re_form conditions on some columns of the term(s) "
                          f"({'), ('.join(partial)}); condition on whole terms")
    rest = [i for i in range(len(design.reterms)) if i not in sel]
    reff = (_new_random_effects(fit, rest, nsim, rng, newdata) if rest
            else np.zeros((m, nsim)))
    w = _prior_weights(fit, newdata, weights, m)
    if not is_glmm(fit):
        sigma = fit.sigma()
        noise = rng.standard_normal((m, nsim)) / np.sqrt(np.where(w > 0, w, 1.0))[:, None]
        return eta[:, None] + sigma * (reff + noise), index, "numeric"
    kind = _response_kind(fit)
    fam = fit.family
    mu = np.asarray(fam.linkinv(eta[:, None] + reff), dtype=float)
    size = None
    if kind == "cbind":
        if newdata is None:
            y = np.asarray(design.y, dtype=float)
            size = w * y.sum(axis=1)
        else:
            size = w
    sigma = fit.sigma() if getattr(fam, "has_scale", False) else 1.0
    return draw_family(fam, mu, w, sigma, rng, kind=kind, size=size), index, kind


def _cbind_names(fit):
    resp = getattr(fit.design.formula, "response", None)
    args = getattr(resp, "args", ())
    if len(args) == 2:
        return [a.deparse() for a in args]
    return ["successes", "failures"]


def simulate(fit: MixedModel, nsim: int = 1, seed: Seed = None, use_u: bool = False,
             re_form: ReForm = None, newdata: DataLike = None, allow_new_levels: bool = False,
             weights: Optional[ArrayLike] = None) -> pd.DataFrame:
    """Simulate responses from a fitted model (R: ``simulate(fit, nsim, seed, use.u, re.form,
    newdata, allow.new.levels, weights)``).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    nsim : int
        Number of simulated responses.
    seed : None, int or numpy.random.Generator
        Seeds a NumPy Generator: the same seed gives the same draws.
    use_u : bool
        False (default): draw new random effects for every term (R: ``re.form = NA``);
        True: condition on the conditional modes (R: ``re.form = NULL``).
    re_form : None, lmerpy.NA or str, optional
        Instead of ``use_u``: the bars to condition on (``"~(1|plate)"``); the other terms
        get new random effects. None means "as ``use_u`` says". Giving both is an error, as
        in lme4.
    newdata : DataFrame-like, optional
        Simulate at these rows (pandas, polars, pyarrow, a dict of columns...) (new grouping levels get new random effects when not
        conditioned on).
    allow_new_levels : bool
        For the terms conditioned on, as in :func:`~lmerpy.inference.predict.predict`.
    weights : array-like, optional
        Prior weights (default: the fit's; ones with ``newdata``). For binomial proportion
        and (with ``newdata``) ``cbind`` responses the number of trials.

    Returns
    -------
    pandas.DataFrame
        One row per observation (indexed as the model frame or ``newdata``), columns
        ``sim_1`` … ``sim_nsim``. A factor response gives Categorical columns with the
        response's levels; a ``cbind(successes, failures)`` response gives two columns per
        simulation (a column MultiIndex ``(sim_k, name)``), as R's two-column matrices.
        ``attrs["seed"]`` holds ``seed``. Without ``newdata`` a fit with
        ``na_action="exclude"`` gives one row per row of its data, each column NaN (a
        missing category) where a row was dropped, as R.

    Notes
    -----
    Deliberate differences from lme4 1.1-31: LMM draws use the prior weights (residual
    variance σ²/w; lme4 ignores them), and Gamma / inverse Gaussian draws use the shape
    w/σ² (lme4 1.1-31 used σ·w, a bug fixed in later lme4, issue #782).
    """
    Y, index, kind = simulate_responses(fit, nsim=nsim, seed=seed, use_u=use_u,
                                        re_form=re_form, newdata=newdata,
                                        allow_new_levels=allow_new_levels, weights=weights)
    names = [f"sim_{k + 1}" for k in range(Y.shape[-1])]
    if kind == "cbind":
        sub = _cbind_names(fit)
        cols = pd.MultiIndex.from_tuples([(s, c) for s in names for c in sub])
        flat = np.concatenate([Y[:, :, k] for k in range(Y.shape[2])], axis=1)
        out = pd.DataFrame(flat, index=index, columns=cols)
    elif kind == "factor":
        # R: factor(levels(y)[1 + rbinom(...)], levels = levels(y))
        levels = list(fit.design.info["response_levels"])
        out = pd.DataFrame({nm: pd.Categorical.from_codes(
            (Y[:, k] > 0).astype(np.int64), categories=levels)
            for k, nm in enumerate(names)}, index=index)
    else:
        out = pd.DataFrame(Y, index=index, columns=names)
    out.attrs["seed"] = seed if not isinstance(seed, np.random.Generator) else None
    if newdata is None:       # the fit's rows: padded to the data's for na_action="exclude"
        out = naresid_frame(fit.design, out)
    return out
