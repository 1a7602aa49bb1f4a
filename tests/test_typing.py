"""The public API is typed: mypy finds no error in lmerpy/, and every public function, method
and class reachable from ``lmerpy.__all__`` (the fitted models and what their methods return
included) annotates each parameter and its return value."""
import dataclasses
import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import lmerpy

ROOT = Path(__file__).resolve().parents[1]

#: classes whose public methods users call, beyond those named in ``lmerpy.__all__``: what the
#: fitting functions and the fitted models' methods return
RESULT_CLASSES = [
    "lmerpy.models.base:LogLik", "lmerpy.models.ranef:RanEf", "lmerpy.models.varcorr:VarCorr",
    "lmerpy.models.varcorr:VarCorrTerm", "lmerpy.models.summary:ModelSummary",
    "lmerpy.families:Family", "lmerpy.families:Link", "lmerpy.optimize.control:Control",
    "lmerpy.inference.anova:AnovaTable", "lmerpy.inference.bootstrap:BootResult",
    "lmerpy.inference.pbmodcomp:PBModcompResult", "lmerpy.inference.profile:Profile",
]
#: modules whose public functions are API although not re-exported one by one
API_MODULES = ["lmerpy.datasets", "lmerpy.functions"]


def _resolve(spec):
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def _public_callables():
    """(qualified name, function) of every public function and method of the API."""
    seen, out = set(), []

    def add(name, fn):
        if id(fn) not in seen:
            seen.add(id(fn))
            out.append((name, fn))

    def add_class(cls):
        fields = ({f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls)
                  else set())
        for name, member in vars(cls).items():
            if (name.startswith("_") and name != "__init__") or name in fields:
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            if inspect.isfunction(member):
                add(f"{cls.__module__}.{cls.__qualname__}.{name}", member)

    classes = [_resolve(s) for s in RESULT_CLASSES]
    for name in lmerpy.__all__:
        obj = getattr(lmerpy, name)
        if inspect.isclass(obj):
            classes.append(obj)
        elif inspect.isfunction(obj):
            add(f"lmerpy.{name}", obj)
    for modname in API_MODULES:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")]):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and obj.__module__ == modname:
                add(f"{modname}.{name}", obj)
    done = set()
    for cls in classes:
        for klass in cls.__mro__:
            if klass.__module__.startswith("lmerpy") and klass not in done \
                    and not issubclass(klass, BaseException):
                done.add(klass)
                add_class(klass)
    return out


def test_the_walk_finds_the_api():
    names = {n for n, _ in _public_callables()}
    for expected in ("lmerpy.lmer", "lmerpy.glmer", "lmerpy.glmer_nb", "lmerpy.lFormula",
                     "lmerpy.optimizeLmer", "lmerpy.predict", "lmerpy.bootMer",
                     "lmerpy.datasets.load", "lmerpy.fixef", "lmerpy.datasets.list_datasets",
                     "lmerpy.models.base.MixedModel.fixef",
                     "lmerpy.models.lmm.LinearMixedModel.refit",
                     "lmerpy.models.glmm.GeneralizedLinearMixedModel.refit",
                     "lmerpy.families.binomial.variance", "lmerpy.families.Family.linkinv",
                     "lmerpy.models.varcorr.VarCorr.as_dataframe",
                     "lmerpy.optimize.optsum.OptSummary.to_dict"):
        assert expected in names, expected
    assert len(names) > 150


def test_every_public_callable_is_annotated():
    missing = []
    for name, fn in _public_callables():
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        if params and params[0].name in ("self", "cls"):
            params = params[1:]
        lacking = [p.name for p in params if p.annotation is inspect.Parameter.empty]
        is_init = name.rsplit(".", 1)[1] == "__init__"
        if not is_init and sig.return_annotation is inspect.Signature.empty:
            lacking.append("return")
        if lacking:
            missing.append(f"{name}: {', '.join(lacking)}")
    assert not missing, "unannotated:\n" + "\n".join(missing)


def _mypy(cache_dir):
    cmd = [sys.executable, "-m", "mypy", "--cache-dir", str(cache_dir)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "MYPYPATH"})
    return res, time.perf_counter() - t0


def test_mypy_finds_no_error(tmp_path):
    """mypy over lmerpy/ with pyproject's [tool.mypy] settings; cold, then with its cache."""
    cache = tmp_path / "mypy_cache"   # mypy is in the test extra: a missing mypy fails here
    res, cold = _mypy(cache)
    assert res.returncode == 0, f"mypy ({cold:.1f} s):\n{res.stdout}{res.stderr}"
    assert "Success: no issues found" in res.stdout
    res, warm = _mypy(cache)
    assert res.returncode == 0, res.stdout + res.stderr
    print(f"mypy: {cold:.1f} s cold, {warm:.1f} s with its cache")
    shutil.rmtree(cache, ignore_errors=True)


def test_annotations_keep_import_lmerpy_light():
    """The annotations import their types only for type checkers: ``import lmerpy`` still
    loads no fitting module, no scipy and no parser."""
    code = ("import json, sys, lmerpy; print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('lmerpy', 'scipy', 'lark', 'matplotlib'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    loaded = set(json.loads(out))
    assert loaded == {"lmerpy", "lmerpy._config", "lmerpy.datasets", "lmerpy.errors",
                      "lmerpy.warnings"}, loaded
