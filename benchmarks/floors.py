"""The floors under a small fit in Python: ``python benchmarks/floors.py [--reps 200]``.

Issue 14 asks for a warm sleepstudy fit in ≤ 1 ms and at least as fast as glmm 0.6.2 (0.37–0.40
ms, a compiled pipeline from data to estimates), and for cbpp at least as fast as glmm
(0.9–1.0 ms). This script measures what any NumPy/pandas implementation of those fits pays
before it does anything lmerpy-specific, each piece timed alone (warm, one BLAS thread,
medians of ``--reps`` calls):

* NumPy's per-call cost on tiny arrays (a ufunc on 2 numbers, a batched 2 x 2 Cholesky);
* taking sleepstudy's and cbpp's columns out of their pandas DataFrames (the data a user hands in);
* lmerpy's front end (``lFormula``: formula, model frame, X, Zt, Λ's template);
* a **bare** profiled REML deviance of ``Reaction ~ Days + (Days | Subject)`` written for this
  one shape only (per-subject 2 x 2 blocks as (18, 2, 2) arrays, batched Cholesky and solves,
  no checks, no general structure): one evaluation, and the value checked against lmerpy's
  deviance at lmerpy's θ̂;
* a **bare** Laplace deviance of the cbpp binomial model (one scalar term: PIRLS on the
  diagonal, per-herd sums by ``bincount``) from the mode's u at a point of lme4's Hessian
  stencil: one evaluation, checked against lmerpy's deviance at the optimum (the exact Laplace
  deviance at the mode, as glmm reports it: 5.8e-4 below lme4's −2 log L).

It prints each floor and what the issue's targets leave for the rest. The floors are lower
bounds on NumPy code, not lmerpy's costs: lmerpy's own phases are in ``small_ab.py`` and
``profile_case.py``.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _median_us(fn, reps):
    for _ in range(20):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e6


class BareSleepstudy:
    """The profiled REML deviance of a one-term (1 + x | g) model, nothing else."""

    def __init__(self, y, x, g):
        m = int(g.max()) + 1
        n = y.size
        Z = np.stack((np.ones(n), x), axis=1)              # the term's raw model matrix
        X = Z                                              # fixed effects: 1 + Days
        self.ZtZ = np.zeros((m, 2, 2))
        np.add.at(self.ZtZ, g, Z[:, :, None] * Z[:, None, :])
        self.ZtX = np.zeros((m, 2, 2))
        np.add.at(self.ZtX, g, Z[:, :, None] * X[:, None, :])
        self.Zty = np.zeros((m, 2))
        np.add.at(self.Zty, g, Z * y[:, None])
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, float(y @ y)
        self.n, self.p = n, 2
        self.I = np.eye(2)

    def __call__(self, theta):
        Lt = np.array([[theta[0], theta[1]], [0.0, theta[2]]])       # Λ'
        A = Lt @ self.ZtZ @ Lt.T + self.I                            # (m, 2, 2)
        L = np.linalg.cholesky(A)
        cu = np.linalg.solve(L, (Lt @ self.Zty[:, :, None]))         # (m, 2, 1)
        RZX = np.linalg.solve(L, Lt @ self.ZtX)                      # (m, 2, p)
        R = RZX.reshape(-1, self.p)
        c = cu.reshape(-1)
        XtVX = self.XtX - R.T @ R
        rhs = self.Xty - R.T @ c
        RX = np.linalg.cholesky(XtVX)
        beta = np.linalg.solve(XtVX, rhs)
        r2 = self.yty - c @ c - rhs @ beta
        ld = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum()
        ldx = 2.0 * np.log(np.diag(RX)).sum()
        nu = self.n - self.p
        return ld + ldx + nu * (1.0 + np.log(2.0 * np.pi * r2 / nu))


class BareCbpp:
    """lme4's Laplace deviance of a binomial model with one scalar term, by PIRLS on u."""

    def __init__(self, y, w, X, g):
        from scipy.special import gammaln
        self.y, self.w, self.X, self.g = y, w, X, g
        self.m = int(g.max()) + 1
        k = y * w                                                   # successes
        self.const = -2.0 * (gammaln(w + 1) - gammaln(k + 1) - gammaln(w - k + 1)).sum()
        self.k, self.f = k, w - k                                   # successes, failures

    def __call__(self, theta, beta, u, tol=1e-10, maxit=30):
        y, w, g, m = self.y, self.w, self.g, self.m
        off = self.X @ beta
        for _ in range(maxit):
            eta = off + theta * u[g]
            mu = 1.0 / (1.0 + np.exp(-eta))
            v = mu * (1.0 - mu)
            a = theta * theta * np.bincount(g, w * v, m) + 1.0          # diagonal of L L'
            b = theta * np.bincount(g, w * (y - mu), m) - u             # the score in u
            du = b / a
            u = u + du
            if du @ du < tol * (u @ u + tol):
                break
        eta = off + theta * u[g]
        mu = 1.0 / (1.0 + np.exp(-eta))
        v = mu * (1.0 - mu)
        a = theta * theta * np.bincount(g, w * v, m) + 1.0
        # −2 log L as lme4 reports it: the binomial log density (with its constant), |u|², log|L|²
        ll = self.k @ np.log(mu) + self.f @ np.log1p(-mu)
        return self.const - 2.0 * ll + u @ u + np.log(a).sum(), u


def sleep_columns(df):
    """sleepstudy's response, Days and Subject codes as NumPy arrays (what ``BareSleepstudy`` takes)."""
    return (df["Reaction"].to_numpy(dtype=float), df["Days"].to_numpy(dtype=float),
            df["Subject"].cat.codes.to_numpy())


