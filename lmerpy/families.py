"""GLM families and link functions, as R's ``stats::family`` objects.

``binomial(link="probit")`` here is R's ``binomial(link = "probit")``: the same links, variance
functions, deviance residuals, ``aic`` (−2 log-likelihood including the saturated constants),
``mustart`` initialisation and validity checks. glmer's PIRLS and Laplace/AGQ deviance use
exactly these pieces.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Union

import numpy as np
from scipy import special

from .arguments import Number, argument_error
from .errors import ArgumentError

if TYPE_CHECKING:
    from .types import ArrayLike

_EPS = np.finfo(float).eps


# --------------------------------------------------------------------------- links


@dataclass(frozen=True)
class Link:
    """A link function g with g(μ) = η (R: ``make.link(name)``)."""

    name: str
    linkfun: Callable
    linkinv: Callable
    mu_eta: Callable          # dμ/dη
    valideta: Callable = staticmethod(lambda eta: True)  # noqa: RUF009 - a plain function

    def __reduce__(self):   # the functions are lambdas: pickle the name (the fit's refits in
        return (_link_named, (self.name,))   # bootMer's worker processes need this)


def _link_named(name):
    return LINKS[name]


def _logit_inv(eta):
    # NumPy's exp is much faster than expit; clipping at 709 (instead of silencing exp's
    # overflow, which costs more than the clip) changes nothing: μ is eps either way
    eta = np.asarray(eta, dtype=float)
    if eta.ndim == 0:
        return _logit_inv(eta.reshape(1))[0]
    mu = np.negative(eta)
    np.minimum(mu, 709.0, out=mu)
    np.exp(mu, out=mu)
    mu += 1.0
    np.divide(1.0, mu, out=mu)
    np.maximum(mu, _EPS, out=mu)
    return np.minimum(mu, 1.0 - _EPS, out=mu)


def _logit_mu_eta(eta):
    e = np.exp(-np.abs(np.asarray(eta, dtype=float)))
    return np.maximum(e / (1.0 + e) ** 2, _EPS)


# The normal and Cauchy pieces and the log densities below are scipy.stats' formulas written on
# scipy.special (the same operations, so the same numbers, checked in test_families_densities):
# importing scipy.stats costs ~0.3 s, which a first glmer() would otherwise pay, and its
# argument checks cost more than the densities in every Laplace evaluation.
_NORM_PDF_C = np.sqrt(2 * np.pi)


def _norm_pdf(x):
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore"):
        return np.exp(-x ** 2 / 2.0) / _NORM_PDF_C


def _norm_ppf(q):
    return special.ndtri(np.asarray(q, dtype=float))


def _cauchy_ppf(q):
    # scipy's Cauchy quantile is Boost's (tan in extended precision): this rare link pays
    # for scipy.stats when it is used
    from scipy import stats
    return stats.cauchy.ppf(q)


def _cauchy_cdf(x):
    return np.arctan2(1.0, -np.asarray(x, dtype=float)) / np.pi


def _cauchy_pdf(x):
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore"):
        return 1.0 / np.pi / (1.0 + x * x)


_PROBIT_THRESH = -float(special.ndtri(_EPS))


def _probit_inv(eta):
    return special.ndtr(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH))


@functools.lru_cache(maxsize=1)
def _cauchit_thresh():
    return -float(_cauchy_ppf(_EPS))


def _cauchit_inv(eta):
    thresh = _cauchit_thresh()
    return _cauchy_cdf(np.clip(eta, -thresh, thresh))


def _cloglog_inv(eta):
    return np.clip(-np.expm1(-np.exp(eta)), _EPS, 1.0 - _EPS)


def _cloglog_mu_eta(eta):
    eta = np.minimum(eta, 700.0)
    return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), _EPS)


LINKS = {
    "logit": Link("logit", special.logit, _logit_inv, _logit_mu_eta),
    "probit": Link("probit", _norm_ppf, _probit_inv,
                   lambda eta: np.maximum(_norm_pdf(eta), _EPS)),
    "cauchit": Link("cauchit", _cauchy_ppf, _cauchit_inv,
                    lambda eta: np.maximum(_cauchy_pdf(eta), _EPS)),
    "cloglog": Link("cloglog", lambda mu: np.log(-np.log1p(-mu)), _cloglog_inv, _cloglog_mu_eta),
    "identity": Link("identity", lambda mu: np.asarray(mu, dtype=float),
                     lambda eta: np.asarray(eta, dtype=float),
                     lambda eta: np.ones_like(np.asarray(eta, dtype=float))),
    "log": Link("log", np.log, lambda eta: np.maximum(np.exp(eta), _EPS),
                lambda eta: np.maximum(np.exp(eta), _EPS)),
    "sqrt": Link("sqrt", np.sqrt, lambda eta: np.asarray(eta, dtype=float) ** 2,
                 lambda eta: 2.0 * np.asarray(eta, dtype=float),
                 lambda eta: bool(np.all(np.isfinite(eta)) and np.all(np.asarray(eta) > 0))),
    "inverse": Link("inverse", lambda mu: 1.0 / mu, lambda eta: 1.0 / eta,
                    lambda eta: -1.0 / np.asarray(eta, dtype=float) ** 2,
                    lambda eta: bool(np.all(np.isfinite(eta)) and np.all(np.asarray(eta) != 0))),
    "1/mu^2": Link("1/mu^2", lambda mu: 1.0 / mu ** 2, lambda eta: 1.0 / np.sqrt(eta),
                   lambda eta: -1.0 / (2.0 * np.asarray(eta, dtype=float) ** 1.5),
                   lambda eta: bool(np.all(np.isfinite(eta)) and np.all(np.asarray(eta) > 0))),
}


# --------------------------------------------------------------------------- families


def _discrete_logpmf(k, args_ok, in_support, logpmf):
    """scipy.stats' rv_discrete.logpmf around ``logpmf``: −inf off the support (or at a
    non-integer k), NaN for invalid parameters or NaN k."""
    out = np.full(np.shape(args_ok), -np.inf)
    cond = args_ok & in_support & (np.floor(k) == k)
    if np.any(cond):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[cond] = logpmf(cond)
    out[~args_ok | np.isnan(k)] = np.nan
    return out


def _binom_logpmf(k, n, p):
    """scipy.stats.binom.logpmf(k, n, p)."""
    k, n, p = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, n, p)))
    with np.errstate(invalid="ignore"):
        ok = (n >= 0) & (n == np.round(n)) & (p >= 0) & (p <= 1)
        support = (k >= 0) & (k <= n)

    def logpmf(c):
        kc, nc, pc = np.floor(k[c]), n[c], p[c]
        combiln = special.gammaln(nc + 1) - (special.gammaln(kc + 1) + special.gammaln(nc - kc + 1))
        return combiln + special.xlogy(kc, pc) + special.xlog1py(nc - kc, -pc)

    return _discrete_logpmf(k, ok, support, logpmf)


def _poisson_logpmf(k, mu):
    """scipy.stats.poisson.logpmf(k, mu)."""
    k, mu = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, mu)))
    with np.errstate(invalid="ignore"):
        ok, support = mu >= 0, k >= 0

    def logpmf(c):
        kc = k[c]
        return special.xlogy(kc, mu[c]) - special.gammaln(kc + 1) - mu[c]

    return _discrete_logpmf(k, ok, support, logpmf)


def _gamma_logpdf(y, a, scale):
    """scipy.stats.gamma.logpdf(y, a=a, scale=scale)."""
    y, a, scale = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (y, a, scale)))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = y / scale
        ok = (a > 0) & (scale > 0)
        cond = ok & (x >= 0) & (x <= np.inf)
    out = np.full(x.shape, -np.inf)
    if np.any(cond):
        xc, ac = x[cond], a[cond]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[cond] = (special.xlogy(ac - 1.0, xc) - xc - special.gammaln(ac)) - np.log(scale[cond])
    out[~ok | np.isnan(x)] = np.nan
    return out


def _ylogy(y, mu):
    """y·log(y/μ) with 0·log(0) = 0 (R's ``y_log_y``)."""
    y = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return special.xlogy(y, y) - special.xlogy(y, mu)


class Family:
    """An exponential family with its link (R: an object of class ``family``).

    Attributes
    ----------
    family : str
        R's name: ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
        ``"gaussian"``.
    link : str
        The link's name.
    has_scale : bool
        True when the family has a dispersion parameter estimated by the fit (lme4's useSc).
    """

    family = ""
    links: Tuple[str, ...] = ()
    default_link = ""
    has_scale = False

    def __init__(self, link: Union[str, Link, None] = None) -> None:
        link = self.default_link if link is None else link
        if isinstance(link, Link):
            self._link = link
        else:
            if not isinstance(link, str) or link not in self.links:
                shown = f'"{link}"' if isinstance(link, str) else f"{link!r}"
                raise ArgumentError(
                    f"link {shown} not available for {self.family} family; "
                    f"available links are {', '.join(repr(x) for x in self.links)}")
            self._link = LINKS[link]
        self.link = self._link.name

    # link pieces
    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        return self._link.linkfun(np.asarray(mu, dtype=float))

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        return self._link.linkinv(np.asarray(eta, dtype=float))

    def mu_eta(self, eta: ArrayLike) -> np.ndarray:
        return self._link.mu_eta(np.asarray(eta, dtype=float))

    def valideta(self, eta: ArrayLike) -> bool:
        return bool(self._link.valideta(eta))

    def validmu(self, mu: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(mu)))

    # to be provided by subclasses
    def variance(self, mu: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Squared deviance residuals, one per observation (R: ``family$dev.resids``)."""
        raise NotImplementedError

    def aic(self, y: np.ndarray, n: np.ndarray, mu: np.ndarray, wt: np.ndarray,
            dev: float) -> float:
        """−2 log-likelihood with saturated constants (R: ``family$aic``, without the 2p)."""
        raise NotImplementedError

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Starting μ (R: ``family$initialize``)."""
        return np.asarray(y, dtype=float).copy()

    def __repr__(self) -> str:
        return f"\nFamily: {self.family} \nLink function: {self.link} \n"

    def __eq__(self, other):
        return isinstance(other, Family) and (self.family, self.link) == (other.family, other.link)

    def __hash__(self):
        return hash((self.family, self.link))


class binomial(Family):
    """R: ``binomial(link = "logit")``; links logit, probit, cauchit, log, cloglog."""

    family = "binomial"
    links = ("logit", "probit", "cauchit", "log", "cloglog")
    default_link = "logit"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1.0 - mu)

    def validmu(self, mu: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return 2.0 * wt * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))

    def aic(self, y: np.ndarray, n: np.ndarray, mu: np.ndarray, wt: np.ndarray,
            dev: float) -> float:
        m = np.where(np.asarray(n) > 1, n, wt)
        m = np.asarray(m, dtype=float)
        k = np.rint(m * y)
        ll = _binom_logpmf(k, np.rint(m), mu)
        with np.errstate(invalid="ignore"):
            w = np.where(m > 0, wt / m, 0.0)
        return -2.0 * float(np.sum(w * ll))

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return (wt * y + 0.5) / (wt + 1.0)


