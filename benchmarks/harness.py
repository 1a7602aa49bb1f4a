"""Run benchmark cases: an lmerpy worker and an lme4 worker per case, repetitions alternating.

Each side runs in its own fresh process (``worker.py`` / ``r_bench.R``) that loads its data,
does one untimed warm-up fit of a small model, takes its memory baseline and then answers
commands; the harness sends ``fit`` to lmerpy, then to lme4, then lmerpy again..., so both see
the same machine load. Both processes run with one BLAS thread (``OPENBLAS_NUM_THREADS=1``
etc. in their environment; the lmerpy worker also applies threadpoolctl). Cases with an
``r_libs`` (the structured ones: lme4 2.1) start R with ``R_LIBS`` set to it.
"""
import functools
import json
import os
import platform
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from . import cases as _cases

HERE = Path(__file__).resolve().parent
PREFIX = "@@BENCH "
SCHEMA = "lmerpy-bench/1"
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "BLIS_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}


#: Criteria within this relative distance count as the same optimum.
SAME_CRITERION = 1e-6


def bench_env(extra=None):
    env = dict(os.environ)
    env.update(THREAD_ENV)
    env.update(extra or {})
    return env


def r_env(case):
    """The R side's extra environment: ``R_LIBS`` for cases that need another lme4 library."""
    return {"R_LIBS": case.r_libs} if case.r_libs else {}


class WorkerError(RuntimeError):
    pass


