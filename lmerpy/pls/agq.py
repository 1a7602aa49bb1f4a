"""Adaptive Gauss–Hermite quadrature for a GLMM with one scalar random-effects term.

With one random-effects term of one column, A = Λ'Z'WZΛ + I is diagonal and the integral over
the random effects factors into one integral per level j. Around the conditional mode ũ_j
(scale s_j = 1/L_jj) lme4's rule is::

    devc_j(u) = Σ_{i in level j} devres_i(u) + u²,   devc0_j = devc_j(ũ_j)
    d_AGQ = Σ_j devc0_j + log|L|² − 2 Σ_j log Σ_k w_k exp(z_k²/2 − [devc_j(ũ_j + z_k s_j) − devc0_j]/2)

with (z_k, w_k) the Gauss–Hermite rule for N(0, 1) (Σ w_k = 1). lme4 sums deviance residuals,
so its value omits the saturated log-likelihood and sits on another scale than its Laplace
deviance (lme4 issue #161); lmerpy adds ``family$aic(y, n, y, wt, 0)`` back, so that nAGQ = 1
and nAGQ > 1 report log-likelihoods on one scale (for nAGQ = 1 the rule is exactly Laplace).

R equivalent: ``glmerAGQ`` in lme4's ``src/external.cpp`` and ``lme4::GHrule``.
"""
from __future__ import annotations

import numpy as np

from ..errors import LmerpyError

__all__ = ["AGQ_TERM_MESSAGE", "GHrule", "agq_deviance", "check_agq"]

#: lme4's error text when nAGQ > 1 is asked for a model it does not apply to
AGQ_TERM_MESSAGE = ("nAGQ > 1 is only available for models with a single, scalar "
                    "random-effects term")


def GHrule(nAGQ):
    """Gauss–Hermite nodes and weights for the standard normal density (R: ``lme4::GHrule``).

    Parameters
    ----------
    nAGQ : int
        Number of nodes, 1 to 100.

    Returns
    -------
    ndarray (nAGQ, 3)
        Columns ``z`` (nodes), ``w`` (weights, summing to 1) and ``ldnorm`` (log N(0,1)
        density at z), as lme4's matrix.
    """
    k = int(nAGQ)
    if not 1 <= k <= 100:
        raise LmerpyError(f"nAGQ must be between 1 and 100 for Gauss-Hermite rules, got {nAGQ}")
    z, w = np.polynomial.hermite_e.hermegauss(k)
    w = w / np.sqrt(2.0 * np.pi)
    z = np.where(np.abs(z) < 1e-14, 0.0, z)
    ld = -0.5 * z * z - 0.5 * np.log(2.0 * np.pi)
    return np.column_stack((z, w, ld))


def check_agq(design, nAGQ):
    """lme4's condition for nAGQ > 1: exactly one random-effects term with one column."""
    if int(nAGQ) > 1:
        terms = list(design.reterms)
        if len(terms) != 1 or terms[0].n_columns != 1 or design.flist.shape[1] != 1:
            raise LmerpyError(AGQ_TERM_MESSAGE)


def agq_deviance(S, resp, st, codes, rule):
    """The AGQ deviance (lme4's scale, without the saturated constant) at a PIRLS state.

    Parameters
    ----------
    S : lmerpy.pls.pirls.GlmmStructure
        Single scalar term: A is diagonal.
    resp : GlmResponse
    st : lmerpy.pls.pirls.PirlsState
        Converged PIRLS at (θ, β) (u only).
    codes : ndarray of int (n,)
        Level of each observation.
    rule : ndarray (K, 3)
        :func:`GHrule`.
    """
    q = S.q
    a = S.a_values(st.w)[S.smap.diag_pos]
    sd = 1.0 / np.sqrt(a)
    devc0 = np.bincount(codes, weights=st.devres, minlength=q) + st.u * st.u
    log_terms = []
    fam = resp.family
    for z, w, _ in rule:
        if z == 0.0:
            log_terms.append(np.full(q, np.log(w)))
            continue
        du = z * sd
        u = st.u + du
        eta = st.eta + S.ut_mul(du)
        dr = resp.dev_resids(fam.linkinv(eta))
        devc = np.bincount(codes, weights=dr, minlength=q) + u * u
        log_terms.append(np.log(w) + 0.5 * z * z - 0.5 * (devc - devc0))
    lt = np.vstack(log_terms)
    mx = lt.max(axis=0)
    log_mult = mx + np.log(np.exp(lt - mx).sum(axis=0))
    return float(devc0.sum() + st.ldL2 - 2.0 * log_mult.sum())
