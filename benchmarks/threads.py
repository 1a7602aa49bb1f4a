"""BLAS threads: where more than one thread gains, and lmerpy's fits with the default thread count.

Two measurements, each with the other cores left alone ("idle": whatever else the machine
runs) and with one busy-loop process started here ("busy"; it is stopped at the end):

``kernels``
    The dense kernels of lmerpy's blocked factor on an n × n block — LAPACK's Cholesky
    (``dpotrf``) and the Schur update ``S −= F F'`` (``dsyrk``, F n × 512) — with one thread
    and with every core, alternating, medians. Where the ratio passes 1 is the crossover
    behind :data:`lmerpy.threads.MIN_PARALLEL_ORDER`.
``fits``
    Whole fits (InstEval ``(1|s)+(1|d)+(1|dept)`` with its 1142 × 1142 dense block; a crossed
    100k case with a 2000 × 2000 dense block, ``dense2000``) in fresh processes under four
    thread settings, alternating: **auto** (no thread variable set: lmerpy's own choice),
    **one** (``OPENBLAS_NUM_THREADS=1`` etc.), **all** (``LMERPY_NUM_THREADS`` = the number of
    cores: lmerpy's large blocks on every core whatever the load, small ones on one), and
    **default** (the BLAS variables set to the number of cores: the pools' default, which
    lmerpy then leaves alone — what every fit did before lmerpy controlled its threads).

Usage::

    python benchmarks/threads.py kernels --sizes 250,500,1000,1500,2000,3000
    python benchmarks/threads.py fits --cases insteval,dense2000 --rounds 3
    python benchmarks/threads.py all --json benchmarks/results/threads.json
    python benchmarks/threads.py ab --cases insteval --rounds 9

``ab``
    One warm process (no thread variable in its environment), fits alternating between
    **auto** (``set_num_threads(None)``: lmerpy's default), **one** (``set_num_threads(1)``)
    and **default** (``OPENBLAS_NUM_THREADS`` set inside the process to the number of cores,
    which lmerpy leaves alone: the pools' own default), each setting first, second and third
    in turn; medians, the ratio auto / one (of the medians, and the median of the rounds'
    ratios), and the most BLAS threads auto's fits used (``request_threads``). This is the
    check behind "never slower with the default thread count than with one".
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PREFIX = "@@THREADS "
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "LMERPY_NUM_THREADS")


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextmanager
def load(kind):
    """``"busy"``: one busy-loop process for the duration (stopped by its pid); ``"idle"``:
    nothing added."""
    proc = None
    if kind == "busy":
        proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
    try:
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def _median_time(f, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def kernels(sizes, rounds=3, log=print):
    """{n: {"potrf": {threads: s}, "syrk": {threads: s}}} with 1 and all cores, alternating."""
    import numpy as np
    import threadpoolctl
    from scipy.linalg import blas, lapack

    ctl = threadpoolctl.ThreadpoolController()
    counts = sorted({1, cores()})
    rng = np.random.default_rng(1)
    out = {}
    for n in sizes:
        a = rng.standard_normal((n, n))
        S = np.asfortranarray(a @ a.T + n * np.eye(n))
        F = np.asfortranarray(rng.standard_normal((n, 512)) * 0.01)
        reps = max(3, min(50, int(3e8 / (n ** 3 / 3 + 1))))
        got = {"potrf": {k: [] for k in counts}, "syrk": {k: [] for k in counts}}
        for _ in range(rounds):
            for k in counts:
                with ctl.limit(limits=k, user_api="blas"):
                    got["potrf"][k].append(_median_time(
                        lambda: lapack.dpotrf(S, lower=1, clean=0, overwrite_a=0), reps))
                    got["syrk"][k].append(_median_time(
                        lambda: blas.dsyrk(-1.0, F, beta=1.0, c=S, lower=1, overwrite_c=0),
                        reps))
        out[n] = {kern: {k: statistics.median(v) for k, v in d.items()} for kern, d in got.items()}
        if log:
            log(f"  n={n:5d}  " + "  ".join(
                f"{kern} " + " / ".join(f"{out[n][kern][k] * 1e3:.2f}" for k in counts)
                + f" ms ({counts[0]}/{counts[-1]} thr)" for kern in ("potrf", "syrk")))
    return {"threads": counts, "sizes": out}


#: a dense block above MIN_PARALLEL_ORDER: (x|g1) over 2,000 levels is the block-diagonal part,
#: (1|g2) over 2,000 levels the dense 2000 x 2000 Schur block
EXTRA_CASES = {
    "dense2000": dict(name="dense2000", title="crossed 100k, dense 2000 block", fn="lmer",
                      formula="y ~ x + (x | g1) + (1 | g2)", data="synthetic",
                      synthetic=dict(n_rows=100_000, n_g1=2_000, n_g2=2_000, seed=11),
                      size="large"),
}

WORKER = r"""
import json, sys, time, warnings
sys.path.insert(0, {root!r})
from benchmarks import cases
import lmerpy
case = cases.Case.from_dict(json.loads({case_json!r}))
data = cases.load_data(case)
lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
times = []
for _ in range({fits}):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        lmerpy.lmer(case.formula, data)
        times.append(time.perf_counter() - t)