class poisson(Family):
    """R: ``poisson(link = "log")``; links log, identity, sqrt."""

    family = "poisson"
    links = ("log", "identity", "sqrt")
    default_link = "log"

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu

    def validmu(self, mu: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        return 2.0 * wt * (_ylogy(y, mu) - (y - mu))

    def aic(self, y: np.ndarray, n: np.ndarray, mu: np.ndarray, wt: np.ndarray,
            dev: float) -> float:
        return -2.0 * float(np.sum(_poisson_logpmf(y, mu) * wt))

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return y + 0.1


class Gamma(Family):
    """R: ``Gamma(link = "inverse")``; links inverse, identity, log. Has a scale parameter."""

    family = "Gamma"
    links = ("inverse", "identity", "log")
    default_link = "inverse"
    has_scale = True

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu ** 2

    def validmu(self, mu: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.where(y == 0, 0.0, np.log(np.where(y == 0, 1.0, y) / mu))
        return -2.0 * wt * (lg - (y - mu) / mu)

    def aic(self, y: np.ndarray, n: np.ndarray, mu: np.ndarray, wt: np.ndarray,
            dev: float) -> float:
        nobs = np.sum(wt)
        disp = dev / nobs
        shape = 1.0 / disp
        ll = _gamma_logpdf(y, shape, mu * disp)
        return -2.0 * float(np.sum(ll * wt)) + 2.0

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=float).copy()


class inverse_gaussian(Family):
    """R: ``inverse.gaussian(link = "1/mu^2")``; links 1/mu^2, inverse, identity, log."""

    family = "inverse.gaussian"
    links = ("1/mu^2", "inverse", "identity", "log")
    default_link = "1/mu^2"
    has_scale = True

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu ** 3

    def validmu(self, mu: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return wt * ((y - mu) ** 2) / (y * mu ** 2)

    def aic(self, y: np.ndarray, n: np.ndarray, mu: np.ndarray, wt: np.ndarray,
            dev: float) -> float:
        return float(np.sum(wt) * (np.log(dev / np.sum(wt) * 2.0 * np.pi) + 1.0)
                     + 3.0 * np.sum(np.log(y) * wt) + 2.0)


class gaussian(Family):
    """R: ``gaussian(link = "identity")``; links identity, log, inverse."""

    family = "gaussian"
    links = ("identity", "log", "inverse")
    default_link = "identity"
    has_scale = True

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return np.ones_like(np.asarray(mu, dtype=float))

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        return wt * (y - mu) ** 2

    def aic(self, y: np.ndarray, n: np.ndarray, mu: np.ndarray, wt: np.ndarray,
            dev: float) -> float:
        nobs = len(y)
        return float(nobs * (np.log(2.0 * np.pi * dev / nobs) + 1.0) + 2.0 - np.sum(np.log(wt)))


class negative_binomial(Family):
    """R: ``MASS::negative.binomial(theta, link = "log")``: the negative binomial with a known
    shape θ (variance μ + μ²/θ); links log, identity, sqrt. ``glmer_nb`` estimates θ.

    Parameters
    ----------
    theta : float
        The shape (R's ``theta``, lme4's ``getME(fit, "glmer.nb.theta")``), > 0.
    link : str

    Attributes
    ----------
    family : str
        MASS's name, e.g. ``"Negative Binomial(3.3034)"`` (θ rounded to 4 decimals).
    """

    family = "Negative Binomial"
    links = ("log", "identity", "sqrt")
    default_link = "log"

    def __init__(self, theta: float, link: Union[str, Link, None] = None) -> None:
        th = _THETA("theta", theta, "negative_binomial")
        super().__init__(link)
        self.theta = th
        from .display.mermod import negative_binomial_family_name
        self.family = negative_binomial_family_name(th)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu + mu ** 2 / self.theta

    def validmu(self, mu: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        th = self.theta
        y = np.asarray(y, dtype=float)
        return 2.0 * wt * (y * np.log(np.maximum(1.0, y) / mu)
                           - (y + th) * np.log((y + th) / (mu + th)))

    def aic(self, y: np.ndarray, n: np.ndarray, mu: np.ndarray, wt: np.ndarray,
            dev: float) -> float:
        th = self.theta
        y = np.asarray(y, dtype=float)
        term = ((y + th) * np.log(mu + th) - special.xlogy(y, mu) + special.gammaln(y + 1.0)
                - th * np.log(th) + special.gammaln(th) - special.gammaln(th + y))
        return 2.0 * float(np.sum(term * wt))

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        return y + (y == 0) / 6.0

    def __eq__(self, other):
        return isinstance(other, negative_binomial) and self.link == other.link \
            and self.theta == other.theta

    def __hash__(self):
        return hash((self.family, self.link, self.theta))


def theta_ml(y: ArrayLike, mu: ArrayLike, weights: Optional[ArrayLike] = None, limit: int = 10,
             eps: float = _EPS ** 0.25, n: Optional[float] = None) -> Tuple[float, Dict[str, Any]]:
    """Maximum-likelihood negative binomial shape θ for given means (R: ``MASS::theta.ml``).

    Newton's method on the score of the negative binomial log-likelihood in θ, from the
    moment estimate n / Σ w (y/μ − 1)², as MASS. Where MASS fails (θ growing without bound
    for data that look Poisson, a zero information, a negative estimate) this returns a finite
    value and says why in ``warning`` instead of raising.

    Parameters
    ----------
    y, mu : array_like
        Counts and their fitted means.
    weights : array_like, optional
    limit : int
        Most Newton iterations.
    eps : float
        Stop when the Newton step is below ``eps`` in absolute value.
    n : float, optional
        Σ weights by default.

    Returns
    -------
    theta : float
    info : dict
        ``se`` (1/sqrt(information)), ``iterations``, ``warning`` (None or MASS's text:
        ``"iteration limit reached"``, ``"estimate truncated at zero"``, or lmerpy's
        ``"estimate diverges (the data look Poisson)"``).
    """
    y = np.asarray(y, dtype=float).reshape(-1)
    mu = np.asarray(mu, dtype=float).reshape(-1)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    n = float(np.sum(w)) if n is None else float(n)

    def score(th):
        return float(np.sum(w * (special.digamma(th + y) - special.digamma(th) + np.log(th)
                                 + 1.0 - np.log(th + mu) - (y + th) / (mu + th))))

    def info(th):
        return float(np.sum(w * (-special.polygamma(1, th + y) + special.polygamma(1, th)
                                 - 1.0 / th + 2.0 / (mu + th) - (y + th) / (mu + th) ** 2)))

    denom = float(np.sum(w * (y / mu - 1.0) ** 2))
    t0 = n / denom if denom > 0 else 1e6
    warn = None
    it = 0
    i = np.nan
    del_ = 1.0
    big = 1e8
    while True:
        it += 1
        if not (it < limit and abs(del_) > eps):
            break
        t0 = abs(t0)
        i = info(t0)
        if not (np.isfinite(i) and i != 0.0):
            warn = "estimate diverges (the data look Poisson)"
            break
        del_ = score(t0) / i
        if not np.isfinite(del_):
            warn = "estimate diverges (the data look Poisson)"
            break
        t0 = t0 + del_
        if t0 > big:
            t0, warn = big, "estimate diverges (the data look Poisson)"
            break
    if t0 < 0:
        t0, warn = 0.0, "estimate truncated at zero"
    elif warn is None and it == limit:
        warn = "iteration limit reached"
    se = 1.0 / np.sqrt(i) if np.isfinite(i) and i > 0 else np.nan
    return float(t0), {"se": float(se), "iterations": it, "warning": warn}


FAMILIES = {"binomial": binomial, "poisson": poisson, "Gamma": Gamma, "gamma": Gamma,
            "inverse.gaussian": inverse_gaussian, "inverse_gaussian": inverse_gaussian,
            "gaussian": gaussian, "negative_binomial": negative_binomial}


#: the family names ``as_family`` knows (R's)
FAMILY_NAMES = ("binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian")
_THETA = Number(lower=0, open_lower=True)


def as_family(family: Union[Family, type, str]) -> Family:
    """Accept a Family instance, a Family class or a name (``"binomial"``) like R's glm()."""
    if isinstance(family, Family):
        return family
    if isinstance(family, type) and issubclass(family, Family):
        return family()
    if isinstance(family, str):
        if family in ("negative_binomial", "negative.binomial"):
            raise ArgumentError("the negative binomial family needs its theta: "
                                "negative_binomial(theta), or use glmer_nb() to estimate it")
        cls = FAMILIES.get(family)
        if cls is None:
            import difflib
            close = difflib.get_close_matches(family, list(FAMILIES), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ArgumentError(f"unknown family {family!r}{hint}; available: "
                                f"{', '.join(FAMILY_NAMES)}")
        return cls()
    raise argument_error("family", family, "a family object (e.g. binomial(), "
                         "poisson(link='sqrt')), a family class or its name")
