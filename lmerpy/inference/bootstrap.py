"""Model-based bootstrap of a fitted mixed model (lme4's ``bootMer``) and its intervals.

Responses are simulated from the fit (:func:`lmerpy.inference.simulate.simulate_responses`,
seeded, in the calling process, so the result does not depend on the number of workers);
each one is refitted cheaply with ``fit.refit(y)`` (same design, cross-products and symbolic
factorisation; the optimizer starts at θ̂) and ``FUN`` is applied to the refit. Workers are
processes (``concurrent.futures.ProcessPoolExecutor``); a tqdm progress bar is shown when
tqdm is installed.

Intervals follow the ``boot`` package's ``boot.ci`` (R: ``confint(fit, method = "boot",
boot.type = …)``): ``perc`` and ``basic`` use its interpolated order statistics
(``norm.inter``), ``norm`` the bias-corrected normal interval.
"""
from __future__ import annotations

import functools
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Literal, Optional

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import LEVEL, LOGICAL, NSIM, Choice, argument_error
from ..errors import ArgumentError, DataNotHereError, LmerpyError
from ..models.naresid import model_rows
from ..progress import (N_JOBS, load_worker_state, parallel_map, progress_bar, resolve_n_jobs,
                        worker_start)
from ..threads import fit_threads
from ..warnings import BootstrapWarning, warn

if TYPE_CHECKING:
    from ..models.base import MixedModel
    from ..types import ReForm, Seed

__all__ = ["bootMer", "BootResult", "norm_inter", "pct_names", "refit_all", "BOOT_CI_TYPE",
           "N_JOBS", "PARALLEL"]

#: ``type`` of bootstrap intervals (R: ``boot.ci``'s)
BOOT_CI_TYPE = Choice(("perc", "basic", "norm"))
_BOOT_TYPE = Choice(("parametric", "semiparametric"))
#: how ``n_jobs`` workers run: ``"processes"`` or ``"threads"`` (batched refits only)
PARALLEL = Choice(("processes", "threads"))


# ----------------------------------------------------------------------------- intervals


def norm_inter(t, alpha):
    """Interpolated quantiles of a bootstrap sample (R: ``boot:::norm.inter``).

    The (R+1)α-th order statistic, interpolated on the normal-quantile scale between
    neighbouring order statistics when (R+1)α is not an integer.
    """
    t = np.asarray(t, dtype=float)
    t = np.sort(t[np.isfinite(t)])
    R = t.shape[0]
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    if R == 0:
        return np.full(alpha.shape, np.nan)
    rk = (R + 1) * alpha
    if not np.all((rk > 1) & (rk < R)):
        warn("extreme order statistics used as endpoints", BootstrapWarning)
    k = np.trunc(rk).astype(np.int64)
    out = np.empty(alpha.shape)
    for j in range(alpha.shape[0]):
        kj = k[j]
        if kj == rk[j]:
            out[j] = t[min(max(kj, 1), R) - 1]
        elif kj <= 0:
            out[j] = t[0]
        elif kj >= R:
            out[j] = t[R - 1]
        else:
            z = stats.norm.ppf(alpha[j])
            z1 = stats.norm.ppf(kj / (R + 1))
            z2 = stats.norm.ppf((kj + 1) / (R + 1))
            tk, tk1 = t[kj - 1], t[kj]
            out[j] = tk + (z - z1) / (z2 - z1) * (tk1 - tk)
    return out


def pct_names(level: float) -> List[str]:
    """R's column names of a confidence interval, e.g. ``["2.5 %", "97.5 %"]``."""
    a = (1.0 - level) / 2.0
    return [f"{100 * p:.3g} %" for p in (a, 1.0 - a)]


