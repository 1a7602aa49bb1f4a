"""The package's import graph follows the data flow (issue 12's acceptance; in the spirit of
MixedModels.jl's Aqua/ExplicitImports checks).

Every module of ``lmerpy/`` is parsed (``ast``; nothing is imported) and every ``import`` in it
— at module level and inside functions (lazy imports) alike — becomes an edge of the graph.
The checks:

(a) **stage order**: a module imports only modules of its own or an earlier stage::

        base → formula → design → display → families → pls → optimize → models
             → dask → inference → nlme → plot → toolkit → api

    ``base`` are the helpers every stage uses (errors, warnings, argument validators, the
    type aliases of the annotations, the bundled data sets). ``display`` prints plain data the way R
    does (:mod:`lmerpy.display` "depends on no model class") and needs only ``design``'s R
    number formatting; models print themselves with it and :mod:`lmerpy.families` names the
    negative binomial family with it, so it sits before them (the issue's sketch lists it
    with inference and plot, which use it too). ``families`` needs only base and display and
    is first used by ``models`` (PIRLS takes the family object as data). ``api`` is the
    package's front: ``lmerpy/__init__.py``, ``functions.py``, ``cli.py``, ``demo.py`` and
    ``_config.py`` (``show_config()`` asks the pls backend what it found). ``dask`` is the
    scale-out stage (fits on Dask DataFrames: it runs the models' steps on reduced blocks).
    ``nlme`` (nlme's models: residual structures, gls) builds on the design, display,
    optimize, models (``LogLik``) and inference stages; ``api`` exposes it.
(b) **no import cycles** between modules (implicit imports of parent packages are not edges;
    Python runs a package's ``__init__`` before its modules anyway).

Imports under ``if TYPE_CHECKING:`` are for annotations only (never executed) and are not
edges.
(c) **no private names across modules**: no ``from .x import _name`` of another lmerpy module
    and no ``module._name`` on an imported lmerpy module.
(d) **no private state read across stages**: modules of ``optimize``, ``inference``, ``display``
    and ``plot`` read no ``obj._name`` attribute of another object (``getattr(obj, "_name")``
    included): they ask a deviance through its protocol (:mod:`lmerpy.pls.protocol`) and a fit
    through its methods and ``getME``.

The allow-list below names each import that breaks (a) or (b) on purpose, with the reason.
Each must be a function-level (lazy) import, so importing the lower module never loads the
higher one; the test fails on an entry that is no longer needed.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "lmerpy"

STAGES = ["base", "formula", "design", "display", "families", "pls", "optimize", "models",
          "dask", "inference", "nlme", "plot", "toolkit", "api"]
RANK = {s: i for i, s in enumerate(STAGES)}
TOP_LEVEL = {
    "lmerpy": "api", "lmerpy.__main__": "api", "lmerpy.cli": "api", "lmerpy.demo": "api",
    "lmerpy.functions": "api",
    "lmerpy.errors": "base", "lmerpy.warnings": "base", "lmerpy.arguments": "base",
    "lmerpy._config": "api", "lmerpy.datasets": "base", "lmerpy.types": "base",
    "lmerpy.families": "families", "lmerpy.threads": "base", "lmerpy.progress": "base",
    "lmerpy.caches": "base",
}
PACKAGES = {"formula", "design", "display", "pls", "optimize", "models", "dask", "inference",
            "nlme", "plot", "toolkit"}

#: (importer, imported): why the edge is there although it goes against the stage order or
#: closes a cycle. All are methods of an object that forward to the function implementing
#: them in a later module (R's generics are methods of the fitted object).
ALLOWED = {
    ("lmerpy.models.base", "lmerpy.inference.predict"):
        "fit.predict() forwards to inference (R: predict(fit))",
    ("lmerpy.models.base", "lmerpy.inference.simulate"):
        "fit.simulate() forwards to inference (R: simulate(fit))",
    ("lmerpy.models.base", "lmerpy.inference.anova"):
        "fit.anova() and fit.drop1() forward to inference (R: anova(fit), drop1(fit))",
    ("lmerpy.models.base", "lmerpy.inference.confint"):
        "fit.confint() forwards to inference (R: confint(fit))",
    ("lmerpy.models.base", "lmerpy.inference.profile"):
        "fit.profile() forwards to inference (R: profile(fit))",
    ("lmerpy.models.summary", "lmerpy.inference.ddf"):
        "summary(fit, ddf='Satterthwaite') forwards the t-tests to inference (lmerTest's "
        "summary method)",
    ("lmerpy.models.glmm", "lmerpy.models.glmm_refit"):
        "GLMM.refit() builds a new fit with glmm_refit, which runs glmm's fitting steps",
    ("lmerpy.models.glmm", "lmerpy.models.glmer_nb"):
        "glmer(family=negative_binomial(...)) forwards to glmer_nb as lme4's glmer does; "
        "glmer_nb runs glmm's fitting steps",
    ("lmerpy.models.lmm", "lmerpy.dask"):
        "lmer(data=ddf) forwards a Dask DataFrame to the scale-out fit, which runs the models' "
        "fitting steps on reduced cross-products",
    ("lmerpy.models.base", "lmerpy.dask"):
        "fit.fitted() / fit.predict() of a fit on a Dask DataFrame forward to its lazy "
        "per-partition results",
    ("lmerpy.dask.lazy", "lmerpy.inference.predict"):
        "predict(newdata=ddf) runs inference's predict on each partition (a worker's task "
        "forwards to the function implementing predict)",
    ("lmerpy.dask.simulate", "lmerpy.inference.reform"):
        "simulate() of a fit on a Dask DataFrame reads re_form with inference's parser",
    ("lmerpy.dask.simulate", "lmerpy.inference.simulate"):
        "simulate() of a GLMM on a Dask DataFrame draws each partition's responses with "
        "inference's family draws (the in-memory simulate's own)",
    ("lmerpy.inference.hypotheses", "lmerpy.dask"):
        "type III hypotheses with factors of a fit on a Dask DataFrame need the recoded model "
        "matrices' cross-products: one pass on the cluster",
    ("lmerpy.inference.bootstrap", "lmerpy.dask"):
        "bootMer of a fit on a Dask DataFrame simulates and reduces its responses on the "
        "cluster (one pass per batch); the refits are the models' own",
    ("lmerpy.models.glmm", "lmerpy.dask"):
        "glmer(data=ddf) forwards a Dask DataFrame to the scale-out fit, whose PIRLS passes run "
        "on the workers and whose optimization is glmm's fitting steps",
    ("lmerpy.formula.terms", "lmerpy.formula.deparse"):
        "expression nodes and terms print themselves (str(node)) with the deparser, which "
        "walks those node classes",
    ("lmerpy.formula.terms", "lmerpy.formula.parser"):
        "Formula.all_vars()/frame_variables/expand_dot() forward to the parser's walkers, "
        "which build Formula objects",
}

#: stages whose modules may not read another object's private attributes (rule d)
NO_PRIVATE_STATE = {"optimize", "inference", "display", "plot", "toolkit"}


def _modules():
    mods = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_pkg)
    return mods


MODULES = _modules()


def stage(mod):
    if mod in TOP_LEVEL:
        return TOP_LEVEL[mod]
    parts = mod.split(".")
    if len(parts) >= 2 and parts[1] in PACKAGES:
        return parts[1]
    raise AssertionError(f"module {mod} has no stage: add it to TOP_LEVEL in {__file__}")


def _absolute(mod, is_pkg, level, name):
    if not level:
        return name
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


class Import:
    def __init__(self, importer, target, line, lazy, names=()):
        self.importer, self.target, self.line, self.lazy = importer, target, line, lazy
        self.names = names

    def __repr__(self):
        kind = "lazy " if self.lazy else ""
        return f"{self.importer}:{self.line} {kind}imports {self.target}"


def _parse(mod):
    path, is_pkg = MODULES[mod]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), is_pkg


def _type_checking_block(node):
    """``if TYPE_CHECKING:`` (annotations only: never executed, not an import edge)."""
    if not isinstance(node, ast.If):
        return False
    t = node.test
    return ((isinstance(t, ast.Name) and t.id == "TYPE_CHECKING")
            or (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"))


def _imports(mod):
    """Every import of a lmerpy module in ``mod``: (target module, line, lazy, names)."""
    tree, is_pkg = _parse(mod)
    out = []

    def visit(node, lazy):
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                continue
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                               ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    if a.name.split(".")[0] == "lmerpy":
                        out.append(Import(mod, a.name, child.lineno, lazy))
            elif isinstance(child, ast.ImportFrom):
                target = _absolute(mod, is_pkg, child.level, child.module)
                if target and target.split(".")[0] == "lmerpy":
                    plain = []
                    for a in child.names:
                        sub = f"{target}.{a.name}"
                        if sub in MODULES:          # from package import module
                            out.append(Import(mod, sub, child.lineno, lazy))
                        else:
                            plain.append(a.name)
                    if plain or not child.names:
                        out.append(Import(mod, target, child.lineno, lazy, tuple(plain)))
            visit(child, inner)

    visit(tree, False)
    return out


IMPORTS = {m: _imports(m) for m in MODULES}


def test_every_import_resolves_to_a_module():
    bad = [i for imps in IMPORTS.values() for i in imps if i.target not in MODULES]
    assert not bad, bad


def test_every_module_has_a_stage():
    for mod in MODULES:
        assert stage(mod) in RANK


def test_stage_order():
    """(a) a module imports only modules of its own or an earlier stage."""
    bad = []
    for imps in IMPORTS.values():
        for i in imps:
            if (i.importer, i.target) in ALLOWED:
                continue
            if RANK[stage(i.target)] > RANK[stage(i.importer)]:
                bad.append(f"{i} ({stage(i.importer)} -> {stage(i.target)})")
    assert not bad, "imports against the stage order:\n" + "\n".join(bad)


def _graph():
    g = {m: set() for m in MODULES}
    for imps in IMPORTS.values():
        for i in imps:
            if (i.importer, i.target) not in ALLOWED and i.target != i.importer:
                g[i.importer].add(i.target)
    return g


def _cycles(g):
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycles():
    """(b) no cycle among the modules, lazy imports included."""
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_cycles():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(g) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_allowed_edges_are_lazy_and_still_needed():
    """Every allow-listed edge exists, and only as function-level imports."""
    seen = {}
    for imps in IMPORTS.values():
        for i in imps:
            if (i.importer, i.target) in ALLOWED:
                seen.setdefault((i.importer, i.target), []).append(i)
    assert set(seen) == set(ALLOWED), f"stale allow-list entries: {set(ALLOWED) - set(seen)}"
    eager = [i for imps in seen.values() for i in imps if not i.lazy]
    assert not eager, f"allow-listed imports must be lazy (inside a function): {eager}"
    for reason in ALLOWED.values():
        assert len(reason) > 20


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def test_no_private_names_imported_across_modules():
    """(c) ``from .x import _name`` and ``x._name`` on an imported lmerpy module."""
    bad = []
    for mod in MODULES:
        for i in IMPORTS[mod]:
            if i.target != mod:
                bad += [f"{i}: {n}" for n in i.names if _private(n)]
        tree, is_pkg = _parse(mod)
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "lmerpy" and a.asname:
                        aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(mod, is_pkg, node.level, node.module)
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in MODULES:
                        aliases[a.asname or a.name] = sub
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and _private(node.attr)
                    and aliases[node.value.id] != mod):
                bad.append(f"{mod}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_no_private_state_read_after_pls():
    """(d) optimize, inference, display and plot read no other object's ``_attribute``."""
    bad = []
    for mod in MODULES:
        if stage(mod) not in NO_PRIVATE_STATE:
            continue
        tree, _ = _parse(mod)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                bad.append(f"{mod}:{node.lineno} {ast.unparse(node)}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
                  and isinstance(node.args[1], ast.Constant)
                  and isinstance(node.args[1].value, str) and _private(node.args[1].value)):
                bad.append(f"{mod}:{node.lineno} {ast.unparse(node)}")
    assert not bad, "private state read across stages:\n" + "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from .b import _x, y\n", [("lmerpy.pkg.b", ("_x", "y"), False)]),
    ("def f():\n    from ..design import build_design\n",
     [("lmerpy.design", ("build_design",), True)]),
    ("from . import b\n", [("lmerpy.pkg.b", (), False)]),
    ("import lmerpy.pkg.b as bb\nimport numpy\n", [("lmerpy.pkg.b", (), False)]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\n", []),
])
def test_import_parsing(tmp_path, source, expected):
    """The checker resolves relative imports, sees lazy ones and names imported."""
    global MODULES
    (tmp_path / "a.py").write_text(source)
    mods = {"lmerpy.pkg": (tmp_path / "p.py", True), "lmerpy.pkg.a": (tmp_path / "a.py", False),
            "lmerpy.pkg.b": (tmp_path / "b.py", False), "lmerpy.design": (tmp_path / "d.py", True)}
    saved, MODULES = MODULES, mods
    try:
        got = [(i.target, i.names, i.lazy) for i in _imports("lmerpy.pkg.a")]
    finally:
        MODULES = saved
    assert got == expected
