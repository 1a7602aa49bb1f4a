"""The lmerpy side of one benchmark case: a fresh process driven line by line by ``run.py``.

Usage (by the harness): ``python benchmarks/worker.py CASE_JSON``, then commands on stdin, one
per line; each answer is one line on stdout starting with ``@@BENCH `` followed by JSON:

``fit`` / ``fit keep``
    Fit the case ``inner`` times and report the time per fit and the last fit's evaluation
    count, objective (−2 log-likelihood, i.e. the REML criterion for REML fits) and the
    optimizer's parameters (θ; for structured terms lme4 2.x's par), with their counts. The fit
    is dropped afterwards (and garbage-collected, untimed) unless ``keep``.
``mem``
    Peak resident memory (VmHWM) since the baseline, which was taken after imports, data
    loading and one warm-up fit of a small model.
``evals``
    Time the deviance function of the kept fit near its optimum, alternating between θ̂ and θ̂
    nudged by 1e-6 relative (lmerpy's deviance object reuses its factor when called twice at
    the same θ).
``quit``
"""
import gc
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cases as _cases  # noqa: E402
from benchmarks.memory import hwm_reset, vm_status  # noqa: E402

PREFIX = "@@BENCH "
#: Cases fitted by lmerpy's nlme functions (``lmerpy.gls`` / ``lmerpy.lme``).
NLME_FUNCTIONS = ("gls", "lme")


def send(obj):
    sys.stdout.write(PREFIX + json.dumps(obj) + "\n")
    sys.stdout.flush()


def _blas_limits():
    """Pin every BLAS/OpenMP pool loaded so far to one thread (threadpoolctl when installed)."""
    try:
        import threadpoolctl
    except ImportError:
        return {"threadpoolctl": False}
    threadpoolctl.threadpool_limits(limits=1)  # stays in force (no context manager)
    info = [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "filepath")}
            for p in threadpoolctl.threadpool_info()]
    return {"threadpoolctl": True, "pools": info}


