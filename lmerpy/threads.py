"""BLAS threads during a fit: one for small kernels, more only for dense blocks large enough to gain.

numpy's and scipy's wheels each carry an OpenBLAS that starts one thread per core (and
CHOLMOD may use the system's BLAS and OpenMP). lmerpy's kernels are mostly small (blocks of a
few hundred rows), where threads gain nothing, and when another process holds a core the
BLAS threads wait on each other: on a 2-core machine with other work, InstEval took 3.9–7.1 s
with the default thread count against 0.9–1.6 s with one thread. So every fit runs its BLAS
with one thread, and raises the count only for a dense block of order
:data:`MIN_PARALLEL_ORDER` or more (the crossover measured in ``docs/performance.md``), and
only up to the cores that are idle at that moment.

What decides the number of threads, first match wins:

1. :func:`set_num_threads(n) <set_num_threads>` (``None`` returns to 2.–4.);
2. the environment variable ``LMERPY_NUM_THREADS``;
3. a BLAS or OpenMP thread variable the user set (``OPENBLAS_NUM_THREADS``,
   ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``BLIS_NUM_THREADS``, ``VECLIB_MAXIMUM_THREADS``):
   lmerpy leaves the thread pools exactly as configured;
4. automatic: one thread, more for large dense blocks when cores are idle.

With a number n (1. or 2.) a fit uses one thread for small blocks and n for large ones
(n = 1: always one thread).

The pools are changed once when a fit starts and put back when it ends
(:func:`fit_threads`, with `threadpoolctl <https://github.com/joblib/threadpoolctl>`_; about
15 µs), never per deviance evaluation. Without threadpoolctl installed nothing is changed. The
pools are found once per process (again when a module that loads a BLAS has been imported):
on Linux, where the only ones loaded are OpenBLAS and OpenMP runtimes (numpy's and SciPy's
wheels), from the names of the loaded objects (~1 ms); otherwise by threadpoolctl's scan
(~10 ms in a fresh process: the cold start, ``docs/performance.md``).
Thread pools are per process: concurrent fits in several Python threads share one setting
(the first fit to start sets it, the last to end restores it).

The modular API's deviance objects (what :func:`~lmerpy.mkLmerDevfun`,
:func:`~lmerpy.mkGlmerDevfun` and :func:`~lmerpy.updateGlmerDevfun` return) may be evaluated
in a user's own loop, e.g. ``scipy.optimize.minimize(devfun, theta0)``, outside any fit.
Their public calls (``devfun(θ)``, ``.gradient``, ``.solve``, ...) are wrapped in
:func:`call_threads`: outside a fit each call is a scope of its own, with the same policy as
a fit, the pools set when it starts and put back when it ends (about 4 µs a call: the
environment variables read, two pools set and restored); inside a fit, or inside another
such call in the same Python thread, the wrapper only reads a thread-local counter (about
0.1 µs). The pools are never left changed between calls: making a devfun has no global side
effect. ``mkLmerDevfun``, ``mkGlmerDevfun``, ``updateGlmerDevfun``, ``mkMerMod`` and
``mkGlmerMod`` themselves run under :func:`fit_threads`, as ``optimizeLmer`` and
``optimizeGlmer`` always did. (Without it, OpenBLAS's triangular solve ``dtrtrs`` ran on every core even on
sleepstudy's 36 × 3 system, and with a busy core an evaluation took milliseconds instead
of ~20 µs; see ``docs/performance.md``, *Threads*.)
"""
from __future__ import annotations

import functools
import os
import sys
import threading
import time
from typing import Any, Callable, Optional, TypeVar, cast

from .arguments import argument_error

__all__ = ["set_num_threads", "get_num_threads", "fit_threads", "call_threads", "request_threads",
           "refresh_pools", "idle_cores", "estimate_idle_cores", "MIN_PARALLEL_ORDER",
           "BLAS_ENV_VARS"]

#: dense blocks of at least this order may use more than one thread (see docs/performance.md)
MIN_PARALLEL_ORDER = 1000

