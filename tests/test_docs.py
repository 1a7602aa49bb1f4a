"""The documentation site: every page's code runs, shown output is real, the site builds.

Each Markdown page under ``docs/`` is one test. Its fenced ```` ```python ```` blocks are executed
in order in one namespace (exec of the documentation's own example code — never of a formula or
a column name). A ```` ```text ```` block that follows a python block (only blank lines between)
is that block's expected standard output and must match exactly (trailing spaces and trailing
blank lines aside), so every summary printed in the docs is what lmerpy prints.

A ```` ```console ```` block holds shell commands, ``$ lmerpy ...``, each followed by what
it prints; each runs as ``python -m lmerpy ...`` in the page's working directory and its
standard output and error together must match the lines shown (only lmerpy commands run).

Markers, as HTML comments (invisible on the site), on the line(s) just before a block:

- ``<!-- docs-test: skip -->``: the block is shown, not run (e.g. a shell command in Python).
- ``<!-- docs-test: no-compare -->``: the block runs but its output is not compared (random
  output, timings); its text block is shown as an illustration.

and anywhere on a page:

- ``<!-- docs-test: slow -->``: the page's test is marked ``slow`` (e.g. the InstEval fit).
- ``<!-- docs-test: skip-page -->``: the page is not run at all.

The last test builds the site with ``mkdocs build --strict`` into a temporary directory, so a
broken link, a missing page or a docstring mkdocstrings cannot render fails the suite; it is
skipped only when mkdocs (or the material theme, or mkdocstrings) is not installed.
"""
from __future__ import annotations

import contextlib
import difflib
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<what>[a-z-]+)\s*-->")


@dataclass
class Block:
    """One executable python block of a page, with its expected output (if any)."""

    code: str
    line: int                      # 1-based line of the opening fence
    expected: str | None = None    # the text block that follows, or None
    run: bool = True
    compare: bool = True
    kind: str = "python"           # or "console": ``$ lmerpy ...`` lines and their output


@dataclass
class Page:
    path: Path
    blocks: list = field(default_factory=list)
    markers: set = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.path.relative_to(DOCS).as_posix()


def _fences(lines):
    """Yield (info, start_line_index, end_line_index, body) for every fenced block."""
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").strip()
        j = i + 1
        body = []
        while j < len(lines):
            close = lines[j].strip()
            if close.startswith(fence[0] * len(fence)) and set(close) == {fence[0]}:
                break
            line = lines[j]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"unclosed code fence at line {i + 1}")
        yield info.split()[0].lower() if info else "", i, j, "\n".join(body) + "\n"
        i = j + 1


def _markers_before(lines, start):
    """The docs-test markers on the lines just above ``start`` (blank lines allowed)."""
    found = set()
    k = start - 1
    while k >= 0:
        text = lines[k].strip()
        if not text:
            k -= 1
            continue
        hits = _MARKER.findall(text)
        if not hits or _MARKER.sub("", text).strip():
            break
        found.update(hits)
        k -= 1
    return found


