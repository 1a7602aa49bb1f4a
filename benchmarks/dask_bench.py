"""lmer on a Dask DataFrame of parquet files on a LocalCluster: ``python benchmarks/run.py --dask``.

Not part of CI. A seeded generator writes the crossed design ``y ~ x + (x | g1) + (1 | g2)``
(the model of :mod:`benchmarks.synthetic`, the same true parameters) as parquet files, one per
partition, into a cache directory (``--dask-dir``; default ``$LMERPY_BENCH_CACHE`` or
``~/.cache/lmerpy-bench``; the data are never committed and are reused by the next run with the
same size and seed). The files are written by the cluster's workers, then
``lmerpy.lmer(formula, dd.read_parquet(files))`` fits them on a
``distributed.LocalCluster`` (processes, one thread each), and the run reports:

* the wall time of the fit (from the lazy ``read_parquet`` to the result) and of each of its
  passes (``fit.dask_log``: the levels pass, the cross-products pass, the fit on the client);
* the client's peak resident memory during the fit, and each worker process's (Linux
  ``VmHWM``, reset before the fit; :mod:`benchmarks.memory`);
* the CPU seconds of the client and of each worker process during the fit (on a shared
  machine the wall time waits for other processes; the CPU time is what the fit costs).

Before writing, the free space of the cache directory is checked against the data's estimated
size (about 21 bytes a row) plus a margin; a size that does not fit is refused with the largest
row count that would. Partition i draws its rows from ``numpy.random.default_rng([seed, i])``:
``g1`` and ``g2`` uniform over their levels (int32 codes, so every level is used when a level
has many rows), ``x`` standard normal; the random effects are drawn once from ``seed``.

Results go to ``benchmarks/results/dask-<date>-<host>.json``; the markdown table printed at the
end is the one in docs/performance.md ("Beyond one machine").
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from . import memory, synthetic

FORMULA = "y ~ x + (x | g1) + (1 | g2)"
#: bytes per row on disk (two float64 columns, two int32 codes, parquet overhead), measured
BYTES_PER_ROW = 21.0
#: free space kept beyond the estimate (bytes)
DISK_MARGIN = 2 * 2 ** 30


def cache_root():
    env = os.environ.get("LMERPY_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lmerpy-bench"


def dataset_dir(root, n_rows, n_g1, n_g2, seed):
    return Path(root) / f"crossed-{n_rows}-{n_g1}-{n_g2}-{seed}"


def effects(n_g1, n_g2, seed):
    """The random effects of every partition: (n_g1 × 2, n_g2), drawn once from ``seed``."""
    rng = np.random.default_rng([seed, 2 ** 31])
    T = synthetic.TRUTH
    s0, s1 = T["sd_g1"]
    rho = T["cor_g1"]
    cov = np.array([[s0 * s0, rho * s0 * s1], [rho * s0 * s1, s1 * s1]])
    b1 = rng.standard_normal((n_g1, 2)) @ np.linalg.cholesky(cov).T
    b2 = T["sd_g2"] * rng.standard_normal(n_g2)
    return b1, b2


def write_partition(path, i, n, n_g1, n_g2, seed):
    """Partition ``i`` (``n`` rows) as one parquet file; returns its row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    b1, b2 = effects(n_g1, n_g2, seed)
    rng = np.random.default_rng([seed, i])
    g1 = rng.integers(0, n_g1, n).astype(np.int32)
    g2 = rng.integers(0, n_g2, n).astype(np.int32)
    x = rng.standard_normal(n)
    b0, bx = synthetic.TRUTH["beta"]
    y = (b0 + b1[g1, 0]) + (bx + b1[g1, 1]) * x + b2[g2] \
        + synthetic.TRUTH["sigma"] * rng.standard_normal(n)
    table = pa.table({"y": y, "x": x, "g1": g1, "g2": g2})
    tmp = Path(path).with_suffix(".tmp")
    pq.write_table(table, tmp, compression="snappy")
    os.replace(tmp, path)
    return n


