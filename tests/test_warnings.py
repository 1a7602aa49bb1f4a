"""lmerpy.warnings: one category per kind of warning, each located at the caller's line.

- the categories and their hierarchy (all under LmerpyWarning, a UserWarning), and the
  old import paths (lmerpy.ConvergenceWarning, lmerpy.errors.LmerpyMessage);
- a corpus of calls that trigger every kind of warning lmerpy issues: each warning has its
  category and points at this file, at the line of the call into lmerpy;
- Python's default filter shows the warning of each call site (two singular fits from two
  lines warn twice), and a category filter silences exactly that category;
- no ``warnings.warn(`` (nor a hand-counted stacklevel) is left in lmerpy outside
  lmerpy/warnings.py.
"""
from __future__ import annotations

import inspect
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _reference import load_case_data

import lmerpy
import lmerpy.errors
import lmerpy.warnings as lw
from lmerpy.inference import bootMer, confint, profile

HERE = Path(__file__).resolve()
PACKAGE = Path(lmerpy.__file__).resolve().parent

# ------------------------------------------------------------------------- categories

PARENT = {
    "ConvergenceWarning": "LmerpyWarning",
    "SingularFitWarning": "ConvergenceWarning",
    "DdfWarning": "ConvergenceWarning",
    "LmerpyMessage": "LmerpyWarning",
    "RankDeficiencyWarning": "LmerpyMessage",
    "RefitWarning": "LmerpyMessage",
    "DesignWarning": "LmerpyWarning",
    "ScaleWarning": "DesignWarning",
    "FamilyWarning": "LmerpyWarning",
    "InferenceWarning": "LmerpyWarning",
    "BootstrapWarning": "InferenceWarning",
    "ProfileWarning": "InferenceWarning",
    "GroupFitWarning": "LmerpyWarning",
    "LmerpyDeprecationWarning": "LmerpyWarning",
}
CATEGORIES = ["LmerpyWarning", *PARENT]


def test_the_categories_and_their_hierarchy():
    assert lw.LmerpyWarning.__bases__ == (UserWarning,)
    for name, parent in PARENT.items():
        cls = getattr(lw, name)
        assert cls.__module__ == "lmerpy.warnings"
        assert cls.__bases__[0] is getattr(lw, parent), name
        assert issubclass(cls, lw.LmerpyWarning) and issubclass(cls, UserWarning)
        assert cls.__doc__ and len(cls.__doc__) > 60, f"{name} needs a docstring"
    assert lw.LmerpyDeprecationWarning.__bases__ == (lw.LmerpyWarning, FutureWarning)
    # the singular fit is a convergence check in lme4: a ConvergenceWarning filter covers it
    assert issubclass(lw.SingularFitWarning, lw.ConvergenceWarning)
    assert sorted(c for c in lw.__all__ if c[0].isupper()) == sorted(CATEGORIES)


def test_old_import_paths_are_the_new_categories():
    assert lmerpy.ConvergenceWarning is lw.ConvergenceWarning
    assert lmerpy.LmerpyMessage is lw.LmerpyMessage
    assert lmerpy.LmerpyWarning is lw.LmerpyWarning
    assert lmerpy.errors.ConvergenceWarning is lw.ConvergenceWarning
    assert lmerpy.errors.LmerpyMessage is lw.LmerpyMessage
    # `from lmerpy import *` must not shadow the standard library's warnings module
    assert "warnings" not in lmerpy.__all__
    ns = {}
    exec("import warnings\nfrom lmerpy import *", ns)   # noqa: S102 (a fixed import line)
    assert ns["warnings"] is warnings


def test_warn_takes_only_lmerpy_categories():
    for bad in (UserWarning, RuntimeWarning, "ConvergenceWarning", lmerpy.errors.DataError):
        with pytest.raises(TypeError, match="LmerpyWarning category"):
            lw.warn("text", bad)


# ------------------------------------------------------------------------- the corpus


@pytest.fixture(scope="module")
def dyestuff2():
    return lmerpy.datasets.load("Dyestuff2")


@pytest.fixture(scope="module")
def dyestuff():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("Dyestuff"))


def _stopped_early(sleep):
    return lmerpy.lmer("Reaction ~ Days + (Days | Subject)", sleep,
                       control=lmerpy.lmerControl(optCtrl={"maxeval": 1}))


def _counts(seed, n_groups=10, per=6):
    rng = np.random.default_rng(seed)
    n = n_groups * per
    return pd.DataFrame({"y": rng.poisson(3, n).astype(float), "x": rng.normal(size=n),
                         "g": pd.Categorical(np.repeat(np.arange(n_groups), per))})


