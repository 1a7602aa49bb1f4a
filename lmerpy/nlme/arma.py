"""ARMA(p, q) correlations: nlme's parameter transform and the autocorrelation function.

R equivalent: the C routines behind nlme's ``corARMA`` (``ARMA_constCoef``,
``ARMA_unconstCoef``, ``ARMA_fullCorr``), written here from the mathematics.

* **Transform** (Jones 1980; Monahan 1984). An unconstrained ``u_k`` gives the partial
  autocorrelation ``r_k = tanh(u_k / 2)`` in (-1, 1); the Durbin-Levinson recursion turns
  ``r_1..r_p`` into the coefficients of a stationary AR polynomial,
  ``phi^(k)_k = r_k, phi^(k)_j = phi^(k-1)_j - r_k phi^(k-1)_(k-j)``, and ``r`` of the MA part
  into an invertible MA polynomial with the opposite sign (``+ r_k``). The inverse runs the
  recursion backwards.
* **Autocorrelation** of ``x_t = sum_i phi_i x_(t-i) + e_t + sum_j theta_j e_(t-j)``: the
  autocovariances ``gamma(0..p)`` solve a (p+1) x (p+1) linear system built from the
  psi-weights of the MA(infinity) form (Brockwell & Davis 1991, section 3.3); larger lags
  follow the AR recursion.
"""
from __future__ import annotations

import numpy as np

__all__ = ["arma_natural", "arma_unconstrained", "arma_acf"]


def _levinson(r: np.ndarray, sign: float) -> np.ndarray:
    out = np.zeros(0)
    for k, rk in enumerate(r):
        out = np.concatenate([out + sign * rk * out[::-1], [rk]]) if k else np.array([rk])
    return out


def _inverse_levinson(c: np.ndarray, sign: float) -> np.ndarray:
    c = np.array(c, dtype=float)
    r = np.zeros(c.size)
    for k in range(c.size - 1, -1, -1):
        rk = c[k]
        if abs(rk) >= 1.0:
            raise ValueError("the ARMA coefficients are not stationary/invertible")
        r[k] = rk
        prev = c[:k]
        # c_j = p_j + sign * rk * p_(k-1-j)  =>  solve the 2x2 pairs for p
        c = (prev - sign * rk * prev[::-1]) / (1.0 - rk * rk)
    return r


def arma_natural(u, p: int, q: int) -> np.ndarray:
    """Unconstrained parameters -> (phi_1..phi_p, theta_1..theta_q) (nlme's
    ``coef(corARMA, unconstrained = FALSE)``)."""
    u = np.asarray(u, dtype=float)
    r = np.tanh(u / 2.0)
    return np.concatenate([_levinson(r[:p], -1.0), _levinson(r[p:p + q], 1.0)])


def arma_unconstrained(natural, p: int, q: int) -> np.ndarray:
    """(phi, theta) -> unconstrained (nlme's ``corARMA(value = )`` transform). Raises
    ValueError when the AR part is not stationary or the MA part not invertible."""
    natural = np.asarray(natural, dtype=float)
    r = np.concatenate([_inverse_levinson(natural[:p], -1.0),
                        _inverse_levinson(natural[p:p + q], 1.0)])
    return 2.0 * np.arctanh(r)


def arma_acf(phi, theta, max_lag: int) -> np.ndarray:
    """Autocorrelations rho(0..max_lag) of the ARMA process with AR coefficients ``phi`` and
    MA coefficients ``theta`` (R: ``ARMAacf(ar = phi, ma = theta, lag.max = max_lag)``)."""
    phi = np.asarray(phi, dtype=float)
    theta = np.concatenate([[1.0], np.asarray(theta, dtype=float)])
    p, q = phi.size, theta.size - 1
    m = max(max_lag, p, q) + 1
    psi = np.zeros(q + 1)
    for j in range(q + 1):
        psi[j] = theta[j] + sum(phi[i - 1] * psi[j - i] for i in range(1, min(j, p) + 1))
    # right-hand sides: sum_{j=k}^{q} theta_j psi_(j-k)
    rhs = np.array([sum(theta[j] * psi[j - k] for j in range(k, q + 1)) for k in range(m)])
    gamma = np.zeros(m)
    if p == 0:
        gamma[:] = rhs
    else:
        A = np.zeros((p + 1, p + 1))
        for k in range(p + 1):
            A[k, k] += 1.0
            for i in range(1, p + 1):
                A[k, abs(k - i)] -= phi[i - 1]
        gamma[:p + 1] = np.linalg.solve(A, rhs[:p + 1])
        for k in range(p + 1, m):
            gamma[k] = phi @ gamma[k - 1::-1][:p] + rhs[k]
    return gamma[:max_lag + 1] / gamma[0]