class BootResult:
    """The value of :func:`bootMer` (R: a ``bootMer``/``boot`` object).

    Attributes
    ----------
    t0 : pandas.Series
        ``FUN(fit)``.
    t : pandas.DataFrame
        One row per simulation, one column per element of ``t0``; NaN rows for failed refits.
    R : int
        Number of simulations.
    sim : str
        ``"parametric"`` or ``"semiparametric"``.
    seed : object
        The ``seed`` argument.
    n_failed : int
        Refits that raised an error (R: ``attr(b, "bootFail")``).
    messages : dict
        Error and warning messages of the refits with their counts.
    """

    def __init__(self, t0: pd.Series, t: pd.DataFrame, R: int, sim: str, seed: Any,
                 n_failed: int, messages: Dict[str, int],
                 mle: Optional[Dict[str, Any]] = None) -> None:
        self.t0 = t0
        self.t = t
        self.R = int(R)
        self.sim = sim
        self.seed = seed
        self.n_failed = int(n_failed)
        self.messages = messages
        self.mle = mle or {}

    def bias(self) -> pd.Series:
        """mean(t*) − t0 per statistic (finite replicates)."""
        return self.t.mean(axis=0, skipna=True) - self.t0

    def std_error(self) -> pd.Series:
        """Standard deviation of t* per statistic (finite replicates)."""
        return self.t.std(axis=0, ddof=1, skipna=True)

    def confint(self, type: Literal["perc", "basic", "norm"] = "perc", level: float = 0.95,
                parm: Optional[List[str]] = None) -> pd.DataFrame:
        """Bootstrap confidence intervals (R: ``confint(b, type = )``, ``boot.ci``).

        Parameters
        ----------
        type : {"perc", "basic", "norm"}
        level : float
        parm : str or sequence of str, optional
            Statistics to include (default all).

        Returns
        -------
        pandas.DataFrame
            One row per statistic, columns ``"2.5 %"``, ``"97.5 %"`` (for level 0.95).
        """
        type = BOOT_CI_TYPE("type", type, "confint")
        level = LEVEL("level", level, "confint")
        names = list(self.t0.index)
        if parm is not None:
            parm = [parm] if isinstance(parm, str) else list(parm)
            bad = [p for p in parm if p not in names]
            if bad:
                raise ArgumentError(f"confint: unknown parameter(s) in parm: "
                                    f"{', '.join(map(repr, bad))}; available: {', '.join(names)}")
            names = parm
        alpha = np.array([(1 - level) / 2, (1 + level) / 2])
        rows = []
        for nm in names:
            tt = self.t[nm].to_numpy(dtype=float)
            t0 = float(self.t0[nm])
            if type == "perc":
                rows.append(norm_inter(tt, alpha))
            elif type == "basic":
                q = norm_inter(tt, alpha[::-1])
                rows.append(2.0 * t0 - q)
            else:
                fin = tt[np.isfinite(tt)]
                bias = fin.mean() - t0
                merr = fin.std(ddof=1) * stats.norm.ppf((1 + level) / 2)
                rows.append(np.array([t0 - bias - merr, t0 - bias + merr]))
        return pd.DataFrame(np.array(rows, dtype=float).reshape(len(names), 2), index=names,
                            columns=pct_names(level))

    def __str__(self):
        from ..display.rprint import print_numeric_matrix
        tab = np.column_stack([self.t0.to_numpy(dtype=float), self.bias().to_numpy(),
                               self.std_error().to_numpy()])
        rows = [f"t{i + 1}*" for i in range(tab.shape[0])]
        head = f"{self.sim.upper()} BOOTSTRAP\n\n\nCall:\nbootMer(nsim = {self.R})\n\n\n"
        body = print_numeric_matrix(tab, rows, ["original", "bias", "std. error"])
        fail = (f"\n{self.n_failed} of {self.R} bootstrap refits failed"
                if self.n_failed else "")
        return head + "Bootstrap Statistics :\n" + body + fail

    def _repr_html_(self) -> str:
        from ..display.html import pre_html
        return pre_html(str(self))

    __repr__ = __str__


# ----------------------------------------------------------------------------- refits


def _as_vector(value, names=None):
    if isinstance(value, pd.Series):
        return value.to_numpy(dtype=float), [str(i) for i in value.index]
    if isinstance(value, dict):
        return np.asarray(list(value.values()), dtype=float), [str(k) for k in value]
    arr = np.atleast_1d(np.asarray(value, dtype=float)).reshape(-1)
    return arr, names or [f"t{i + 1}" for i in range(arr.shape[0])]


