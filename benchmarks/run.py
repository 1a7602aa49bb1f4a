"""lmerpy vs lme4, side by side: ``make bench`` or ``python benchmarks/run.py [options]``.

Every case is fitted by lmerpy and — when ``Rscript`` with lme4 and jsonlite is installed — by
lme4 in the same run, repetitions alternating; the structured-covariance cases (``cs()``,
``ar1()``, ``diag()``, ``us()`` on bench_long) by lme4 2.1 from ``R_LIBS=/opt/lme4-2.1`` when
that library is present. Results go to
``benchmarks/results/<date>-<host>.json`` and ``latest.json``; ``--report`` also rewrites the
table in ``docs/performance.md`` and the plot ``docs/img/performance.png``.

Examples
--------
    python benchmarks/run.py                         # every case but the 1M/10M ones
    python benchmarks/run.py --cases sleepstudy,insteval --reps 3
    python benchmarks/run.py --quick --no-r          # small cases, lmerpy only
    python benchmarks/run.py --group structured --report   # us/diag/cs/ar1 vs lme4 2.1 only
    python benchmarks/run.py --report                # run, then update docs/performance.md
    python benchmarks/run.py --report-only           # redraw the docs from latest.json
    python benchmarks/run.py --cases sleepstudy --cold-start-runs 9
    python benchmarks/run.py --peers --report        # with glmm and mixedlm (own venvs)
    python benchmarks/run.py --dask                  # 100M rows as parquet, on a LocalCluster
    python benchmarks/run.py --dask --dask-rows 20000000   # a size that fits this machine

``--dask`` runs only the Dask benchmark (``benchmarks/dask_bench.py``: seeded parquet data in a
cache directory, never committed; lmer on a ``distributed.LocalCluster``; not in CI).

Besides the cases, a full run measures the **cold start** (``benchmarks/coldstart.py``: fresh
processes running ``import lmerpy``, the first lmer and the first glmer; medians), stored under
``"cold_start"`` in the results and shown in its own table of ``docs/performance.md``.
"""
import argparse
import json
import os
import socket
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import cases as _cases  # noqa: E402
from benchmarks import coldstart, harness, report  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "performance.md"
PNG = ROOT / "docs" / "img" / "performance.png"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", help="comma-separated case names (default: all but --large ones); "
                   "known: " + ", ".join(_cases.BY_NAME))
    p.add_argument("--reps", type=int, help="repetitions per side (default: 5 small, 3 large)")
    p.add_argument("--quick", action="store_true", help="only the small cases")
    p.add_argument("--large", action="store_true", help="also the 1M- and 10M-row cases")
    p.add_argument("--group", choices=sorted(report.MARKERS),
                   help="only this group's cases (main: lme4 1.1 cases; structured: "
                   "us/diag/cs/ar1 vs lme4 2.1)")
    p.add_argument("--no-r", action="store_true", help="lmerpy only, even if lme4 is present")
    p.add_argument("--out", type=Path, help="results file (default: "
                   "benchmarks/results/<date>-<host>.json); a full run also writes latest.json "
                   "beside it, partial runs (--cases, --quick, --group) add '-partial' and do "
                   "not")
    p.add_argument("--report", action="store_true",
                   help="after running, write docs/performance.md and docs/img/performance.png")
    p.add_argument("--report-only", action="store_true",
                   help="only redraw the docs from --results (no fitting)")
    p.add_argument("--results", type=Path, default=RESULTS / "latest.json",
                   help="results file for --report-only (default: latest.json)")
    p.add_argument("--doc", type=Path, default=DOC, help=argparse.SUPPRESS)
    p.add_argument("--png", type=Path, default=PNG, help=argparse.SUPPRESS)
    p.add_argument("--cold-start-runs", type=int, default=None,
                   help="fresh processes for the cold-start figure (default: 9 in a full "
                   "run, none with --cases/--quick/--group; 0 turns it off)")
    p.add_argument("--peers", nargs="?", const="glmm,mixedlm", default=None,
                   metavar="LIST",
                   help="also run the Rust peers (default both: glmm,mixedlm) on the main "
                   "cases and the cold start, each in its own venv under "
                   "~/.cache/lmerpy-bench/ (created with pip when missing; "
                   "$LMERPY_BENCH_PEERS moves it)")
    p.add_argument("--blocks", help="with --report/--report-only: only these generated "
                   "blocks of docs/performance.md (comma-separated: "
                   + ", ".join(report.BLOCKS) + "; default all)")
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="seconds to wait for any single answer of a worker")
    d = p.add_argument_group("Dask benchmark (--dask; benchmarks/dask_bench.py)")
    d.add_argument("--dask", action="store_true",
                   help="only the Dask benchmark: crossed data as parquet, fitted on a "
                   "LocalCluster")
    d.add_argument("--dask-rows", type=int, default=100_000_000, help="rows (default 100M)")
    d.add_argument("--dask-g1", type=int, default=100_000, help="levels of g1 (x | g1)")
    d.add_argument("--dask-g2", type=int, default=300, help="levels of g2 (1 | g2)")
    d.add_argument("--dask-seed", type=int, default=20240507)
    d.add_argument("--dask-rows-per-part", type=int, default=1_000_000,
                   help="rows per parquet file (= partition)")
    d.add_argument("--dask-workers", type=int, default=2, help="LocalCluster worker processes")
    d.add_argument("--dask-dir", type=Path, default=None,
                   help="cache directory of the data (default $LMERPY_BENCH_CACHE or "
                   "~/.cache/lmerpy-bench)")
    return p.parse_args(argv)


