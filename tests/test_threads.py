"""lmerpy's BLAS threads (lmerpy.threads): inside a fit the pools run with the thread count the
setting says — seen by threadpoolctl's ``threadpool_info()`` from inside the deviance — and
after the fit they are back where they were. No timings."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import threadpoolctl

import lmerpy
from lmerpy import threads
from lmerpy.errors import ArgumentError
from lmerpy.pls.glmm.deviance import GlmmDeviance
from lmerpy.pls.lmm.deviance import LmmDeviance

SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _counts(user_api="blas"):
    return sorted({p["num_threads"] for p in threadpoolctl.threadpool_info()
                   if p["user_api"] == user_api})


@pytest.fixture
def two_thread_pools(monkeypatch):
    """No thread variable in the environment, no lmerpy setting, every pool at 2 threads
    (the suite itself runs with OPENBLAS_NUM_THREADS=1); put back afterwards."""
    for var in threads.BLAS_ENV_VARS + ("LMERPY_NUM_THREADS",):
        monkeypatch.delenv(var, raising=False)
    threads.set_num_threads(None)
    limiter = threadpoolctl.threadpool_limits(limits=2)
    assert _counts() == [2]
    yield
    threads.set_num_threads(None)
    limiter.restore_original_limits()


@pytest.fixture
def inside(monkeypatch):
    """Records the BLAS (and OpenMP) thread counts at every deviance evaluation."""
    seen = []

    def spy(cls):
        real = cls.__call__

        def call(self, *args, **kwargs):
            seen.append((_counts("blas"), _counts("openmp")))
            return real(self, *args, **kwargs)
        monkeypatch.setattr(cls, "__call__", call)

    spy(LmmDeviance)
    spy(GlmmDeviance)
    return seen


def test_automatic_fit_runs_on_one_thread_and_restores(two_thread_pools, inside, sleep, cbpp):
    lmerpy.lmer(SLEEP, sleep)
    assert inside and all(b == [1] for b, _ in inside)
    assert all(o in ([], [1]) for _, o in inside)
    assert _counts() == [2]
    inside.clear()
    lmerpy.glmer(CBPP, cbpp, family="binomial")
    assert inside and all(b == [1] for b, _ in inside)
    assert _counts() == [2]


def test_automatic_large_block_uses_the_idle_cores(two_thread_pools, inside, sleep,
                                                    monkeypatch):
    monkeypatch.setattr(threads, "MIN_PARALLEL_ORDER", 2)   # sleepstudy's block counts as large
    monkeypatch.setattr(threads, "idle_cores", lambda: 2)
    lmerpy.lmer(SLEEP, sleep)
    assert inside and inside[-1][0] == [2]
    inside.clear()
    monkeypatch.setattr(threads, "idle_cores", lambda: 1)   # the other core is busy
    lmerpy.lmer(SLEEP, sleep)
    assert inside and all(b == [1] for b, _ in inside)
    assert _counts() == [2]


def test_small_blocks_stay_on_one_thread_whatever_the_setting(two_thread_pools, inside, sleep):
    assert threads.MIN_PARALLEL_ORDER > 36   # sleepstudy's q
    threads.set_num_threads(2)
    lmerpy.lmer(SLEEP, sleep)
    assert inside and all(b == [1] for b, _ in inside)


def test_set_num_threads_is_honoured(two_thread_pools, inside, sleep, monkeypatch):
    monkeypatch.setattr(threads, "MIN_PARALLEL_ORDER", 2)
    monkeypatch.setattr(threads, "idle_cores", lambda: 1)   # a user's n is not load-checked
    lmerpy.set_num_threads(2)
    assert lmerpy.get_num_threads() == 2
    lmerpy.lmer(SLEEP, sleep)
    assert inside and inside[-1][0] == [2]
    inside.clear()
    lmerpy.set_num_threads(1)
    lmerpy.lmer(SLEEP, sleep)
    assert inside and all(b == [1] for b, _ in inside)
    assert _counts() == [2]


def test_environment_variable_is_honoured(two_thread_pools, inside, sleep, monkeypatch):
    monkeypatch.setattr(threads, "MIN_PARALLEL_ORDER", 2)
    monkeypatch.setenv("LMERPY_NUM_THREADS", "2")
    assert lmerpy.get_num_threads() == 2
    lmerpy.lmer(SLEEP, sleep)
    assert inside and inside[-1][0] == [2]
    inside.clear()
    threads.set_num_threads(1)             # the call wins over the variable
    lmerpy.lmer(SLEEP, sleep)
    assert all(b == [1] for b, _ in inside)


def test_users_blas_variables_leave_the_pools_alone(two_thread_pools, inside, sleep,
                                                   monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    lmerpy.lmer(SLEEP, sleep)
    assert inside and all(b == [2] for b, _ in inside)
    inside.clear()
    monkeypatch.setenv("LMERPY_NUM_THREADS", "1")   # lmerpy's own setting still decides
    lmerpy.lmer(SLEEP, sleep)
    assert inside and all(b == [1] for b, _ in inside)
    assert _counts() == [2]


def test_nested_fits_restore_once(two_thread_pools, inside, sleep):
    fit = lmerpy.lmer(SLEEP, sleep)

    @threads.fit_threads
    def loop():
        out = [fit.refit(sleep["Reaction"] + k) for k in range(2)]
        assert _counts() == [1]      # an inner fit's end did not restore the pools
        return out

    inside.clear()
    loop()
    assert inside and all(b == [1] for b, _ in inside)
    assert _counts() == [2]


def test_pools_are_restored_when_a_fit_fails(two_thread_pools, sleep):
    with pytest.raises(lmerpy.LmerpyError):
        lmerpy.lmer("Reaction ~ Days + (Days | NoSuchColumn)", sleep)
    assert _counts() == [2]


def test_request_outside_a_fit_does_nothing(two_thread_pools):
    assert threads.request_threads(10_000) == 0
    assert _counts() == [2]


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_bad_thread_counts_are_argument_errors(bad):
    with pytest.raises(ArgumentError, match=r"\bn\b.*" + repr(bad).replace(".", r"\.")):
        lmerpy.set_num_threads(bad)


@pytest.mark.parametrize("text", ["0", "two", "-1", "1.5"])
def test_bad_environment_variable_is_an_argument_error(monkeypatch, sleep, text):
    monkeypatch.setenv("LMERPY_NUM_THREADS", text)
    with pytest.raises(ArgumentError, match=rf"LMERPY_NUM_THREADS.*'{text}'"):
        lmerpy.lmer(SLEEP, sleep)


@pytest.mark.parametrize("cores,load1,running,own,idle", [
    (2, 0.1, 1, 0.0, 2),     # an idle machine
    (2, 0.3, 2, 0.0, 1),     # another process running right now
    (2, 1.0, 1, 0.0, 1),     # another process busy for the last minute (sleeping this instant)
    (2, 1.2, 1, 1.0, 2),     # the load is this process's own (a loop of fits)
    (2, 1.94, 1, 1.0, 1),    # ... plus most of another process: counted
    (8, 3.0, 2, 1.0, 6),
    (2, 0.2, None, 0.0, 2),  # no running count (not Linux)
    (1, 0.0, 1, 0.0, 1),
    (4, 9.0, 12, 0.0, 1),    # overloaded: never fewer than one
])
def test_idle_core_estimate(cores, load1, running, own, idle):
    assert threads.estimate_idle_cores(cores, load1, running, own) == idle


def test_idle_cores_is_between_one_and_the_cores():
    n = threads.idle_cores()
    assert 1 <= n <= (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count())


def test_pools_loaded_during_a_fit_are_limited_and_restored(tmp_path):
    """CHOLMOD's BLAS and OpenMP libraries are loaded by the first fit that needs them, inside
    the fit's thread scope: they run with one thread there too, and get their own count back
    after. A fresh process (here they are loaded already)."""
    pytest.importorskip("sksparse.cholmod")
    code = (
        "import json, sys, threadpoolctl, lmerpy\n"
        "from lmerpy.pls.lmm.deviance import LmmDeviance\n"
        "assert 'sksparse' not in sys.modules\n"
        "seen = []\n"
        "real = LmmDeviance.__call__\n"
        "def spy(self, *a, **k):\n"
        "    seen.append({p['filepath']: p['num_threads'] for p in threadpoolctl.threadpool_info()})\n"
        "    return real(self, *a, **k)\n"
        "LmmDeviance.__call__ = spy\n"
        "lmerpy.lmer('Reaction ~ Days + (Days | Subject)', lmerpy.datasets.load('sleepstudy'),\n"
        "            backend='cholmod')\n"
        "after = {p['filepath']: p['num_threads'] for p in threadpoolctl.threadpool_info()}\n"
        "print(json.dumps({'inside': seen[-1], 'after': after, 'n': len(seen)}))\n")
    env = {k: v for k, v in os.environ.items()
           if k not in threads.BLAS_ENV_VARS + ("LMERPY_NUM_THREADS",)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    env["LMERPY_CACHE_DIR"] = str(tmp_path)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.splitlines()[-1])
    assert out["n"] > 0
    cholmod_pools = [f for f in out["inside"] if "scipy_openblas" not in f]
    assert cholmod_pools, out   # CHOLMOD brought its own BLAS/OpenMP library
    assert set(out["inside"].values()) == {1}, out
    assert set(out["after"]) == set(out["inside"])
    if (os.cpu_count() or 1) > 1:   # back to their own default, which is above one thread
        assert all(n > 1 for n in out["after"].values()), out


def test_gls_and_the_toolkit_run_on_one_thread_and_restore(two_thread_pools, sleep,
                                                           monkeypatch):
    """gls and the toolkit's entry points are scoped like lmer: one BLAS thread inside, the
    pools restored after (seen from inside the criterion and the leverages)."""
    from lmerpy import nlme, toolkit
    import importlib

    from lmerpy.nlme.estimate import GlsCriterion
    influence = importlib.import_module("lmerpy.toolkit.influence")   # (the module, not
    # lmerpy.toolkit.influence, the function of that name)
    seen = []
    real_loglik, real_hat = GlsCriterion.loglik, influence.hat_values

    def loglik(self, par):
        seen.append(("gls", _counts()))
        return real_loglik(self, par)

    def hat_values(fit):
        seen.append(("hat", _counts()))
        return real_hat(fit)
    monkeypatch.setattr(GlsCriterion, "loglik", loglik)
    monkeypatch.setattr(influence, "hat_values", hat_values)
    nlme.gls("Reaction ~ Days", sleep, correlation=nlme.corAR1(form="~ 1 | Subject"))
    fit = lmerpy.lmer(SLEEP, sleep)
    assert _counts() == [2]
    toolkit.cooks_distance(fit)
    toolkit.hatvalues(fit)
    assert {what for what, _ in seen} == {"gls", "hat"}
    assert all(c == [1] for _, c in seen)
    assert _counts() == [2]


# ------------------------------------------------------------------ the modular API
# A deviance from mkLmerDevfun / mkGlmerDevfun / updateGlmerDevfun evaluated in the user's own
# loop, outside any fit: each public call runs with the policy's threads (lmerpy.threads
# call_threads) and leaves the pools as it found them.


@pytest.fixture
def evaluating(monkeypatch):
    """Records the BLAS thread counts from inside each evaluation (within the public call,
    where the deviance's LAPACK calls run)."""
    seen = []

    def spy(cls):
        real = cls._evaluate

        def evaluate(self, *args, **kwargs):
            seen.append(_counts())
            return real(self, *args, **kwargs)
        monkeypatch.setattr(cls, "_evaluate", evaluate)

    spy(LmmDeviance)
    spy(GlmmDeviance)
    return seen


def _devfuns(sleep, cbpp):
    """Fresh deviances (a deviance keeps its last evaluation) and a point for each."""
    lmm = lmerpy.mkLmerDevfun(lmerpy.lFormula(SLEEP, sleep))
    glf = lmerpy.glFormula(CBPP, cbpp, family="binomial")
    g0 = lmerpy.mkGlmerDevfun(glf)
    g1 = lmerpy.updateGlmerDevfun(lmerpy.mkGlmerDevfun(glf), nAGQ=1)
    theta, pars = [0.9667, 0.0152, 0.2309], [0.642, -1.3983, -0.9919, -1.128, -1.5797]
    return [("lmm", lmm, theta), ("lmm gradient", lmm.gradient, theta),
            ("lmm solve", lambda t: lmm.solve(t).deviance_ml, [0.9, 0.01, 0.2]),
            ("glmm nAGQ=0", g0, [0.642]), ("glmm nAGQ=1", g1, pars),
            ("glmm laplace gradient", g1.laplace_gradient, pars)]


def _values(sleep, cbpp):
    import numpy as np
    return {name: np.asarray(f(x), dtype=float) for name, f, x in _devfuns(sleep, cbpp)}


def test_devfun_outside_a_fit_runs_with_the_policy_and_restores(two_thread_pools, evaluating,
                                                                  sleep, cbpp):
    for name, f, x in _devfuns(sleep, cbpp):
        evaluating.clear()
        f(x)
        assert evaluating and all(b == [1] for b in evaluating), name
        assert _counts() == [2], name
    assert threads._depth == 0


def test_devfun_in_a_users_optimizer_loop(two_thread_pools, evaluating, sleep):
    from scipy.optimize import minimize
    devfun = lmerpy.mkLmerDevfun(lmerpy.lFormula(SLEEP, sleep))
    res = minimize(devfun, [1.0, 0.0, 1.0], method="Nelder-Mead")
    assert len(evaluating) == devfun.n_evals >= 20
    assert all(b == [1] for b in evaluating)
    assert _counts() == [2]
    assert res.fun == pytest.approx(lmerpy.lmer(SLEEP, sleep).REMLcrit(), abs=1e-3)


def test_devfun_values_are_the_same_bits_with_and_without_the_scope(two_thread_pools, sleep,
                                                                    cbpp, monkeypatch):
    import numpy as np
    scoped = _values(sleep, cbpp)                      # the policy: one thread
    in_fit = threads.fit_threads(_values)(sleep, cbpp)  # inside a fit's scope
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")    # lmerpy leaves the two threads alone
    untouched = _values(sleep, cbpp)
    for name, v in scoped.items():
        assert np.array_equal(v, in_fit[name]), name
        assert np.array_equal(v, untouched[name]), name


def test_devfun_honours_the_users_setting(two_thread_pools, evaluating, sleep, cbpp,
                                          monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")    # the user's BLAS variable: left alone
    for name, f, x in _devfuns(sleep, cbpp):
        evaluating.clear()
        f(x)
        assert evaluating and all(b == [2] for b in evaluating), name
    monkeypatch.setenv("LMERPY_NUM_THREADS", "1")      # lmerpy's own setting decides
    for name, f, x in _devfuns(sleep, cbpp):
        evaluating.clear()
        f(x)
        assert evaluating and all(b == [1] for b in evaluating), name
    assert _counts() == [2]


def test_devfun_large_block_outside_a_fit_follows_the_setting(two_thread_pools, evaluating,
                                                              sleep, monkeypatch):
    monkeypatch.setattr(threads, "MIN_PARALLEL_ORDER", 2)   # sleepstudy's block counts as large
    lmerpy.set_num_threads(2)
    dev = lmerpy.mkLmerDevfun(lmerpy.lFormula(SLEEP, sleep), backend="scipy")
    seen = []
    real = threads.request_threads

    def request(order):
        seen.append(real(order))
        return seen[-1]
    monkeypatch.setattr(threads, "request_threads", request)
    dev([0.9, 0.01, 0.2])
    assert _counts() == [2]
    assert threads._depth == 0
    assert all(n in (0, 1, 2) for n in seen)


def test_devfun_inside_a_fit_does_not_enter_a_second_scope(two_thread_pools, evaluating, sleep):
    devfun = lmerpy.mkLmerDevfun(lmerpy.lFormula(SLEEP, sleep))
    depths = []

    @threads.fit_threads
    def loop():
        for k in range(3):
            devfun([1.0 + k, 0.0, 1.0])
            depths.append(threads._depth)

    loop()
    assert depths == [1, 1, 1]
    assert all(b == [1] for b in evaluating)
    assert _counts() == [2]


def _pool_ids(pools):
    return sorted((p.filepath, p.user_api, p.lib.internal_api) for p in pools)


def _threadpoolctl_ids():
    return sorted((lib.filepath, lib.user_api, lib.internal_api)
                  for lib in threadpoolctl.ThreadpoolController().lib_controllers)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux finder")
def test_linux_finder_finds_threadpoolctls_pools_in_a_fresh_process():
    """numpy's and SciPy's OpenBLAS (what a small fit loads): the finder that skips
    threadpoolctl's scan finds the same libraries, and a fit's first scope takes them."""
    code = ("import json, numpy, scipy.linalg, threadpoolctl\n"
            "from lmerpy import threads\n"
            "pools = threads._linux_pools()\n"
            "mine = None if pools is None else sorted((p.filepath, p.user_api, "
            "p.lib.internal_api) for p in pools)\n"
            "theirs = sorted((l.filepath, l.user_api, l.internal_api)\n"
            "                for l in threadpoolctl.ThreadpoolController().lib_controllers)\n"
            "print(json.dumps({'mine': mine, 'theirs': theirs}))\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                    text=True, check=True).stdout.splitlines()[-1])
    assert out["theirs"] and out["mine"] == out["theirs"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux finder")
def test_linux_finder_agrees_or_defers_to_threadpoolctl():
    """In this process (whatever the suite has loaded, e.g. CHOLMOD's system BLAS): the same
    pools as threadpoolctl's, or None (threadpoolctl's scan then)."""
    pools = threads._linux_pools()
    if pools is not None:
        assert _pool_ids(pools) == _threadpoolctl_ids()
    libs = threadpoolctl.ThreadpoolController().lib_controllers
    if any(lib.internal_api not in ("openblas", "openmp") for lib in libs):
        assert pools is None
