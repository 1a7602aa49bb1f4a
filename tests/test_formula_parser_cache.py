"""The per-user cache of the formula parser's LALR tables (lmerpy.formula.parser_cache), with the
real Lark and the real grammar in temporary directories: a second parser comes from the file
and parses exactly as a built one; a changed grammar, another Lark version, a foreign,
corrupt or mismatched file are never used; an unwritable or unsafe directory falls back to
building; nothing is ever unpickled."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import lark
import pytest

from lmerpy.errors import FormulaSyntaxError
from lmerpy.formula import parse_formula
from lmerpy.formula import parser as formula_parser
from lmerpy.formula import parser_cache

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = dict(parser="lalr", lexer="basic", maybe_placeholders=True)
FORMULAS = [
    "Reaction ~ Days + (Days | Subject)",
    "cbind(incidence, size - incidence) ~ period + (1 | herd)",
    "y ~ x * f + I(x^2) + poly(x, 2) + offset(log(z)) + (1 | g1/g2) + (x || g3)",
    "log(y) ~ 0 + `odd name` + f:x - 1 + us(1 + x | g) + ar1(0 + t | g, hom = TRUE)",
    "~ a %in% b + (a + b)^2 + -x + !w == 'lit' + 3.5e-2L + NA + TRUE",
]
BAD = ["y ~ (x | ", "y ~ x +* z", "y ~ function(x) x"]


class BuildCounter:
    """Counts parsers built from the grammar (not loaded from the cache)."""

    def __init__(self, monkeypatch):
        self.builds = 0
        real = lark.Lark.__init__
        counter = self

        def counting_init(inst, *args, **kwargs):
            counter.builds += 1
            real(inst, *args, **kwargs)

        monkeypatch.setattr(lark.Lark, "__init__", counting_init)


def _make(directory, grammar=None):
    """The formula grammar's parser (Lark trees: the tables do not depend on the transformer,
    which lmerpy's own parser adds; tested through parse_formula below)."""
    grammar = formula_parser.grammar_text() if grammar is None else grammar
    return parser_cache.cached_lark(grammar, directory=directory, **OPTIONS)


def _files(directory):
    return sorted(p.name for p in Path(directory).glob("formula-*.json"))


def _outcome(parser, text):
    try:
        return ("ok", parser.parse(text))   # Trees compare by rule name and tokens
    except Exception as exc:  # the same error class and position either way
        return ("error", type(exc).__name__, getattr(exc, "column", None))


