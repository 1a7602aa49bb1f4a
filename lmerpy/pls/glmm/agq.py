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

from ...errors import LmerpyError

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


#: most quadrature nodes × observations evaluated in one block
_BLOCK = 2_000_000


def agq_deviance(S, resp, st, codes, rule):
    """The AGQ deviance (lme4's scale, without the saturated constant) at a PIRLS state.

    All nodes at once (blocks of at most ``_BLOCK`` node × observation values): one
    multi-vector product for the linear predictors, the family's pieces on the whole
    (nodes, n) array, one multi-vector product for the per-level sums — the arithmetic of a
    loop over the nodes with ``np.bincount``, value for value.

    Parameters
    ----------
    S : lmerpy.pls.glmm.pirls.GlmmStructure
        Single scalar term: A is diagonal.
    resp : GlmResponse
    st : lmerpy.pls.glmm.pirls.PirlsState
        Converged PIRLS at (θ, β) (u only).
    codes : ndarray of int (n,)
        Level of each observation.
    rule : ndarray (K, 3)
        :func:`GHrule`.
    """
    q = S.q
    n = codes.shape[0]
    S.set_theta(st.theta)       # PIRLS's fast paths leave Λ' unset
    a = S.a_values(st.w)[S.smap.diag_pos]
    sd = 1.0 / np.sqrt(a)
    devc0 = np.bincount(codes, weights=st.devres, minlength=q) + st.u * st.u
    fam = resp.family
    G = _level_sums(S, codes)
    zs, ws = rule[:, 0], rule[:, 1]
    lt = np.empty((zs.shape[0], q))
    nonzero = np.flatnonzero(zs != 0.0)
    lt[zs == 0.0] = np.log(ws[zs == 0.0])[:, None]
    step = max(1, _BLOCK // max(n, 1))
    for s in range(0, nonzero.shape[0], step):
        k = nonzero[s:s + step]
        z = zs[k]
        du = z[:, None] * sd[None, :]                      # (K, q): z·sd per node
        u = st.u[None, :] + du
        eta = st.eta[None, :] + _ut_mul_rows(S, du)       # (K, n)
        dr = resp.dev_resids(fam.linkinv(eta))
        devc = G(np.ascontiguousarray(dr.T)).T + u * u     # (K, q)
        lt[k] = np.log(ws[k])[:, None] + (0.5 * z * z)[:, None] - 0.5 * (devc - devc0)
    mx = lt.max(axis=0)
    log_mult = mx + np.log(np.exp(lt - mx).sum(axis=0))
    return float(devc0.sum() + st.ldL2 - 2.0 * log_mult.sum())


def _ut_mul_rows(S, D):
    """Rows of U'd = ZΛd for the rows d of D (K, q), as (K, n)."""
    if S._lam_diag is not None:
        V = S._lam_diag[:, None] * D.T
    else:
        V = S._lam(np.ascontiguousarray(D.T))
    return S._z(np.ascontiguousarray(V)).T


def _level_sums(S, codes):
    """x (n, K) -> per-level sums (q, K): the level indicator as a CSR product (its rows'
    columns ascending: np.bincount's order of addition). Cached on the structure."""
    G = getattr(S, "_agq_levels", None)
    if G is None or G.M.shape[1] != codes.shape[0]:
        import scipy.sparse as sp

        from .pirls import MatVec
        n = codes.shape[0]
        M = sp.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(S.q, n))
        M.sort_indices()
        G = MatVec(M)
        S._agq_levels = G
    return G