def _small_slope():
    ref = json.loads((HERE.parent / "reference" / "profile" / "small_slope.json").read_text())
    return lmerpy.lmer(ref["formula"], load_case_data(ref), REML=ref["REML"])


def c_singular(d):
    lmerpy.lmer("Yield ~ 1 + (1 | Batch)", d["dyestuff2"])


def c_optimizer_stopped(d):
    _stopped_early(d["sleep"])


def c_gradient(d):
    lmerpy.lmer("Reaction ~ Days + (Days | Subject)", d["sleep"],
                control=lmerpy.lmerControl(optCtrl={"maxeval": 8}))


def c_ddf(d):
    fit = _stopped_early(d["sleep"])
    fit.summary(ddf="Satterthwaite")


def c_nb_poisson_limit(d):
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(30), 10)
    x = rng.normal(size=300)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(scale=0.5, size=30)[g]))
    lmerpy.glmer_nb("y ~ x + (1 | g)", pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)}))


def c_computing_profile(d):
    confint(d["dyestuff"], parm="(Intercept)")


def c_rank_deficient(d):
    lmerpy.lmer("Reaction ~ Days + I(2 * Days) + (1 | Subject)", d["sleep"])


def c_refit_ml(d):
    m0 = lmerpy.lmer("Reaction ~ 1 + (1 | Subject)", d["sleep"])
    m1 = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", d["sleep"])
    lmerpy.anova(m0, m1)


def c_absent_contrast(d):
    lmerpy.lmer("Reaction ~ Days + (1 | Subject)", d["sleep"], contrasts={"h": "contr.sum"})


def c_design_check(d):
    lmerpy.lmer("Reaction ~ Days + (1 | g)", d["sleep"].assign(g=np.arange(180) % 3),
                control=lmerpy.lmerControl(check_nlev_gtreq_5="warning"))


def c_scale(d):
    lmerpy.lmer("Reaction ~ big + (1 | Subject)", d["sleep"].assign(big=d["sleep"].Days * 1e6))


def c_binomial_counts(d):
    df = _counts(1).assign(n=10.0)
    df["y"] = np.minimum(df["y"], 9) + 0.5
    lmerpy.glmer("cbind(y, n - y) ~ x + (1 | g)", df, family=lmerpy.binomial)


def c_binomial_successes(d):
    df = _counts(2).assign(p=lambda t: np.minimum(t["y"], 7) / 7)     # 7.5 * p: not integers
    lmerpy.glmer("p ~ x + (1 | g)", df, family=lmerpy.binomial, weights=np.full(60, 7.5))


def c_poisson_counts(d):
    df = _counts(4).assign(y=lambda t: t["y"] + 0.5)
    lmerpy.glmer("y ~ x + (1 | g)", df, family=lmerpy.poisson)


def c_reml_mix(d):
    m0 = lmerpy.lmer("Reaction ~ 1 + (1 | Subject)", d["sleep"], REML=False)
    m1 = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", d["sleep"])
    lmerpy.anova(m0, m1, refit=False)


def c_missing_cells(d):
    df = d["sleep"].assign(a=np.where(d["sleep"].Days < 5, "lo", "hi"),
                           b=np.where(d["sleep"].index % 2 == 0, "u", "v"))
    df = df[~((df.a == "hi") & (df.b == "v"))]
    fit = lmerpy.lmer("Reaction ~ a * b + (1 | Subject)", df)
    lmerpy.anova(fit, type=3, ddf="Satterthwaite")


def c_bootstrap_failures(d):
    calls = {"n": 0}

    def flaky(m):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ValueError("boom")
        return m.sigma()
    bootMer(d["dyestuff"], flaky, nsim=3, seed=1, progress=False)


def c_bootstrap_extreme(d):
    confint(d["dyestuff"], parm="(Intercept)", method="boot", nsim=5, seed=1, quiet=True,
            progress=False)


def c_profile(d):
    profile(_small_slope()).confint()


def c_lmlist_failures(d):
    s = d["sleep"]
    g = s.assign(f=np.where((s["Subject"].cat.codes < 10) | (s["Days"] < 5), "a", "b"))
    lmerpy.lmList("Reaction ~ f | Subject", g)


def c_deviance_reml(d):
    d["dyestuff"].deviance()


def c_glmer_gaussian(d):
    lmerpy.glmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("Dyestuff"),
                 family=lmerpy.gaussian)


