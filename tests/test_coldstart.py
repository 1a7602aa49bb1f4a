"""Cold start: what a fresh process loads for ``import lmerpy`` and for its first lmer and
glmer fits (benchmarks/coldstart.py times it; here only which modules are loaded, no timings):
``import lmerpy`` loads no numpy, pandas, scipy or parser; the first fits load no
scipy.stats (~0.3 s to import), no scipy.optimize (~70 ms: glmer's L-BFGS-B routine is loaded
on its own) and no plotting."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lmerpy
from lmerpy.optimize import minimize as M

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "scipy", "lark", "matplotlib", "pyarrow", "threadpoolctl")


def _loaded_after(code, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), LMERPY_CACHE_DIR=str(tmp_path))
    code += ("\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules "
             f"if m.split('.')[0] in {HEAVY!r} or m == 'scipy.stats')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_import_lmerpy_loads_no_numerical_library(tmp_path):
    loaded = _loaded_after("import lmerpy", tmp_path)
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY), loaded


def test_first_fits_do_not_import_scipy_stats(tmp_path):
    code = ("import lmerpy\n"
            "lmerpy.lmer('Reaction ~ Days + (Days | Subject)', lmerpy.datasets.load('sleepstudy'))\n"
            "lmerpy.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)',\n"
            "             lmerpy.datasets.load('cbpp'), family=lmerpy.binomial)\n"
            "lmerpy.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)',\n"
            "             lmerpy.datasets.load('cbpp'), family=lmerpy.binomial(link='probit'))")
    loaded = _loaded_after(code, tmp_path)
    assert {"numpy", "pandas", "scipy", "lark"} <= {m.split(".")[0] for m in loaded}
    assert "scipy.stats" not in loaded and "matplotlib" not in loaded, sorted(loaded)


@pytest.mark.skipif(M._setulb() is None, reason="this SciPy's L-BFGS-B is not driven directly")
def test_first_glmer_loads_no_scipy_optimize_and_fits_the_same(tmp_path, gm1):
    """glmer's L-BFGS-B routine loaded without scipy.optimize's package: the same fit bit for
    bit, and a later ``import scipy.optimize`` is undisturbed (its L-BFGS-B still runs)."""
    code = ("import json, sys, lmerpy\n"
            "fit = lmerpy.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)',\n"
            "                   lmerpy.datasets.load('cbpp'), family=lmerpy.binomial)\n"
            "before = sorted(m for m in sys.modules if m.startswith(('scipy.optimize', 'sksparse')))\n"
            "from scipy.optimize import minimize\n"
            "res = minimize(lambda x: ((x - 1.0) ** 2).sum(), [3.0, -2.0], method='L-BFGS-B')\n"
            "print(json.dumps({'before': before, 'x': res.x.tolist(), 'ok': bool(res.success),\n"
            "                  'par': [float(v).hex() for v in fit.optsum.theta],\n"
            "                  'dev': float(fit.optsum.fmin).hex(),\n"
            "                  'fevals': [len(fit.optsum_stage1.fitlog), len(fit.optsum.fitlog)],\n"
            "                  'messages': [fit.optsum_stage1.message, fit.optsum.message]}))")
    env = dict(os.environ, PYTHONPATH=str(ROOT), LMERPY_CACHE_DIR=str(tmp_path))
    out = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                                    capture_output=True, text=True, check=True
                                    ).stdout.splitlines()[-1])
    assert out["before"] == [] and out["ok"], out
    np.testing.assert_allclose(out["x"], [1.0, 1.0], atol=1e-6)
    assert out["par"] == [float(v).hex() for v in gm1.optsum.theta]
    assert out["dev"] == float(gm1.optsum.fmin).hex()
    assert out["fevals"] == [len(gm1.optsum_stage1.fitlog), len(gm1.optsum.fitlog)]
    assert out["messages"] == [gm1.optsum_stage1.message, gm1.optsum.message]


def test_first_lmer_loads_no_glmm_machinery(tmp_path):
    """An lmer fit imports neither PIRLS nor the families (glmer's modules)."""
    code = ("import json, sys, lmerpy\n"
            "lmerpy.lmer('Reaction ~ Days + (Days | Subject)', lmerpy.datasets.load('sleepstudy'))\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('lmerpy.pls.glmm', "
            "'lmerpy.families', 'scipy.optimize')))))")
    env = dict(os.environ, PYTHONPATH=str(ROOT), LMERPY_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == []
