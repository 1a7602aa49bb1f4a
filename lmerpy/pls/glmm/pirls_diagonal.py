"""PIRLS for GLMMs with one scalar random-effects term, where A is diagonal.

With a single scalar term (``(1 | herd)``, ``(0 + x | g)``) every observation has one random
effect, so

    A = Λ'Z'WZΛ + I = diag(θ² Σ_{i in level j} w_i z_i² + 1)

and glmer's second-stage PIRLS (β fixed: lme4's ``pwrssUpdate`` with ``uOnly = TRUE``) needs
no factorisation at all: ũ = θ Σ w z z_wrk / A_jj level by level (``np.bincount``), log|L|² =
Σ log A_jj. :func:`pirls_diagonal` is step for step the iteration of
:func:`lmerpy.pls.glmm.pirls.pirls` — the same working weights, convergence rule, step halving and
errors — on that form, with a third of its NumPy calls; the results agree but for rounding
(sums taken in another order: ~1e-15 relative). (For several nested scalar terms the same
elimination works level by level, but CHOLMOD is faster than its vector operations.)

R equivalent: none — lme4 always uses CHOLMOD; the numbers are lme4's ``glmerLaplace``.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["DiagonalTerm", "POLISH_NEWTON_STOP", "pirls_diagonal", "pirls_diagonal_batch",
           "small_step"]

#: precise PIRLS stops its Newton polish steps (canonical links, negative binomial with log
#: link: quadratic convergence) after a step that moved η by at most this (relative): the
#: error left is of order its square, below 1e-13 (other links: a step of 1e-11)
POLISH_NEWTON_STOP = 1e-7


class DiagonalTerm:
    """One scalar random-effects term covering every observation.

    Attributes
    ----------
    codes : ndarray of int64 (n,)
        Level of each observation.
    zsq, zval : ndarray (n,) or None
        Z's values and their squares (None: all 1, an intercept).
    q : int
        Number of levels.
    th_idx : int
        Index of the term's θ.
    """

    def __init__(self, codes, zval, q, th_idx):
        self.codes, self.zval, self.q, self.th_idx = codes, zval, q, th_idx
        self.zsq = None if zval is None else zval * zval

    @classmethod
    def from_structure(cls, Zt, blocks, lind0):
        """The term of a one-term scalar design, or None.

        Parameters
        ----------
        Zt : scipy.sparse.csc_matrix (q, n)
            Sorted, no duplicates.
        blocks : list of (row_offset, n_levels, n_columns)
        lind0 : ndarray
            θ index (0-based) of each diagonal entry of Λ' (scalar terms: Λ' is diagonal).
        """
        if len(blocks) != 1 or blocks[0][2] != 1:
            return None
        q, n = Zt.shape
        if n == 0 or not np.array_equal(Zt.indptr, np.arange(n + 1)):   # one entry per obs
            return None
        th = np.unique(np.asarray(lind0)[:q])
        if th.shape[0] != 1:
            return None
        codes = Zt.indices.astype(np.int64)
        v = np.asarray(Zt.data, dtype=float)
        return cls(codes, None if np.all(v == 1.0) else v.copy(), int(q), int(th[0]))

    def level_sums(self, w):
        """Σ w z² per level (Z'WZ's diagonal)."""
        return np.bincount(self.codes, w if self.zsq is None else w * self.zsq,
                           minlength=self.q)

    def _u(self, th, A, wz):
        b = np.bincount(self.codes, wz if self.zval is None else wz * self.zval,
                        minlength=self.q)
        return (th * b) / A

    def _lp(self, th, u):
        v = th * u[self.codes]
        return v if self.zval is None else v * self.zval


def pirls_diagonal(D, resp, theta, beta, beta_off, start, *, tol, maxit, max_halvings,
                   state_cls, error_cls, eta=None, max_polish=0):
    """glmer's second-stage PIRLS (β fixed) for a :class:`DiagonalTerm` design.

    Parameters
    ----------
    D : DiagonalTerm
    resp : GlmResponse
    theta, beta : ndarray
    beta_off : ndarray (n,)
        offset + Xβ.
    start : PirlsStart or None
        Working weights and response at the starting η (None: from ``eta``).
    tol, maxit, max_halvings
        As :func:`lmerpy.pls.glmm.pirls.pirls`.
    state_cls, error_cls
        :class:`~lmerpy.pls.glmm.pirls.PirlsState` and :class:`~lmerpy.pls.glmm.pirls.PirlsError`.
    eta : ndarray (n,), optional
        The starting linear predictor when ``start`` is None.
    max_polish : int
        > 0: ``pirls(..., precise=True)``: after convergence at most this many more steps
        (Newton's weights where :meth:`~.glm_response.GlmResponse.working_parts` has them)
        until η stops moving, then log|L|² at the weights of ũ itself.

    Returns
    -------
    PirlsState
    """
    linkinv = resp.family.linkinv
    dev_resids = resp.dev_resids
    working_parts = resp.working_parts
    isfinite = math.isfinite
    total = np.add.reduce
    th = float(theta[D.th_idx])
    th2 = th * th
    off = beta_off
    oldpdev = math.inf
    u_old = None
    eta = start.eta if start is not None else np.asarray(eta, dtype=float)
    mu = None
    st = None
    for it in range(1, maxit + 1):
        if it == 1 and start is not None:
            w = start.w
            z = (eta - off) + start.r
            sums = start.diag_sums
            if sums is None and start.w_finite:
                sums = start.diag_sums = D.level_sums(w)
            ok = start.w_finite
        else:
            mu, w, r = working_parts(eta, mu)
            z = (eta - off) + r
            sums = D.level_sums(w)
            ok = True
        wz = w * z
        # Σ w·z is finite exactly when w and z are (0·inf and inf − inf are NaN)
        if not (ok and isfinite(float(total(wz)))):
            raise error_cls("non-finite working weights or response in PIRLS (the linear "
                            "predictor left the link's domain)")
        A = th2 * sums + 1.0
        u = D._u(th, A, wz)
        eta_new = off + D._lp(th, u)
        mu_new = linkinv(eta_new)
        dr = dev_resids(mu_new)
        dsum = float(total(dr))
        ussq = float(u @ u)
        pdev = dsum + ussq
        if math.isnan(pdev):
            pdev = math.inf
        if abs(oldpdev - pdev) < tol * pdev:
            st = state_cls()
            st.theta = np.array(theta, dtype=float)
            st.beta = np.array(beta, dtype=float)
            st.u = u
            st.eta, st.mu, st.w, st.z = eta_new, mu_new, w, z
            st.ldL2 = float(total(np.log(A)))
            st.devres = dr
            st.devres_sum = dsum
            st.ussq = ussq
            st.pdev = pdev
            st.iterations = it
            st.offset_total = off
            break
        if pdev > oldpdev:  # step halving towards the previous iterate
            for _ in range(max_halvings):
                u = 0.5 * (u_old + u)
                eta_new = off + D._lp(th, u)
                mu_new = linkinv(eta_new)
                dr = dev_resids(mu_new)
                pdev = float(total(dr)) + float(u @ u)
                if math.isnan(pdev):
                    pdev = math.inf
                if pdev <= oldpdev:
                    break
            if not pdev - oldpdev <= tol:
                raise error_cls("PIRLS step-halvings failed to reduce deviance in pwrssUpdate")
        if not isfinite(pdev):
            raise error_cls("PIRLS: the penalized deviance is not finite")
        oldpdev, u_old, eta, mu = pdev, u, eta_new, mu_new
    if st is None:
        raise error_cls(f"pwrssUpdate did not converge in {maxit} iterations")
    if max_polish <= 0:
        return st
    # precise: the steps of pirls(..., precise=True), then log|L|² at ũ's own weights
    for _ in range(max_polish):
        mu, w, r = working_parts(st.eta, st.mu, True)
        z = (st.eta - off) + r
        if not isfinite(float(w.sum()) + float(z.sum())):
            raise error_cls("non-finite working weights or response in PIRLS (the linear "
                            "predictor left the link's domain)")
        A = th2 * D.level_sums(w) + 1.0
        u = D._u(th, A, w * z)
        eta_new = off + D._lp(th, u)
        mu_new = linkinv(eta_new)
        dr = dev_resids(mu_new)
        pdev = float(dr.sum() + u @ u)
        if math.isnan(pdev):
            pdev = math.inf
        if not pdev <= st.pdev + 1e-12 * abs(st.pdev):
            break
        eta_old = st.eta
        st.iterations += 1
        st.u, st.eta, st.mu, st.w, st.z = u, eta_new, mu_new, w, z
        st.devres, st.devres_sum, st.ussq, st.pdev = dr, float(dr.sum()), float(u @ u), pdev
        if small_step(eta_new, eta_old, POLISH_NEWTON_STOP if resp.newton_polish else 1e-11):
            break
    mu, w, r = working_parts(st.eta, st.mu)
    st.w, st.z = w, (st.eta - off) + r
    st.ldL2 = float(total(np.log(th2 * D.level_sums(w) + 1.0)))
    return st


def small_step(eta_new, eta, stop):
    """Whether the step from ``eta`` to ``eta_new`` moved η by at most ``stop`` relative
    to 1 + max|η| (the precise PIRLS's rule for its last step)."""
    if not eta_new.size:
        return True
    # (the arrays' own max(): np.max's Python wrapper costs twice the reduction at n = 56)
    return float(np.abs(eta_new - eta).max()) <= stop * (1.0 + float(np.abs(eta_new).max()))


def pirls_diagonal_batch(D, resp, thetas, offs, start, *, tol, maxit):
    """:func:`pirls_diagonal` at m points at once (lme4's finite-difference Hessian: its
    stencil's 2k² points), all started from ``start``: the same iterations point by point on
    (m, n) arrays — the same operations on each row, sums taken row by row in the same order
    (NumPy's row reductions and ``np.bincount`` with the levels of row i offset by i·q), so
    each point's values are those of :func:`pirls_diagonal` — with a tenth of the NumPy calls
    per point.

    A point that needs step halving or meets a non-finite value is left to
    :func:`pirls_diagonal` (which halves, or raises its error): ``done`` is False there.

    Parameters
    ----------
    D : DiagonalTerm
    resp : GlmResponse
    thetas : ndarray (m,)
        The term's θ at each point.
    offs : ndarray (m, n)
        offset + Xβ of each point.
    start : PirlsStart
    tol, maxit
        As :func:`pirls_diagonal`.

    Returns
    -------
    dict
        ``done`` (m,) bool, and where done: ``ldL2``, ``ussq``, ``devres_sum`` (m,) and
        ``mu`` (m, n).
    """
    m, n = offs.shape
    q = D.q
    th = np.asarray(thetas, dtype=float).reshape(m)
    th2 = (th * th)[:, None]
    thc = th[:, None]
    linkinv = resp.family.linkinv
    dev_resids = resp.dev_resids
    working_parts = resp.working_parts
    codes = (D.codes[None, :] + (np.arange(m, dtype=np.int64) * q)[:, None]).ravel()
    zval, zsq = D.zval, D.zsq

    def level_sums(v, scale):
        s = np.bincount(codes, (v if scale is None else v * scale).ravel(), minlength=m * q)
        return s.reshape(m, q)

    done = np.zeros(m, dtype=bool)
    active = np.ones(m, dtype=bool)
    out = {"done": done, "ldL2": np.full(m, np.nan), "ussq": np.full(m, np.nan),
           "devres_sum": np.full(m, np.nan), "mu": np.full((m, n), np.nan)}
    if not start.w_finite:
        return out
    oldpdev = np.full(m, math.inf)
    eta = np.broadcast_to(start.eta, (m, n))
    mu = None
    sums0 = start.diag_sums
    if sums0 is None:
        sums0 = start.diag_sums = D.level_sums(start.w)
    for it in range(1, maxit + 1):
        if it == 1:
            w = start.w
            z = (eta - offs) + start.r
            sums = np.broadcast_to(sums0, (m, q))
        else:
            mu, w, r = working_parts(eta, mu)
            z = (eta - offs) + r
            sums = level_sums(w, zsq)
        wz = w * z
        fin = np.isfinite(np.add.reduce(wz, axis=1))
        active &= fin
        A = th2 * sums + 1.0
        u = (thc * level_sums(wz, zval)) / A
        lp = thc * u[:, D.codes]
        eta_new = offs + (lp if zval is None else lp * zval)
        mu_new = linkinv(eta_new)
        dr = dev_resids(mu_new)
        dsum = np.add.reduce(dr, axis=1)
        ussq = np.array([float(ui @ ui) for ui in u])
        pdev = dsum + ussq
        pdev[np.isnan(pdev)] = math.inf
        conv = active & (np.abs(oldpdev - pdev) < tol * pdev)
        if conv.any():
            out["ldL2"][conv] = np.add.reduce(np.log(A[conv]), axis=1)
            out["ussq"][conv] = ussq[conv]
            out["devres_sum"][conv] = dsum[conv]
            out["mu"][conv] = mu_new[conv]
            done |= conv
            active &= ~conv
        # step halving or a non-finite deviance: left to the point-by-point iteration
        active &= ~(pdev > oldpdev) & np.isfinite(pdev)
        if not active.any():
            break
        oldpdev, eta, mu = pdev, eta_new, mu_new
    return out