def check_disk(directory, n_rows):
    """Raise SystemExit when the data would not fit in the free space of ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    need = n_rows * BYTES_PER_ROW + DISK_MARGIN
    if free < need:
        fits = int(max(0.0, free - DISK_MARGIN) / BYTES_PER_ROW)
        raise SystemExit(f"{n_rows:,} rows need ~{need / 2 ** 30:.1f} GiB in {directory} "
                         f"(free: {free / 2 ** 30:.1f} GiB); at most ~{fits:,} rows fit: "
                         f"pass --dask-rows, or --dask-dir on a larger disk")
    return free, need


def ensure_data(client, root, n_rows, n_g1, n_g2, seed, rows_per_part, log=print):
    """The dataset's parquet files (written on the cluster when missing); (files, seconds
    spent writing, 0 when cached)."""
    d = dataset_dir(root, n_rows, n_g1, n_g2, seed)
    marker = d / "done.json"
    n_parts = -(-n_rows // rows_per_part)
    files = [d / f"part-{i:05d}.parquet" for i in range(n_parts)]
    spec = dict(n_rows=n_rows, n_g1=n_g1, n_g2=n_g2, seed=seed, rows_per_part=rows_per_part)
    if marker.exists() and json.loads(marker.read_text()) == spec \
            and all(f.exists() for f in files):
        log(f"[dask] using the cached data in {d}")
        return files, 0.0
    free, need = check_disk(d, n_rows)
    log(f"[dask] writing {n_rows:,} rows in {n_parts} parquet files to {d} "
        f"(~{need / 2 ** 30:.1f} GiB of {free / 2 ** 30:.1f} GiB free)")
    t0 = time.perf_counter()
    sizes = [min(rows_per_part, n_rows - i * rows_per_part) for i in range(n_parts)]
    futs = client.map(write_partition, [str(f) for f in files], range(n_parts), sizes,
                      n_g1=n_g1, n_g2=n_g2, seed=seed, pure=False)
    client.gather(futs)
    marker.write_text(json.dumps(spec))
    return files, time.perf_counter() - t0


def _worker_status():
    return memory.vm_status()


def _cpu_seconds():
    """CPU seconds (user + system) of this process so far."""
    t = os.times()
    return t.user + t.system


def _worker_reset():
    return memory.hwm_reset()


def run(n_rows=100_000_000, n_g1=100_000, n_g2=300, seed=20240507, rows_per_part=1_000_000,
        workers=2, root=None, memory_limit="auto", log=print):
    """Generate (or reuse) the data and fit it on a LocalCluster; returns the results dict."""
    import cloudpickle
    import dask.dataframe as dd
    import distributed

    import lmerpy
    # the workers run this module's functions: ship them by value (benchmarks/ is not an
    # installed package)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cloudpickle.register_pickle_by_value(memory)
    cloudpickle.register_pickle_by_value(synthetic)
    root = Path(root) if root else cache_root()
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit=memory_limit)
    client = distributed.Client(cluster)
    try:
        files, t_write = ensure_data(client, root, n_rows, n_g1, n_g2, seed, rows_per_part, log)
        client.run(_worker_reset)
        cpu_w0 = client.run(_cpu_seconds)
        cpu_c0 = _cpu_seconds()
        memory.hwm_reset()
        rss0 = memory.vm_status().get("VmRSS", float("nan"))
        load0 = list(os.getloadavg())
        log(f"[dask] fitting {FORMULA} on {len(files)} partitions with {workers} workers")
        t0 = time.perf_counter()
        ddf = dd.read_parquet([str(f) for f in files])
        fit = lmerpy.lmer(FORMULA, ddf)
        wall = time.perf_counter() - t0
        cpu_c = _cpu_seconds() - cpu_c0
        cpu_w = {k: v - cpu_w0.get(k, 0.0) for k, v in client.run(_cpu_seconds).items()}
        client_mem = memory.vm_status()
        worker_mem = client.run(_worker_status)
        opt = fit.optsum
        out = {
            "date": date.today().isoformat(), "host": socket.gethostname().split(".")[0],
            "formula": FORMULA, "n_rows": int(fit.nobs()), "n_g1": n_g1, "n_g2": n_g2,
            "seed": seed, "partitions": len(files), "workers": workers,
            "threads_per_worker": 1, "write_seconds": t_write, "fit_seconds": wall,
            "passes": fit.dask_log, "data_passes": sum(p["pass"] != "fit" for p in fit.dask_log),
            "evaluations": int(opt.feval), "derivs_evals": int(opt.derivs_evals),
            "client_cpu_seconds": cpu_c,
            "worker_cpu_seconds": {str(k): v for k, v in cpu_w.items()},
            "client_peak_mib": client_mem.get("VmHWM"), "client_rss_before_mib": rss0,
            "worker_peak_mib": {str(k): v.get("VmHWM") for k, v in worker_mem.items()},
            "theta": [float(t) for t in fit.theta], "beta": fit.fixef().tolist(),
            "sigma": float(fit.sigma()), "REMLcrit": float(fit.REMLcrit()),
            "load_average_start": load0,
            "load_average": list(os.getloadavg()), "cpu_count": os.cpu_count(),
            "lmerpy": lmerpy.__version__ if hasattr(lmerpy, "__version__") else "",
        }
    finally:
        client.close()
        cluster.close()
    return out


def table(r):
    """The markdown rows of docs/performance.md for one result."""
    gib = 1.0 / 1024.0
    wk = ", ".join(f"{v * gib:.2f}" for v in r["worker_peak_mib"].values())
    passes = "; ".join(f"{p['pass']} {p['seconds']:.0f} s" for p in r["passes"])
    formula = r["formula"].replace("|", "\\|")        # a pipe inside a table cell
    return "\n".join([
        "| | lmerpy on Dask (this machine) | MixedModels.jl, ml-32m (published) |",
        "|---|---|---|",
        f"| data | {r['n_rows']:,} rows, `{formula}`, {r['n_g1']:,} × {r['n_g2']:,} levels, "
        f"{r['partitions']} parquet files | 32.0M ratings, `(1\\|user)+(1\\|movie)`, "
        "200,948 × 84,432 levels |",
        f"| machine | {r['cpu_count']} cores (shared; load {r['load_average'][0]:.1f}), "
        f"LocalCluster {r['workers']} workers × 1 thread | 96 GiB desktop, 8 threads, MKL |",
        f"| wall time of the fit | **{r['fit_seconds']:.0f} s** ({passes}) | **18,740 s (5.2 h)** |",
        f"| passes over the data | {r['data_passes']} | — (in memory) |",
        *([f"| CPU time during the fit | client {r['client_cpu_seconds']:.0f} s; workers "
           + ", ".join(f"{v:.0f}" for v in r["worker_cpu_seconds"].values())
           + " s | — |"] if "client_cpu_seconds" in r else []),
        f"| criterion evaluations | {r['evaluations']} (+ {r['derivs_evals']} gradients for the "
        "Hessian) | 26 |",
        f"| peak memory | client {r['client_peak_mib'] * gib:.2f} GiB; workers {wk} GiB | "
        "**56.2 GiB** |",
    ])


def main(args, log=print):
    r = run(n_rows=args.dask_rows, n_g1=args.dask_g1, n_g2=args.dask_g2, seed=args.dask_seed,
            rows_per_part=args.dask_rows_per_part, workers=args.dask_workers,
            root=args.dask_dir, log=log)
    res = Path(__file__).resolve().parent / "results"
    res.mkdir(parents=True, exist_ok=True)
    out = args.out or res / f"dask-{r['date']}-{r['host']}.json"
    out.write_text(json.dumps(r, indent=1, default=str) + "\n")
    log(f"results: {out}")
    log(table(r))
    return r
