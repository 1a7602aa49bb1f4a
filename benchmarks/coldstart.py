"""Cold start: ``import lmerpy`` and the first ``lmer`` and ``glmer`` fits in a fresh process.

A user running a script pays this once per process, on top of warm fits (~4 ms for
sleepstudy). Each run is a new ``python -c`` process that imports lmerpy, loads sleepstudy and
cbpp, fits ``Reaction ~ Days + (Days | Subject)`` and the binomial
``cbind(incidence, size - incidence) ~ period + (1 | herd)``, and reports its phases. The
parent times the whole process (start-up and exit included: what ``time python script.py``
shows) and its CPU time.

Alongside, the **floor**: a fresh process that only imports the libraries these fits cannot
do without (pandas for the data sets, scipy.sparse, scipy.linalg, scipy.special, lark, nlopt).
What lmerpy itself adds is the difference.

Discipline: one untimed warm-up process per source first (the operating system's file cache,
Python's bytecode cache, the parser cache of :mod:`lmerpy.formula.parser_cache`), then the
processes alternate (floor, lmerpy[, other sources], floor, lmerpy, …) and the medians are
reported. No thread variable is set (``OPENBLAS_NUM_THREADS`` ... are removed, as in a
user's script, so lmerpy's own thread control is part of the figure; the fits are too small
for BLAS threads to matter otherwise). ``PYTHONDONTWRITEBYTECODE`` is removed from the
environment: an installed lmerpy has its ``.pyc`` files (pip compiles them),
and compiling ~80 modules from source would add ~60 ms that no user pays.

Usage::

    python benchmarks/coldstart.py                  # 9 runs of this checkout
    python benchmarks/coldstart.py --compare /path/to/other/checkout --runs 15
    python benchmarks/coldstart.py --one-thread      # OPENBLAS_NUM_THREADS=1 etc.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PREFIX = "@@COLD "

SCRIPT = r"""
import json, time
t0 = time.perf_counter()
import lmerpy
t1 = time.perf_counter()
sleep = lmerpy.datasets.load("sleepstudy")
cbpp = lmerpy.datasets.load("cbpp")
t2 = time.perf_counter()
lmerpy.lmer("Reaction ~ Days + (Days | Subject)", sleep)
t3 = time.perf_counter()
lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
             family=lmerpy.binomial)
t4 = time.perf_counter()
print("@@COLD " + json.dumps({"import": t1 - t0, "data": t2 - t1, "lmer": t3 - t2,
                              "glmer": t4 - t3, "in_process": t4 - t0,
                              "lmerpy_file": lmerpy.__file__}))