def cbpp_columns(df):
    """cbpp's incidence, size, period and herd codes as NumPy arrays."""
    return (df["incidence"].to_numpy(dtype=float), df["size"].to_numpy(dtype=float),
            df["period"].cat.codes.to_numpy(), df["herd"].cat.codes.to_numpy())


def bare_cbpp(df):
    """``BareCbpp`` for ``cbind(incidence, size - incidence) ~ period + (1 | herd)``."""
    inc, size, per, g = cbpp_columns(df)
    X = np.zeros((inc.size, 4))
    X[:, 0] = 1.0
    for k in (1, 2, 3):
        X[:, k] = per == k
    return BareCbpp(inc / size, size, X, g)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--peer-reps", type=int, default=15,
                    help="whole fits of sleepstudy and cbpp by glmm 0.6.2 and lmerpy in their "
                         "own warm processes (benchmarks/harness.py), after the floors, when "
                         "glmm's environment exists (run.py --peers makes it); 0: none")
    args = ap.parse_args(argv)
    reps = args.reps
    import lmerpy
    from lmerpy.datasets import load
    sleep, cbpp = load("sleepstudy"), load("cbpp")
    rows = []

    a2 = np.ones(2)
    rows.append(("NumPy: a ufunc on 2 numbers (np.add)", _median_us(lambda: np.add(a2, a2), reps)))
    blocks = np.tile(np.array([[2.0, 0.5], [0.5, 1.0]]), (18, 1, 1))
    rows.append(("NumPy: batched Cholesky of 18 2 x 2 blocks",
                 _median_us(lambda: np.linalg.cholesky(blocks), reps)))

    rows.append(("pandas: sleepstudy's 3 columns to NumPy",
                 _median_us(lambda: sleep_columns(sleep), reps)))
    f_sleep = "Reaction ~ Days + (Days | Subject)"
    rows.append(("lmerpy lFormula(sleepstudy) (front end)",
                 _median_us(lambda: lmerpy.lFormula(f_sleep, sleep), reps)))
    fm = lmerpy.lmer(f_sleep, sleep)
    bare = BareSleepstudy(*sleep_columns(sleep))
    theta = np.asarray(fm.theta)
    check_lmm = abs(bare(theta) - float(fm.devfun(theta)))
    t_eval = _median_us(lambda: bare(theta), reps)
    rows.append(("bare REML deviance of sleepstudy, one evaluation", t_eval))
    rows.append(("lmerpy sleepstudy fit (whole, for reference)",
                 _median_us(lambda: lmerpy.lmer(f_sleep, sleep), max(reps // 4, 20))))

    rows.append(("pandas: cbpp's 4 columns to NumPy", _median_us(lambda: cbpp_columns(cbpp), reps)))
    gm = lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                      family="binomial")
    bc = bare_cbpp(cbpp)
    th, be = float(gm.theta[0]), np.asarray(gm.fixef(), dtype=float)
    d_mode, u_mode = bc(th, be, np.zeros(bc.m))
    check_glmm = abs(d_mode - float(gm.devfun(np.r_[th, be])))     # lme4's −2 log L
    # a point of lme4's Hessian stencil (steps of 1e-4), started from the mode's u
    th1, be1 = th + 1e-4, be + np.r_[1e-4, 0.0, 0.0, 0.0]
    t_pirls = _median_us(lambda: bc(th1, be1, u_mode), reps)
    rows.append(("bare Laplace deviance of cbpp at a stencil point (PIRLS from the mode)", t_pirls))
    rows.append(("lmerpy cbpp fit (whole, for reference)",
                 _median_us(lambda: lmerpy.glmer(
                     "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                     family="binomial"), max(reps // 10, 10))))

    width = max(len(r[0]) for r in rows)
    for name, us in rows:
        print(f"{name:<{width}}  {us:9.1f} µs")
    print(f"checks: bare sleepstudy deviance - lmerpy's at θ̂ = {check_lmm:.1e}; "
          f"bare cbpp Laplace deviance - lmerpy's at the optimum = {check_glmm:.1e} (lme4's "
          "−2 log L, which lmerpy reports, takes log|L|² one PIRLS step behind the mode: "
          "5.8e-4 here, docs/performance.md)")
    n_stencil = 2 * 5 * 5
    print(f"cbpp: lme4's Hessian stencil ({n_stencil} deviances for 5 parameters) in bare NumPy: "
          f"{n_stencil * t_pirls / 1e3:.2f} ms")
    print(f"sleepstudy: 12 bare evaluations (glmm's count): {12 * t_eval / 1e3:.2f} ms")
    if args.peer_reps:
        _peers_beside(args.peer_reps)
    return 0


def _peers_beside(reps):
    """glmm's and lmerpy's whole warm fits of the two cases, alternating (the harness's way)."""
    from benchmarks import cases, harness, peers
    py, why = peers.ensure("glmm", install=False)
    if py is None:
        print(f"glmm: {why}")
        return
    for name in ("sleepstudy", "cbpp"):
        rec = harness.run_case(cases.BY_NAME[name], reps, with_r=False, timeout=600,
                               log=lambda *a, **k: None, peers={"glmm": (py, "")})
        t = {side: rec[side].get("median") for side in ("lmerpy", "glmm")}
        if None in t.values():
            print(f"{name}: a side failed: {rec['glmm'].get('error') or rec['lmerpy'].get('error')}")
            continue
        print(f"{name}: whole warm fit, median of {reps}: glmm {t['glmm'] * 1e3:.3f} ms, "
              f"lmerpy {t['lmerpy'] * 1e3:.3f} ms (glmm / lmerpy {t['glmm'] / t['lmerpy']:.2f}x)")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
