"""The Rust peers in the benchmark: ``glmm`` 0.6.2 and ``mixedlm`` 1.3.0 (both on PyPI).

Each lives in its own virtual environment under ``~/.cache/lmerpy-bench/<peer>/``
(``$LMERPY_BENCH_PEERS`` moves the folder), never in lmerpy's: ``run.py --peers`` creates the
missing ones with ``python -m venv`` and ``pip install <peer>==<version> pandas`` (network
needed once), later runs reuse them. A peer's side of a case is ``peer_worker.py`` run by the
venv's interpreter, driven by the harness in the same alternation as lmerpy and lme4 (one
warm-up fit, one BLAS/Rayon thread, medians).

The cold start of each peer is measured beside lmerpy's (:func:`cold_jobs`): a fresh process
that imports the peer, reads sleepstudy and cbpp, and fits the same two models.
"""
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: peer -> the pinned requirement
PEERS = {"glmm": "glmm==0.6.2", "mixedlm": "mixedlm==1.3.0"}
#: what every peer environment also needs (the worker reads CSV files with pandas)
COMMON = ("pandas", "numpy")
#: thread variables of the peers' processes (Rayon is the Rust crates' thread pool)
PEER_THREAD_ENV = {"RAYON_NUM_THREADS": "1"}


def root():
    return Path(os.environ.get("LMERPY_BENCH_PEERS",
                               Path.home() / ".cache" / "lmerpy-bench")).expanduser()


def python_of(peer):
    return root() / peer / "bin" / "python"


def _installed_version(python, peer):
    try:
        res = subprocess.run([str(python), "-c", "import importlib.metadata as m, json; "
                              f"print(json.dumps(m.version({peer!r})))"],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    try:
        return json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def ensure(peer, install=False, log=print):
    """``(python, "")`` when ``peer``'s environment has the pinned version, else
    ``(None, why)``; with ``install`` a missing environment is created first."""
    want = PEERS[peer].split("==")[1]
    py = python_of(peer)
    if py.exists() and _installed_version(py, peer) == want:
        return py, ""
    if not install:
        return None, f"{PEERS[peer]} not installed (run.py --peers installs it)"
    where = root() / peer
    log(f"[peers] creating {where} with {PEERS[peer]}")
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(where)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", PEERS[peer], *COMMON],
                       check=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not install {PEERS[peer]}: {exc}"
    if _installed_version(py, peer) != want:
        return None, f"{PEERS[peer]} did not install"
    return py, ""


def available(names, install=False, log=print):
    """``{peer: (python or None, why)}`` for the requested peers."""
    return {p: ensure(p, install, log) for p in names}


def worker_argv(peer, python, spec_path):
    return [str(python), str(HERE / "peer_worker.py"), peer, Path(spec_path).read_text()]


# ------------------------------------------------------------------------- cold start

_COLD = r"""
import json, time
t0 = time.perf_counter()
import {module}
t1 = time.perf_counter()
import pandas as pd
def load(stem):
    df = pd.read_csv(stem + ".csv")
    lev = json.load(open(stem + ".levels.json"))
    for c, l in lev["levels"].items():
        df[c] = pd.Categorical(df[c].astype(str), categories=l)
    return df
sleep = load({sleep!r})
cbpp = load({cbpp!r})
{prepare}
t2 = time.perf_counter()
{lmm}
t3 = time.perf_counter()
{glmm_fit}
t4 = time.perf_counter()
print("@@COLD " + json.dumps({{"import": t1 - t0, "data": t2 - t1, "lmer": t3 - t2,
                              "glmer": t4 - t3, "in_process": t4 - t0}}))
"""

_FITS = {
    "glmm": dict(
        prepare='cbpp["fail"] = cbpp["size"] - cbpp["incidence"]',
        lmm='glmm.fit(sleep, "Reaction ~ Days + (Days | Subject)")',
        glmm_fit='glmm.fit(cbpp, "cbind(incidence, fail) ~ period + (1 | herd)", '
                 'family="binomial")'),
    "mixedlm": dict(
        prepare='cbpp["prop"] = cbpp["incidence"] / cbpp["size"]',
        lmm='mixedlm.lmer("Reaction ~ Days + (Days | Subject)", sleep)',
        glmm_fit='mixedlm.glmer("prop ~ period + (1 | herd)", cbpp, '
                 'family=mixedlm.families.Binomial(), weights=cbpp["size"].to_numpy(float))'),
}


def cold_jobs(pythons, data_dir, env):
    """(label, code, env, python) of each available peer's cold-start process; the data
    files (sleepstudy, cbpp) are written to ``data_dir`` by the caller."""
    jobs = []
    for peer, python in pythons.items():
        code = _COLD.format(module=peer, sleep=str(Path(data_dir) / "sleepstudy"),
                            cbpp=str(Path(data_dir) / "cbpp"), **_FITS[peer])
        jobs.append((peer, code, dict(env, **PEER_THREAD_ENV), str(python)))
    return jobs


def write_cold_data(data_dir):
    """sleepstudy and cbpp as the peers' cold-start processes read them."""
    sys.path.insert(0, str(HERE.parent))
    import lmerpy

    from benchmarks.cases import write_csv
    for name in ("sleepstudy", "cbpp"):
        write_csv(lmerpy.datasets.load(name), data_dir, stem=name)
