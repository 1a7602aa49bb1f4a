"""Likelihood profiles of a fitted mixed model (R: ``profile(fit)``, class ``thpr``).

R equivalents: ``lme4:::profile.merMod``, ``lme4:::devfun2``, ``lme4:::confint.thpr``,
``lme4:::as.data.frame.thpr``.

The profile of a parameter φ is ζ(φ) = sign(φ − φ̂)·sqrt(d(φ) − d̂), where d(φ) is the ML
deviance minimised over all other parameters with φ held fixed and d̂ the ML deviance at the
optimum (a REML fit is refitted by ML first, as lme4 does). Variance parameters are profiled on
lme4's standard-deviation/correlation scale (``.sig01``, …, ``.sigma``), fixed effects one at a
time. The points are placed by lme4's stepping rule (steps of about ``delta`` in ζ until
|ζ| exceeds ``sqrt(qchisq(1 - alphamax, npar))`` or a bound is reached), and a natural cubic
spline through them and its inverse give the confidence limits.

For a linear mixed model nothing of size n is recomputed along the way: with β_j fixed at b,
the penalized residual sum of squares minimised over the other β is
r²_θ + (b − β̂_j(θ))² / [(R_X'R_X)⁻¹]_jj, so each fixed-effect profile point is a small
optimisation over θ on the fit's own deviance object.
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular

from ..arguments import LOGICAL, VERBOSE, Integer, Number, unknown_keywords
from ..errors import DataNotHereError
from ..progress import progress_bar
from ..threads import fit_threads
from ..warnings import ConvergenceWarning
from .profile_base import (ParameterProfile, Profile, ProfileError, bobyqa, check_consistent,
                           check_diff, finish, guard, new_stepper, profile_messages,
                           select_parameters, warn_profile)
from .varpar import VarScale, sdcor_to_theta, theta_to_sdcor, var_bounds, var_par_names

if TYPE_CHECKING:
    from ..models.base import MixedModel
    from ..types import Parm

__all__ = [
    "LmmPieces",
    "ParameterProfile",
    "Profile",
    "ProfileError",
    "profile",
    "sdcor_to_theta",
    "select_parameters",
    "theta_to_sdcor",
    "var_par_names",
]

_LOG2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------- LMM pieces


class LmmPieces:
    """log|L|², r²_θ, β̂(θ) and R_X of an LMM at any ``par`` (θ for unstructured terms), on a
    private copy of the deviance (its public ``components``)."""

    def __init__(self, fit):
        dev = fit.devfun
        if hasattr(dev, "with_response"):
            y = getattr(getattr(dev, "resp", None), "y", None)    # a refit's own response
            if y is None:
                try:
                    y = fit.design.y
                except DataNotHereError:  # a fit on a Dask DataFrame: its reduced products
                    y = None
            self.dev = dev.copy() if y is None else dev.with_response(np.asarray(y, dtype=float))
        else:
            self.dev = dev
        self.n = int(fit.design.n)
        self.p = int(fit.design.p)
        self.sum_log_w = float(getattr(self.dev, "sum_log_w", 0.0))

    def __call__(self, par):
        """(ldL2, ldRX2, r2, beta, RX) at ``par`` (the deviance's ``components``)."""
        c = self.dev.components(np.array(par, dtype=float))
        return c.ldL2, c.ldRX2, c.pwrss, c.beta, c.RX

    def unprofiled(self, par, sigma, reml=False):
        """R: ``lme4:::devfun2``: the deviance at (``par``, σ) with β profiled out; ``reml``
        adds log|R_X|² − p log(2πσ²) (lmerTest's ``devfun_vp``)."""
        ld, ldrx, r2, _, _ = self(par)
        s2 = sigma * sigma
        if not s2 > 0:
            return np.inf
        m = self.n - self.p if reml else self.n
        d = ld + r2 / s2 + m * (_LOG2PI + math.log(s2)) - self.sum_log_w
        return d + ldrx if reml else d


def _ml_fit(fit):
    """The ML fit (lme4's ``refitML``), without repeating the fit's convergence messages."""
    if not getattr(fit, "REML", False):
        return fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit.refitML()


def _lmm_profile(fit, which_names, alphamax, maxpts, delta, delta_cutoff, maxmult, devtol,
                 old_names, verbose=0, progress=True):
    ml = _ml_fit(fit)
    pieces = LmmPieces(ml)
    vs = VarScale(ml)
    n, p = pieces.n, pieces.p
    par_hat = np.asarray(ml.par, dtype=float).copy()
    par_lower = np.asarray(ml.design.lower, dtype=float)
    par_upper = np.asarray(getattr(ml.design, "upper", np.full(par_hat.size, np.inf)),
                           dtype=float)
    sigma_hat = float(ml.sigma())      # an ML fit: σ̂ = sqrt(pwrss / n)
    beta_hat = ml.fixef().to_numpy()
    base = float(ml.deviance(REML=False))
    vnames = var_par_names(ml, old_names, use_sc=True)
    fnames = list(ml.design.X_colnames)
    nvp = len(vnames)
    opt_var = np.append(vs.values(par_hat, sigma_hat), sigma_hat)
    optimum = pd.Series(np.concatenate([opt_var, beta_hat]), index=vnames + fnames)
    lower, upper = var_bounds(ml, use_sc=True)
    scale = np.where(np.append(vs.is_cor, False), 1.0, sigma_hat)   # cor: 1, sd: σ̂
    check_consistent(pieces.unprofiled(par_hat, sigma_hat), base)
    stepper = new_stepper(alphamax, nvp + p, delta, delta_cutoff, maxpts, maxmult)
    stepper.verbose = verbose
    se = np.sqrt(np.diag(np.asarray(ml.vcov(), dtype=float)))   # lme4: SEs of the ML refit
    state = {"lowest": 0.0, "na": False}
    width = 1 + nvp + p

    def deviance_diff(dev_value, where):
        diff = dev_value - base
        check_diff(diff, devtol, state, where)
        return max(0.0, diff)

    profiles: dict[str, ParameterProfile] = {}
    bar = progress_bar(len(which_names), "profile", progress, unit="parameter")
    # ---- variance parameters (sd/cor scale, sigma)
    for w in range(nvp):
        name = vnames[w]
        if name not in which_names:
            continue
        if verbose:
            print(f"var-cov parameter {w + 1}:")          # lme4's verbose trace
        free = np.array([k for k in range(nvp) if k != w], dtype=int)
        pw = opt_var[w]

        def zeta_at(x, prev_row, w=w, free=free, pw=pw, name=name):
            full = prev_row[1:1 + nvp].copy()
            full[w] = x

            def f(xf):
                v = full.copy()
                v[free] = xf
                return pieces.unprofiled(vs.par_of(v[:-1], v[-1]), v[-1])

            if free.size:
                xf, fv = bobyqa(f, full[free], lower[free], upper[free], scale[free])
                full[free] = xf
            else:
                fv = f(np.zeros(0))
            dd = deviance_diff(fv, f"{name} = {x:g}")
            beta = pieces(vs.par_of(full[:-1], full[-1]))[3]
            z = math.copysign(math.sqrt(dd), x - pw) if x != pw else 0.0
            return z, np.concatenate([[z], full, beta])

        zeta_at = guard(zeta_at, 1 + w, width, state)
        base_row = np.concatenate([[0.0], opt_var, beta_hat])
        shift = 0.001 if pw == 0 else pw * 1.01
        if vs.lme4_2 and shift > upper[w]:    # ρ near its upper bound: step down first
            shift = pw - 0.001
        z1, row1 = zeta_at(shift, base_row)
        up = stepper.fill((pw, 0.0, base_row), (shift, z1, row1), lower[w], upper[w], zeta_at,
                          column=w + 2)
        pts = list(up)
        if pw > lower[w]:
            down = stepper.fill((shift, z1, row1), (pw, 0.0, base_row), lower[w], upper[w],
                                zeta_at, column=w + 2)
            pts += down
        profiles[name] = finish(name, pts, vnames + fnames, lower[w], upper[w])
        bar.update(1)
    # ---- fixed effects
    for j, name in enumerate(fnames):
        if name not in which_names:
            continue
        if verbose:
            print(f"fixed-effect parameter {j + 1}:")
        est = beta_hat[j]

        def zeta_at(b, prev_row, j=j, est=est, name=name):  # type: ignore[misc]
            par0 = vs.par_of(prev_row[1:nvp], prev_row[nvp])
            par0 = np.minimum(np.maximum(par0, par_lower), par_upper)

            def r2_fixed(par):
                ld, _, r2, beta, RX = pieces(par)
                Ri = solve_triangular(RX, np.eye(p))
                vjj = float(Ri[j] @ Ri[j])
                return ld, r2 + (b - beta[j]) ** 2 / vjj, beta, Ri, vjj

            def f(par):
                ld, r2j, _, _, _ = r2_fixed(par)
                return ld + n * (1.0 + _LOG2PI + math.log(r2j / n)) - pieces.sum_log_w

            par, fv = bobyqa(f, par0, par_lower, par_upper, np.ones(par0.size))
            dd = deviance_diff(fv, f"{name} = {b:g}")
            _, r2j, beta, Ri, vjj = r2_fixed(par)
            vcol = Ri @ Ri[j]                          # (R_X'R_X)⁻¹ e_j
            bfix = beta + vcol * (b - beta[j]) / vjj
            bfix[j] = b
            sig = math.sqrt(r2j / n)
            z = math.copysign(math.sqrt(dd), b - est) if b != est else 0.0
            return z, np.concatenate([[z], vs.values(par, sig), [sig], bfix])

        zeta_at = guard(zeta_at, 1 + nvp + j, width, state)
        base_row = np.concatenate([[0.0], opt_var, beta_hat])
        shift = est + stepper.delta * se[j]
        z1, row1 = zeta_at(shift, base_row)
        col = nvp + j + 2
        up = stepper.fill((est, 0.0, base_row), (shift, z1, row1), -np.inf, np.inf, zeta_at,
                          column=col)
        down = stepper.fill((shift, z1, row1), (est, 0.0, base_row), -np.inf, np.inf, zeta_at,
                            column=col)
        profiles[name] = finish(name, up + down, vnames + fnames, np.nan, np.nan)
        bar.update(1)
    bar.close()
    msgs = profile_messages(stepper, state)
    for m in msgs:
        warn_profile(m)
    return Profile(profiles, optimum, base, msgs, n_var=nvp)


_ALPHAMAX = Number(lower=0, upper=1, open_lower=True, open_upper=True)
_MAXPTS = Integer(lower=1)
_POSITIVE = Number(lower=0, open_lower=True)
_DELTA = Number(lower=0, open_lower=True, none=True)
_NONNEG = Number(lower=0)
_MAXMULT = Number(lower=1)


# ---------------------------------------------------------------------------------- entry point


@fit_threads
def profile(fit: MixedModel, which: Parm = None, alphamax: float = 0.01, maxpts: int = 100,
            delta: Optional[float] = None, delta_cutoff: float = 1.0 / 8, verbose: int = 0,
            devtol: float = 1e-9, maxmult: float = 10, signames: bool = True,
            progress: bool = True, **kwargs: Any) -> Profile:
    """Profile the likelihood of a fitted model (R: ``profile(fit)``, lme4's
    ``profile.merMod``).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    which : None, str, int or list
        Parameters to profile: names (``".sig01"``, ``".sigma"``, ``"Days"``), ``"theta_"``
        (all variance parameters), ``"beta_"`` (all fixed effects) or 0-based positions in the
        full list (variance parameters first). None: all.
    alphamax : float
        Profile until |ζ| exceeds ``sqrt(qchisq(1 - alphamax, npar))``.
    maxpts : int
        At most this many points in each direction.
    delta : float, optional
        Target step in ζ (default ``cutoff * delta_cutoff``).
    delta_cutoff : float
        R's ``delta.cutoff``.
    devtol : float
        A deviance lower than the optimum by more than this stops with lme4's error.
    maxmult : float
        A step is at most ``maxmult`` times the previous one.
    signames : bool
        lme4's ``.sig01`` names (True) or ``sd_(Intercept)|Subject`` names (False).
    verbose : int
        > 0: print lme4's trace, ``var-cov parameter w:`` (``parameter w:`` for a GLMM) and
        ``fixed-effect parameter j:`` as each parameter's profile starts.
    progress : bool
        Show a progress bar (one step per parameter) when profiling takes more than a couple
        of seconds.

    Returns
    -------
    Profile
        ``.as_dataframe()`` is R's ``as.data.frame(profile(fit))``; ``.confint(level)``.

    Notes
    -----
    A REML fit is profiled on the ML deviance (lme4 refits it by ML first).
    """
    unknown_keywords("profile", kwargs)
    alphamax = _ALPHAMAX("alphamax", alphamax, "profile")
    maxpts = _MAXPTS("maxpts", maxpts, "profile")
    delta = _DELTA("delta", delta, "profile")
    delta_cutoff = _POSITIVE("delta_cutoff", delta_cutoff, "profile")
    verbose = VERBOSE("verbose", verbose, "profile")
    devtol = _NONNEG("devtol", devtol, "profile")
    maxmult = _MAXMULT("maxmult", maxmult, "profile")
    signames = LOGICAL("signames", signames, "profile")
    progress = LOGICAL("progress", progress, "profile")
    if getattr(fit, "r_kind", "lmer") == "glmer":
        from .profile_glmm import glmm_profile
        return glmm_profile(fit, which, alphamax, maxpts, delta, delta_cutoff, maxmult, devtol,
                            signames, verbose=verbose, progress=progress)
    vnames = var_par_names(fit, signames, use_sc=True)
    all_names = vnames + list(fit.design.X_colnames)
    names = select_parameters(which, all_names, all_names, len(vnames), "which", "profile")
    return _lmm_profile(fit, set(names), alphamax, maxpts, delta, delta_cutoff, maxmult, devtol,
                        signames, verbose=verbose, progress=progress)
