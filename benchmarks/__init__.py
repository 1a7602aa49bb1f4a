"""lmerpy's benchmark suite: lmerpy and lme4 side by side (``benchmarks/run.py``).

Not part of the installed package; see ``docs/performance.md``.
"""