def _one(make, FUN, k):
    """Refit (``make()``) and apply FUN: (values or None, error, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = FUN(make())
            arr, _ = _as_vector(value)
            if arr.shape[0] != k:
                raise LmerpyError(f"FUN returned {arr.shape[0]} values on a refit, "
                                  f"{k} on the fit")
            err = None
        except DataNotHereError:  # not a failed refit: no refit can be made (a saved Dask fit)
            raise
        except Exception as exc:  # a failed refit is a NaN row, as in bootMer
            arr, err = None, f"{type(exc).__name__}: {exc}"
    return arr, err, [str(w.message) for w in caught]


def _plain(fit, y):
    return fit.refit(y)


def _one_shared(shared, y):
    """:func:`_one` of the plain refit (:func:`lmerpy.progress.parallel_map`'s item function)."""
    fit, FUN, k = shared
    return _one(functools.partial(_plain, fit, y), FUN, k)


def _plan(fit, ys):
    """One refit function per response (:func:`lmerpy.models.refits.refit_plan`: batched
    where the model allows; an object with its own ``refit_plan`` uses that)."""
    from ..models.refits import refit_plan
    planner = getattr(fit, "refit_plan", None)
    try:
        return planner(ys) if callable(planner) else refit_plan(fit, ys)
    except Exception:  # noqa: BLE001 - the plain refits report whatever it was, per response
        return [functools.partial(_plain, fit, y) for y in ys]


def _batched(fit):
    from ..models.refits import batch_ready
    flag = getattr(fit, "batched", None)
    return bool(flag) if flag is not None else batch_ready(fit)


_WORKER: Dict[str, Any] = {}


def _init_worker(payload):
    load_worker_state(_WORKER, payload)


@fit_threads
def _run_chunk(start, ys, k):
    fit, FUN = _WORKER["fit"], _WORKER["FUN"]
    return start, [_one(make, FUN, k) for make in _plan(fit, ys)]


def _responses(Y, kind):
    """Split simulated responses (m, nsim) or (m, 2, nsim) into per-simulation arrays."""
    return [Y[..., j] for j in range(Y.shape[-1])]


def refit_all(fit, FUN: Callable, ys: List[np.ndarray], k: int, n_jobs: int = 1,
              progress: bool = False, desc: str = "bootMer", parallel: str = "processes"):
    """``[(values, error, warnings)]`` of ``FUN(fit.refit(y))`` for each response, in order;
    ``n_jobs`` workers (1: in this process): processes, or with ``parallel="threads"`` threads
    of this process where the refits are batched (they optimise the batches, NumPy releasing
    the GIL in the array operations, while this thread builds the refits and applies FUN;
    other refits always use processes). A progress bar named ``desc`` counts the refits
    (:func:`lmerpy.progress.progress_bar`).

    Small LMMs are refitted in batches (:func:`lmerpy.models.refits.refit_plan`) of a fixed
    size, the same batches whatever ``n_jobs``, so the results do not depend on it; other
    models one by one through :func:`lmerpy.progress.parallel_map`."""
    from ..models.refits import BATCH_SIZE, prepare_batches
    n = len(ys)
    parallel = PARALLEL("parallel", parallel, desc)
    n_jobs = resolve_n_jobs(n_jobs, desc)
    if not _batched(fit):
        return parallel_map(_one_shared, ys, shared=(fit, FUN, k), n_jobs=n_jobs,
                            progress=progress, desc=desc, unit="refit", caller=desc)
    out: List = [None] * n
    # what the batches share, once (before any worker starts)
    prep = getattr(fit, "prepare_batches", None)
    prep() if callable(prep) else prepare_batches(fit)
    starts = range(0, n, BATCH_SIZE)
    if n_jobs <= 1 or n <= 1:
        with progress_bar(n, desc, progress, "refit") as bar:
            for s in starts:
                for i, make in enumerate(_plan(fit, ys[s:s + BATCH_SIZE])):
                    out[s + i] = _one(make, FUN, k)
                    bar.update(1)
        return out
    if parallel == "threads":
        # the threads optimise the batches (array work, no warnings); this thread builds the
        # refits and applies FUN in order, so each refit's warnings are recorded as its own
        # (warnings.catch_warnings is not thread-safe)
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=n_jobs) as pool, \
                progress_bar(n, desc, progress, "refit") as bar:
            plans = pool.map(lambda s: _plan(fit, ys[s:s + BATCH_SIZE]), starts)
            for s, plan in zip(starts, plans):
                for i, make in enumerate(plan):
                    out[s + i] = _one(make, FUN, k)
                    bar.update(1)
        return out
    # with fork the children inherit the fit and FUN: nothing but responses and results is pickled
    ctx, payload = worker_start(_WORKER, {"fit": fit, "FUN": FUN},
                                f"{desc} with n_jobs > 1 needs FUN to be picklable (a function "
                                f"defined at module level, not a lambda)")
    try:
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(payload,)) as pool:
            futures = [pool.submit(_run_chunk, s, ys[s:s + BATCH_SIZE], k) for s in starts]
            with progress_bar(n, desc, progress, "refit") as bar:
                for fut in as_completed(futures):
                    start, res = fut.result()
                    out[start:start + len(res)] = res
                    bar.update(len(res))
    finally:
        _WORKER.clear()
    return out


def _count(msgs):
    counts = {}
    for m in msgs:
        counts[m] = counts.get(m, 0) + 1
    return counts