class LmerpySide:
    def __init__(self, case):
        self.case = case
        import lmerpy
        self.lmerpy = lmerpy
        self.available = case.fn == "lmer" or hasattr(lmerpy, case.fn)
        self.reason = None if self.available else f"lmerpy.{case.fn} is not available yet"
        self.data = _cases.load_data(case)
        self.kept = None

    def warm_up(self):
        """One fit of a small model of the same kind: imports and first-call costs, untimed;
        with ``warmup_rows``, also the case's formula on that many first rows."""
        lm = self.lmerpy
        if self.case.fn in NLME_FUNCTIONS:
            pass      # the case itself on its first rows (warmup_rows), below
        elif self.case.fn == "lmer":
            lm.lmer("Reaction ~ Days + (Days | Subject)", lm.datasets.load("sleepstudy"))
        else:
            getattr(lm, self.case.fn)("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                      lm.datasets.load("cbpp"), family="binomial")
        if self.case.warmup_rows > 0:
            self.fit_once(_cases.head(self.data, self.case.warmup_rows))

    def nlme_arguments(self):
        """gls/lme keyword arguments: the random part and the structures, built from the
        case's ``nlme`` specs."""
        out = {}
        for key, spec in self.case.nlme.items():
            if key.startswith("r_"):       # R's side only (e.g. nlme's optimizer settings)
                continue
            if key == "random":
                out[key] = spec
            else:
                out[key] = getattr(self.lmerpy.nlme, spec["fn"])(**spec.get("kwargs", {}))
        return out

    def fit_once(self, data=None):
        data = self.data if data is None else data
        if self.case.fn in NLME_FUNCTIONS:
            return getattr(self.lmerpy, self.case.fn)(self.case.formula, data,
                                                      **self.nlme_arguments())
        if self.case.fn == "lmer":
            return self.lmerpy.lmer(self.case.formula, data)
        return getattr(self.lmerpy, self.case.fn)(self.case.formula, data,
                                                  family=self.case.family)

    def fit(self, keep):
        inner = max(1, int(self.case.inner))
        caught = []
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            for _ in range(inner):
                fit = self.fit_once()
            elapsed = time.perf_counter() - t0
            caught = [str(x.message) for x in w]
        out = {"time": elapsed / inner, "inner": inner, "batch_time": elapsed}
        out.update(describe_fit(fit))
        out["warnings"] = sorted(set(caught))[:5]
        if keep:
            self.kept = fit
        del fit
        gc.collect()
        return out

    def boot(self, nsim):
        """``bootMer(fit, fixef, nsim)`` of the kept fit, serially (the timed figure), then with
        two workers: threads and processes (reported beside it)."""
        if self.kept is None:
            return {"error": "no kept fit"}
        from lmerpy.inference import bootMer
        out = {}
        for key, kwargs in (("time", {}), ("time_threads2", {"n_jobs": 2, "parallel": "threads"}),
                            ("time_processes2", {"n_jobs": 2, "parallel": "processes"})):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                b = bootMer(self.kept, _fixef, nsim=nsim, seed=20240601, progress=False,
                            **kwargs)
                out[key] = time.perf_counter() - t0
            out.setdefault("n_failed", int(b.n_failed))
        out.update({"nsim": nsim, "per_refit": out["time"] / nsim})
        return out

    def evals(self, budget=1.0, min_evals=5, max_evals=50):
        if self.kept is None:
            return {"error": "no kept fit"}
        if self.case.fn in NLME_FUNCTIONS:
            return {"error": "not measured for nlme's models (nlme has no deviance function)"}
        fit = self.kept
        import numpy as np
        devfun = fit.devfun
        par = np.asarray(fit.optsum.theta, dtype=float)
        what = "fit.devfun(theta) at the optimum"
        if self.case.fn != "lmer":
            # glmer's devfun (stage 2) takes (θ, β); accept a θ-only devfun as well
            full = np.concatenate([par, np.asarray(fit.fixef(), dtype=float)])
            for cand, label in ((par, "theta"), (full, "(theta, beta)")):
                try:
                    devfun(cand)
                except Exception:  # noqa: BLE001 - wrong length for this devfun
                    continue
                par, what = cand, f"fit.devfun({label}) at the optimum"
                break
        nudged = par + 1e-6 * (np.abs(par) + 1e-3)
        # the analytic gradient at the same θ, after the deviance (what a gradient-based
        # optimizer pays per iteration on top of the deviance; lme4 has none)
        grad = getattr(devfun, "gradient", None) if self.case.fn == "lmer" else None
        times, gtimes = [], []
        start = time.perf_counter()
        while len(times) < max_evals:
            x = par if len(times) % 2 == 0 else nudged
            t0 = time.perf_counter()
            devfun(x)
            times.append(time.perf_counter() - t0)
            if grad is not None:
                t0 = time.perf_counter()
                grad(x)
                gtimes.append(time.perf_counter() - t0)
            if len(times) >= min_evals and time.perf_counter() - start > budget:
                break
        out = {"per_eval": float(np.median(times)), "n_evals": len(times), "what": what}
        if gtimes:
            out["per_gradient"] = float(np.median(gtimes))
        return out


def _fixef(m):   # module level: picklable for process workers
    return m.fixef()


def describe_fit(fit):
    """Evaluation counts, objective, θ and n of an lmerpy fit (whatever of them it has)."""
    out = {}
    opt = getattr(fit, "optsum", None)
    if opt is not None:
        out["feval"] = int(getattr(opt, "feval", -1))
        out["optimizer_evals"] = int(getattr(opt, "optimizer_evals", 0)) or None
        out["optimizer"] = getattr(opt, "optimizer", None)
        for key in ("restarted", "retried"):  # restart_edge / restart_unconverged
            out[key] = bool(getattr(opt, key, False))
        out["derivs_evals"] = int(getattr(opt, "derivs_evals", 0) or 0)
        settings = getattr(opt, "settings", None) or {}
        alg = str(settings.get("algorithm") or settings.get("method") or "").upper()
        out["uses_gradient"] = out["optimizer"] == "lbfgsb" or "LD_" in alg
        out["conv_messages"] = list(getattr(opt, "conv_messages", []) or [])
        out["theta"] = [float(v) for v in getattr(opt, "theta", [])]  # par for structured terms
        out["npar"] = len(out["theta"])
    theta = getattr(fit, "theta", None)
    if theta is not None and not callable(theta):
        out["ntheta"] = len(theta)
    try:
        out["objective"] = -2.0 * float(fit.logLik())
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        out["objective_error"] = repr(exc)
    try:
        out["nobs"] = int(fit.nobs())
    except Exception:  # noqa: BLE001
        pass
    dev = getattr(fit, "devfun", None)
    if dev is not None and hasattr(dev, "backend_name"):
        out["backend"] = str(dev.backend_name)
    return out


def versions(lmerpy):
    out = {"python": sys.version.split()[0]}
    try:
        from lmerpy import _config
        out.update(_config.config())
    except Exception as exc:  # noqa: BLE001 - versions are informative only
        out["config_error"] = repr(exc)
    return out


def main(argv):
    case = _cases.Case.from_dict(json.loads(argv[1]))
    t_start = time.perf_counter()
    try:
        side = LmerpySide(case)
        if side.available:
            side.warm_up()
        blas = _blas_limits()  # after the warm-up, so that lazily loaded BLAS pools are seen
    except Exception as exc:  # noqa: BLE001
        send({"ready": False, "error": repr(exc), "traceback": traceback.format_exc()})
        return 1
    gc.collect()
    base = vm_status()
    reset = hwm_reset()
    send({"ready": True, "available": side.available, "reason": side.reason,
          "n_rows": int(len(side.data)), "baseline_rss_mb": base.get("VmRSS"),
          "hwm_reset": reset, "startup_seconds": time.perf_counter() - t_start,
          "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                  "MKL_NUM_THREADS")},
          "blas": blas, "versions": versions(side.lmerpy)})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "quit":
                break
            if not side.available:
                send({"error": side.reason})
            elif cmd[0] == "fit":
                send(side.fit(keep="keep" in cmd[1:]))
            elif cmd[0] == "mem":
                st = vm_status()
                send({"peak_rss_mb": st.get("VmHWM"), "rss_mb": st.get("VmRSS"),
                      "baseline_rss_mb": base.get("VmRSS"), "hwm_reset": reset})
            elif cmd[0] == "evals":
                send(side.evals())
            elif cmd[0] == "boot":
                send(side.boot(int(cmd[1])))
            else:
                send({"error": f"unknown command {cmd[0]!r}"})
        except Exception as exc:  # noqa: BLE001 - a failed fit is a result, not a crash
            send({"error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc(limit=6)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