def parse_page(path: Path) -> Page:
    """Collect a page's python blocks, their expected outputs and its markers."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    page = Page(path)
    page.markers = set(_MARKER.findall(text))
    last = None          # the python block a following text block would belong to
    last_end = -1
    for info, start, end, body in _fences(lines):
        between = lines[last_end + 1:start]
        adjacent = last is not None and all(not s.strip() for s in between)
        if info in ("python", "console"):
            marks = _markers_before(lines, start)
            unknown = marks - {"skip", "no-compare"}
            if unknown:
                raise ValueError(f"{path.name}:{start + 1}: unknown block marker(s) {sorted(unknown)}")
            block = Block(body, start + 1, run="skip" not in marks, compare="no-compare" not in marks,
                          kind=info)
            page.blocks.append(block)
            last = block if info == "python" else None
        elif info == "text" and adjacent:
            last.expected = body
            last = None
        else:
            last = None
        last_end = end
    return page


_IMAGE = re.compile(r"!\[[^\]]*\]\((?P<src>img/[^)\s]+\.png)\)")


def page_images(path: Path):
    """The ``img/NAME.png`` images a page shows. Each must be committed next to the page and
    written (as ``NAME.png``, in the working directory) by the page's own code, so a shown
    figure always comes from the code beside it. Regenerate them with
    ``python tests/test_docs.py --write-images docs/tutorials/PAGE.md``."""
    return sorted(set(_IMAGE.findall(path.read_text(encoding="utf-8"))))


def console_commands(body: str):
    """Split a console block into ``(argv, expected_output)`` pairs: each ``$ lmerpy ...``
    line is a command, the lines up to the next ``$`` line are what it prints."""
    out = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append((shlex.split(line[2:]), []))
        elif out:
            out[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"console block: output before the first '$ ' command: {line!r}")
    return [(argv, "\n".join(text)) for argv, text in out]


def run_console_block(block: Block, where: str, cwd: Path) -> int:
    """Run each ``$ lmerpy ...`` command as ``python -m lmerpy ...`` in ``cwd``; compare its
    standard output and error (together) with the lines shown. Returns the number compared."""
    compared = 0
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for argv, expected in console_commands(block.code):
        if not argv or argv[0] != "lmerpy":
            raise AssertionError(f"{where}: console blocks run only lmerpy commands, not {argv!r}")
        proc = subprocess.run([sys.executable, "-m", "lmerpy", *argv[1:]], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)
        if block.compare:
            got, want = _normalise(proc.stdout + proc.stderr), _normalise(expected)
            if got != want:
                diff = "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(),
                                                      "shown in the docs", "printed now",
                                                      lineterm=""))
                pytest.fail(f"{where}: '$ {shlex.join(argv)}' printed something else "
                            f"(exit status {proc.returncode})\n{diff}")
            compared += 1
    return compared


def _pages():
    return sorted(p for p in DOCS.rglob("*.md"))


def _normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _page_param(path):
    page = parse_page(path)
    marks = [pytest.mark.slow] if "slow" in page.markers else []
    if "skip-page" in page.markers:
        marks.append(pytest.mark.skip(reason="page opts out (docs-test: skip-page)"))
    return pytest.param(path, marks=marks, id=page.name)


RUN_PAGES = [p for p in _pages() if parse_page(p).blocks]


@pytest.mark.parametrize("path", [_page_param(p) for p in RUN_PAGES])
def test_page_runs_and_prints_what_it_shows(path, tmp_path, monkeypatch):
    """Execute a page's python blocks in order; compare each shown output exactly."""
    page = parse_page(path)
    monkeypatch.chdir(tmp_path)              # pages may write files (plots)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": f"docs_{page.name}"}
    compared = 0
    for block in page.blocks:
        if not block.run:
            continue
        where = f"{page.name}:{block.line}"
        if block.kind == "console":
            compared += run_console_block(block, where, tmp_path)
            continue
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(block.code, where, "exec"), namespace)  # our own example code
        except Exception as exc:  # noqa: BLE001 - re-raised with the page and line
            raise AssertionError(f"{where}: the block raised {type(exc).__name__}: {exc}") from exc
        if block.expected is not None and block.compare:
            got, want = _normalise(out.getvalue()), _normalise(block.expected)
            if got != want:
                diff = "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(),
                                                      "shown in the docs", "printed now",
                                                      lineterm=""))
                pytest.fail(f"{where}: the output differs from the page\n{diff}")
            compared += 1
    try:
        import matplotlib.pyplot as plt
        plt.close("all")
    except ImportError:
        pass
    for image in page_images(path):
        assert (path.parent / image).is_file(), f"{page.name}: the image {image} is missing"
        assert (tmp_path / Path(image).name).is_file(), \
            f"{page.name}: no code on the page writes {Path(image).name} (shown as {image})"
    assert compared or not any(b.expected or b.kind == "console" for b in page.blocks), \
        f"{page.name}: no shown output was compared"


# ---------------------------------------------------------------------- the runner itself