#: the variables by which a user sets the BLAS/OpenMP thread count themselves
BLAS_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

F = TypeVar("F", bound=Callable[..., Any])

_setting: Optional[int] = None
_lock = threading.RLock()
_depth = 0
_saved: list = []           # (library controller, its thread count before the outermost fit)
_raised_to = 1
_policy: Optional[int] = None   # None: automatic, else the user's n (fixed at scope entry)
_controller: Any = None
_controller_key: Optional[tuple] = None


class _ThreadDepth(threading.local):
    """How many scopes the calling Python thread is inside (the process-wide count is
    ``_depth``): :func:`call_threads` skips the scope when this thread is already in one."""
    depth = 0


_here = _ThreadDepth()

# modules whose import loads a BLAS or OpenMP library (the controller is rebuilt when one
# of them appears, so that its pools are found)
_POOL_MODULES = ("numpy", "scipy.linalg", "sksparse.cholmod")


def _check_n(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise argument_error(name, value, "a whole number ≥ 1 (or None for lmerpy's "
                                          "automatic choice)")
    return int(value)


def set_num_threads(n: Optional[int]) -> None:
    """Set the most BLAS threads a fit may use (R has no equivalent; lme4 leaves this to the
    BLAS).

    Parameters
    ----------
    n : int or None
        Dense blocks of order :data:`MIN_PARALLEL_ORDER` or more use ``n`` threads, smaller
        ones one thread; ``1`` keeps every fit on one thread. ``None`` returns to the
        environment variable ``LMERPY_NUM_THREADS``, else to the user's BLAS variables
        (``OPENBLAS_NUM_THREADS``, ...), else to the automatic choice (one thread, more for
        large blocks when cores are idle).

    Examples
    --------
    >>> import lmerpy
    >>> lmerpy.set_num_threads(1)
    >>> lmerpy.get_num_threads()
    1
    >>> lmerpy.set_num_threads(None)
    """
    global _setting
    _setting = _check_n(n, "n")


def _environ_fast():
    """os.environ's own dict and the thread variables' keys in it (CPython's ``os._Environ``
    keeps the environment in ``_data``, keyed by the encoded name): reading the six variables
    there takes ~0.2 µs against ~3.5 µs through ``os.environ.get`` (encoding each name, and
    an exception for each one not set), which a deviance called in a user's loop pays on
    every call. None where that dict is not there (then ``os.environ.get``)."""
    try:
        data = getattr(os.environ, "_data")
        keys = tuple(os.environ.encodekey(k) for k in BLAS_ENV_VARS)
        own = os.environ.encodekey("LMERPY_NUM_THREADS")
    except Exception:
        return None
    if not isinstance(data, dict):
        return None
    return data, keys, own


_ENVIRON = _environ_fast()


def _env_setting() -> Optional[int]:
    if _ENVIRON is not None and _ENVIRON[0].get(_ENVIRON[2]) is None:
        return None      # not set (the common case), found without os.environ.get
    text = os.environ.get("LMERPY_NUM_THREADS", "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise argument_error("LMERPY_NUM_THREADS", text, "a whole number ≥ 1 in the "
                                                          "environment variable")
    return value


def _user_blas_env() -> bool:
    if _ENVIRON is not None:
        data = _ENVIRON[0]
        return any(v.strip() for v in map(data.get, _ENVIRON[1]) if v is not None)
    return any(os.environ.get(k, "").strip() for k in BLAS_ENV_VARS)


def get_num_threads() -> Optional[int]:
    """The thread setting in force: :func:`set_num_threads`'s value, else
    ``LMERPY_NUM_THREADS``, else ``None`` (the BLAS variables decide if the user set them,
    else lmerpy's automatic choice)."""
    return _setting if _setting is not None else _env_setting()


def _policy_now() -> Optional[int]:
    """0: leave the pools alone (the user's BLAS variables); n ≥ 1: the user's n; None: auto."""
    n = get_num_threads()
    if n is not None:
        return n
    return 0 if _user_blas_env() else None


def _pool_key() -> tuple:
    return tuple(m in sys.modules for m in _POOL_MODULES)


class _Pool:
    """One loaded BLAS/OpenMP library (found by threadpoolctl): its thread count read and set.

    For OpenBLAS and OpenMP the two C functions are called directly (ctypes, ~0.15 µs each)
    instead of through threadpoolctl's controller (~0.5 µs, with its own bookkeeping of which
    Python thread controls the pool; lmerpy's scopes are serialised by ``_lock`` anyway): a
    deviance called in a user's loop sets and restores the pools on every call. Other
    libraries (MKL, BLIS, FlexiBLAS) go through threadpoolctl."""

    def __init__(self, lib):
        self.lib = lib
        self.filepath = lib.filepath
        self.user_api = lib.user_api
        self._get = self._set = None
        api = getattr(lib, "internal_api", None)
        if api == "openblas":
            names = [(f"{pre}openblas_get_num_threads{suf}", f"{pre}openblas_set_num_threads{suf}")
                     for pre in ("", "scipy_") for suf in ("", "64_")]
        elif api == "openmp":
            names = [("omp_get_max_threads", "omp_set_num_threads")]
        else:
            return
        try:
            import ctypes
            dll = ctypes.CDLL(lib.filepath, mode=getattr(os, "RTLD_NOLOAD", 0))
            for get_name, set_name in names:
                get = getattr(dll, get_name, None)
                put = getattr(dll, set_name, None)
                if get is not None and put is not None:
                    get.restype, put.restype = ctypes.c_int, None
                    put.argtypes = [ctypes.c_int]
                    self._get, self._set = get, put
                    break
        except Exception:   # threadpoolctl's own calls then
            self._get = self._set = None

    @property
    def lacks_functions(self) -> bool:
        """Its thread functions were not found (then only threadpoolctl can set it)."""
        return self._get is None or self._set is None

    @property
    def num_threads(self) -> int:
        return int(self._get()) if self._get is not None else self.lib.num_threads

    def set_num_threads(self, n: int) -> None:
        if self._set is not None:
            self._set(n)
        else:
            self.lib.set_num_threads(n)


def _get_controller():
    """The loaded pools (:class:`_Pool`; False where they cannot be found); found once, and
    again when a module that loads a new BLAS/OpenMP library has been imported. On Linux,
    when the only pools are OpenBLAS and OpenMP runtimes, :func:`_linux_pools` finds them;
    otherwise (another BLAS, another system, threadpoolctl missing) threadpoolctl's
    controller does."""
    global _controller, _controller_key
    key = _pool_key()
    if _controller is not None and key == _controller_key:
        return _controller
    try:
        import importlib.util
        if importlib.util.find_spec("threadpoolctl") is None:
            raise ImportError("threadpoolctl")
        pools = _linux_pools()
        if pools is None:
            import threadpoolctl
            pools = [_Pool(lib) for lib in threadpoolctl.ThreadpoolController().lib_controllers]
        _controller = pools
    except Exception:  # not installed, or a platform it cannot inspect: leave the pools alone
        _controller = False
    _controller_key = key
    return _controller


#: the start of the file names of the libraries threadpoolctl 3.x recognises (its
#: controllers' ``filename_prefixes``), by which :func:`_linux_pools` tells what is loaded
_OPENBLAS_PREFIXES = ("libopenblas", "libscipy_openblas")
_OPENMP_PREFIXES = ("libgomp", "libiomp", "libomp")
_OTHER_PREFIXES = ("libblas", "libmkl_rt", "mkl_rt", "libblis", "libflexiblas", "vcomp")


class _Found:
    """A pool found by :func:`_linux_pools` (the fields :class:`_Pool` reads of a
    threadpoolctl controller)."""

    def __init__(self, filepath, internal_api):
        self.filepath = filepath
        self.internal_api = internal_api
        self.user_api = "blas" if internal_api == "openblas" else "openmp"


def _loaded_objects():
    """The file names of the shared objects loaded in this process (glibc's and musl's
    ``dl_iterate_phdr``; ~0.3 ms, against ~2-5 ms to read ``/proc/self/maps``, which
    threadpoolctl reads)."""
    import ctypes

    class Info(ctypes.Structure):
        _fields_ = [("dlpi_addr", ctypes.c_void_p), ("dlpi_name", ctypes.c_char_p),
                    ("dlpi_phdr", ctypes.c_void_p), ("dlpi_phnum", ctypes.c_uint16)]

    names: list = []

    def collect(info, size, data):
        name = info.contents.dlpi_name
        if name:
            names.append(os.fsdecode(name))
        return 0

    iterate = ctypes.CDLL(None).dl_iterate_phdr
    iterate.argtypes = [ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Info), ctypes.c_size_t,
                                         ctypes.c_char_p), ctypes.c_char_p]
    iterate.restype = ctypes.c_int
    callback = iterate.argtypes[0](collect)
    iterate(callback, None)
    return names