def test_second_parser_is_loaded_and_parses_like_a_built_one(tmp_path, monkeypatch):
    counter = BuildCounter(monkeypatch)
    built = _make(tmp_path)
    assert counter.builds == 1
    files = _files(tmp_path)
    assert len(files) == 1
    loaded = _make(tmp_path)
    assert counter.builds == 1, "the second parser was built, not loaded from the cache"
    for text in FORMULAS + BAD:
        assert _outcome(loaded, text) == _outcome(built, text), text
    assert _outcome(loaded, FORMULAS[0])[0] == "ok"
    assert _outcome(loaded, BAD[1])[0] == "error"
    # the file is JSON (no pickle), private to the user, and names its own key
    path = tmp_path / files[0]
    doc = json.loads(path.read_text())
    assert doc["key"] == files[0][len("formula-"):-len(".json")]
    assert set(doc) == {"key", "data", "memo"}
    if hasattr(os, "geteuid"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_a_changed_grammar_gets_its_own_tables(tmp_path, monkeypatch):
    a = 'start: WORD+\nWORD: "a"\n%ignore " "\n'
    b = 'start: WORD+\nWORD: "b"\n%ignore " "\n'
    counter = BuildCounter(monkeypatch)
    pa = parser_cache.cached_lark(a, directory=tmp_path, parser="lalr", lexer="basic")
    pb = parser_cache.cached_lark(b, directory=tmp_path, parser="lalr", lexer="basic")
    assert counter.builds == 2 and len(_files(tmp_path)) == 2
    assert [t.value for t in pb.parse("b b").children] == ["b", "b"]
    with pytest.raises(lark.exceptions.UnexpectedInput):
        pb.parse("a")   # grammar a's tables were not reused for grammar b
    again = parser_cache.cached_lark(a, directory=tmp_path, parser="lalr", lexer="basic")
    assert counter.builds == 2
    assert again.parse("a a") == pa.parse("a a")


def test_another_lark_version_rebuilds(tmp_path, monkeypatch):
    _make(tmp_path)
    first = _files(tmp_path)
    counter = BuildCounter(monkeypatch)
    monkeypatch.setattr(lark, "__version__", lark.__version__ + ".post999")
    parser = _make(tmp_path)
    assert counter.builds == 1
    assert len(_files(tmp_path)) == 2 and set(first) < set(_files(tmp_path))
    assert _outcome(parser, FORMULAS[0])[0] == "ok"


@pytest.mark.parametrize("damage", ["corrupt", "wrong_key", "not_tables", "empty"])
def test_a_damaged_file_is_ignored_and_rewritten(tmp_path, monkeypatch, damage):
    built = _make(tmp_path)
    path = tmp_path / _files(tmp_path)[0]
    doc = json.loads(path.read_text())
    if damage == "corrupt":
        path.write_text(path.read_text()[: len(path.read_text()) // 2])
    elif damage == "wrong_key":
        doc["key"] = "0" * 32
        path.write_text(json.dumps(doc))
    elif damage == "not_tables":
        doc["data"] = {"rules": "nonsense"}
        path.write_text(json.dumps(doc))
    else:
        path.write_text("")
    counter = BuildCounter(monkeypatch)
    parser = _make(tmp_path)
    assert counter.builds == 1
    for text in FORMULAS:
        assert _outcome(parser, text) == _outcome(built, text)
    assert json.loads(path.read_text())["key"] == path.name[len("formula-"):-len(".json")]
    _make(tmp_path)
    assert counter.builds == 1, "the rewritten file was not used"


def test_unwritable_cache_directory_falls_back_to_building(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    where = blocker / "lmerpy"           # cannot be created, even by root
    counter = BuildCounter(monkeypatch)
    p1 = _make(where)
    p2 = _make(where)
    assert counter.builds == 2
    assert not where.exists()
    assert _outcome(p2, FORMULAS[2]) == _outcome(p1, FORMULAS[2])
    assert _outcome(p1, FORMULAS[2])[0] == "ok"


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX ownership and modes")
def test_read_only_directory_falls_back_to_building(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o700)
    ro.chmod(0o500)
    try:
        counter = BuildCounter(monkeypatch)
        parser = _make(ro)
        assert counter.builds == 1 and _outcome(parser, FORMULAS[0])[0] == "ok"
        if os.geteuid() != 0:   # root writes anyway; the fallback is what matters
            assert _files(ro) == []
    finally:
        ro.chmod(0o700)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX ownership and modes")
def test_foreign_or_shared_files_are_not_trusted(tmp_path, monkeypatch):
    _make(tmp_path / "c")
    counter = BuildCounter(monkeypatch)
    # a directory others may write to: neither read nor written
    (tmp_path / "c").chmod(0o777)
    _make(tmp_path / "c")
    assert counter.builds == 1
    (tmp_path / "c").chmod(0o700)
    # a file others may write to
    path = tmp_path / "c" / _files(tmp_path / "c")[0]
    path.chmod(0o666)
    _make(tmp_path / "c")
    assert counter.builds == 2
    # a file owned by someone else (seen as such)
    _make(tmp_path / "c")
    loads_before = counter.builds
    real_uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real_uid + 1)
    _make(tmp_path / "c")
    assert counter.builds == loads_before + 1


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("LMERPY_CACHE_DIR", str(tmp_path / "x"))
    assert parser_cache.cache_dir() == tmp_path / "x"
    monkeypatch.setenv("LMERPY_CACHE_DIR", "")
    assert parser_cache.cache_dir() is None
    assert parser_cache.cache_path("g", "1", {}) is None
    monkeypatch.delenv("LMERPY_CACHE_DIR")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert parser_cache.cache_dir() == tmp_path / "xdg" / "lmerpy"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
        assert parser_cache.cache_dir() == Path.home() / ".cache" / "lmerpy"


def test_cache_turned_off_builds_and_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("LMERPY_CACHE_DIR", "")
    counter = BuildCounter(monkeypatch)
    parser = parser_cache.cached_lark(formula_parser.grammar_text(), **OPTIONS)
    assert counter.builds == 1 and _outcome(parser, FORMULAS[1])[0] == "ok"


def test_a_fresh_process_parses_from_the_cache(tmp_path):
    """Two processes with one cache directory: the first writes the tables, the second parses
    without building (Lark's constructor is disabled there) and gets the same formulas."""
    env = dict(os.environ, LMERPY_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    code = ("import json, sys, lark\n"
            "if sys.argv[1] == 'no-build':\n"
            "    def refuse(*a, **k): raise AssertionError('built')\n"
            "    lark.Lark.__init__ = refuse\n"
            "from lmerpy.formula import parse_formula\n"
            f"print(json.dumps([str(parse_formula(t)) for t in {FORMULAS[:3]!r}]))\n")
    first = subprocess.run([sys.executable, "-c", code, "build"], env=env, capture_output=True,
                           text=True, check=True, cwd=ROOT)
    assert len(_files(tmp_path)) == 1
    second = subprocess.run([sys.executable, "-c", code, "no-build"], env=env,
                            capture_output=True, text=True, cwd=ROOT)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert json.loads(first.stdout) == [str(parse_formula(t)) for t in FORMULAS[:3]]


def test_syntax_errors_unchanged_with_the_cached_parser():
    """The package parser (cached or not) still reports syntax errors with the caret."""
    with pytest.raises(FormulaSyntaxError, match=r"unexpected '\*' after '\+'") as err:
        parse_formula("y ~ x +* z")
    assert "\n         ^" in str(err.value)
