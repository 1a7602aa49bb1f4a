"""The A/B driver shared by ``small_ab.py``, ``glmm_ab.py`` and ``lme_ab.py``: two lmerpy
checkouts, each in a warm worker process of its own (one BLAS thread) that imports lmerpy
from its root, asked for blocks of work alternately (A first in even blocks, B first in odd
ones), medians over the blocks.

A worker is a Python source run as ``python -c WORKER ROOT CASES``: it prints ``ready`` once
warm, then answers each request line (what :func:`alternate`'s ``request`` makes of a case)
with one JSON object of numbers.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

#: the start of every worker's source: lmerpy imported from the checkout given as the first
#: argument (checked), ``clk``, ``acc`` and ``timed(f, key)``, which adds each call's wall
#: time to ``acc[key]`` (``key`` may be a function of the call's positional arguments)
WORKER_PRELUDE = r'''
import json, statistics, sys, time
root = sys.argv[1]
sys.path.insert(0, root)
import lmerpy
assert lmerpy.__file__.startswith(root), lmerpy.__file__
from benchmarks import cases as C
clk = time.perf_counter
acc = {}

def timed(f, key):
    def w(*a, **k):
        t = clk()
        try:
            return f(*a, **k)
        finally:
            kk = key(a) if callable(key) else key
            acc[kk] = acc.get(kk, 0.0) + clk() - t
    return w
'''

THREADS_ONE = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def parser(doc, blocks, cases):
    """The command line every A/B script shares: the two roots, ``--blocks``, ``--cases``."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("root_a")
    p.add_argument("root_b")
    p.add_argument("--blocks", type=int, default=blocks)
    p.add_argument("--cases", default=",".join(cases))
    return p


def start(worker, root_a, root_b, cases, cpu=None):
    """The two warm workers ``{"A": process, "B": process}`` and their roots; ``cpu`` pins
    both to that CPU (the same core for both sides: on a shared machine the cores' loads
    differ)."""
    env = dict(os.environ, **THREADS_ONE)
    roots = {"A": str(Path(root_a).resolve()), "B": str(Path(root_b).resolve())}
    procs = {k: subprocess.Popen([sys.executable, "-c", worker, r, ",".join(cases)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 env=env) for k, r in roots.items()}
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        for pr in procs.values():
            os.sched_setaffinity(pr.pid, {cpu})
    for pr in procs.values():
        if pr.stdout.readline().strip() != "ready":
            raise SystemExit("a worker failed to start")
    return procs, roots


def alternate(procs, cases, blocks, request):
    """Run ``blocks`` blocks; in each, every case's ``request(case)`` line goes to A and B
    (in alternating order). Returns ``({(side, case, field): [values]}, loads)`` with the
    1-minute load average at the start and after every block; closes the workers."""
    res, loads = {}, [os.getloadavg()[0]]
    for b in range(blocks):
        for c in cases:
            for k in (("A", "B") if b % 2 == 0 else ("B", "A")):
                procs[k].stdin.write(request(c) + "\n")
                procs[k].stdin.flush()
                for f, v in json.loads(procs[k].stdout.readline()).items():
                    res.setdefault((k, c, f), []).append(v)
        loads.append(os.getloadavg()[0])
    for pr in procs.values():
        pr.stdin.close()
        pr.wait()
    return res, loads


def run(worker, args, cases, request, what="", cpu=None):
    """Start the two workers on ``args.root_a`` and ``args.root_b``, run ``args.blocks``
    alternating blocks (:func:`alternate`) and print the roots, the blocks (``what``
    describes a block's work) and the load; returns the results."""
    procs, roots = start(worker, args.root_a, args.root_b, cases, cpu=cpu)
    res, loads = alternate(procs, cases, args.blocks, request)
    print(f"A = {roots['A']}\nB = {roots['B']}\n{args.blocks} blocks{what}; "
          f"1-minute load {min(loads):.2f}-{max(loads):.2f}")
    return res


def print_tables(res, cases, fields, unit, fmt, ratio_fmt=".2f"):
    """One table per case: each field's median for A and B, and A / B (above 1: B is
    faster); fields a case did not report are left out."""
    for c in cases:
        print(f"\n| {c} ({unit}) | A | B | A / B |\n|---|---|---|---|")
        for f in fields:
            if ("A", c, f) not in res or ("B", c, f) not in res:
                continue
            a = statistics.median(res[("A", c, f)])
            b = statistics.median(res[("B", c, f)])
            r = format(a / b, ratio_fmt) if b else "nan"
            print(f"| {f} | {format(a, fmt)} | {format(b, fmt)} | {r} |")
