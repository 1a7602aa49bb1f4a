"""A Rust peer's side of one benchmark case: ``glmm`` (0.6.2) or ``mixedlm`` (1.3.0).

Runs under the peer's own virtual environment (``benchmarks/peers.py`` makes it; lmerpy is
not installed there and not imported here), driven line by line by the harness exactly as
``worker.py`` is: ``python peer_worker.py PEER SPEC_JSON``, then ``fit`` / ``fit keep`` /
``mem`` / ``evals`` / ``boot N`` / ``quit`` on stdin, one ``@@BENCH {json}`` answer each.

The data come as the CSV and level files the R side reads (``cases.write_csv``). Each peer
fits the case's model with its default settings; where its formula language differs, the
same model is written its way (:func:`peer_formula`): glmm's ``cbind()`` takes two column
names (the failures become a column), mixedlm fits a binomial count response as the
proportion with the trial counts as weights (R's other spelling of the same model), and a
two-level factor response is coded 0/1 (its second level 1, as R's binomial).

``boot N``: a parametric bootstrap of the kept fit (Gaussian LMMs) with N simulations, next
to lmerpy's ``bootMer(fit, fixef, nsim=N)``: mixedlm's own ``bootMer``; glmm has none, so N
refits to responses simulated from the fit (with a fixed seed, before the clock starts),
each warm-started at the fit's β̂ and θ̂ (``warm_start``), β̂ read from each.
"""
import gc
import json
import os
import re
import sys
import time
import traceback
import warnings

import numpy as np
import pandas as pd

PREFIX = "@@BENCH "


def send(obj):
    sys.stdout.write(PREFIX + json.dumps(obj, default=float) + "\n")
    sys.stdout.flush()


def vm_status():
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(rest.split()[0]) / 1024.0
    except OSError:
        pass
    return out


def hwm_reset():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def load_data(spec):
    df = pd.read_csv(spec["csv"])
    lev = json.loads(open(spec["levels"]).read())
    for col, levels in lev["levels"].items():
        df[col] = pd.Categorical(df[col].astype(str), categories=levels,
                                 ordered=col in lev.get("ordered", []))
    return df


_CBIND = re.compile(r"^\s*cbind\(\s*(\w+)\s*,\s*(\w+)\s*-\s*(\w+)\s*\)\s*~(.*)$")


def peer_formula(peer, spec, data):
    """(formula, data, keyword arguments) of the case for ``peer`` (module docstring)."""
    formula = spec["formula"]
    kwargs = {}
    m = _CBIND.match(formula)
    if m:
        succ, total, succ2, rhs = m.groups()
        if succ2 != succ:
            raise ValueError(f"unsupported cbind response in {formula!r}")
        data = data.copy()
        if peer == "glmm":
            data["bench_failures"] = data[total] - data[succ]
            formula = f"cbind({succ}, bench_failures) ~{rhs}"
        else:
            data["bench_prop"] = data[succ] / data[total]
            kwargs["weights"] = data[total].to_numpy(dtype=float)
            formula = f"bench_prop ~{rhs}"
    response = formula.split("~")[0].strip()
    if response in data.columns and isinstance(data[response].dtype, pd.CategoricalDtype):
        data = data.copy()
        data[response] = (data[response].cat.codes > 0).astype(float)
    return formula, data, kwargs


class GlmmSide:
    name = "glmm"

    def __init__(self, spec, data):
        import glmm
        self.mod = glmm
        self.version = getattr(glmm, "__version__", None) or _dist_version("glmm")
        self.spec = spec
        self.formula, self.data, self.kwargs = peer_formula("glmm", spec, data)
        self.family = spec.get("family") or "gaussian"

    def fit_on(self, data, formula=None, **extra):
        return self.mod.fit(data, formula or self.formula, family=self.family,
                            **self.kwargs, **extra)

    def describe(self, fit):
        out = {"objective": -2.0 * float(fit.loglik), "feval": int(fit.n_eval),
               "converged": bool(fit.converged), "nobs": int(fit.nobs),
               "beta": [float(b) for b in fit.beta]}
        return out

    def refit_loop(self, fit, ys):
        data = self.data.copy()
        response = self.formula.split("~")[0].strip()
        warm = {"beta": np.asarray(fit.beta, dtype=float)}
        theta = _glmm_theta(fit)
        if theta is not None:
            warm["theta"] = theta
        t0 = time.perf_counter()
        for y in ys:
            data[response] = y
            r = self.mod.fit(data, self.formula, family=self.family, warm_start=warm,
                             **self.kwargs)
            r.beta  # noqa: B018 - what bootMer(fit, fixef) keeps
        return time.perf_counter() - t0, {"warm_start": sorted(warm)}


def _glmm_theta(fit):
    """θ (lme4's relative Cholesky factors, column-major lower triangles, groupings in the
    fit's ``varcorr`` order) from the covariance matrices and σ²."""
    try:
        s2 = float(fit.dispersion) if fit.family == "gaussian" else 1.0
        out = []
        for vech in fit.varcorr:
            vech = np.asarray(vech, dtype=float)
            q = (int(np.sqrt(1 + 8 * vech.size)) - 1) // 2
            S = np.zeros((q, q))
            k = 0
            for c in range(q):
                for r in range(c, q):
                    S[r, c] = S[c, r] = vech[k]
                    k += 1
            L = np.linalg.cholesky(S / s2)
            out.extend(L[r, c] for c in range(q) for r in range(c, q))
        return np.asarray(out, dtype=float)
    except Exception:  # noqa: BLE001 - then beta alone warm-starts
        return None


