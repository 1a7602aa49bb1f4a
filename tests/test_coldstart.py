"""Cold start: what a fresh process loads for ``import lmerpy`` and for its first lmer and
glmer fits (benchmarks/coldstart.py times it; here only which modules are loaded, no timings):
``import lmerpy`` loads no numpy, pandas, scipy or parser; the first fits load no
scipy.stats (~0.3 s to import) and no plotting."""
import json
import os
import subprocess
import sys
from pathlib import Path

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