print({prefix!r} + json.dumps({{"times": times}}))
"""


SETTINGS = ("auto", "one", "all", "default")

AB_WORKER = r"""
import json, os, sys, time, warnings
sys.path.insert(0, {root!r})
from benchmarks import cases
import lmerpy
from lmerpy import threads
case = cases.Case.from_dict(json.loads({case_json!r}))
data = cases.load_data(case)
used = []
real = threads.request_threads
def spy(order):
    n = real(order)
    used.append(n)
    return n
def fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        lmerpy.lmer(case.formula, data)
        return time.perf_counter() - t
fit()
for mod in list(sys.modules.values()):   # after the warm-up: every module is loaded
    if getattr(mod, "request_threads", None) is real:
        mod.request_threads = spy
times = {{s: [] for s in {settings!r}}}
most = 1
order = list(times)
for r in range({rounds}):
    for s in order[r % len(order):] + order[:r % len(order)]:   # each setting first in turn
        os.environ.pop("OPENBLAS_NUM_THREADS", None)
        lmerpy.set_num_threads(1 if s == "one" else None)
        if s == "default":
            os.environ["OPENBLAS_NUM_THREADS"] = str({cores})
        used.clear()
        times[s].append(fit())
        if s == "auto":
            most = max([most] + used)
    os.environ.pop("OPENBLAS_NUM_THREADS", None)