def _linux_pools():
    """The OpenBLAS and OpenMP pools loaded in this process, found without threadpoolctl's
    scan (which reads ``/proc/self/maps`` and resolves every loaded object's path: ~10 ms of
    a fresh process's first fit); None where threadpoolctl must look (not Linux, a library
    other than OpenBLAS or an OpenMP runtime that threadpoolctl would recognise is loaded, or a
    pool's thread functions are not found). A file name is resolved before it is matched only
    where it is a symbolic link (threadpoolctl matches the resolved name); a pool's path is
    resolved as threadpoolctl's is."""
    if not sys.platform.startswith("linux"):
        return None
    found = {}
    for name in _loaded_objects():
        if os.path.islink(name):
            name = os.path.realpath(name)
        base = os.path.basename(name).lower()
        if base.startswith(_OPENBLAS_PREFIXES):
            found.setdefault(os.path.realpath(name), "openblas")
        elif base.startswith(_OPENMP_PREFIXES):
            found.setdefault(os.path.realpath(name), "openmp")
        elif base.startswith(_OTHER_PREFIXES):
            return None
    pools = [_Pool(_Found(path, api)) for path, api in found.items()]
    if any(pool.lacks_functions for pool in pools):
        return None
    return pools


def estimate_idle_cores(cores: int, load1: float, running: Optional[int],
                        own_load: float) -> int:
    """Idle cores from the machine's figures: ``cores`` this process may run on, the 1-minute
    load average ``load1``, the entities ``running`` right now (this process included; None
    where unknown) and this process's own share of the load average ``own_load``.

    The other processes are the larger of those running now and the load average without
    this process's share (rounded: half a process counts); the load average lags by about a
    minute, so the estimate errs towards fewer idle cores. At least 1.
    """
    others = int(max(0.0, load1 - own_load) + 0.5)
    if running is not None:
        others = max(others, running - 1)
    return max(1, cores - others)