CORPUS = [
    (c_singular, "SingularFitWarning", r"^boundary \(singular\) fit: see help\(lmerpy\.isSingular\)"),
    (c_optimizer_stopped, "ConvergenceWarning", r"^convergence code 5 from nloptwrap"),
    (c_gradient, "ConvergenceWarning", r"^Model failed to converge with max\|grad\|"),
    (c_ddf, "DdfWarning", r"^Model failed to converge with 1 negative eigenvalue"),
    (c_nb_poisson_limit, "ConvergenceWarning", r"no overdispersion"),
    (c_computing_profile, "LmerpyMessage", r"^Computing profile confidence intervals \.\.\.$"),
    (c_rank_deficient, "RankDeficiencyWarning",
     r"^fixed-effect model matrix is rank deficient so dropping 1 column / coefficient$"),
    (c_refit_ml, "RefitWarning", r"^refitting model\(s\) with ML \(instead of REML\)$"),
    (c_absent_contrast, "DesignWarning", r"^variable 'h' is absent, its contrast will be ignored$"),
    (c_design_check, "DesignWarning", r"^grouping factors with < 5 sampled levels"),
    (c_scale, "ScaleWarning", r"^Some predictor variables are on very different scales"),
    (c_binomial_counts, "FamilyWarning", r"^non-integer counts in a binomial glm!$"),
    (c_binomial_successes, "FamilyWarning", r"^non-integer #successes in a binomial glm!$"),
    (c_poisson_counts, "FamilyWarning", r"^non-integer x = \d+\.500000 .* Poisson response y"),
    (c_reml_mix, "InferenceWarning", r"^some models fit with REML = TRUE, some not$"),
    (c_missing_cells, "InferenceWarning", r"^Missing cells for: a\S*:b\S*\."),
    (c_bootstrap_failures, "BootstrapWarning", r"^some bootstrap runs failed \(1/3\)$"),
    (c_bootstrap_extreme, "BootstrapWarning", r"^extreme order statistics used as endpoints$"),
    (c_profile, "ProfileWarning", r"^non-monotonic profile for \.sig02$"),
    (c_lmlist_failures, "GroupFitWarning", r"^Fitting failed for 10 group\(s\), probably"),
    (c_deviance_reml, "LmerpyDeprecationWarning", r"^deviance\(\) is deprecated for REML fits"),
    (c_glmer_gaussian, "LmerpyDeprecationWarning", r"please call lmer\(\) directly$"),
]


def _call_line(fn):
    """Line numbers of ``fn``'s body that call into lmerpy (what a warning may point at)."""
    lines, first = inspect.getsourcelines(fn)
    return {first + i for i, text in enumerate(lines)
            if re.search(r"\b(lmerpy\.\w+|confint|bootMer|profile|_stopped_early|"
                         r"_small_slope|deviance|summary)\(", text)}


@pytest.mark.parametrize("fn,category,pattern", CORPUS, ids=[c[0].__name__ for c in CORPUS])
def test_every_warning_has_its_category_and_points_at_the_caller(fn, category, pattern, sleep,
                                                                  dyestuff2, dyestuff):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn({"sleep": sleep, "dyestuff2": dyestuff2, "dyestuff": dyestuff})
    assert caught, f"{fn.__name__} issued no warning"
    lines = _call_line(fn) | _call_line(_stopped_early) | _call_line(_small_slope)
    for w in caught:
        assert issubclass(w.category, lw.LmerpyWarning), (w.category, str(w.message))
        assert Path(w.filename).resolve() == HERE, (w.filename, str(w.message))
        assert w.lineno in lines, (w.lineno, str(w.message))
    cls = getattr(lw, category)
    hits = [w for w in caught if w.category is cls and re.search(pattern, str(w.message))]
    assert hits, [(w.category.__name__, str(w.message)) for w in caught]


def test_the_corpus_covers_every_leaf_category():
    covered = {c for _, c, _ in CORPUS}
    leaves = {n for n in CATEGORIES if not any(p == n for p in PARENT.values())}
    assert leaves - covered == set()
    assert "LmerpyMessage" in covered        # "Computing ... intervals" is the base class itself


def test_the_singular_fit_trailer_keeps_lme4s_text(dyestuff2):
    with pytest.warns(lw.SingularFitWarning) as rec:
        fit = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2)
    assert [str(w.message) for w in rec] == [
        "boundary (singular) fit: see help(lmerpy.isSingular) and docs/errors.md"]
    assert fit.optsum.conv_messages == ["boundary (singular) fit: see help('isSingular')"]
    assert str(fit.summary()).rstrip().endswith("boundary (singular) fit: see help('isSingular')")