"""

FLOOR_MODULES = ("pandas", "scipy.sparse", "scipy.linalg", "scipy.special", "lark", "nlopt")
FLOOR = ("import json, time\nt0 = time.perf_counter()\nimport " + ", ".join(FLOOR_MODULES)
         + "\nprint('@@COLD ' + json.dumps({'in_process': time.perf_counter() - t0}))\n")
PHASES = ("import", "data", "lmer", "glmer", "in_process")


def _env(source, cache_dir, one_thread=False):
    from benchmarks.threads import THREAD_VARS
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if one_thread:
        env.update({k: "1" for k in THREAD_VARS if k != "LMERPY_NUM_THREADS"})
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["LMERPY_CACHE_DIR"] = str(cache_dir)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source)] + (
            [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def run_once(code, env, python=sys.executable, timeout=300.0):
    """One fresh process: its wall time, CPU time (user + system) and reported phases."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True,
                         timeout=timeout, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(PREFIX)]
    if res.returncode != 0 or not lines:
        raise RuntimeError(f"cold-start process failed ({res.returncode}):\n{res.stderr[-2000:]}")
    out = json.loads(lines[-1][len(PREFIX):])
    out["wall"] = wall
    out["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out


def _summary(runs):
    keys = ["wall", "cpu", *[k for k in PHASES if k in runs[0]]]
    return {"runs": runs, "median": {k: statistics.median(r[k] for r in runs) for k in keys},
            "min": {k: min(r[k] for r in runs) for k in keys}}


def measure(runs=9, sources=None, python=sys.executable, log=print, one_thread=False,
            peers=None):
    """Cold-start figures: the floor and, per lmerpy source tree, the script's processes.

    ``sources`` maps a label to a checkout (a directory holding ``lmerpy/``); default: this
    checkout as ``"lmerpy"``. ``one_thread`` sets the BLAS thread variables to 1 (default:
    none set, as in a user's script). ``peers``: ``{peer: python}`` of the Rust peers
    (:mod:`benchmarks.peers`), whose processes import the peer, read the same two data sets
    and fit the same two models, alternating with the others. Returns the record stored
    under ``"cold_start"`` in the results.
    """
    sources = sources or {"lmerpy": ROOT}
    with tempfile.TemporaryDirectory(prefix="lmerpy-cold-") as tmp:
        jobs = [("floor", FLOOR, _env(None, Path(tmp) / "floor", one_thread), python)]
        for label, src in sources.items():
            jobs.append((label, SCRIPT, _env(src, Path(tmp) / label, one_thread), python))
        if peers:
            from benchmarks import peers as _peers
            _peers.write_cold_data(Path(tmp) / "data")
            jobs += _peers.cold_jobs(peers, Path(tmp) / "data", _env(None, Path(tmp) / "p",
                                                                     one_thread))
        for label, code, env, py in jobs:  # warm-up: file cache, .pyc, parser cache
            run_once(code, env, py)
        got = {label: [] for label, _, _, _ in jobs}
        for i in range(runs):
            for label, code, env, py in jobs:
                got[label].append(run_once(code, env, py))
            if log:
                log(f"  cold start {i + 1}/{runs}: " + ", ".join(
                    f"{lb} {got[lb][-1]['wall'] * 1e3:.0f} ms" for lb in got))
    rec = {"runs": runs, "floor_modules": list(FLOOR_MODULES),
           "script": "import lmerpy; load sleepstudy, cbpp; lmer(sleepstudy); glmer(cbpp)",
           "thread_variables": "all 1" if one_thread else "none (lmerpy's automatic choice)",
           "sources": {lb: str(src) for lb, src in sources.items()},
           "peers": {lb: str(py) for lb, py in (peers or {}).items()},
           "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    rec.update({label: _summary(rs) for label, rs in got.items()})
    return rec


def table(rec):
    """Markdown table of a cold-start record (medians; ms)."""
    labels = [lb for lb in rec if isinstance(rec.get(lb), dict) and "median" in rec[lb]]
    head = ("| process | wall (whole process) | CPU | import | load data | first LMM "
            "| first GLMM |")
    rows = [head, "|" + "---|" * 7]

    def ms(v):
        return "—" if v is None else f"{v * 1e3:.0f} ms"

    for lb in labels:
        m = rec[lb]["median"]
        name = f"floor (`import {', '.join(rec.get('floor_modules', []))}`)" if lb == "floor" \
            else (f"{lb} (peer: import {lb}, pandas reads the data)" if lb in rec.get("peers", {})
                  else lb)
        rows.append(f"| {name} | **{ms(m['wall'])}** | {ms(m['cpu'])} | "
                    + " | ".join(ms(m.get(k)) for k in ("import", "data", "lmer", "glmer"))
                    + " |")
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--compare", nargs="*", default=[], metavar="DIR",
                   help="other lmerpy checkouts to time alternately with this one")
    p.add_argument("--one-thread", action="store_true",
                   help="set OPENBLAS_NUM_THREADS etc. to 1 (default: no thread variables)")
    p.add_argument("--json", type=Path, help="also write the record here")
    args = p.parse_args(argv)
    sources = {"lmerpy": ROOT}
    for d in args.compare:
        sources[Path(d).resolve().name] = Path(d).resolve()
    rec = measure(args.runs, sources, one_thread=args.one_thread)
    print(table(rec))
    if args.json:
        args.json.write_text(json.dumps(rec, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
