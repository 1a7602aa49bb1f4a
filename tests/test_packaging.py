"""Packaging: the wheel ships every sub-package, the grammar, the data sets and ``py.typed``;
the sdist carries what its tests read; the metadata (license, URLs, extras) and the install
instructions agree; ``pip install "lmerpy[cholmod]"`` works as a user runs it."""
import os
import re
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]


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
def test_wheel_contains_grammar_data_and_typing_marker(tmp_path):
    # an isolated build, as pip builds for a user (the build backend comes from the index)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True)
    wheel = next(tmp_path.glob("lmerpy-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "lmerpy/grammar/formula.lark" in names
    assert "lmerpy/datasets/data/sleepstudy.csv.gz" in names
    assert "lmerpy/pls/__init__.py" in names
    assert "lmerpy/py.typed" in names
    assert f"lmerpy-{PROJECT['version']}.dist-info/licenses/LICENSE" in names
    meta = zipfile.ZipFile(wheel).read(f"lmerpy-{PROJECT['version']}.dist-info/METADATA").decode()
    assert "License-Expression: GPL-2.0-or-later" in meta
    assert "Classifier: Typing :: Typed" in meta


# ---------------------------------------------------------------------- metadata


def test_license_file_is_the_declared_license():
    """GPL-2.0-or-later: the full GPL version 2 text, declared in PEP 639's form."""
    assert PROJECT["license"] == "GPL-2.0-or-later"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith(
        "GNU GENERAL PUBLIC LICENSE\n                       Version 2, June 1991")
    for part in ("TERMS AND CONDITIONS FOR COPYING, DISTRIBUTION AND MODIFICATION",
                 "NO WARRANTY", "END OF TERMS AND CONDITIONS",
                 "How to Apply These Terms to Your New Programs",
                 "either version 2 of the License, or\n    (at your option) any later version"):
        assert part in text, part
    # PEP 639: with a license expression, no "License ::" classifier
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]
    build_req = PYPROJECT["build-system"]["requires"]
    assert build_req == ["setuptools>=77"], "setuptools < 77 cannot read the SPDX license field"


def test_urls_classifiers_and_typing_marker():
    urls = PROJECT["urls"]
    assert set(urls) == {"Documentation", "Source", "Issues"}
    assert all(u.startswith("https://") for u in urls.values())
    assert urls["Issues"] == urls["Source"] + "/issues"
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")     # the docs site says the same
    assert f"site_url: {urls['Documentation']}\n" in mkdocs
    assert f"repo_url: {urls['Source']}\n" in mkdocs
    assert "Typing :: Typed" in PROJECT["classifiers"]
    supported = [c.rsplit(" ", 1)[1] for c in PROJECT["classifiers"]
                 if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert supported and supported[0] == PROJECT["requires-python"].removeprefix(">=")
    assert (ROOT / "lmerpy" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["lmerpy"]


def _names(requirements):
    return [re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requirements]


def test_install_docs_name_every_dependency_and_extra():
    """README's and getting-started's install lines list exactly the hard dependencies (tqdm is
    an extra: it only draws bootMer's progress bar), and name the extras users choose."""
    deps = _names(PROJECT["dependencies"])
    assert "tqdm" not in deps
    assert set(deps) == {"lark", "numpy", "scipy", "pandas", "nlopt", "threadpoolctl"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    started = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    line = re.search(r"`pip install lmerpy` needs only ([^.(]*)", readme).group(1)
    assert sorted(re.findall(r"\w+", line.replace(" and ", " "))) == sorted(deps)
    need = re.search(r"lmerpy needs Python ≥ 3\.10 with ([^,]*(?:, [^,]*)*?), which",
                     started).group(1)
    assert sorted(re.findall(r"\w+", need.replace(" and ", " "))) == sorted(deps)
    extras = PROJECT["optional-dependencies"]
    for extra in ("cholmod", "progress", "plot"):
        assert f"lmerpy[{extra}]" in readme and f'"lmerpy[{extra}]"' in started, extra
    assert extras["progress"] == ["tqdm>=4.60"]


def test_cholmod_extra_pins_the_api_lmerpy_uses():
    """The extra installs the scikit-sparse series whose API the backend calls (0.5 rewrote
    it), and the docs and scripts/setup.sh say the same."""
    from lmerpy.pls.factor.cholmod import SUPPORTED
    assert PROJECT["optional-dependencies"]["cholmod"] == [SUPPORTED]
    started = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert f"`{SUPPORTED}`" in started
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert '".[test,bench,cholmod]"' in setup and "scikit-sparse>=" not in setup


# ---------------------------------------------------------------------- sdist

#: what the sdist must carry besides lmerpy/: tests read tests/ (reference fits), docs/ and
#: mkdocs.yml (every page's code runs), benchmarks/ (smoke tests), pyproject.toml (this file)
SDIST_DIRS = ("lmerpy", "grammar", "tests", "docs", "benchmarks")
SDIST_FILES = ("LICENSE", "README.md", "pyproject.toml", "mkdocs.yml", "Makefile",
               "scripts/setup.sh")
_JUNK = re.compile(r"(^|/)(__pycache__|\.pytest_cache|\.hypothesis|\.mypy_cache)(/|$)|\.py[cod]$")


def _source_files():
    """Files of the source tree the sdist must contain (caches left out)."""
    out = set(SDIST_FILES)
    for top in SDIST_DIRS:
        for path in (ROOT / top).rglob("*"):
            rel = path.relative_to(ROOT).as_posix()
            if path.is_file() and not _JUNK.search(rel):
                out.add(rel)
    return out


def test_sdist_contains_what_the_tests_read(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    sdist = next(tmp_path.glob("lmerpy-*.tar.gz"))
    prefix = f"lmerpy-{PROJECT['version']}/"
    with tarfile.open(sdist) as tar:
        names = {m.name.removeprefix(prefix) for m in tar.getmembers() if m.isfile()}
    missing = sorted(_source_files() - names)
    assert not missing, f"sdist lacks {missing[:20]}"
    assert "tests/reference/sleep_slope.json" in names and "lmerpy/py.typed" in names
    assert not [n for n in names if _JUNK.search(n)]


# ---------------------------------------------------------------------- the cholmod extra


def _suitesparse_headers():
    for d in ("/usr/include/suitesparse", "/usr/local/include/suitesparse", "/usr/include",
              "/opt/homebrew/include/suitesparse"):
        if (Path(d) / "cholmod.h").is_file():
            return d
    return None


@pytest.mark.slow
def test_pip_install_cholmod_extra_as_a_user_does(tmp_path):
    """A fresh virtual environment, ``pip install "<repo>[cholmod]"`` from the package index
    (pip builds scikit-sparse against the system SuiteSparse), then CHOLMOD is in use."""
    if _suitesparse_headers() is None:
        pytest.skip("no SuiteSparse headers (cholmod.h): the cholmod extra cannot build here; "
                    "scripts/setup.sh installs libsuitesparse-dev as root")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{ROOT}[cholmod]"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    probe = ("import sksparse.cholmod, lmerpy, lmerpy._config as c; "
             "print(lmerpy.__file__); print(c.config()['sparse_cholesky'])")
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, env=env,
                         cwd=tmp_path, check=True).stdout.splitlines()
    assert Path(out[0]).is_relative_to(env_dir)          # the installed copy, not the checkout
    assert re.fullmatch(r"cholmod \(scikit-sparse 0\.4\.\d+\)", out[1]), out[1]