def test_runner_pairs_output_blocks_and_markers(tmp_path):
    md = tmp_path / "p.md"
    md.write_text(
        "# T\n\n```python\nprint(1)\n```\n\n```text\n1\n```\n\n"
        "Prose.\n\n```text\nnot an output\n```\n\n"
        "<!-- docs-test: no-compare -->\n```python\nprint(2)\n```\n```text\nrandom\n```\n\n"
        "<!-- docs-test: skip -->\n```python\nraise SystemExit\n```\n\n"
        "```python\nx = 1\n```\nProse.\n```text\nnot paired\n```\n"
        "<!-- docs-test: slow -->\n",
        encoding="utf-8")
    page = parse_page(md)
    assert [b.code for b in page.blocks] == ["print(1)\n", "print(2)\n", "raise SystemExit\n",
                                             "x = 1\n"]
    assert [b.expected for b in page.blocks] == ["1\n", "random\n", None, None]
    assert [(b.run, b.compare) for b in page.blocks] == [(True, True), (True, False),
                                                          (False, True), (True, True)]
    assert [b.line for b in page.blocks] == [3, 18, 26, 30]
    assert "slow" in page.markers


def test_runner_reads_indented_fences(tmp_path):
    md = tmp_path / "p.md"
    md.write_text("!!! note\n    ```python\n    print('a')\n    ```\n\n    ```text\n    a\n    ```\n",
                  encoding="utf-8")
    page = parse_page(md)
    assert [(b.code, b.expected) for b in page.blocks] == [("print('a')\n", "a\n")]


def test_runner_splits_console_blocks(tmp_path):
    md = tmp_path / "p.md"
    md.write_text("```console\n$ lmerpy datasets sleepstudy --output 'my file.csv'\n"
                  "$ lmerpy fit x.csv \"y ~ x + (1 | g)\"\nline 1\n\nline 3\n```\n"
                  "```text\nnot paired with a console block\n```\n", encoding="utf-8")
    page = parse_page(md)
    assert [(b.kind, b.expected) for b in page.blocks] == [("console", None)]
    assert console_commands(page.blocks[0].code) == [
        (["lmerpy", "datasets", "sleepstudy", "--output", "my file.csv"], ""),
        (["lmerpy", "fit", "x.csv", "y ~ x + (1 | g)"], "line 1\n\nline 3")]


def test_runner_rejects_unknown_markers(tmp_path):
    md = tmp_path / "p.md"
    md.write_text("<!-- docs-test: skipp -->\n```python\nprint(1)\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown block marker"):
        parse_page(md)


# ---------------------------------------------------------------------- the site


def _site_tools_missing():
    return [m for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
            if importlib.util.find_spec(m.split(".")[0]) is None
            or (m == "mkdocstrings_handlers.python" and _no_handler())]


def _no_handler():
    try:
        return importlib.util.find_spec("mkdocstrings_handlers.python") is None
    except ModuleNotFoundError:
        return True


def test_mkdocs_build_strict(tmp_path):
    """``mkdocs build --strict``: a warning (broken link, missing page, bad docstring) fails."""
    missing = _site_tools_missing()
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (pip install lmerpy[docs])")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert (tmp_path / "site" / "index.html").exists()


def _write_images(page_path: Path):  # pragma: no cover - a maintenance command, not a test
    """Run a page's code in its ``img/`` folder, so the figures it saves land there."""
    page = parse_page(page_path)
    target = page_path.parent / "img"
    target.mkdir(exist_ok=True)
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(target)
    namespace = {"__name__": f"docs_{page.name}"}
    for block in page.blocks:
        if block.run and block.kind == "python":
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(block.code, f"{page.name}:{block.line}", "exec"), namespace)
    wanted = {Path(i).name for i in page_images(page_path)}
    for extra in sorted(p.name for p in target.glob("*.png") if p.name not in wanted):
        print(f"note: {target / extra} is not shown by {page.name}")
    print(f"wrote {', '.join(sorted(wanted))} in {target}")


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) != 3 or sys.argv[1] != "--write-images":
        sys.exit("usage: python tests/test_docs.py --write-images docs/PAGE.md")
    _write_images(Path(sys.argv[2]).resolve())


def test_hook_renders_sphinx_roles_as_code():
    spec = importlib.util.spec_from_file_location("rst_roles", DOCS / "_hooks" / "rst_roles.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    html = ("see :func:<code>lmer</code>, :class:<code>~lmerpy.design.Design</code> and "
            ":py:meth:<code>Design.cnms_list</code>; a formula <code>~(1|g)</code> stays")
    assert hook.on_page_content(html) == ("see <code>lmer</code>, <code>Design</code> and "
                                          "<code>Design.cnms_list</code>; a formula "
                                          "<code>~(1|g)</code> stays")
