"""Derivatives of a GLM family's pieces in the linear predictor, for the Laplace gradient.

For observation i with prior weight wt, mean μ = g⁻¹(η), μ' = dμ/dη, μ'' = d²μ/dη² and
variance function V(μ) (V' = dV/dμ):

    s  = d dev/dη   = −2 wt (y − μ) μ'/V
    W  = wt μ'²/V                                   (Fisher's working weight, PIRLS's)
    Wo = ½ d²dev/dη² = W − wt (y − μ)(μ''/V − μ'² V'/V²)      (observed: Newton's weight)
    dW/dη = wt (2 μ' μ''/V − μ'³ V'/V²)

and a = ∂aic/∂η, the derivative of the family's ``aic`` (−2 log-likelihood at μ) as
:meth:`GlmResponse.aic` computes it — for Gamma, inverse Gaussian and (non-identity) Gaussian
through the dispersion estimated from the deviance as well.

R equivalent: none (``family$mu.eta`` and ``family$variance`` are first derivatives only).
"""
from __future__ import annotations

import numpy as np

__all__ = ["FamilyDerivatives", "link_second_derivative", "variance_derivative"]


def link_second_derivative(link, eta, mu):
    """d²μ/dη² for R's links (None for a link it does not know)."""
    eta = np.asarray(eta, dtype=float)
    if link == "logit":
        return mu * (1.0 - mu) * (1.0 - 2.0 * mu)
    if link == "probit":
        return -eta * np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi)
    if link == "cauchit":
        return -2.0 * eta / (np.pi * (1.0 + eta * eta) ** 2)
    if link == "cloglog":
        e = np.exp(np.minimum(eta, 700.0))
        return e * np.exp(-e) * (1.0 - e)
    if link == "identity":
        return np.zeros_like(eta)
    if link == "log":
        return np.exp(eta)
    if link == "sqrt":
        return np.full_like(eta, 2.0)
    if link == "inverse":
        return 2.0 / eta ** 3
    if link == "1/mu^2":
        return 0.75 * eta ** -2.5
    return None


def variance_derivative(family, mu):
    """dV/dμ for the families lmerpy fits (None for another)."""
    fam = family.family
    if fam == "binomial":
        return 1.0 - 2.0 * mu
    if fam == "poisson":
        return np.ones_like(mu)
    if fam == "Gamma":
        return 2.0 * mu
    if fam == "inverse.gaussian":
        return 3.0 * mu * mu
    if fam == "gaussian":
        return np.zeros_like(mu)
    if fam.startswith("Negative Binomial"):
        return 1.0 + 2.0 * mu / family.theta
    return None


class FamilyDerivatives:
    """The per-observation derivatives of the module docstring at (η, μ).

    Parameters
    ----------
    resp : GlmResponse
    eta, mu : ndarray (n,)
    dev : float
        Σ deviance residuals at μ (the dispersion's estimate for families with one).
    W : ndarray (n,), optional
        The working weights at (η, μ) when already known (``resp.working_parts(eta, mu)``'s,
        as a precise PIRLS state keeps them).

    Attributes
    ----------
    s, W, Wo, dW, a : ndarray (n,)

    Raises
    ------
    NotImplementedError
        For a link or family without these derivatives.
    """

    def __init__(self, resp, eta, mu, dev, W=None):
        fam = resp.family
        me2 = link_second_derivative(fam.link, eta, mu)
        dV = variance_derivative(fam, mu)
        if me2 is None or dV is None:
            raise NotImplementedError(f"no Laplace gradient for the {fam.family} family with "
                                      f"link {fam.link!r}")
        wt, y = resp.weights, resp.y
        if W is None:
            _, W, _ = resp.working_parts(eta, mu)
        me = fam.mu_eta(eta)
        V = fam.variance(mu)
        res = y - mu
        dd_dmu = -2.0 * wt * res / V                 # d dev/dμ
        self.W = W
        self.s = dd_dmu * me
        c = me2 / V - me * me * dV / (V * V)
        self.Wo = W - wt * res * c
        self.dW = wt * (2.0 * me * me2 / V - me ** 3 * dV / (V * V))
        self.a = resp.aic_mu_gradient(mu, dd_dmu, dev) * me
