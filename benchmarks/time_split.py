"""Where one large lmerpy fit spends its time: ``python benchmarks/time_split.py CASE``.

One fit of a benchmark case (default ``crossed_10m``) in this process, one BLAS thread, with
the blocked factor's kernels timed by wrappers (CPU seconds, ``time.process_time``): forming
FF' (the Schur complement), its Cholesky and the rest of a factorisation, S⁻¹ and the
gradient's gathers F_g'S⁻¹F_g; the rest of the fit is the design (model frame, Z, Z'Z),
the layout's set-up and the result. Prints the fit's wall and CPU time, its evaluations, the
process's peak resident memory (VmHWM, reset after the data are made) and the load average,
and writes them as JSON (``--out``). On a busy machine the CPU time is the figure to compare
with a quiet machine's wall time (the fit runs on one thread).

Unlike ``profile_case.py`` it fits once (a 10M-row fit takes minutes) and does not profile
every call.
"""
import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cases as _cases  # noqa: E402
from benchmarks import memory  # noqa: E402


def _timed(owner, name, calls, cpu):
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t0 = time.process_time()
        try:
            return real(*args, **kwargs)
        finally:
            cpu[name] += time.process_time() - t0
            calls[name] += 1
    setattr(owner, name, wrapper)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("case", nargs="?", default="crossed_10m", choices=list(_cases.BY_NAME))
    p.add_argument("--out", type=Path, default=None, help="JSON file of the results")
    args = p.parse_args(argv)
    case = _cases.BY_NAME[args.case]
    import lmerpy
    from lmerpy.pls.factor import blocked, blocked_inverse
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(1)
    except ImportError:
        pass
    calls, cpu = collections.Counter(), collections.Counter()
    _timed(blocked.BlockedFactor, "factor", calls, cpu)       # the whole factorisation
    _timed(blocked, "subtract_ffT", calls, cpu)               # FF' (sparse mode)
    _timed(blocked_inverse, "sinv_lower", calls, cpu)         # S⁻¹ (dpotri)
    _timed(blocked_inverse, "ftsf", calls, cpu)               # F_g'S⁻¹F_g (gradient)
    _timed(blocked.BlockedFactor, "block_traces", calls, cpu)  # the gradient's traces
    data = _cases.load_data(case)
    memory.hwm_reset()
    rss0 = memory.vm_status().get("VmRSS", float("nan"))
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    if case.fn == "lmer":
        fit = lmerpy.lmer(case.formula, data)
    else:
        fit = getattr(lmerpy, case.fn)(case.formula, data, family=case.family)
    wall, total = time.perf_counter() - t0, time.process_time() - c0
    mem = memory.vm_status()
    opt = fit.optsum
    split = {
        "FF' (Schur complement)": cpu["subtract_ffT"],
        "rest of the factorisations (Cholesky of S, F, L11)": cpu["factor"] - cpu["subtract_ffT"],
        "gradient: F_g'S^-1F_g gathers": cpu["ftsf"],
        "gradient: S^-1 (dpotri) and the rest of the traces": cpu["block_traces"] - cpu["ftsf"],
    }
    split["design, set-up, optimizer and result"] = total - sum(split.values())
    out = {
        "case": case.name, "n": int(fit.nobs()), "wall_seconds": wall, "cpu_seconds": total,
        "evaluations": int(opt.feval), "derivs_evals": int(opt.derivs_evals),
        "optimizer": str(opt.optimizer), "factorisations": calls["factor"],
        "gradients": calls["block_traces"], "cpu_split": split,
        "peak_rss_mib": mem.get("VmHWM"), "rss_before_mib": rss0,
        "theta": [float(t) for t in fit.theta], "REMLcrit": float(fit.REMLcrit()),
        "load_average_start": list(load0), "load_average_end": list(os.getloadavg()),
    }
    print(json.dumps(out, indent=1))
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
