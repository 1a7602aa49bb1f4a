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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular
from scipy.stats import chi2, norm

from ..arguments import LEVEL, LOGICAL, VERBOSE, Integer, Number, unknown_keywords
from ..errors import ArgumentError, LmerpyError
from ..warnings import ConvergenceWarning, ProfileWarning, warn
from .profile_spline import SplineError, approx_linear, back_spline, interp_spline
from .varpar import _blocks, _var_bounds, sdcor_to_theta, theta_to_sdcor, var_par_names

if TYPE_CHECKING:
    from ..models.base import MixedModel
    from ..types import Parm

__all__ = [
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


class ProfileError(LmerpyError):
    """Profiling failed (R: ``profiling detected new, lower deviance`` and the like)."""


# ---------------------------------------------------------------------------------- LMM pieces


class _LmmPieces:
    """log|L|², r²_θ, β̂(θ) and R_X of an LMM at any θ, on a private copy of the deviance."""

    def __init__(self, fit):
        dev = fit.devfun
        self.dev = dev.with_response(np.asarray(fit.design.y, dtype=float)) \
            if hasattr(dev, "with_response") else dev
        self.n = int(fit.design.n)
        self.p = int(fit.design.p)
        self.sum_log_w = float(getattr(self.dev, "sum_log_w", 0.0))

    def __call__(self, theta):
        """(ldL2, ldRX2, r2, beta, RX) at θ (the deviance's ``components``)."""
        c = self.dev.components(np.array(theta, dtype=float))
        return c.ldL2, c.ldRX2, c.pwrss, c.beta, c.RX

    def unprofiled(self, theta, sigma, reml=False):
        """R: ``lme4:::devfun2``: the deviance at (θ, σ) with β profiled out; ``reml`` adds
        log|R_X|² − p log(2πσ²) (lmerTest's ``devfun_vp``)."""
        ld, ldrx, r2, _, _ = self(theta)
        s2 = sigma * sigma
        if not s2 > 0:
            return np.inf
        m = self.n - self.p if reml else self.n
        d = ld + r2 / s2 + m * (_LOG2PI + math.log(s2)) - self.sum_log_w
        return d + ldrx if reml else d


# ---------------------------------------------------------------------------------- profile result


@dataclass
class ParameterProfile:
    """The profile of one parameter.

    Attributes
    ----------
    name : str
    table : DataFrame
        ``.zeta`` and every parameter at each profile point, sorted by the focal parameter.
    forward : PolySpline or None
        ζ as a function of the parameter (R: ``attr(pr, "forward")[[name]]``).
    backward : PolySpline or Exception
        The parameter as a function of ζ (R: ``attr(pr, "backward")``); the exception when it
        could not be built (non-monotone profile).
    lower, upper : float
        The parameter's bounds (NaN for fixed effects).
    """

    name: str
    table: pd.DataFrame
    forward: Any = None
    backward: Any = None
    lower: float = float("nan")
    upper: float = float("nan")


class Profile:
    """Likelihood profiles of a fitted model (R: the ``thpr`` object of ``profile(fit)``).

    Attributes
    ----------
    profiles : dict
        Parameter name → :class:`ParameterProfile`, in lme4's order.
    optimum : Series
        The parameters at the (ML) optimum on the profiling scale.
    base_deviance : float
        The ML deviance at the optimum (d̂).
    warnings : list of str
        Warnings raised while profiling (also issued as Python warnings).
    """

    def __init__(self, profiles: Dict[str, ParameterProfile], optimum: pd.Series,
                 base_deviance: float, warnings_: Optional[List[str]] = None,
                 n_var: int = 0) -> None:
        self.profiles: dict[str, ParameterProfile] = profiles
        self.n_var = int(n_var)
        self.optimum: pd.Series = optimum
        self.base_deviance = float(base_deviance)
        self.warnings: list[str] = list(warnings_ or [])

    @property
    def parameters(self) -> list[str]:
        return list(self.profiles)

    def __getitem__(self, name: str) -> ParameterProfile:
        return self.profiles[name]

    def as_dataframe(self) -> pd.DataFrame:
        """R: ``as.data.frame(profile(fit))``: ``.zeta``, the parameters, ``.par`` (the
        profiled parameter, a categorical in profile order) and ``.focal`` (its value)."""
        frames = []
        for name, pp in self.profiles.items():
            tab = pp.table.copy()
            tab[".par"] = name
            tab[".focal"] = tab[name].to_numpy()
            frames.append(tab)
        out = pd.concat(frames, ignore_index=True)
        out[".par"] = pd.Categorical(out[".par"], categories=list(self.profiles))
        return out

    def confint(self, parm: Parm = None, level: float = 0.95, non_mono_tol: float = 1e-2
                ) -> pd.DataFrame:
        """R: ``confint(profile(fit), parm, level)``: limits where ζ = ∓qnorm((1 + level)/2).

        A limit beyond the profiled range is the parameter's bound (0 for a standard deviation
        whose profile reaches 0, ±1 for a correlation) or NaN for a fixed effect. A profile
        whose inverse spline cannot be built falls back to linear interpolation (with lme4's
        warning) unless it is non-monotone.
        """
        from .confint import percent_labels
        level = LEVEL("level", level, "confint")
        non_mono_tol = _NONNEG("non_mono_tol", non_mono_tol, "confint")
        names = select_parameters(parm, list(self.profiles), self.optimum.index, self.n_var,
                                  "parm", "confint")
        a = (1.0 - level) / 2.0
        zeta = norm.ppf([a, 1.0 - a])
        out = np.full((len(names), 2), np.nan)
        for k, name in enumerate(names):
            pp = self.profiles[name]
            bad = False
            if not isinstance(pp.backward, Exception) and pp.backward is not None:
                vals = pp.backward(zeta)
            else:
                z = pp.table[".zeta"].to_numpy()
                x = pp.table[name].to_numpy()
                vals = np.full(2, np.nan)
                if np.all(np.isnan(z)):
                    bad = True
                    _warn(f"bad profile for {name}")
                elif z.size > 1 and np.all(np.diff(z) < -non_mono_tol):
                    bad = True
                    _warn(f"non-monotonic profile for {name}")
                else:
                    _warn(f"bad spline fit for {name}: falling back to linear interpolation")
                    vals = approx_linear(z, x, zeta)
            if not bad:
                if np.isnan(vals[0]):
                    vals[0] = pp.lower
                if np.isnan(vals[1]):
                    vals[1] = pp.upper
            out[k] = vals
        return pd.DataFrame(out, index=names, columns=percent_labels([a, 1.0 - a]))

    def __repr__(self):
        return (f"<Profile of {len(self.profiles)} parameters: "
                f"{', '.join(self.profiles)}>")


def _warn(msg):
    warn(msg, ProfileWarning)


def select_parameters(which, available, all_names, n_var, name="which", caller=None):
    """lme4's ``get.which``: None (all), names, ``"theta_"`` / ``"beta_"``, or 0-based
    positions in the full parameter list (``which`` of profile, ``parm`` of confint: errors
    name the argument ``name`` and ``caller``)."""
    where = f"{caller}: " if caller else ""
    all_names = list(all_names)
    if which is None:
        return [n for n in all_names if n in available]
    if isinstance(which, (str, int, np.integer)):
        which = [which]
    try:
        which = list(which)
    except TypeError:
        raise ArgumentError(f"{where}{name} must give parameters by name or 0-based "
                            f"position, not {which!r}") from None
    idx = set()
    for w in which:
        if isinstance(w, (bool, np.bool_)):
            raise ArgumentError(f"{where}{name} must give parameters by name or 0-based "
                                f"position, not {w!r}")
        if isinstance(w, (int, np.integer)):
            if not 0 <= int(w) < len(all_names):
                raise ArgumentError(f"{where}{name}: parameter position {w} is out of range "
                                    f"0..{len(all_names) - 1}")
            idx.add(int(w))
        elif w == "theta_":
            idx.update(range(n_var))
        elif w == "beta_":
            idx.update(range(n_var, len(all_names)))
        elif w in all_names:
            idx.add(all_names.index(w))
        else:
            raise ArgumentError(f"{where}unknown parameter {w!r} in {name}; the parameters "
                                f"are {', '.join(all_names)}")
    return [all_names[i] for i in sorted(idx) if all_names[i] in available]


# ---------------------------------------------------------------------------------- stepping


class _Stepper:
    """lme4's ``nextpar``/``fillmat``: walk away from the optimum in steps of ~delta in ζ."""

    def __init__(self, delta, cutoff, maxpts, maxmult, minstep=1e-6):
        self.delta, self.cutoff, self.maxpts = delta, cutoff, maxpts
        self.maxmult, self.minstep = maxmult, minstep
        self.warnings: list[str] = []

    def next_value(self, rows, lowcut, upcut):
        (p0, z0), (p1, z1) = rows[-2], rows[-1]
        num = p1 - p0
        denom = z1 - z0
        if not np.isfinite(denom) or denom == 0:
            self.warnings.append("Last two rows have identical or NA .zeta values: using minstep")
            step = self.minstep
        else:
            step = self.delta * num / denom
            if step < 0:
                self.warnings.append("unexpected decrease in profile: using minstep")
                step = self.minstep
            elif abs(step) > abs(self.maxmult * num):
                step = abs(self.maxmult * num)
        return min(upcut, max(lowcut, p1 + np.sign(num) * step))

    @staticmethod
    def _start(a, b, x):
        """Warm start for the point at ``x``: the last row, moved along the line through the
        last two rows (lme4 starts from the last row itself)."""
        (x0, _, r0), (x1, _, r1) = a, b
        if not (np.all(np.isfinite(r0)) and np.all(np.isfinite(r1))) or x1 == x0:
            return r1
        return r1 + (r1 - r0) * ((x - x1) / (x1 - x0))

    def fill(self, first, second, lowcut, upcut, zeta_at):
        """Starting from the points ``first`` then ``second`` ((value, ζ, row) triples),
        step on until |ζ| > cutoff, a bound is reached or ``maxpts`` points."""
        pts = [first, second]
        i = 2
        while (i < self.maxpts and lowcut < pts[-1][0] < upcut
               and (np.isnan(pts[-1][1]) or abs(pts[-1][1]) <= self.cutoff)):
            x = self.next_value([(p[0], p[1]) for p in pts[-2:]], lowcut, upcut)
            fin = [p for p in pts if np.all(np.isfinite(p[2]))]
            start = self._start(fin[-2], fin[-1], x) if len(fin) > 1 else fin[-1][2]
            z, row = zeta_at(x, start)
            pts.append((x, z, row))
            i += 1
        return pts


def _new_stepper(alphamax, nptot, delta, delta_cutoff, maxpts, maxmult):
    """The stepper for ``nptot`` parameters: lme4's cutoff ``sqrt(qchisq(1 - alphamax,
    nptot))`` and step ``delta`` (default ``cutoff * delta_cutoff``)."""
    cutoff = math.sqrt(chi2.ppf(1.0 - alphamax, nptot))
    if delta is None:
        delta = cutoff * delta_cutoff
    return _Stepper(delta, cutoff, maxpts, maxmult)


def _check_consistent(value, base):
    """lme4's check that the profiled deviance at the optimum (``value``) is the fit's own
    (``base``), to 1e-5 relative."""
    if not abs(value - base) <= 1e-5 * max(1.0, abs(base)):
        raise ProfileError("Profiling over both the residual variance and fixed effects is not "
                           "numerically consistent with profiling over the fixed effects only")


def _check_diff(diff, devtol, state, where):
    """A profiled deviance ``diff`` below the optimum's: by more than ``devtol`` lme4's error
    (naming the point, ``where``); by less, kept as ``state["lowest"]`` for the warning."""
    if diff < -devtol:
        raise ProfileError(f"profiling detected new, lower deviance (by {-diff:.3g} at "
                           f"{where})")
    if diff < 0:
        state["lowest"] = min(state["lowest"], diff)


def _profile_messages(stepper, state):
    """lme4's warnings after a profile: the stepper's (once each), ``NAs detected in
    profiling`` after a failed point, and ``slightly lower deviances``."""
    msgs = list(dict.fromkeys(stepper.warnings))
    if state["na"]:
        msgs.append("NAs detected in profiling")
    if state["lowest"] < 0:
        msgs.append(f"slightly lower deviances (diff={state['lowest']:g}) detected")
    return msgs


def _guard(zeta_at, col, width, state):
    """lme4's ``tryCatch`` around a profile point: a failed fit gives ζ = NA (and lme4's
    warning ``NAs detected in profiling``) instead of stopping the profile."""
    def guarded(x, start):
        try:
            return zeta_at(x, start)
        except ProfileError:
            raise
        except (LmerpyError, ValueError, ArithmeticError, np.linalg.LinAlgError):
            state["na"] = True
            row = np.full(width, np.nan)
            row[col] = x
            return np.nan, row
    return guarded


# ---------------------------------------------------------------------------------- LMM profile


#: BOBYQA's first trust-region radius, relative to each parameter (warm starts are close)
_STEP = 0.02


def _bobyqa(fun, x0, lower, upper, scale):
    """Minimise ``fun`` from a warm start with lme4's nloptwrap tolerances (NLopt BOBYQA)."""
    from ..optimize import minimize_bounded
    x0 = np.clip(np.asarray(x0, dtype=float), lower, upper)
    step = _STEP * np.where(np.abs(x0) > 0, np.abs(x0), scale)
    res = minimize_bounded(fun, x0, lower, upper, method="bobyqa",
                           settings={"initial_step": step})
    return res.x, res.fun


def _ml_fit(fit):
    """The ML fit (lme4's ``refitML``), without repeating the fit's convergence messages."""
    if not getattr(fit, "REML", False):
        return fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit.refitML()


def _lmm_profile(fit, which_names, alphamax, maxpts, delta, delta_cutoff, maxmult, devtol,
                 old_names):
    ml = _ml_fit(fit)
    pieces = _LmmPieces(ml)
    blocks = _blocks(ml)
    n, p = pieces.n, pieces.p
    theta_hat = ml.theta.copy()
    sigma_hat = float(ml.sigma())      # an ML fit: σ̂ = sqrt(pwrss / n)
    beta_hat = ml.fixef().to_numpy()
    base = float(ml.deviance(REML=False))
    vnames = var_par_names(ml, old_names, use_sc=True)
    fnames = list(ml.design.X_colnames)
    nvp = len(vnames)
    opt_var = np.append(theta_to_sdcor(theta_hat, blocks, sigma_hat), sigma_hat)
    optimum = pd.Series(np.concatenate([opt_var, beta_hat]), index=vnames + fnames)
    lower, upper = _var_bounds(ml, use_sc=True)
    scale = np.where(np.isfinite(upper) & (upper == 1), 1.0, sigma_hat)   # cor: 1, sd: σ̂
    _check_consistent(pieces.unprofiled(theta_hat, sigma_hat), base)
    stepper = _new_stepper(alphamax, nvp + p, delta, delta_cutoff, maxpts, maxmult)
    se = np.sqrt(np.diag(np.asarray(ml.vcov(), dtype=float)))   # lme4: SEs of the ML refit
    state = {"lowest": 0.0, "na": False}
    width = 1 + nvp + p

    def deviance_diff(dev_value, where):
        diff = dev_value - base
        _check_diff(diff, devtol, state, where)
        return max(0.0, diff)

    profiles: dict[str, ParameterProfile] = {}
    # ---- variance parameters (sd/cor scale, sigma)
    for w in range(nvp):
        name = vnames[w]
        if name not in which_names:
            continue
        free = np.array([k for k in range(nvp) if k != w], dtype=int)
        pw = opt_var[w]

        def zeta_at(x, prev_row, w=w, free=free, pw=pw, name=name):
            full = prev_row[1:1 + nvp].copy()
            full[w] = x

            def f(xf):
                v = full.copy()
                v[free] = xf
                th = sdcor_to_theta(v[:-1], blocks, v[-1])
                return pieces.unprofiled(th, v[-1])

            if free.size:
                xf, fv = _bobyqa(f, full[free], lower[free], upper[free], scale[free])
                full[free] = xf
            else:
                fv = f(np.zeros(0))
            dd = deviance_diff(fv, f"{name} = {x:g}")
            th = sdcor_to_theta(full[:-1], blocks, full[-1])
            beta = pieces(th)[3]
            z = math.copysign(math.sqrt(dd), x - pw) if x != pw else 0.0
            return z, np.concatenate([[z], full, beta])

        zeta_at = _guard(zeta_at, 1 + w, width, state)
        base_row = np.concatenate([[0.0], opt_var, beta_hat])
        shift = 0.001 if pw == 0 else pw * 1.01
        z1, row1 = zeta_at(shift, base_row)
        up = stepper.fill((pw, 0.0, base_row), (shift, z1, row1), lower[w], upper[w], zeta_at)
        pts = list(up)
        if pw > lower[w]:
            down = stepper.fill((shift, z1, row1), (pw, 0.0, base_row), lower[w], upper[w],
                                zeta_at)
            pts += down
        profiles[name] = _finish(name, pts, vnames + fnames, lower[w], upper[w])
    # ---- fixed effects
    for j, name in enumerate(fnames):
        if name not in which_names:
            continue
        est = beta_hat[j]

        def zeta_at(b, prev_row, j=j, est=est, name=name):  # type: ignore[misc]
            th0 = sdcor_to_theta(prev_row[1:nvp], blocks, prev_row[nvp])
            th0 = np.maximum(th0, ml.design.lower)

            def r2_fixed(th):
                ld, _, r2, beta, RX = pieces(th)
                Ri = solve_triangular(RX, np.eye(p))
                vjj = float(Ri[j] @ Ri[j])
                return ld, r2 + (b - beta[j]) ** 2 / vjj, beta, Ri, vjj

            def f(th):
                ld, r2j, _, _, _ = r2_fixed(th)
                return ld + n * (1.0 + _LOG2PI + math.log(r2j / n)) - pieces.sum_log_w

            th, fv = _bobyqa(f, th0, ml.design.lower, np.full(th0.size, np.inf),
                             np.ones(th0.size))
            dd = deviance_diff(fv, f"{name} = {b:g}")
            _, r2j, beta, Ri, vjj = r2_fixed(th)
            vcol = Ri @ Ri[j]                          # (R_X'R_X)⁻¹ e_j
            bfix = beta + vcol * (b - beta[j]) / vjj
            bfix[j] = b
            sig = math.sqrt(r2j / n)
            z = math.copysign(math.sqrt(dd), b - est) if b != est else 0.0
            return z, np.concatenate([[z], theta_to_sdcor(th, blocks, sig), [sig], bfix])

        zeta_at = _guard(zeta_at, 1 + nvp + j, width, state)
        base_row = np.concatenate([[0.0], opt_var, beta_hat])
        shift = est + stepper.delta * se[j]
        z1, row1 = zeta_at(shift, base_row)
        up = stepper.fill((est, 0.0, base_row), (shift, z1, row1), -np.inf, np.inf, zeta_at)
        down = stepper.fill((shift, z1, row1), (est, 0.0, base_row), -np.inf, np.inf, zeta_at)
        profiles[name] = _finish(name, up + down, vnames + fnames, np.nan, np.nan)
    msgs = _profile_messages(stepper, state)
    for m in msgs:
        _warn(m)
    return Profile(profiles, optimum, base, msgs, n_var=nvp)


def _finish(name, pts, colnames, lower, upper):
    """Rows of one parameter's profile (unique, sorted by it) and its splines."""
    rows = np.array([pt[2] for pt in pts])
    tab = pd.DataFrame(rows, columns=[".zeta"] + colnames)
    tab = tab.drop_duplicates().sort_values(name, kind="stable").reset_index(drop=True)
    forward = backward = None
    try:
        forward = interp_spline(tab[name].to_numpy(), tab[".zeta"].to_numpy())
        backward = back_spline(forward)
    except (SplineError, np.linalg.LinAlgError) as e:
        backward = e if isinstance(e, SplineError) else SplineError(str(e))
        _warn(f"non-monotonic profile for {name}")
    return ParameterProfile(name, tab, forward, backward, float(lower), float(upper))


_ALPHAMAX = Number(lower=0, upper=1, open_lower=True, open_upper=True)
_MAXPTS = Integer(lower=1)
_POSITIVE = Number(lower=0, open_lower=True)
_DELTA = Number(lower=0, open_lower=True, none=True)
_NONNEG = Number(lower=0)
_MAXMULT = Number(lower=1)


# ---------------------------------------------------------------------------------- entry point


def profile(fit: MixedModel, which: Parm = None, alphamax: float = 0.01, maxpts: int = 100,
            delta: Optional[float] = None, delta_cutoff: float = 1.0 / 8, verbose: int = 0,
            devtol: float = 1e-9, maxmult: float = 10, signames: bool = True,
            **kwargs: Any) -> Profile:
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
    if getattr(fit, "r_kind", "lmer") == "glmer":
        from .profile_glmm import glmm_profile
        return glmm_profile(fit, which, alphamax, maxpts, delta, delta_cutoff, maxmult, devtol,
                            signames)
    vnames = var_par_names(fit, signames, use_sc=True)
    all_names = vnames + list(fit.design.X_colnames)
    names = select_parameters(which, all_names, all_names, len(vnames), "which", "profile")
    return _lmm_profile(fit, set(names), alphamax, maxpts, delta, delta_cutoff, maxmult, devtol,
                        signames)
