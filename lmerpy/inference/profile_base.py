"""What the profiles of LMMs and GLMMs share (R: ``lme4:::profile.merMod``'s machinery).

The result classes (:class:`Profile`, :class:`ParameterProfile`, with ``confint`` of a
profile), lme4's choice of parameters (``get.which``), its stepping rule (``nextpar`` /
``fillmat``), its consistency checks and warnings, the warm-started BOBYQA of each profile
point and the splines through the points. :mod:`.profile` (LMMs) and :mod:`.profile_glmm`
(GLMMs) build on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from ..arguments import LEVEL, Number
from ..errors import ArgumentError, DataNotHereError, LmerpyError
from ..warnings import ProfileWarning, warn
from .profile_spline import SplineError, approx_linear, back_spline, interp_spline

if TYPE_CHECKING:
    from ..types import Parm

__all__ = ["BOBYQA_STEP", "ParameterProfile", "Profile", "ProfileError", "Stepper", "bobyqa",
           "check_consistent", "check_diff", "finish", "guard", "new_stepper", "percent_labels",
           "profile_messages", "select_parameters", "warn_profile"]

_NONNEG = Number(lower=0)


def percent_labels(probs):
    """R's ``format.perc(probs, 3)``: ``["2.5 %", "97.5 %"]`` for ``[0.025, 0.975]``."""
    from ..display.rformat import format_numbers
    vals = [100.0 * float(p) for p in probs]
    text = format_numbers(vals, digits=3, trim=True, scipen=100)   # scientific = FALSE
    return [t + " %" for t in text]


class ProfileError(LmerpyError):
    """Profiling failed (R: ``profiling detected new, lower deviance`` and the like)."""


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
                    warn_profile(f"bad profile for {name}")
                elif z.size > 1 and np.all(np.diff(z) < -non_mono_tol):
                    bad = True
                    warn_profile(f"non-monotonic profile for {name}")
                else:
                    warn_profile(f"bad spline fit for {name}: falling back to linear interpolation")
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


def warn_profile(msg):
    """Issue one of lme4's profiling warnings (a :class:`~lmerpy.warnings.ProfileWarning`)."""
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


class Stepper:
    """lme4's ``nextpar``/``fillmat``: walk away from the optimum in steps of ~delta in ζ."""

    def __init__(self, delta, cutoff, maxpts, maxmult, minstep=1e-6):
        self.delta, self.cutoff, self.maxpts = delta, cutoff, maxpts
        self.maxmult, self.minstep = maxmult, minstep
        self.warnings: list[str] = []
        #: > 0: print lme4's trace (each new point, capped steps), as profile(verbose=)
        self.verbose = 0

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
                if self.verbose:
                    print(f"capped step at {abs(self.maxmult * num):1.2f} (multiplier="
                          f"{abs(step / num):1.2f} > {self.maxmult:1.2f})")
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

    def fill(self, first, second, lowcut, upcut, zeta_at, column=None):
        """Starting from the points ``first`` then ``second`` ((value, ζ, row) triples),
        step on until |ζ| > cutoff, a bound is reached or ``maxpts`` points. With
        :attr:`verbose`, each new point is printed as lme4's ``cat(i, cc, mat[i + 1, ])``
        (``column``: the profiled parameter's 1-based column, after ``.zeta``)."""
        pts = [first, second]
        i = 2
        while (i < self.maxpts and lowcut < pts[-1][0] < upcut
               and (np.isnan(pts[-1][1]) or abs(pts[-1][1]) <= self.cutoff)):
            x = self.next_value([(p[0], p[1]) for p in pts[-2:]], lowcut, upcut)
            fin = [p for p in pts if np.all(np.isfinite(p[2]))]
            start = self._start(fin[-2], fin[-1], x) if len(fin) > 1 else fin[-1][2]
            z, row = zeta_at(x, start)
            pts.append((x, z, row))
            if self.verbose and column is not None:
                from ..display.rformat import format_number
                print(" ".join([str(i), str(column)]
                               + [format_number(float(v), 7) for v in np.ravel(row)]) + " ")
            i += 1
        return pts


def new_stepper(alphamax, nptot, delta, delta_cutoff, maxpts, maxmult):
    """The stepper for ``nptot`` parameters: lme4's cutoff ``sqrt(qchisq(1 - alphamax,
    nptot))`` and step ``delta`` (default ``cutoff * delta_cutoff``)."""
    cutoff = math.sqrt(chi2.ppf(1.0 - alphamax, nptot))
    if delta is None:
        delta = cutoff * delta_cutoff
    return Stepper(delta, cutoff, maxpts, maxmult)


def check_consistent(value, base):
    """lme4's check that the profiled deviance at the optimum (``value``) is the fit's own
    (``base``), to 1e-5 relative."""
    if not abs(value - base) <= 1e-5 * max(1.0, abs(base)):
        raise ProfileError("Profiling over both the residual variance and fixed effects is not "
                           "numerically consistent with profiling over the fixed effects only")


def check_diff(diff, devtol, state, where):
    """A profiled deviance ``diff`` below the optimum's: by more than ``devtol`` lme4's error
    (naming the point, ``where``); by less, kept as ``state["lowest"]`` for the warning."""
    if diff < -devtol:
        raise ProfileError(f"profiling detected new, lower deviance (by {-diff:.3g} at "
                           f"{where})")
    if diff < 0:
        state["lowest"] = min(state["lowest"], diff)


def profile_messages(stepper, state):
    """lme4's warnings after a profile: the stepper's (once each), ``NAs detected in
    profiling`` after a failed point, and ``slightly lower deviances``."""
    msgs = list(dict.fromkeys(stepper.warnings))
    if state["na"]:
        msgs.append("NAs detected in profiling")
    if state["lowest"] < 0:
        msgs.append(f"slightly lower deviances (diff={state['lowest']:g}) detected")
    return msgs


def guard(zeta_at, col, width, state):
    """lme4's ``tryCatch`` around a profile point: a failed fit gives ζ = NA (and lme4's
    warning ``NAs detected in profiling``) instead of stopping the profile."""
    def guarded(x, start):
        try:
            return zeta_at(x, start)
        except (ProfileError, DataNotHereError):   # not a failed fit: no point can be fitted
            raise
        except (LmerpyError, ValueError, ArithmeticError, np.linalg.LinAlgError):
            state["na"] = True
            row = np.full(width, np.nan)
            row[col] = x
            return np.nan, row
    return guarded


# ------------------------------------------------------------------------------ points and splines


#: BOBYQA's first trust-region radius, relative to each parameter (warm starts are close)
BOBYQA_STEP = 0.02


def bobyqa(fun, x0, lower, upper, scale, min_step=None):
    """Minimise ``fun`` from a warm start with lme4's nloptwrap tolerances (NLopt BOBYQA).

    The first trust-region radius is ``BOBYQA_STEP`` times each coordinate (its ``scale`` at
    0), at least ``min_step`` where given (a standard deviation near 0 would otherwise get a
    radius too small to leave a flat edge)."""
    from ..optimize import minimize_bounded
    x0 = np.clip(np.asarray(x0, dtype=float), lower, upper)
    step = BOBYQA_STEP * np.where(np.abs(x0) > 0, np.abs(x0), scale)
    if min_step is not None:
        step = np.maximum(step, min_step)
    res = minimize_bounded(fun, x0, lower, upper, method="bobyqa",
                           settings={"initial_step": step})
    return res.x, res.fun


def finish(name, pts, colnames, lower, upper):
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
        warn_profile(f"non-monotonic profile for {name}")
    return ParameterProfile(name, tab, forward, backward, float(lower), float(upper))