class MixedlmSide:
    name = "mixedlm"

    def __init__(self, spec, data):
        import mixedlm
        self.mod = mixedlm
        self.version = getattr(mixedlm, "__version__", None) or _dist_version("mixedlm")
        self.spec = spec
        self.formula, self.data, self.kwargs = peer_formula("mixedlm", spec, data)
        fam = spec.get("family")
        self.family = None
        if fam:
            from mixedlm import families
            self.family = {"binomial": families.Binomial, "poisson": families.Poisson}[fam]()

    def fit_on(self, data, formula=None, **extra):
        if self.family is None:
            return self.mod.lmer(formula or self.formula, data, **self.kwargs, **extra)
        return self.mod.glmer(formula or self.formula, data, family=self.family,
                              **self.kwargs, **extra)

    def describe(self, fit):
        out = {"objective": -2.0 * float(fit.logLik()), "nobs": int(fit.nobs())}
        fe = getattr(fit, "function_evals", None)
        if fe is not None:
            out["feval"] = int(fe)
        out["converged"] = bool(getattr(fit, "converged", True))
        return out

    def refit_loop(self, fit, ys):
        """mixedlm's own ``bootMer`` (it simulates the responses itself, as lmerpy's)."""
        t0 = time.perf_counter()
        self.mod.bootMer(fit, nsim=len(ys), seed=20240601)
        return time.perf_counter() - t0, {"method": "mixedlm.bootMer(fit, nsim)"}


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return None


SIDES = {"glmm": GlmmSide, "mixedlm": MixedlmSide}


class Runner:
    def __init__(self, peer, spec):
        self.spec = spec
        data = load_data(spec)
        self.side = SIDES[peer](spec, data)
        self.kept = None

    def warm_up(self):
        rows = int(self.spec.get("warmup_rows") or 0)
        if rows > 0:
            self.side.fit_on(self.side.data.iloc[:rows].copy())
        elif len(self.side.data) > 20000:
            # imports and first-call costs on a slice of the case's own data (untimed)
            self.side.fit_on(self.side.data.iloc[:5000].copy())
        else:
            self.side.fit_on(self.side.data)

    def fit(self, keep):
        inner = max(1, int(self.spec.get("inner") or 1))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            for _ in range(inner):
                fit = self.side.fit_on(self.side.data)
            elapsed = time.perf_counter() - t0
            caught = sorted({str(x.message)[:200] for x in w})[:5]
        out = {"time": elapsed / inner, "inner": inner, "batch_time": elapsed,
               "warnings": caught}
        out.update(self.side.describe(fit))
        if keep:
            self.kept = fit
        del fit
        gc.collect()
        return out

    def boot(self, nsim):
        if self.kept is None:
            return {"error": "no kept fit"}
        fit = self.kept
        if self.spec.get("family"):
            return {"error": "boot is for Gaussian LMMs"}
        rng = np.random.default_rng(20240601)
        fitted = np.asarray(_fitted(fit), dtype=float)
        sd = float(np.sqrt(_sigma2(fit)))
        ys = [fitted + sd * rng.standard_normal(fitted.shape[0]) for _ in range(nsim)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elapsed, how = self.side.refit_loop(fit, ys)
        return {"time": elapsed, "nsim": nsim, "per_refit": elapsed / nsim, "how": how}


def _fitted(fit):
    v = fit.fitted
    return v() if callable(v) else v


def _sigma2(fit):
    for name in ("dispersion",):
        v = getattr(fit, name, None)
        if v is not None and not callable(v):
            return float(v)
    s = getattr(fit, "get_sigma", None)
    if callable(s):
        return float(s()) ** 2
    return float(fit.sigma()) ** 2


def main(argv):
    peer, spec = argv[1], json.loads(argv[2])
    t_start = time.perf_counter()
    try:
        run = Runner(peer, spec)
        run.warm_up()
    except Exception as exc:  # noqa: BLE001 - a peer that cannot fit the case says so
        send({"ready": True, "available": False, "reason": f"{type(exc).__name__}: {exc}"[:300],
              "traceback": traceback.format_exc(limit=4)})
        return 0
    gc.collect()
    base = vm_status()
    reset = hwm_reset()
    send({"ready": True, "available": True, "reason": None, "n_rows": int(len(run.side.data)),
          "baseline_rss_mb": base.get("VmRSS"), "hwm_reset": reset,
          "startup_seconds": time.perf_counter() - t_start, "peer": peer,
          "version": run.side.version, "formula": run.side.formula,
          "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                  "RAYON_NUM_THREADS")}})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "quit":
                break
            if cmd[0] == "fit":
                send(run.fit(keep="keep" in cmd[1:]))
            elif cmd[0] == "mem":
                st = vm_status()
                send({"peak_rss_mb": st.get("VmHWM"), "rss_mb": st.get("VmRSS"),
                      "baseline_rss_mb": base.get("VmRSS"), "hwm_reset": reset})
            elif cmd[0] == "evals":
                send({"unsupported": "the peer's deviance function is not timed"})
            elif cmd[0] == "boot":
                send(run.boot(int(cmd[1])))
            else:
                send({"error": f"unknown command {cmd[0]!r}"})
        except Exception as exc:  # noqa: BLE001 - a failed fit is a result, not a crash
            send({"error": f"{type(exc).__name__}: {exc}"[:500],
                  "traceback": traceback.format_exc(limit=6)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
