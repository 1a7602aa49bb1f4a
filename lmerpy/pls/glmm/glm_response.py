"""The response of a generalized linear mixed model (lme4's ``glmResp``).

R equivalent: ``lme4:::mkRespMod(fr, family = family)``: the family's ``initialize`` step (the
binomial forms 0/1, proportion + weights and ``cbind(successes, failures)`` become proportions
with trial weights; the validity checks of every family), and the pieces of the Laplace
deviance: deviance residuals, the family's ``aic()`` (−2 log-likelihood with its saturated
constants) and the working weights and response of PIRLS.
"""
from __future__ import annotations


import numpy as np
from scipy import special

from ...errors import DataError
from ...warnings import FamilyWarning, warn

__all__ = ["GlmResponse"]

_EPS = np.finfo(float).eps


def _resp_name(design):
    info = getattr(design, "info", None) or {}
    return info.get("response") or "the response"


class GlmResponse:
    """y, trials, prior weights and offset of a GLMM, with the family's pieces.

    Parameters
    ----------
    design : lmerpy.design.structures.Design
        ``y`` is a vector (0/1, proportions, counts, positive values) or an (n, 2) array of
        ``cbind(successes, failures)`` counts; ``weights`` are prior weights; ``offset`` the
        total offset.
    family : lmerpy.families.Family

    Attributes
    ----------
    y : ndarray (n,)
        The response as the family sees it (proportions for binomial; R's ``resp$y``).
    n_trials : ndarray (n,)
        R's ``resp$n``: the binomial trials for ``cbind()`` responses, else 1.
    weights : ndarray (n,)
        Prior weights (times the trials for ``cbind()``), R's ``weights(fit, "prior")``.
    offset : ndarray (n,)
    mustart : ndarray (n,)
        The family's starting means (R: ``family$initialize``).

    Raises
    ------
    DataError
        Values the family cannot take (R's ``initialize`` errors), naming the response.
    """

    def __init__(self, design, family):
        self.family = family
        name = _resp_name(design)

        def _rows(idx, k=5):
            """The frame's row labels (1-based positions without a frame), at most k. The
            frame is built here, for the error message only (a fit never reads it)."""
            fr = getattr(design, "fr", None)
            labels = list(fr.index) if fr is not None else None
            lab = [labels[i] if labels is not None else int(i) + 1 for i in idx[:k]]
            return ", ".join(str(x) for x in lab) + (", ..." if len(idx) > k else "")

        y = np.asarray(design.y, dtype=float)
        n = y.shape[0]
        w = getattr(design, "weights", None)
        w = np.ones(n) if w is None else np.asarray(w, dtype=float).reshape(-1)
        off = getattr(design, "offset", None)
        off = np.zeros(n) if off is None else np.asarray(off, dtype=float).reshape(-1)
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            raise DataError("prior weights must be finite and non-negative")
        if not np.all(np.isfinite(y)):
            raise DataError(f"NA/NaN/Inf in the response {name}")
        fam = family.family
        trials = np.ones(n)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim == 2:
            if fam != "binomial":
                raise DataError(f"a two-column response {name} is only meaningful for the "
                                f"binomial family (cbind(successes, failures)), not {fam}")
            if y.shape[1] != 2:
                raise DataError(f"for the 'binomial' family, y must be a vector of 0 and 1's "
                                f"or a 2 column matrix where col 1 is no. successes and col 2 "
                                f"is no. failures (the response {name} has {y.shape[1]} "
                                f"columns)")
            neg = np.flatnonzero((y < 0).any(axis=1))
            if neg.size:
                raise DataError(f"negative counts in the binomial response {name} (rows "
                                f"{_rows(neg)}): cbind(successes, failures) needs counts >= 0")
            if np.any(np.abs(y - np.round(y)) > 1e-3):
                warn("non-integer counts in a binomial glm!", FamilyWarning)
            trials = y[:, 0] + y[:, 1]
            with np.errstate(invalid="ignore", divide="ignore"):
                prop = np.where(trials == 0, 0.0, y[:, 0] / np.where(trials == 0, 1.0, trials))
            y = prop
            w = w * trials
            mustart = (trials * y + 0.5) / (trials + 1.0)
        elif fam == "binomial":
            y = np.where(w == 0, 0.0, y)
            bad = np.flatnonzero((y < 0) | (y > 1))
            if bad.size:
                raise DataError(f"y values must be 0 <= y <= 1: the binomial response {name} "
                                f"has values outside [0, 1] (rows {_rows(bad)}, e.g. "
                                f"{y[bad[0]]:g}); use 0/1, a proportion with weights, a "
                                f"two-level factor or cbind(successes, failures)")
            m = w * y
            if np.any(np.abs(m - np.round(m)) > 1e-3):
                warn("non-integer #successes in a binomial glm!", FamilyWarning)
            mustart = (w * y + 0.5) / (w + 1.0)
        elif fam == "poisson":
            bad = np.flatnonzero(y < 0)
            if bad.size:
                raise DataError(f"negative values not allowed for the 'Poisson' family: the "
                                f"response {name} is negative in rows {_rows(bad)}")
            nonint = np.flatnonzero(np.abs(y - np.round(y)) > 1e-7 * np.maximum(1.0, y))
            if nonint.size:
                warn(f"non-integer x = {y[nonint[0]]:f} (and {nonint.size - 1} more) in the "
                     f"Poisson response {name}: R's dpois() gives -Inf there; lmerpy uses the "
                     f"continuous extension y*log(mu) - mu - lgamma(y + 1)", FamilyWarning)
            mustart = y + 0.1
        elif fam == "Gamma":
            bad = np.flatnonzero(y <= 0)
            if bad.size:
                raise DataError(f"non-positive values not allowed for the 'Gamma' family: the "
                                f"response {name} is <= 0 in rows {_rows(bad)}")
            mustart = y.copy()
        elif fam == "inverse.gaussian":
            bad = np.flatnonzero(y <= 0)
            if bad.size:
                raise DataError(f"positive values only are allowed for the 'inverse.gaussian' "
                                f"family: the response {name} is <= 0 in rows {_rows(bad)}")
            mustart = y.copy()
        elif fam.startswith("Negative Binomial"):
            bad = np.flatnonzero(y < 0)
            if bad.size:
                raise DataError(f"negative values not allowed for the negative binomial "
                                f"family: the response {name} is negative in rows {_rows(bad)}")
            mustart = y + (y == 0) / 6.0
        else:  # gaussian
            lk = family.link
            if (lk == "inverse" and np.any(y == 0)) or (lk == "log" and np.any(y <= 0)):
                raise DataError(f"cannot find valid starting values for the gaussian family "
                                f"with link {lk!r}: the response {name} has values outside "
                                f"the link's domain")
            mustart = y.copy()
        self.y = np.ascontiguousarray(y, dtype=float)
        self.n_trials = trials
        self.weights = w
        self.offset = off
        self.mustart = mustart
        self.n = n
        self._prepare_aic()

    # ------------------------------------------------------------------ aic
    def _prepare_aic(self):
        fam = self.family.family
        y, w = self.y, self.weights
        self._aic_kind = None
        self._nb_log = fam.startswith("Negative Binomial") and self.family.link == "log"
        if fam == "binomial":
            m = self.n_trials if np.any(self.n_trials > 1) else w
            m = np.round(m)
            k = np.round(m * y)
            with np.errstate(invalid="ignore", divide="ignore"):
                self._bin_scale = np.where(m > 0, w / np.where(m > 0, m, 1.0), 0.0)
            self._bin_k, self._bin_mk = k, m - k
            self._bin_const = (special.gammaln(m + 1) - special.gammaln(k + 1)
                               - special.gammaln(m - k + 1))
            self._aic_kind = "binomial"
            self._y1 = 1.0 - y
            self._dr_const = special.xlogy(y, y) + special.xlogy(self._y1, self._y1)
            self._w2 = 2.0 * w
            self._binary = bool(np.all((y == 0) | (y == 1)))
            self._y_is_1 = y == 1
            # integer successes: aic(μ) = Σ devres(μ) + aic(y) exactly
            self._aic_from_dev = bool(np.all(np.abs(m * y - k) <= 1e-9 * np.maximum(m, 1.0))
                                      and np.all((m > 0) | (w == 0)))
        elif fam == "poisson":
            self._pois_const = special.gammaln(y + 1.0)
            self._aic_kind = "poisson"
            self._dr_const = special.xlogy(y, y) - y
            self._w2 = 2.0 * w
            self._aic_from_dev = True
        if self._aic_kind is not None:
            self._aic_sat = self._aic_direct(y)
        link = self.family.link
        self._canonical = ((self._aic_kind == "binomial" and link == "logit")
                           or (self._aic_kind == "poisson" and link == "log"))

    @property
    def canonical(self):
        """True for the canonical links PIRLS treats specially (binomial logit, Poisson log):
        there dμ/dη = V(μ), PIRLS is Newton's method and converges quadratically."""
        return self._canonical

    @property
    def newton_polish(self):
        """True when PIRLS's polish steps (``working_parts(..., observed=True)``) are Newton's
        method for the penalized deviance — canonical links and the negative binomial with
        log link — so that they converge quadratically: a step that moved η by δ leaves an
        error of order δ²."""
        return bool(self._canonical or self._nb_log)

    @property
    def batchable(self):
        """True when the PIRLS pieces (``working_parts``, ``dev_resids``) take (m, n) arrays
        of m points row by row, as one point's (the binomial and Poisson families, whose
        formulas are written here)."""
        return self._aic_kind is not None

    def _aic_direct(self, mu):
        if self._aic_kind == "binomial":
            ll = (self._bin_const + special.xlogy(self._bin_k, mu)
                  + special.xlog1py(self._bin_mk, -mu))
            return -2.0 * float(np.sum(self._bin_scale * ll))
        ll = special.xlogy(self.y, mu) - mu - self._pois_const
        return -2.0 * float(np.sum(ll * self.weights))

    def aic(self, mu, dev=None):
        """−2 log-likelihood of y given μ with the saturated constants (R: ``family$aic(y, n,
        mu, wt, dev)``; for Gamma / inverse Gaussian / gaussian it uses ``dev`` for the
        dispersion, as R)."""
        if self._aic_kind is not None:
            if self._aic_from_dev and dev is not None:
                return float(dev) + self._aic_sat
            return self._aic_direct(mu)
        if dev is None:
            dev = float(np.sum(self.dev_resids(mu)))
        return float(self.family.aic(self.y, self.n_trials, mu, self.weights, dev))

    def aic_mu_gradient(self, mu, dd_dmu, dev):
        """∂aic/∂μ per observation at μ (with the dispersion's dependence on the deviance
        for Gamma, inverse Gaussian and Gaussian), given d dev/dμ (``dd_dmu``) and the
        deviance ``dev``; for the Laplace gradient (:mod:`.family_derivs`)."""
        y, wt = self.y, self.weights
        if self._aic_kind == "binomial":
            return -2.0 * self._bin_scale * (self._bin_k / mu - self._bin_mk / (1.0 - mu))
        if self._aic_kind == "poisson":
            return -2.0 * wt * (y / mu - 1.0)
        fam = self.family
        name = fam.family
        if name.startswith("Negative Binomial"):
            th = fam.theta
            return 2.0 * wt * ((y + th) / (mu + th) - y / mu)
        if name == "Gamma":
            tot = float(np.sum(wt))
            phi = dev / tot
            k = 1.0 / phi
            dl_dmu = k * (y - mu) / (mu * mu)
            dl_dphi = (special.digamma(k) + np.log(mu * phi) - 1.0 - np.log(y) + y / mu) \
                / (phi * phi)
            return -2.0 * wt * dl_dmu - 2.0 * float(np.sum(wt * dl_dphi)) / tot * dd_dmu
        if name == "inverse.gaussian":
            return (float(np.sum(wt)) / dev) * dd_dmu
        if name == "gaussian":
            return (y.shape[0] / dev) * dd_dmu
        raise NotImplementedError(f"no Laplace gradient for the {name} family")

    def saturated_aic(self):
        """``family$aic(y, n, y, wt, 0)``: −2 × the saturated log-likelihood (families without
        a dispersion parameter). lme4's nAGQ > 1 deviance omits it (lme4 issue #161)."""
        if self.family.has_scale:
            raise DataError("the saturated log-likelihood is not defined for a family with a "
                            "dispersion parameter")
        if self._aic_kind is not None:
            return self._aic_sat
        return self.aic(self.y, dev=0.0)

    # ------------------------------------------------------------------ pieces of PIRLS
    def dev_resids(self, mu):
        """Squared deviance residuals (R: ``family$dev.resids(y, mu, wt)``)."""
        kind = self._aic_kind
        if kind == "binomial":   # the family's formula with y's terms computed once
            # μ is kept inside [eps, 1 - eps] by the links, so y·log(μ) needs no xlogy
            if self._binary:
                return -self._w2 * np.log(np.where(self._y_is_1, mu, 1.0 - mu))
            return self._w2 * (self._dr_const - self.y * np.log(mu)
                               - self._y1 * np.log(1.0 - mu))
        if kind == "poisson" and self.family.link == "log":   # μ >= eps
            return self._w2 * (self._dr_const - self.y * np.log(mu) + mu)
        if kind == "poisson":
            return self._w2 * (self._dr_const - special.xlogy(self.y, mu) + mu)
        return self.family.dev_resids(self.y, mu, self.weights)

    def working(self, eta, offset_total, mu=None, observed=False):
        """Working weights and response at η (lme4's ``sqrtWrkWt()²`` and ``wrkResp()``).

        Returns (mu, w, z): w = wt·(dμ/dη)²/V(μ), z = η − offset + (y − μ)/(dμ/dη). ``mu``
        may be passed when already known (= linkinv(η)). ``observed=True`` gives Newton's
        weights (the observed information) where they are known to be positive — the
        negative binomial with log link: w = wt·θμ(θ + y)/(θ + μ)² — so that PIRLS converges
        quadratically there; Fisher's otherwise.
        """
        mu, w, r = self.working_parts(eta, mu, observed)
        return mu, w, (eta - offset_total) + r

    def working_parts(self, eta, mu=None, observed=False):
        """(mu, w, r) of :meth:`working` with z = (η − offset) + r: r = (y − μ)/(dμ/dη)
        does not depend on the offset, so PIRLS computes it once per starting η."""
        fam = self.family
        if mu is None:
            mu = fam.linkinv(eta)
        if observed and self._nb_log:
            th = fam.theta
            tm = th + mu
            w = self.weights * th * mu * (th + self.y) / (tm * tm)
            s = self.weights * (self.y - mu) * th / tm
            return mu, w, s / w
        kind = self._aic_kind
        if self._canonical:
            # canonical links: dμ/dη = V(μ) (lme4 bounds both below by machine epsilon)
            me = mu * (1.0 - mu) if kind == "binomial" else mu
            np.maximum(me, _EPS, out=me)
            return mu, self.weights * me, (self.y - mu) / me
        me = fam.mu_eta(eta)
        var = fam.variance(mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = self.weights * me * me / var
            r = (self.y - mu) / me
        return mu, w, r

    def pearson(self, mu):
        """Pearson residuals sqrt(wt/V(μ))·(y − μ) (R: ``resid(fit, "pearson")``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(self.weights / self.family.variance(mu)) * (self.y - mu)

    def wrss(self, mu):
        """Σ wt (y − μ)²/V(μ) (lme4's ``resp$wrss()``)."""
        r = self.pearson(mu)
        return float(r @ r)

