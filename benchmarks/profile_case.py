"""Where an lmerpy fit spends its time: ``python benchmarks/profile_case.py CASE [--top N]``.

Fits the case once untimed (warm-up), then once under :mod:`cProfile` with one BLAS thread, and
prints the functions with the largest cumulative and own times, plus the split between the
optimizer's deviance evaluations and everything else (set-up, derivatives, result).
"""
import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cases as _cases  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("case", choices=list(_cases.BY_NAME))
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    case = _cases.BY_NAME[args.case]
    import lmerpy
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(1)
    except ImportError:
        pass
    data = _cases.load_data(case)

    def fit():
        if case.fn == "lmer":
            return lmerpy.lmer(case.formula, data)
        return getattr(lmerpy, case.fn)(case.formula, data, family=case.family)

    fit()
    t0 = time.perf_counter()
    res = fit()
    total = time.perf_counter() - t0
    opt = res.optsum
    print(f"{case.name}: fit {total:.3f} s; optimizer {opt.elapsed:.3f} s for {opt.feval} "
          f"evaluations ({opt.elapsed / max(opt.feval, 1) * 1e3:.2f} ms each); "
          f"other {total - opt.elapsed:.3f} s (design, derivatives: {opt.derivs_evals} "
          f"evaluations, result)")
    prof = cProfile.Profile()
    prof.enable()
    fit()
    prof.disable()
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(key).print_stats(args.top)
        print(f"--- by {key} ---")
        print("\n".join(ln for ln in out.getvalue().splitlines()[4:] if ln.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