@fit_threads
def bootMer(fit: MixedModel, FUN: Callable[[Any], Any], nsim: int = 1, seed: Seed = None,
            use_u: bool = False, re_form: ReForm = None,
            type: Literal["parametric", "semiparametric"] = "parametric",
            progress: bool = True, n_jobs: int = 1,
            parallel: Literal["processes", "threads"] = "processes") -> BootResult:
    """Model-based (semi-)parametric bootstrap (R: ``bootMer(x, FUN, nsim, seed, use.u,
    re.form, type, parallel, ncpus)``).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    FUN : callable
        fit → number, sequence, dict or pandas Series (names are kept), e.g.
        ``lambda m: m.fixef()``. With ``n_jobs > 1`` on a platform without ``fork`` it must
        be picklable (defined at module level).
    nsim : int
        Number of bootstrap samples.
    seed : None, int or numpy.random.Generator
        Seeds the simulation (the result does not depend on ``n_jobs``).
    use_u, re_form :
        Which random effects the simulation conditions on, as in
        :func:`~lmerpy.inference.simulate.simulate` (default: new random effects each time).
    type : {"parametric", "semiparametric"}
        ``semiparametric`` (needs ``use_u=True``): fitted values plus residuals resampled with
        replacement, as lme4.
    progress : bool
        Show a tqdm progress bar (when tqdm is installed).
    n_jobs : int
        Workers (1: none; -1: one per CPU). The results do not depend on it.
    parallel : {"processes", "threads"}
        What the workers are. ``"threads"`` shares this process's memory and needs no
        picklable FUN, but runs in parallel only where the refits are batched (small linear
        mixed models, :mod:`lmerpy.models.refits`); other refits always use processes.

    Returns
    -------
    BootResult
        ``.t0``, ``.t`` (nsim × k DataFrame), ``.confint(type="perc"|"norm"|"basic")``.
    """
    from .reform import parse_re_form
    from .simulate import as_generator, simulate_responses
    nsim = NSIM("nsim", nsim, "bootMer")
    type = _BOOT_TYPE("type", type, "bootMer")
    use_u = LOGICAL("use_u", use_u, "bootMer")
    progress = LOGICAL("progress", progress, "bootMer")
    n_jobs = N_JOBS("n_jobs", n_jobs, "bootMer")
    if not callable(FUN):
        raise argument_error("FUN", FUN, "a function of the fitted model", "bootMer")
    if re_form is not None:
        parse_re_form(re_form, "bootMer")
    rng = as_generator(seed, "bootMer")
    t0_raw = FUN(fit)
    t0_arr, names = _as_vector(t0_raw)
    k = t0_arr.shape[0]
    cluster = getattr(fit, "dask_log", None) is not None
    if cluster and type != "parametric":
        raise ArgumentError("bootMer of a fit on a Dask DataFrame: only type='parametric'")
    if cluster:     # simulated and reduced where the data live: one pass per batch
        from ..dask import bootstrap_responses
        ys = bootstrap_responses(fit, nsim, seed, use_u=use_u, re_form=re_form,
                                 progress=None if progress else False)
        n_jobs = 1                  # the refits are small (no n-long work): on the client
    elif type == "parametric":
        Y, _, kind = simulate_responses(fit, nsim=nsim, seed=rng, use_u=use_u, re_form=re_form)
        ys = _responses(Y, kind)
    else:
        if re_form is not None:
            raise ArgumentError("re_form cannot be used with semiparametric bootstrapping")
        if not use_u:
            raise ArgumentError("semiparametric bootstrapping with use_u=False not yet "
                              "implemented (as in lme4)")
        if getattr(fit, "family", None) is not None:
            warn("semiparametric bootstrapping is questionable for GLMMs", BootstrapWarning)
        fitted = model_rows(fit.design, fit.fitted().to_numpy(dtype=float))
        res = model_rows(fit.design, fit.residuals(type="response").to_numpy(dtype=float))
        ys = [fitted + rng.choice(res, size=res.shape[0], replace=True) for _ in range(nsim)]
    results = refit_all(fit, FUN, ys, k, n_jobs=n_jobs, progress=progress, parallel=parallel)
    T = np.full((nsim, k), np.nan)
    errors, warns = [], []
    for i, (arr, err, ws) in enumerate(results):
        if arr is not None:
            T[i] = arr
        else:
            errors.append(err)
        warns.extend(ws)
    if errors:
        warn(f"some bootstrap runs failed ({len(errors)}/{nsim})", BootstrapWarning)
    mle = {"beta": fit.fixef().to_numpy(), "theta": fit.theta, "par": fit.par}
    if getattr(fit, "family", None) is None:
        mle["sigma"] = fit.sigma()
    return BootResult(pd.Series(t0_arr, index=names), pd.DataFrame(T, columns=names), nsim,
                      type, seed if not isinstance(seed, np.random.Generator) else None,
                      len(errors), {"error": _count(errors), "warning": _count(warns)}, mle)