def test_a_singular_stop_names_python_help(dyestuff2):
    ctl = lmerpy.lmerControl(check_conv_singular=("stop", 1e-4))
    with pytest.raises(lmerpy.FitError, match=r"help\(lmerpy\.isSingular\)"):
        lmerpy.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2, control=ctl)


# ------------------------------------------------------------------ the default filter


def test_default_filter_shows_each_call_site(dyestuff2):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        lmerpy.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2)
        lmerpy.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2)
        for _ in range(3):              # one call site: shown once, as Python does
            lmerpy.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2)
    here = inspect.currentframe().f_lineno
    singular = [w for w in caught if w.category is lw.SingularFitWarning]
    assert len(singular) == 3
    assert all(Path(w.filename).resolve() == HERE for w in singular)
    assert [w.lineno for w in singular] == [here - 4, here - 3, here - 1]


def test_a_category_filter_silences_exactly_that_category(dyestuff2, sleep):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=lw.SingularFitWarning)
        lmerpy.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2)
        # singular and rank deficient at once: only the rank deficiency remains
        lmerpy.lmer("Yield ~ x + I(2 * x) + (1 | Batch)",
                    dyestuff2.assign(x=np.arange(30.0) % 4))
        _stopped_early(sleep)
    names = [w.category.__name__ for w in caught]
    assert "SingularFitWarning" not in names
    assert names.count("RankDeficiencyWarning") == 1
    assert "ConvergenceWarning" in names and "DdfWarning" not in names
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=lw.ConvergenceWarning)
        lmerpy.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2)  # a subclass: silenced too
        _stopped_early(sleep)
    assert caught == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", lw.LmerpyWarning)
        with pytest.raises(lw.SingularFitWarning):
            lmerpy.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2)


def test_a_module_filter_matches_the_callers_module(dyestuff2):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=lw.LmerpyWarning, module=__name__)
        lmerpy.lmer("Yield ~ 1 + (1 | Batch)", dyestuff2)
    assert caught == []


# ----------------------------------------------------------------- one helper for all


def test_no_warnings_warn_outside_the_helper():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "warnings.py":
            continue
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if re.search(r"\bwarnings\.warn(_explicit)?\(|\bstacklevel\s*=|"
                         r"from\s+warnings\s+import\s+.*\bwarn\b", code):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{k}: {line.strip()}")
    assert offenders == [], "use lmerpy.warnings.warn:\n" + "\n".join(offenders)


@pytest.mark.parametrize("how", ["-c", "stdin"])
def test_warnings_from_code_without_a_source_file(how):
    """``python -c`` and the interactive prompt run code in a __main__ whose loader cannot give
    source: the warning is still shown, at line 3 of that code, and the fit returns."""
    import subprocess
    import sys
    code = ("import lmerpy\nd = lmerpy.datasets.load('Dyestuff2')\n"
            "f = lmerpy.lmer('Yield ~ 1 + (1 | Batch)', d)\nprint('fitted', f.isSingular())\n")
    root = str(Path(lmerpy.__file__).resolve().parents[1])
    args = [sys.executable, "-c", code] if how == "-c" else [sys.executable, "-"]
    out = subprocess.run(args, input=None if how == "-c" else code, capture_output=True,
                         text=True, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr
    assert "fitted True" in out.stdout
    assert ":3: SingularFitWarning: boundary (singular) fit" in out.stderr


def test_warnings_from_a_module_run_with_dash_m(tmp_path):
    """``python -m pkg.mod`` runs pkg.mod as __main__ with pkg.mod's loader (which refuses to
    give the source of __main__): the warning is shown at the calling line, ignored under an
    "ignore" filter, and the script goes on."""
    import subprocess
    import sys
    pkg = tmp_path / "wpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "run.py").write_text(
        "import warnings\nimport lmerpy\nd = lmerpy.datasets.load('Dyestuff2')\n"
        "with warnings.catch_warnings():\n    warnings.simplefilter('ignore')\n"
        "    lmerpy.lmer('Yield ~ 1 + (1 | Batch)', d)\n"
        "f = lmerpy.lmer('Yield ~ 1 + (1 | Batch)', d)\nprint('fitted', f.isSingular())\n")
    root = str(Path(lmerpy.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-m", "wpkg.run"], capture_output=True, text=True,
                         timeout=120, cwd=str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr
    assert "fitted True" in out.stdout
    assert out.stderr.count("SingularFitWarning: boundary (singular) fit") == 1
    assert "run.py:7: SingularFitWarning" in out.stderr
