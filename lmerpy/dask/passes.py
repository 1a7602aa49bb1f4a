"""The passes over the data of a fit on a Dask DataFrame: their log, a progress bar, a summary.

Every pass (the levels pass, the LMM's cross-products pass, the GLMM's design pass and each
PIRLS pass) is logged with its wall time on the fit (``fit.dask_log``, a list of
``{"pass": name, "seconds": t}``; the client's own work is the entry ``"fit"``).
:func:`pass_summary` tabulates it, :func:`print_passes` prints that table.

The progress bar (tqdm) counts passes. ``progress=None`` (the default) shows it only when
the fit runs longer than :data:`DELAY` seconds; ``True`` shows it at once, ``False`` never.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..arguments import LOGICAL_OR_NONE

__all__ = ["DELAY", "PassLog", "pass_summary", "print_passes"]

#: seconds before the default progress bar appears
DELAY = 5.0


class PassLog:
    """Times of a fit's passes, and the progress bar that counts them.

    Parameters
    ----------
    progress : bool or None
        None: a bar that appears after :data:`DELAY` seconds; True: at once; False: none.
    desc : str
        The bar's label.
    """

    def __init__(self, progress: Optional[bool] = None, desc: str = "lmerpy passes",
                 caller: str = "lmer") -> None:
        progress = LOGICAL_OR_NONE("progress", progress, caller)
        self.entries: List[Tuple[str, float]] = []
        self._bar: Any = None
        if progress is not False:           # lmerpy's one bar helper (tqdm, if installed)
            from ..progress import progress_bar
            self._bar = progress_bar(None, desc, unit="pass",
                                     delay=0.0 if progress else DELAY)
        self._t = time.perf_counter()

    def append(self, entry: Tuple[str, float]) -> None:
        """Log a pass (name, seconds) and advance the bar."""
        name, sec = entry
        self.entries.append((str(name), float(sec)))
        if self._bar is not None and name != "fit":
            self._bar.set_postfix_str(f"{name} {sec:.2f}s")
            self._bar.update(1)

    def mark(self, name: str) -> float:
        """Log the time since the last mark as pass ``name``; returns it."""
        now = time.perf_counter()
        sec = now - self._t
        self._t = now
        self.append((name, sec))
        return sec

    def restart(self) -> None:
        """Start timing the next entry now."""
        self._t = time.perf_counter()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def as_list(self) -> List[Dict[str, Any]]:
        return [{"pass": n, "seconds": s} for n, s in self.entries]


def pass_summary(fit) -> pd.DataFrame:
    """Per kind of pass of a fit on a Dask DataFrame: count, total, median and largest
    seconds (from ``fit.dask_log``)."""
    log = getattr(fit, "dask_log", None)
    if log is None:
        from ..errors import ArgumentError
        raise ArgumentError("pass_summary: the fit was not made on a Dask DataFrame (it has "
                            "no dask_log)")
    rows = []
    for name in dict.fromkeys(e["pass"] for e in log):
        s = np.array([e["seconds"] for e in log if e["pass"] == name], dtype=float)
        rows.append({"pass": name, "count": int(s.size), "total_s": float(s.sum()),
                     "median_s": float(np.median(s)), "max_s": float(s.max())})
    return pd.DataFrame(rows, columns=["pass", "count", "total_s", "median_s", "max_s"])


def print_passes(fit) -> None:
    """Print :func:`pass_summary` of a fit."""
    tab = pass_summary(fit)
    total = float(tab["total_s"].sum())
    data = int(tab.loc[tab["pass"] != "fit", "count"].sum())
    print(f"{data} passes over the data; {total:.2f} s in all")
    print(tab.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
