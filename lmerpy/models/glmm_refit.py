"""Cheap refits of a fitted GLMM for a new response (R: ``refit(fit, newresp)`` on a
``glmerMod``), the workhorse of ``bootMer`` and ``PBmodcomp`` on glmer fits.

What a refit reuses: the design, the PIRLS structure (U's maps, A's pattern, the Cholesky
factor with its symbolic analysis) and the fit's estimates as a warm start. What it must not
reuse: the fit's linear predictor as PIRLS's start. lme4's Laplace deviance takes log|L|² one
PIRLS step before ũ, so it depends (at the 1e-4 level) on the linear predictor ``lp0`` every
evaluation starts from; a fresh ``glmer`` fit takes ``lp0`` from its first stage's optimum.
A refit that optimized from any other ``lp0`` (lme4's refit takes the PIRLS solution at the
old (θ̂, β̂)) would land on a slightly different function's optimum — and, starting PIRLS
from the old fit's conditional modes, it can also diverge on the new response.

So a refit with a new response runs both of glmer's stages, as a fresh fit:

1. the first-stage deviance with a fresh fit's ``lp0`` (PIRLS at the start θ from the family's
   starting means), optimized over θ (β inside PIRLS) with the control's first optimizer, but
   from the fit's θ̂ (warm start: 13-50 evaluations instead of 18-94);
2. the second-stage deviance (``lp0`` from the first stage's optimum, as a fresh fit) from the
   first stage's (θ, β). By default with BOBYQA in coordinates whitened by the fit's Hessian
   over (θ, β) (β conditionally on θ; θ only rescaled so that its bounds stay bounds):
   there the deviance is close to ½‖z‖² + const and BOBYQA's quadratic model is nearly exact,
   so it needs 40-150 evaluations where Nelder–Mead in the original coordinates needs
   150-800 (grouseticks' unscaled covariate makes them very ill-conditioned), and it stops
   closer to the optimum. An explicit ``control`` runs its own second optimizer instead, with
   lme4's second-stage settings.

The result is the optimum of the same function a fresh fit optimizes: the log-likelihoods of
a refit and of a fresh ``glmer`` fit on the same response agree to about 1e-8.

That takes a smooth deviance. With the canonical links (binomial logit, Poisson log) PIRLS is
Newton's method and takes the same number of steps all around the optimum, and glmer_nb's
deviance is evaluated at ũ itself: smooth. With any other link PIRLS converges linearly and
lme4's deviance jumps (by up to ~1e-3) wherever the number of PIRLS steps changes; the
optimum is then the edge of such a jump and where an optimizer stops depends on its path
(inverse Gaussian: 0.01 of log-likelihood between two paths). So there a refit replays the
fresh fit's steps, on the fit's PIRLS structure: its result is the fresh fit's, bit for bit,
at the fresh fit's cost less the set-up.

A refit with the fit's own response (``newresp=None``; smooth deviances) reuses the fit's
second-stage deviance itself (same response, same ``lp0``) and only re-runs stage 2 from
(θ̂, β̂).

R equivalent: ``lme4:::refit.merMod`` (which runs only stage 2, with Nelder–Mead from the old
estimates and a start linear predictor from the old (θ̂, β̂)).
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["WhitenedBobyqa", "refit_glmm", "rx_hessian", "whitening"]

#: BOBYQA's initial and final trust-region radius in the whitened coordinates (in which the
#: deviance rises by about ½ for a unit step): 1e-5 there is about 1e-5 standard errors
RHOBEG = 0.5
RHOEND = 1e-5


def whitening(H, n_theta, theta_scale, beta_scale):
    """The linear map T of x = x₁ + T z used by :class:`WhitenedBobyqa`.

    With the blocks of the deviance's Hessian H over (θ, β), T = [[D, 0], [B D, C]] where C
    whitens H_ββ (C'H_ββC = I), B = −H_ββ⁻¹H_βθ follows β's conditional optimum as θ moves,
    and the diagonal D scales θ by its Schur complement S = H_θθ − H_θβH_ββ⁻¹H_βθ (D_i =
    S_ii^(−½), at most 1) — T'HT has an identity β block, no θ–β block and a unit diagonal.
    θ keeps its own (rescaled) coordinates, so its lower bounds stay bounds.

    Without a usable Hessian (none, not finite, H_ββ not positive definite) T is diagonal:
    ``theta_scale`` for θ and ``beta_scale`` for β.

    Parameters
    ----------
    H : ndarray (k, k) or None
    n_theta : int
    theta_scale, beta_scale : float or ndarray
        The fallback scales.

    Returns
    -------
    ndarray (k, k)
    """
    beta_scale = np.asarray(beta_scale, dtype=float).reshape(-1)
    p = beta_scale.shape[0]
    k = n_theta + p
    fallback = np.diag(np.concatenate((np.broadcast_to(theta_scale, (n_theta,)), beta_scale)))
    if H is None:
        return fallback
    H = np.asarray(H, dtype=float)
    if H.shape != (k, k) or not np.all(np.isfinite(H)):
        return fallback
    H = 0.5 * (H + H.T)
    T = np.zeros((k, k))
    try:
        if p:
            Hbb, Hbt = H[n_theta:, n_theta:], H[n_theta:, :n_theta]
            Lbb = np.linalg.cholesky(Hbb)
            B = -np.linalg.solve(Hbb, Hbt)
            S = H[:n_theta, :n_theta] + Hbt.T @ B
            T[n_theta:, n_theta:] = np.linalg.inv(Lbb).T
        else:
            B = np.zeros((0, n_theta))
            S = H
    except np.linalg.LinAlgError:
        return fallback
    s = np.diag(S)
    fb = np.diag(fallback)[:n_theta]
    with np.errstate(divide="ignore", invalid="ignore"):
        D = np.where(s > 0, 1.0 / np.sqrt(np.where(s > 0, s, 1.0)), fb)
    D = np.minimum(D, 1.0)
    T[:n_theta, :n_theta] = np.diag(D)
    T[n_theta:, :n_theta] = B * D
    if not np.all(np.isfinite(T)):
        return fallback
    return T


class WhitenedBobyqa:
    """A second-stage optimizer for refits: NLopt's BOBYQA on z with x = x₀ + T z.

    A callable optimizer in the sense of :class:`lmerpy.optimize.Control` (``f(fun, x0, lower,
    upper, **optCtrl)``); ``maxfun``/``maxeval`` of ``optCtrl`` are honoured, other settings
    (meant for the fit's own optimizers) ignored.

    Parameters
    ----------
    T : ndarray (k, k)
        From :func:`whitening`: its θ block must be diagonal and positive.
    n_theta : int
    rhobeg, rhoend : float
        BOBYQA's first and last trust-region radius in z.
    """

    __name__ = "bobyqa"

    def __init__(self, T, n_theta, rhobeg=RHOBEG, rhoend=RHOEND):
        self.T = np.asarray(T, dtype=float)
        self.n_theta = int(n_theta)
        self.rhobeg, self.rhoend = float(rhobeg), float(rhoend)

    def __call__(self, fun, x0, lower, upper, **ctrl):
        from ..optimize import minimize_bounded
        T, nt = self.T, self.n_theta
        x0 = np.asarray(x0, dtype=float)
        k = x0.shape[0]
        d = np.diag(T)[:nt]
        zlo = np.full(k, -np.inf)
        zhi = np.full(k, np.inf)
        lo = np.asarray(lower, dtype=float)[:nt]
        hi = np.asarray(upper, dtype=float)[:nt]
        zlo[:nt] = np.where(np.isfinite(lo), (lo - x0[:nt]) / d, -np.inf)
        zhi[:nt] = np.where(np.isfinite(hi), (hi - x0[:nt]) / d, np.inf)
        # x₀ on a bound, or within a hair of it: z = 0 stays feasible
        zlo[:nt] = np.minimum(zlo[:nt], 0.0)
        zhi[:nt] = np.maximum(zhi[:nt], 0.0)
        maxeval = int(ctrl.get("maxeval", ctrl.get("maxfun", 10000)))

        def f(z):
            return fun(x0 + T @ z)

        res = minimize_bounded(f, np.zeros(k), zlo, zhi, method="bobyqa",
                               settings={"initial_step": self.rhobeg, "xtol_abs": self.rhoend,
                                         "ftol_abs": 0.0, "xtol_rel": 0.0,
                                         "maxeval": maxeval})
        x = x0 + T @ res.x
        if nt:   # rounding in x₀ + T z must not step over a bound
            x[:nt] = np.clip(x[:nt], np.where(np.isfinite(lo), lo, -np.inf),
                             np.where(np.isfinite(hi), hi, np.inf))
        code = 0 if res.status > 0 and res.status != 5 else (1 if res.status == 5
                                                              else int(res.status))
        return {"x": x, "fun": float(res.fun), "feval": int(res.feval), "return_code": code,
                "message": res.message}


def _beta_scale(sol):
    sd = np.sqrt(np.clip(np.diag(sol.unsc()), 0.0, None))
    return np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)


def rx_hessian(n_theta, beta_sd, sol):
    """A stand-in for the deviance's Hessian when the fit has none: θ on a 0.1 scale, the β
    block 2·R_X'R_X (β's curvature at fixed θ; ``sol.RX``), no θ–β coupling."""
    p = np.shape(beta_sd)[0]
    H = np.zeros((n_theta + p, n_theta + p))
    H[:n_theta, :n_theta] = np.eye(n_theta) / 0.01
    RX = None if sol is None else sol.RX
    if RX is not None and np.all(np.isfinite(RX)):
        H[n_theta:, n_theta:] = 2.0 * RX.T @ RX
    else:
        H[n_theta:, n_theta:] = np.diag(2.0 / np.asarray(beta_sd, dtype=float) ** 2)
    return H


def _gradient_stage(ctl, dev):
    """Whether the control's second stage is glmer's gradient-based one (the default) and
    applies to ``dev``: it optimizes the smooth Laplace deviance at the mode, whatever the
    response, from the first stage's point in a few dozen evaluations — as the fresh fit
    does, so the refit keeps it (the whitened BOBYQA serves lme4's derivative-free path)."""
    from ..optimize.laplace import has_laplace_gradient
    return ctl.stage_optimizer(2) == "lbfgsb" and has_laplace_gradient(dev)


def refit_glmm(fit, design, family, control=None, calc_derivs=None, quiet=False,
               same_response=False):
    """Refit a GLMM on ``design`` (the fit's design with a new response), see the module
    docstring. With a non-canonical link (and lme4's deviance) the fresh fit's steps are
    replayed on the fit's PIRLS structure: the result is that fit's, bit for bit.

    Parameters
    ----------
    fit : GeneralizedLinearMixedModel
    design : Design
    family : Family
    control : Control, optional
        None: the fit's control (its PIRLS tolerance, checks, derivatives, first-stage
        optimizer) with the whitened BOBYQA as second-stage optimizer; given: exactly this
        control, both stages.
    calc_derivs : bool, optional
        Override the control's ``calc_derivs`` (the finite-difference gradient and Hessian at
        the optimum: lme4's convergence checks and Hessian-based ``vcov``).
    quiet : bool
        Suppress warnings.
    same_response : bool
        ``design`` has the fit's own response: reuse the fit's second-stage deviance.

    Returns
    -------
    GeneralizedLinearMixedModel
    """
    from ..optimize import check_conv, glmerControl
    from ..pls.glmm.deviance import GlmmDeviance
    from .glmm import fit_glmm, mkGlmerMod, optimizeGlmer
    explicit = control is not None
    ctl = control if explicit else (fit.call.get("control") or glmerControl())
    if calc_derivs is not None:
        ctl = ctl.replace(calc_derivs=bool(calc_derivs))
    old = fit.devfun
    nAGQ = fit.nAGQ
    nt = fit.design.n_par
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        if not (old.precise or old.resp.canonical):
            # a rough deviance: replay the fresh fit (on the reused structure)
            return fit_glmm(design, family, nAGQ=nAGQ, control=ctl,
                            start=fit.call.get("start"), data=fit._data, call=fit.call,
                            precise=old.precise, structure=old.S)
        opt1 = fit.optsum_stage1
        beta_sd = None
        if same_response:
            dev = GlmmDeviance(None, None, nAGQ=old.nAGQ, lp0=old.lp0, _parent=old)
            dev.precise = old.precise
            x1 = (fit.par.copy() if dev.nAGQ == 0
                  else np.concatenate((fit.par, fit._sol.beta)))
            beta_sd = _beta_scale(fit._sol) if dev.nAGQ else None
            if dev.nAGQ == 0:
                opt = optimizeGlmer(dev, ctl, nAGQ=0, start=x1)
                check_conv(dev, opt, dev.lower, ctl)
                return mkGlmerMod(dev, opt, design, data=fit._data, call=fit.call)
        else:
            staged = bool(ctl.nAGQ0initStep) or nAGQ == 0
            dev = GlmmDeviance(design, family, nAGQ=0 if staged else max(nAGQ, 1),
                               tolPwrss=old.tolPwrss, maxit=old.maxit, structure=old.S,
                               init_beta=staged)
            dev.precise = old.precise
            if staged:
                opt1 = optimizeGlmer(dev, ctl, nAGQ=nAGQ, start=fit.par)
                if nAGQ == 0:
                    check_conv(dev, opt1, dev.lower, ctl)
                    return mkGlmerMod(dev, opt1, design, data=fit._data, call=fit.call)
                sol1 = dev.solve(opt1.theta, precise=False)
                beta_sd = _beta_scale(sol1)
                dev1 = dev
                dev = dev1.stage2(nAGQ)
                dev.precise = old.precise
                x1 = np.concatenate((opt1.theta, dev.beta0))
            else:
                opt1 = None
                if nAGQ > 1:
                    dev = dev.stage2(nAGQ)
                    dev.precise = old.precise
                x1 = np.concatenate((fit.par, fit._sol.beta))
                beta_sd = _beta_scale(fit._sol)
        if not explicit and not _gradient_stage(ctl, dev):
            derivs = getattr(fit.optsum, "derivs", None)
            H = None if derivs is None else derivs.get("Hessian")
            if H is None or np.shape(H) != (len(x1), len(x1)):
                H = rx_hessian(nt, beta_sd, fit._sol if dev.p else None)
            T = whitening(H, nt, 0.1, beta_sd / np.sqrt(2.0))
            ctl = ctl.replace(optimizer=(ctl.stage_optimizer(1), WhitenedBobyqa(T, nt)))
        opt = optimizeGlmer(dev, ctl, nAGQ=nAGQ, start=x1, beta_sd=beta_sd)
        if ctl.calc_derivs:
            check_conv(dev, opt, dev.lower, ctl)
    return mkGlmerMod(dev, opt, design, data=fit._data, call=fit.call, optsum_stage1=opt1)