class Worker:
    """A line-protocol subprocess: ``ask(cmd)`` writes a command and waits for its answer."""

    def __init__(self, argv, label, log_path, env=None):
        self.label = label
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=bench_env(env), bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                self.lines.put(line[len(PREFIX):])
            else:
                self.log.write(line)
        self.lines.put(None)

    def receive(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.close(kill=True)
            raise WorkerError(f"{self.label}: no answer within {timeout:.0f} s") from None
        if line is None:
            raise WorkerError(f"{self.label}: worker exited (code {self.proc.poll()}); "
                              f"see {self.log.name}")
        return json.loads(line)

    def ask(self, cmd, timeout):
        try:
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerError(f"{self.label}: worker is gone ({exc})") from None
        return self.receive(timeout)

    def close(self, kill=False):
        if self.proc.poll() is None:
            if not kill:
                try:
                    self.proc.stdin.write("quit\n")
                    self.proc.stdin.flush()
                    self.proc.wait(timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.log.flush()


@functools.lru_cache(maxsize=None)
def r_available(r_libs="", lme4=""):
    """``(True, "")`` when Rscript runs and loads lme4 and jsonlite, else ``(False, why)``.

    ``r_libs``: an extra library folder (``R_LIBS``), which must exist; ``lme4``: the version
    that must load from it (e.g. ``"2.1.0"``)."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return False, "Rscript not found"
    if r_libs and not Path(r_libs).is_dir():
        return False, f"lme4 {lme4 or '?'} library {r_libs} not found"
    try:
        res = subprocess.run([rscript, "-e", "suppressPackageStartupMessages({library(lme4); "
                              "library(jsonlite)}); cat('ok', format(packageVersion('lme4')))"],
                             capture_output=True, text=True, timeout=120,
                             env=bench_env({"R_LIBS": r_libs} if r_libs else None))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"Rscript failed: {exc}"
    out = res.stdout.split()
    if not out or out[0] != "ok":
        return False, "R packages lme4/jsonlite not loadable: " + res.stderr.strip()[-300:]
    if lme4 and out[1:] != [lme4]:
        return False, (f"R_LIBS={r_libs} loads lme4 {' '.join(out[1:]) or '?'}, "
                       f"not {lme4}")
    return True, ""


def r_status(case, with_r=True):
    """``(ok, why)`` for the R side of ``case``."""
    if not with_r:
        return False, "lme4 not run"
    return r_available(case.r_libs, case.lme4)


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _summarise(side):
    """Medians and derived figures of one side's record (in place)."""
    fits = [f for f in side.get("fits", []) if "time" in f]
    side["times"] = [f["time"] for f in fits]
    side["median"] = _median(side["times"])
    side["min"] = min(side["times"]) if side["times"] else None
    last = fits[-1] if fits else {}
    for key in ("feval", "optimizer_evals", "optimizer", "objective", "theta", "nobs",
                "backend", "conv_messages", "restarted", "retried", "derivs_evals",
                "uses_gradient", "npar", "ntheta"):
        if key in last:
            side[key] = last[key]
    for key, value in (side.get("base_fit") or {}).items():   # a bootstrap's fit
        if key in ("objective", "nobs", "theta", "backend", "npar", "ntheta"):
            side.setdefault(key, value)
    warns = sorted({w for f in fits for w in f.get("warnings", [])})
    side["warnings"] = warns
    feval = side.get("feval")
    side["time_per_feval"] = side["median"] / feval if side["median"] and feval else None
    mem = side.get("memory") or {}
    if mem.get("peak_rss_mb") is not None and mem.get("baseline_rss_mb") is not None:
        mem["delta_mb"] = max(0.0, mem["peak_rss_mb"] - mem["baseline_rss_mb"])
    return side


def _start_python(case, tmp, timeout):
    w = Worker([sys.executable, str(HERE / "worker.py"), json.dumps(case.to_dict())],
               "lmerpy", Path(tmp) / "lmerpy.log")
    return w, w.receive(timeout)


def _spec(case, tmp):
    """The CSV of the case's data and the spec file the R and peer sides read (once)."""
    spec = Path(tmp) / "spec.json"
    if not spec.exists():
        df = _cases.load_data(case)
        csv, lev = _cases.write_csv(df, tmp)
        del df
        spec.write_text(json.dumps({"csv": str(csv), "levels": str(lev),
                                    "formula": case.formula, "fn": case.fn,
                                    "family": case.family or "", "inner": case.inner,
                                    "warmup_rows": case.warmup_rows, "lme4": case.lme4,
                                    "nlme": case.nlme}))
    return spec


def _start_r(case, tmp, timeout):
    spec = _spec(case, tmp)
    w = Worker([shutil.which("Rscript"), str(HERE / "r_bench.R"), str(spec)], "lme4",
               Path(tmp) / "lme4.log", env=r_env(case))
    return w, w.receive(timeout)


def _peer_starter(peer, python):
    """The start function of a Rust peer's side (:mod:`benchmarks.peers`)."""
    from . import peers as _peers

    def start(case, tmp, timeout):
        spec = _spec(case, tmp)
        w = Worker(_peers.worker_argv(peer, python, spec), peer, Path(tmp) / f"{peer}.log",
                   env=_peers.PEER_THREAD_ENV)
        return w, w.receive(timeout)
    return start


def run_case(case, reps, with_r=True, timeout=3600.0, log=print, peers=None):
    """Run one case; returns its result record (see docs/performance.md for the fields).

    ``with_r``: ``True`` runs the R side, ``False`` does not; a string is the reason it
    cannot run (recorded as the R side's ``reason``). ``peers``: ``{peer: (python or None,
    why)}`` of the Rust peers (:mod:`benchmarks.peers`) to run beside lmerpy and lme4.

    A case with ``boot`` > 0 is a bootstrap: each side fits the model once (untimed), then
    each repetition times ``boot N`` (lmerpy: ``bootMer(fit, fixef, nsim=N)``; lme4: the
    same; glmm: N warm-started refits; mixedlm: its ``bootMer``)."""
    rec = {"name": case.name, "title": case.title, "short": case.short or case.name,
           "fn": case.fn, "formula": case.formula,
           "family": case.family, "data": case.data, "synthetic": case.synthetic or None,
           "size": case.size, "inner": case.inner, "reps": reps, "group": case.group,
           "r_libs": case.r_libs or None, "lme4_required": case.lme4 or None,
           "loadavg_start": _loadavg()}
    peers = peers or {}
    labels = ["lmerpy", "lme4", *peers]
    sides = {label: {} for label in labels}
    workers = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-{case.name}-") as tmp:
        starters = [("lmerpy", _start_python)]
        if with_r is True:
            starters.append(("lme4", _start_r))
        else:
            sides["lme4"] = {"available": False, "reason": with_r or "lme4 not run"}
        for peer, (python, why) in peers.items():
            if python is None:
                sides[peer] = {"available": False, "reason": why}
            else:
                starters.append((peer, _peer_starter(peer, python)))
        for label, start in starters:
            try:
                w, ready = start(case, tmp, timeout)
                workers[label] = w
                sides[label].update({"available": bool(ready.get("available", False)),
                                     "reason": ready.get("reason"), "ready": ready,
                                     "fits": []})
                if not ready.get("ready", False) or not ready.get("available", False):
                    sides[label]["error"] = ready.get("error") or ready.get("reason")
                    sides[label]["available"] = False
            except (WorkerError, OSError) as exc:
                sides[label].update({"available": False, "error": str(exc)})
        active = [lb for lb in labels if sides[lb].get("available")]
        if case.boot:
            for label in list(active):    # the fit the bootstrap starts from (untimed)
                try:
                    ans = workers[label].ask("fit keep", timeout)
                except WorkerError as exc:
                    ans = {"error": str(exc)}
                if "error" in ans:
                    sides[label]["error"] = ans["error"]
                    active.remove(label)
                else:
                    sides[label]["base_fit"] = ans
        for i in range(reps):
            for label in list(active):
                cmd = f"boot {case.boot}" if case.boot else "fit keep" if i == reps - 1 \
                    else "fit"
                try:
                    ans = workers[label].ask(cmd, timeout)
                except WorkerError as exc:
                    ans = {"error": str(exc)}
                if "error" in ans:
                    sides[label]["error"] = ans["error"]
                    active.remove(label)
                    log(f"  {label}: error: {ans['error']}")
                    continue
                sides[label]["fits"].append(ans)
                log(f"  rep {i + 1}/{reps} {label:7s} {fmt_time(ans['time'])}"
                    f"  feval {ans.get('feval')}")
        for label in active:
            cmds = [("mem", "memory")]
            if label in ("lmerpy", "lme4") and not case.boot:
                cmds.append(("evals", "per_eval"))
            for cmd, key in cmds:
                try:
                    ans = workers[label].ask(cmd, timeout)
                except WorkerError as exc:
                    ans = {"error": str(exc)}
                sides[label][key] = ans
        for label, w in workers.items():
            w.close()
            if sides[label].get("error"):
                sides[label]["log_tail"] = _tail(Path(w.log.name))
    for side in sides.values():
        if side.get("available"):
            _summarise(side)
        else:
            side.pop("fits", None)
    for label in labels:
        rec[label] = sides[label]
    a, b = sides["lmerpy"].get("median"), sides["lme4"].get("median")
    rec["ratio"] = b / a if a and b else None
    oa, ob = sides["lmerpy"].get("objective"), sides["lme4"].get("objective")
    rec.update(compare_objectives(oa, ob))
    if peers:
        rec["peers"] = {}
        for peer in peers:
            p = sides[peer]
            pm = p.get("median")
            info = {"ratio": pm / a if a and pm else None}   # peer time / lmerpy time
            info.update(compare_objectives(oa, p.get("objective")))
            rec["peers"][peer] = info
    rec["n"] = sides["lmerpy"].get("nobs") or sides["lme4"].get("nobs") or \
        (sides["lmerpy"].get("ready") or {}).get("n_rows")
    rec["loadavg_end"] = _loadavg()
    return rec


def compare_objectives(oa, ob):
    """lmerpy's and lme4's −2 log-likelihood (REML criterion): their difference, the relative
    difference, and which side reached the lower one (``"same"`` within
    :data:`SAME_CRITERION` relative)."""
    if oa is None or ob is None:
        return {"objective_diff": None, "objective_rel_diff": None, "better": None}
    diff = oa - ob
    rel = diff / max(abs(ob), 1e-300)
    better = "same" if abs(rel) <= SAME_CRITERION else ("lmerpy" if diff < 0 else "lme4")
    return {"objective_diff": diff, "objective_rel_diff": rel, "better": better}


def _tail(path, n=2000):
    try:
        return path.read_text()[-n:]
    except OSError:
        return ""


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info():
    info = {"host": socket.gethostname(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_gib"] = round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    return info


def source_info():
    """The lmerpy source being measured: git commit and whether lmerpy/ had local changes."""
    root = HERE.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "lmerpy"], cwd=root,
                               capture_output=True, text=True, timeout=30).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": head or None, "lmerpy_uncommitted_files": len(dirty)}


def run_suite(selected, reps=None, with_r=True, timeout=3600.0, log=print, peers=None):
    """Run the cases; returns the whole results document (``SCHEMA``). ``peers``: as
    :func:`run_case`'s."""
    r_ok, r_why = r_available() if with_r else (False, "disabled (--no-r)")
    if with_r and not r_ok:
        log(f"lme4 side skipped: {r_why}")
    extra = sorted({(c.r_libs, c.lme4) for c in selected if c.r_libs or c.lme4})
    libraries = {}
    for r_libs, version in extra:
        ok, why = r_available(r_libs, version) if with_r else (False, "disabled (--no-r)")
        libraries[r_libs or "default"] = {"lme4": version, "available": ok,
                                          "reason": None if ok else why}
        if with_r and not ok:
            log(f"lme4 {version} side skipped: {why}")
    started = datetime.now(timezone.utc)
    doc = {"schema": SCHEMA, "date": started.isoformat(timespec="seconds"),
           "machine": machine_info(), "source": source_info(),
           "settings": {"blas_threads": 1, "env": THREAD_ENV, "alternating": True,
                        "lme4": r_ok, "lme4_skipped_reason": None if r_ok else r_why,
                        "lme4_libraries": libraries,
                        "peers": {p: {"python": str(py) if py else None, "reason": why}
                                  for p, (py, why) in (peers or {}).items()},
                        "reps": reps, "timing": "median over repetitions of the time per fit "
                        "(a repetition fits `inner` times); each side in its own warm process"},
           "cases": []}
    t0 = time.perf_counter()
    for case in selected:
        n_reps = reps or case.default_reps
        log(f"[{case.name}] {case.fn} {case.formula}  (reps {n_reps}, inner {case.inner})")
        if case.r_libs or case.lme4:
            ok, why = r_status(case, with_r)
            side_r = True if ok else (why if with_r else "lme4 not run")
        else:
            side_r = r_ok
        rec = run_case(case, n_reps, with_r=side_r, timeout=timeout, log=log,
                       peers=peers if case.group == "main" else None)
        log("  -> " + one_line(rec))
        doc["cases"].append(rec)
    doc["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return doc


def fmt_time(t):
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.0f} µs"
    if t < 1.0:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


def one_line(rec):
    a, b = rec["lmerpy"], rec["lme4"]
    parts = [f"lmerpy {fmt_time(a.get('median')) if a.get('available') else 'n/a'}",
             f"lme4 {fmt_time(b.get('median')) if b.get('available') else 'n/a'}"]
    if rec.get("ratio"):
        parts.append(f"lme4/lmerpy {rec['ratio']:.2f}x")
    for peer, info in (rec.get("peers") or {}).items():
        side = rec.get(peer) or {}
        parts.append(f"{peer} {fmt_time(side.get('median')) if side.get('available') else 'n/a'}"
                     + (f" ({peer}/lmerpy {info['ratio']:.2f}x)" if info.get("ratio") else ""))
    return ", ".join(parts)