_cpu_marks: list = []   # (monotonic time, this process's CPU time) when the load was read


def _own_load(cores: int) -> float:
    """This process's share of the 1-minute load average: the CPU time it used in the last
    minute (all of it when the process is younger than a minute or was not sampled a minute
    ago) over 60 s, at most ``cores``."""
    now, cpu = time.monotonic(), time.process_time()
    if not _cpu_marks or now - _cpu_marks[-1][0] >= 1.0:
        _cpu_marks.append((now, cpu))
    while len(_cpu_marks) > 1 and now - _cpu_marks[1][0] >= 60.0:
        del _cpu_marks[0]
    base = _cpu_marks[0][1] if now - _cpu_marks[0][0] >= 60.0 else 0.0
    return min(float(cores), (cpu - base) / 60.0)


def idle_cores() -> int:
    """Cores this process could use now without waiting for another process
    (:func:`estimate_idle_cores` from ``/proc/loadavg`` on Linux, the load average elsewhere;
    1 where neither is known)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        with open("/proc/loadavg") as f:
            fields = f.read().split()
        load1, running = float(fields[0]), int(fields[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        try:
            load1, running = os.getloadavg()[0], None
        except (AttributeError, OSError):
            return 1
    return estimate_idle_cores(cores, load1, running, _own_load(cores))


def _limit(lib, n):
    """Set one pool's thread count, remembering its count before the fit (not set again when
    it is already ``n``)."""
    if all(lib.filepath != saved.filepath for saved, _ in _saved):
        before = lib.num_threads
        _saved.append((lib, before))
        if before == n:
            return
    lib.set_num_threads(n)


def _enter():
    global _depth, _raised_to, _policy
    with _lock:
        if _depth > 0:
            _depth += 1
            _here.depth += 1
            if _policy != 0 and _controller_key != _pool_key():
                _refresh()      # a pool was loaded since (e.g. CHOLMOD's, by scipy.optimize)
            return
        policy = _policy_now()   # may raise (a bad LMERPY_NUM_THREADS): nothing changed yet
        _depth, _raised_to, _policy = 1, 1, policy
        _here.depth += 1
        if _policy == 0:
            return
        ctl = _get_controller()
        for lib in ctl or ():
            try:
                _limit(lib, 1)
            except Exception:  # a pool that cannot be set stays as it is; the fit goes on
                pass


def _exit():
    global _depth, _raised_to
    with _lock:
        _depth -= 1
        _here.depth -= 1
        if _depth > 0:
            return
        while _saved:
            lib, n = _saved.pop()
            try:
                if lib.num_threads != n:
                    lib.set_num_threads(n)
            except Exception:
                pass
        _raised_to = 1


def request_threads(order: int) -> int:
    """A kernel on a dense block of this order is coming: inside a fit, raise the BLAS threads
    for the rest of the fit if the block is large enough (and the setting allows, and cores
    are idle). Returns the BLAS thread count in force (0 when lmerpy leaves the pools alone,
    or outside a fit)."""
    global _raised_to
    with _lock:
        if _depth == 0 or _policy == 0:
            return 0
        if order < MIN_PARALLEL_ORDER or _raised_to > 1 and _policy is None:
            return _raised_to
        blas = [(lib, n) for lib, n in _saved if lib.user_api == "blas"]
        if not blas:
            return _raised_to
        if _policy is None:   # as many as the pools had, and no more than the idle cores
            want = min(max(n for _, n in blas), idle_cores())
        else:
            want = _policy
        if want > _raised_to:
            for lib, _ in blas:
                lib.set_num_threads(want)
            _raised_to = want
        return _raised_to


def refresh_pools() -> None:
    """A BLAS or OpenMP library was just loaded (e.g. CHOLMOD's): inside a fit, the fit's
    limit applies to it too (and is undone with the others when the fit ends)."""
    with _lock:
        if _depth == 0 or _policy == 0:
            return
        _refresh()


def _refresh():
    ctl = _get_controller()
    for lib in ctl or ():
        if all(lib.filepath != saved.filepath for saved, _ in _saved):
            try:
                _limit(lib, _raised_to if lib.user_api == "blas" else 1)
            except Exception:  # a pool that cannot be set stays as it is
                pass


def fit_threads(func: F) -> F:
    """Decorator: run ``func`` (a fit or a loop of fits) with lmerpy's BLAS threads."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return _scoped(func, args, kwargs)
    return cast(F, wrapper)


def _scoped(func, args, kwargs):
    """``func(*args, **kwargs)`` inside one scope of lmerpy's thread policy."""
    _enter()
    try:
        return func(*args, **kwargs)
    finally:
        _exit()


def call_threads(func: F) -> F:
    """Decorator for the public methods of deviance objects (``devfun(θ)``,
    ``devfun.gradient(θ)``, ...): called outside a fit, as in a user's own loop over
    :func:`~lmerpy.mkLmerDevfun`'s result, the call runs with lmerpy's BLAS threads like a fit
    (the pools are set when it starts and put back when it ends, about 4 µs); called inside a
    fit, or inside another such call in the same Python thread, it only checks a
    thread-local counter (about 0.1 µs)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if _here.depth:
            return func(*args, **kwargs)
        return _scoped(func, args, kwargs)
    return cast(F, wrapper)
