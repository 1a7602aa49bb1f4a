"""The API reference (docs/api/*.md) covers every public name of lmerpy.

mkdocstrings renders an object from a ``::: dotted.path`` line; this test checks that each
public name — ``lmerpy.__all__``, ``lmerpy.inference.__all__``, ``lmerpy.plot.__all__``,
``lmerpy.datasets.__all__`` — has such an entry (for itself, or for the module that defines
it), or, for the few names that are not functions or classes (``lmerpy.NA``) and lme4's
generic functions (``lmerpy.fixef`` ...), a row naming it in a reference page. So a new
public function cannot be added without its reference entry; ``mkdocs build --strict`` (in
tests/test_docs.py) then checks that every entry resolves and renders.
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"
_DIRECTIVE = re.compile(r"^:::\s*(?P<target>[\w.]+)\s*$", re.M)


def _api_text():
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(API.glob("*.md")))


def _targets():
    return set(_DIRECTIVE.findall(_api_text()))


def _public_names():
    out = []
    for modname in ("lmerpy", "lmerpy.inference", "lmerpy.plot", "lmerpy.datasets"):
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", []):
            if name.startswith("__"):
                continue
            out.append((modname, name))
    return out


def _documented(modname, name, targets, text):
    obj = getattr(importlib.import_module(modname), name)
    if inspect.ismodule(obj):
        return obj.__name__ in targets or any(t.startswith(obj.__name__ + ".") for t in targets)
    if inspect.isfunction(obj) or inspect.isclass(obj):
        where = f"{obj.__module__}.{obj.__qualname__}"
        if where in targets or obj.__module__ in targets:
            return True
    # lme4's generics (lmerpy.functions) and constants are listed by name in a table
    return f"`lmerpy.{name}" in text or f"`{modname}.{name}" in text


def test_api_directives_exist():
    targets = _targets()
    assert len(targets) > 40, "the API pages lost their ::: entries"
    for target in sorted(targets):
        parts = target.split(".")
        for k in range(len(parts), 0, -1):       # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:k]))
            except ImportError:
                continue
            for attr in parts[k:]:
                obj = getattr(obj, attr, None)
                assert obj is not None, f"docs/api: ::: {target} does not resolve"
            break
        else:
            pytest.fail(f"docs/api: ::: {target} names no importable module")


@pytest.mark.parametrize("modname,name", _public_names(), ids=lambda v: str(v))
def test_every_public_name_is_in_the_api_reference(modname, name):
    assert _documented(modname, name, _targets(), _api_text()), \
        f"{modname}.{name} is public but has no entry in docs/api/*.md"


def test_every_api_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in sorted(API.glob("*.md")):
        assert f"api/{page.name}" in nav, f"docs/api/{page.name} is not in mkdocs.yml's nav"
