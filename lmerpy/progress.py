"""Feedback on long work: one tqdm progress bar helper and one process-parallel map, shared by
everything that refits a model many times (``bootMer``, ``PBmodcomp``, ``confint(method=
"boot"|"profile")``, ``profile``, ``influence``, ``allFit``).

A bar appears only once the work has run for :data:`DELAY` seconds (tqdm's ``delay``), so quick
calls print nothing; ``progress=False`` never shows one, and without tqdm installed there is
none. :func:`parallel_map` runs a function over items in worker processes (``n_jobs``), forking
where the platform can so that the shared state (a fitted model, its design) is inherited rather
than pickled; results come back in the items' order whatever the number of workers.
"""
from __future__ import annotations

import multiprocessing as mp
import pickle
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .arguments import Integer
from .errors import LmerpyError

__all__ = ["DELAY", "N_JOBS", "load_worker_state", "progress_bar", "parallel_map", "resolve_n_jobs",
           "worker_start"]

#: seconds of work before a progress bar is drawn
DELAY = 2.0
#: worker processes (1: none; -1: one per CPU, -2: all but one...)
N_JOBS = Integer(what="an integer (1: no workers, -1: one per CPU)")


class _NoBar:
    """Stands for a bar when none is shown."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(total: Optional[int], desc: str, enabled: bool = True, unit: str = "fit",
                 delay: Optional[float] = None) -> Any:
    """A tqdm bar (``tqdm.auto``) over ``total`` steps, drawn after ``delay`` seconds; a do-
    nothing stand-in when ``enabled`` is false or tqdm is not installed. Both have
    ``update(n)``, ``set_postfix_str(s)``, ``close()`` and work as context managers.
    ``delay`` defaults to :data:`DELAY` as it is when the bar is made."""
    if delay is None:
        delay = DELAY
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    try:
        return tqdm(total=total, desc=desc, unit=unit, delay=delay)
    except TypeError:              # tqdm < 4.62 has no delay
        return tqdm(total=total, desc=desc, unit=unit)


def resolve_n_jobs(n_jobs: int, caller: Optional[str] = None) -> int:
    """The number of worker processes ``n_jobs`` asks for (validated; -1: one per CPU)."""
    n = N_JOBS("n_jobs", n_jobs, caller) or 1
    if n < 0:
        n = max(1, (mp.cpu_count() or 1) + 1 + n)
    return n


_WORKER: Dict[str, Any] = {}


def worker_start(worker: Dict[str, Any], state: Dict[str, Any],
                 needs: str) -> Tuple[Any, Optional[bytes]]:
    """The process context and the initializer payload that give every worker process
    ``state`` in its module's ``worker`` dict: with ``fork`` the children inherit it (nothing is
    pickled); elsewhere it is pickled once here (``needs``: the error's text when it cannot
    be) and :func:`load_worker_state` unpacks it in each worker."""
    if "fork" in mp.get_all_start_methods():
        worker.update(state)
        return mp.get_context("fork"), None
    try:
        payload = pickle.dumps(state)
    except Exception as exc:
        raise LmerpyError(f"{needs}: {exc}") from None
    return mp.get_context(), payload


def load_worker_state(worker: Dict[str, Any], payload: Optional[bytes]) -> None:
    """A worker's initializer: ``state`` of :func:`worker_start` into ``worker`` (no-op after
    fork)."""
    if payload is not None:
        worker.update(pickle.loads(payload))


def _init_worker(payload: Optional[bytes]) -> None:
    load_worker_state(_WORKER, payload)


def _run_chunk(start: int, items: Sequence[Any]):
    fn, shared = _WORKER["fn"], _WORKER["shared"]
    return start, [fn(shared, item) for item in items]


def parallel_map(fn: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any = None,
                 n_jobs: int = 1, progress: bool = True, desc: str = "", unit: str = "fit",
                 caller: Optional[str] = None) -> List[Any]:
    """``[fn(shared, item) for item in items]``, in order, in ``n_jobs`` worker processes (1:
    in this process), with a progress bar (see :func:`progress_bar`).

    ``fn`` should catch what it expects to fail: an exception in a worker ends the map. With
    ``fork`` (Linux, macOS's default before Python 3.8) the workers inherit ``fn`` and
    ``shared``; elsewhere both are pickled once per worker.
    """
    items = list(items)
    n = len(items)
    out: List[Any] = [None] * n
    workers = resolve_n_jobs(n_jobs, caller)
    if workers <= 1 or n <= 1:
        with progress_bar(n, desc, progress, unit) as bar:
            for i, item in enumerate(items):
                out[i] = fn(shared, item)
                bar.update(1)
        return out
    where = f"{caller} " if caller else ""
    ctx, payload = worker_start(_WORKER, {"fn": fn, "shared": shared},
                                f"{where}with n_jobs > 1 needs picklable functions (defined at "
                                f"module level, not lambdas)")
    chunk = max(1, n // (workers * 8))
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(payload,)) as pool:
            futures = [pool.submit(_run_chunk, s, items[s:s + chunk]) for s in range(0, n, chunk)]
            with progress_bar(n, desc, progress, unit) as bar:
                for fut in as_completed(futures):
                    start, res = fut.result()
                    out[start:start + len(res)] = res
                    bar.update(len(res))
    finally:
        _WORKER.clear()
    return out