print({prefix!r} + json.dumps(dict(times=times, auto_threads=most, load=os.getloadavg())))
"""


AB_SETTINGS = ("auto", "one", "default")


def ab(case_names, rounds=9, settings=AB_SETTINGS, log=print):
    """{case: {setting: {"times", "median"}, "ratio_auto_one", "auto_threads", "load"}}: one
    warm process per case, auto / one / default alternating (:data:`AB_WORKER`)."""
    out = {}
    for name in case_names:
        if name in EXTRA_CASES:
            case_json = json.dumps(EXTRA_CASES[name])
        else:
            from benchmarks import cases
            case_json = json.dumps(cases.BY_NAME[name].to_dict())
        code = AB_WORKER.format(root=str(ROOT), case_json=case_json, rounds=rounds,
                                cores=cores(), prefix=PREFIX, settings=tuple(settings))
        load0 = os.getloadavg()[0]
        res = subprocess.run([sys.executable, "-c", code], env=_fit_env("auto"),
                             capture_output=True, text=True, timeout=7200,
                             cwd=tempfile.gettempdir())
        line = [ln for ln in res.stdout.splitlines() if ln.startswith(PREFIX)]
        if res.returncode or not line:
            raise RuntimeError(f"{name}/ab failed:\n{res.stderr[-2000:]}")
        got = json.loads(line[-1][len(PREFIX):])
        rec = {s: {"times": v, "median": statistics.median(v)} for s, v in got["times"].items()}
        rec["ratio_auto_one"] = rec["auto"]["median"] / rec["one"]["median"]
        rec["paired_ratio_auto_one"] = statistics.median(
            a / o for a, o in zip(rec["auto"]["times"], rec["one"]["times"]))
        rec["auto_threads"] = got["auto_threads"]
        rec["load"] = [load0, got["load"][0]]
        out[name] = rec
        if log:
            log(f"  {name}: " + ", ".join(f"{s} {rec[s]['median']:.3f} s" for s in settings)
                + "; auto / one "
                f"{rec['ratio_auto_one']:.3f} (median of the rounds' ratios "
                f"{rec['paired_ratio_auto_one']:.3f}); auto used up to {rec['auto_threads']} thread(s);"
                f" load {rec['load'][0]:.1f}-{rec['load'][1]:.1f}")
    return out


def _fit_env(setting):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if setting == "one":
        env.update({k: "1" for k in THREAD_VARS[:5]})
    elif setting == "all":        # lmerpy told to use every core for its large blocks
        env["LMERPY_NUM_THREADS"] = str(cores())
    elif setting == "default":
        env.update({k: str(cores()) for k in THREAD_VARS[:5]})
    return env


def fits(case_names, rounds=3, fits_per_process=2, settings=SETTINGS, log=print):
    """{case: {setting: {"times": [...], "median": s}}}: fresh processes, settings alternating."""
    out = {}
    for name in case_names:
        times = {s: [] for s in settings}
        if name in EXTRA_CASES:
            case_json = json.dumps(EXTRA_CASES[name])
        else:
            from benchmarks import cases
            case_json = json.dumps(cases.BY_NAME[name].to_dict())
        code = WORKER.format(root=str(ROOT), case_json=case_json, fits=fits_per_process,
                             prefix=PREFIX)
        for r in range(rounds):
            for s in settings:
                res = subprocess.run([sys.executable, "-c", code], env=_fit_env(s),
                                     capture_output=True, text=True, timeout=3600,
                                     cwd=tempfile.gettempdir())
                line = [ln for ln in res.stdout.splitlines() if ln.startswith(PREFIX)]
                if res.returncode or not line:
                    raise RuntimeError(f"{name}/{s} failed:\n{res.stderr[-2000:]}")
                times[s] += json.loads(line[-1][len(PREFIX):])["times"]
            if log:
                log(f"  {name} round {r + 1}/{rounds}: " + ", ".join(
                    f"{s} {statistics.median(times[s]):.2f} s" for s in settings))
        out[name] = {s: {"times": v, "median": statistics.median(v)} for s, v in times.items()}
    return out


def measure(what="all", sizes=(250, 500, 1000, 1500, 2000, 3000), case_names=("insteval",),
            rounds=3, log=print):
    rec = {"cores": cores(), "loads": {}}
    for kind in ("idle", "busy"):
        part = {}
        with load(kind):
            part["loadavg_start"] = list(os.getloadavg())
            if what in ("all", "kernels"):
                if log:
                    log(f"[kernels, {kind}]")
                part["kernels"] = kernels(sizes, rounds, log)
            if what in ("all", "fits"):
                if log:
                    log(f"[fits, {kind}]")
                part["fits"] = fits(case_names, rounds, log=log)
            part["loadavg_end"] = list(os.getloadavg())
        rec["loads"][kind] = part
    return rec


def table(rec):
    """Markdown tables of a record: kernel times by size, fit medians by setting."""
    lines = []
    for kind, part in rec["loads"].items():
        k = part.get("kernels")
        if k:
            t = k["threads"]
            lines += [f"Kernels, {kind} (load average {part['loadavg_start'][0]:.2f}):", "",
                      "| n | dpotrf " + " / ".join(f"{x} thr" for x in t)
                      + " | ratio | dsyrk (n × 512) " + " / ".join(f"{x} thr" for x in t)
                      + " | ratio |", "|---|---|---|---|---|"]
            for n, d in k["sizes"].items():
                p, s = d["potrf"], d["syrk"]
                lines.append(f"| {n} | " + " / ".join(f"{p[x] * 1e3:.2f}" for x in t)
                             + f" ms | {p[t[0]] / p[t[-1]]:.2f} | "
                             + " / ".join(f"{s[x] * 1e3:.2f}" for x in t)
                             + f" ms | {s[t[0]] / s[t[-1]]:.2f} |")
            lines.append("")
        f = part.get("fits")
        if f:
            lines += [f"Fits, {kind}:", "",
                      "| case | auto | one thread | LMERPY_NUM_THREADS=all | default threads |",
                      "|---|---|---|---|---|"]
            for name, d in f.items():
                lines.append(f"| {name} | " + " | ".join(
                    f"{d[s]['median']:.2f} s" if s in d else "—" for s in SETTINGS) + " |")
            lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("kernels", "fits", "all", "ab"), nargs="?", default="all")
    p.add_argument("--sizes", default="250,500,1000,1500,2000,3000")
    p.add_argument("--cases", default="insteval")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--settings", default=",".join(AB_SETTINGS),
                   help="ab: the settings compared (auto and one always)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.what == "ab":
        wanted = [s for s in args.settings.split(",") if s in AB_SETTINGS]
        settings = [s for s in AB_SETTINGS if s in {"auto", "one", *wanted}]
        rec = ab([c for c in args.cases.split(",") if c], args.rounds, settings)
        if args.json:
            args.json.write_text(json.dumps(rec, indent=1) + "\n")
        return 0
    rec = measure(args.what, [int(s) for s in args.sizes.split(",")],
                  [c for c in args.cases.split(",") if c], args.rounds)
    print(table(rec))
    if args.json:
        args.json.write_text(json.dumps(rec, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
