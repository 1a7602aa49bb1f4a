"""The wheel ships every sub-package, the grammar and the data sets."""
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _listed_packages():
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"packages = \[(.*?)\]", text, re.S).group(1)
    return set(re.findall(r'"([\w.]+)"', block))


def test_every_subpackage_is_listed():
    found = {"lmerpy"} | {
        "lmerpy." + ".".join(p.parent.relative_to(ROOT / "lmerpy").parts)
        for p in (ROOT / "lmerpy").rglob("__init__.py") if p.parent != ROOT / "lmerpy"}
    assert found | {"lmerpy.grammar"} == _listed_packages()


def test_installed_grammar_is_found():
    from importlib import resources
    text = (resources.files("lmerpy.grammar") / "formula.lark").read_text()
    assert "|" in text and "~" in text


@pytest.mark.slow
def test_wheel_contains_grammar_and_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("lmerpy-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "lmerpy/grammar/formula.lark" in names
    assert "lmerpy/datasets/data/sleepstudy.csv.gz" in names
    assert "lmerpy/pls/__init__.py" in names
