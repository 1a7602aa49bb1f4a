"""Likelihood profiles of a generalized linear mixed model (R: ``profile(gfit)``).

As lme4 (``profile.merMod`` with ``devfun2`` on a ``glmerMod``): every parameter, the random
effects' standard deviations and correlations and the fixed effects alike, is profiled by
fixing it and minimising the Laplace (or adaptive Gauss–Hermite) deviance over all the others
with BOBYQA, warm-started from the neighbouring profile point; the first step away from the
optimum is 1% of the parameter's value (0.001 when it is 0).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import LmerpyError
from ..progress import progress_bar
from .profile_base import (BOBYQA_STEP, Profile, bobyqa, check_consistent, check_diff, finish, guard,
                           new_stepper, profile_messages, select_parameters, warn_profile)
from .varpar import VarScale, var_par_names

__all__ = ["glmm_profile"]


def glmm_profile(fit, which, alphamax, maxpts, delta, delta_cutoff, maxmult, devtol, signames,
                 verbose=0, progress=True):
    """lme4's ``profile.merMod`` for a ``glmerMod`` (see :func:`lmerpy.inference.profile`)."""
    if fit.use_sc:
        raise LmerpyError("can't (yet) profile GLMMs with non-fixed scale parameters")
    if int(getattr(fit, "nAGQ", 1)) < 1:
        raise LmerpyError("profiling a GLMM needs its deviance over (theta, beta): refit with "
                          "nAGQ >= 1 (nAGQ = 0 estimates beta inside PIRLS)")
    dev = fit.devfun
    vs = VarScale(fit)
    nth = vs.n
    par_hat = np.asarray(fit.par, dtype=float).copy()
    beta_hat = fit.fixef().to_numpy()
    p = beta_hat.size
    vnames = var_par_names(fit, signames, use_sc=False)
    names = vnames + list(fit.design.X_colnames)
    opt = np.concatenate([vs.values(par_hat), beta_hat])
    optimum = pd.Series(opt, index=names)
    nptot = opt.size
    lower = np.concatenate([vs.lower, np.full(p, -np.inf)])
    upper = np.concatenate([vs.upper, np.full(p, np.inf)])
    scale = np.concatenate([np.ones(nth),
                            np.maximum(np.sqrt(np.diag(np.asarray(fit.vcov(), dtype=float))),
                                       1e-8)])
    base = -2.0 * float(fit.logLik())
    # a standard deviation at (or near) 0 starts with a radius of BOBYQA_STEP: the Laplace
    # deviance is flat there, and a radius relative to a tiny value never leaves the edge
    # (cbpp_diag's period4 profile: lme4's interval, not the edge's)
    min_step = np.concatenate([np.where(vs.is_cor, 0.0, BOBYQA_STEP), np.zeros(p)])

    def dd(v):
        return float(dev(np.concatenate([vs.par_of(v[:nth]), v[nth:]])))

    check_consistent(dd(opt), base)
    stepper = new_stepper(alphamax, nptot, delta, delta_cutoff, maxpts, maxmult)
    stepper.verbose = verbose
    wanted = set(select_parameters(which, names, names, len(vnames), "which", "profile"))
    state = {"lowest": 0.0, "na": False}
    profiles = {}
    bar = progress_bar(len(wanted), "profile", progress, unit="parameter")
    try:
        for w, name in enumerate(names):
            if name not in wanted:
                continue
            if verbose:
                print(f"parameter {w + 1}:")                 # lme4's verbose trace
            free = np.array([k for k in range(nptot) if k != w], dtype=int)
            pw = opt[w]

            def zeta_at(x, prev_row, w=w, free=free, pw=pw, name=name):
                full = np.asarray(prev_row[1:], dtype=float).copy()
                full[w] = x

                def f(xf):
                    v = full.copy()
                    v[free] = xf
                    return dd(v)

                xf, fv = bobyqa(f, full[free], lower[free], upper[free], scale[free],
                                min_step[free])
                full[free] = xf
                diff = fv - base
                check_diff(diff, devtol, state, f"{name} = {x:g}")
                z = math.copysign(math.sqrt(max(diff, 0.0)), x - pw) if x != pw else 0.0
                return z, np.concatenate([[z], full])

            zeta_at = guard(zeta_at, 1 + w, nptot + 1, state)
            base_row = np.concatenate([[0.0], opt])
            shift = 0.001 if pw == 0 else pw * 1.01
            if vs.lme4_2 and shift > upper[w]:    # ρ near its upper bound: step down first
                shift = pw - 0.001
            z1, row1 = zeta_at(shift, base_row)
            pts = stepper.fill((pw, 0.0, base_row), (shift, z1, row1), lower[w], upper[w],
                               zeta_at, column=w + 2)
            if pw > lower[w]:
                pts += stepper.fill((shift, z1, row1), (pw, 0.0, base_row), lower[w], upper[w],
                                    zeta_at, column=w + 2)
            profiles[name] = finish(name, pts, names, lower[w], upper[w])
            bar.update(1)
    finally:
        bar.close()
        dev(np.concatenate([par_hat, beta_hat]))         # leave the deviance at the optimum
    msgs = profile_messages(stepper, state)
    for m in msgs:
        warn_profile(m)
    return Profile(profiles, optimum, base, msgs, n_var=len(vnames))