def default_out(partial):
    host = socket.gethostname().split(".")[0] or "host"
    stem = f"{date.today().isoformat()}-{host}" + ("-partial" if partial else "")
    return RESULTS / f"{stem}.json"


def save(doc, path, latest):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=1, sort_keys=False, allow_nan=False, default=str) + "\n"
    path.write_text(text)
    if latest:
        (path.parent / "latest.json").write_text(text)


def exclusive(log=print):
    """Hold a machine-wide lock so that two benchmark runs never time each other's load.

    Waits (saying so) while another ``run.py`` holds it; released when the process exits.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return None
    fh = open(Path(tempfile.gettempdir()) / "lmerpy-bench.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        log(f"waiting for another benchmark run to finish ({fh.read().strip() or '?'})")
        fcntl.flock(fh, fcntl.LOCK_EX)
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}: {' '.join(sys.argv)}")
    fh.flush()
    return fh


def _blocks(args):
    if not args.blocks:
        return None
    names = [b.strip() for b in args.blocks.split(",") if b.strip()]
    bad = [b for b in names if b not in report.BLOCKS]
    if bad:
        raise SystemExit(f"unknown block(s) {', '.join(bad)}; known: {', '.join(report.BLOCKS)}")
    return names


def main(argv=None):
    args = parse_args(argv)
    if args.dask:
        from benchmarks import dask_bench
        lock = exclusive()  # noqa: F841 - held until exit
        dask_bench.main(args)
        return 0
    if args.report_only:
        doc = json.loads(args.results.read_text())
        md, png = report.write_report(doc, args.doc, args.png, blocks=_blocks(args))
        print(f"wrote {md}" + (f" and {png}" if png else " (no plot: no main case, or no matplotlib)"))
        return 0
    names = [n.strip() for n in args.cases.split(",") if n.strip()] if args.cases else None
    selected = _cases.select(names, large=args.large, quick=args.quick, group=args.group)
    partial = bool(names) or args.quick or bool(args.group)
    lock = exclusive()  # noqa: F841 - held until exit
    peer_sides = None
    if args.peers:
        from benchmarks import peers as _peers
        wanted = [n.strip() for n in args.peers.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in _peers.PEERS]
        if unknown:
            raise SystemExit(f"unknown peer(s) {', '.join(unknown)}; known: "
                             f"{', '.join(_peers.PEERS)}")
        peer_sides = _peers.available(wanted, install=True)
        for peer, (py, why) in peer_sides.items():
            print(f"[peers] {peer}: {py or why}")
    doc = harness.run_suite(selected, reps=args.reps, with_r=not args.no_r,
                            timeout=args.timeout, peers=peer_sides)
    cold_runs = args.cold_start_runs if args.cold_start_runs is not None else \
        (0 if partial else 9)
    if cold_runs > 0:
        print(f"[cold start] {cold_runs} fresh processes (import lmerpy, first lmer, first glmer)")
        doc["cold_start"] = coldstart.measure(
            cold_runs, peers={p: py for p, (py, _) in (peer_sides or {}).items() if py})
    doc["settings"]["command"] = " ".join(["benchmarks/run.py", *(argv or sys.argv[1:])])
    out = args.out or default_out(partial)
    save(doc, out, latest=not partial)
    print(f"results: {out}")
    for group in report.MARKERS:
        sub = dict(doc, cases=report.cases_of(doc, group))
        if sub["cases"]:
            print(report.structured_table(sub) if group == "structured" else report.table(sub))
    if doc.get("cold_start"):
        print(coldstart.table(doc["cold_start"]))
    if peer_sides:
        print(report.peers_table(doc))
    if args.report:
        md, png = report.write_report(doc, args.doc, args.png, blocks=_blocks(args))
        print(f"wrote {md}" + (f" and {png}" if png else " (no plot: no main case, or no matplotlib)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
