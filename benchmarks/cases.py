"""The benchmark cases: model, data, size class, and how each side fits it.

Each :class:`Case` is fitted by lmerpy (``lmerpy.lmer`` / ``lmerpy.glmer``) and by lme4
(``lme4::lmer`` / ``lme4::glmer``) with default controls on both sides. The ``structured``
group (``us()``, ``diag()``, ``cs()``, ``ar1()`` terms) is fitted by lme4 2.1 from its own
library (``R_LIBS=/opt/lme4-2.1``), the cases of ``tests/reference/structured/timings.json``;
the other cases by the default lme4 (1.1-31 on Debian 12). The ``nlme`` group is fitted by
``lmerpy.gls`` / ``lmerpy.lme`` and by nlme's ``gls`` / ``lme`` (the R side is then nlme).
"""
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd

from . import bench_long, synthetic


@dataclass(frozen=True)
class Case:
    """One benchmark case.

    Attributes
    ----------
    name : str
        Short id (``--cases`` takes these).
    title : str
        Label in the table and plot.
    fn : {"lmer", "glmer", "gls", "lme"}
    formula : str
        The lme4 formula (nlme's fixed formula for gls/lme), identical text on both sides.
    data : str
        A bundled data set (``lmerpy.datasets.load``), ``"synthetic"``, ``"bench_long"`` or
        ``"gls_ar1"`` (:func:`benchmarks.synthetic.gls_ar1`).
    family : str, optional
        GLMM family name (R's and lmerpy's: ``"binomial"``, ``"poisson"``).
    synthetic : dict
        Arguments of :func:`benchmarks.synthetic.crossed` when ``data == "synthetic"``, of
        :func:`benchmarks.bench_long.load` when ``data == "bench_long"``, of
        :func:`benchmarks.synthetic.gls_ar1` when ``data == "gls_ar1"``.
    size : {"small", "medium", "large", "xlarge"}
        ``small`` and ``medium`` cases get 5 repetitions by default, ``large`` 3; ``--quick``
        keeps the ``small`` ones; ``xlarge`` run only with ``--large`` (3 repetitions).
    inner : int
        Fits per timed repetition (the repetition's time is divided by it): fast fits are timed
        in batches so that clock resolution and scheduling noise do not dominate.
    short : str
        Label in the plot (default: ``name``).
    group : {"main", "structured", "nlme"}
        The table of docs/performance.md the case belongs to.
    lme4 : str
        The lme4 version the R side must load (``""``: the default library's, whatever it is).
    r_libs : str
        ``R_LIBS`` of the R side (``""``: R's default libraries).
    warmup_rows : int
        When > 0, both sides' warm-up also fits the case's own formula on the first
        ``warmup_rows`` rows (unused factor levels dropped), so that first-call costs of the
        term's structure are not timed either.
    boot : int
        When > 0, the case is a parametric bootstrap of the fitted model with this many
        simulations (each side fits once untimed, then times ``boot N``; see
        :func:`benchmarks.harness.run_case`).
    """

    name: str
    title: str
    fn: str
    formula: str
    data: str
    family: Optional[str] = None
    synthetic: dict = field(default_factory=dict)
    size: str = "small"
    inner: int = 1
    short: str = ""
    group: str = "main"
    lme4: str = ""
    r_libs: str = ""
    warmup_rows: int = 0
    nlme: dict = field(default_factory=dict)
    boot: int = 0

    @property
    def default_reps(self):
        return 5 if self.size in ("small", "medium") else 3

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


CROSSED = "y ~ x + (x | g1) + (1 | g2)"

CASES = [
    Case("sleepstudy", "sleepstudy (Days|Subject)", "lmer",
         "Reaction ~ Days + (Days | Subject)", "sleepstudy", inner=20, short="sleepstudy"),
    Case("penicillin", "Penicillin (1|plate)+(1|sample)", "lmer",
         "diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin", inner=10, short="Penicillin"),
    Case("pastes", "Pastes (1|batch/cask)", "lmer",
         "strength ~ 1 + (1 | batch/cask)", "Pastes", inner=10, short="Pastes"),
    Case("insteval", "InstEval (1|s)+(1|d)+(1|dept)", "lmer",
         "y ~ service + (1 | s) + (1 | d) + (1 | dept)", "InstEval", size="large",
         short="InstEval"),
    Case("insteval_service", "InstEval (1|s)+(1|d)+(service|dept)", "lmer",
         "y ~ service + (1 | s) + (1 | d) + (service | dept)", "InstEval", size="large",
         short="InstEval (service|dept)"),
    Case("crossed_200k", "crossed 200k (x|g1)+(1|g2)", "lmer", CROSSED, "synthetic",
         synthetic=dict(n_rows=200_000, n_g1=2_000, n_g2=300, seed=20240501), size="large",
         short="crossed 200k"),
    Case("crossed_1m", "crossed 1M (x|g1)+(1|g2)", "lmer", CROSSED, "synthetic",
         synthetic=dict(n_rows=1_000_000, n_g1=10_000, n_g2=1_000, seed=20240502),
         size="xlarge", short="crossed 1M"),
    Case("crossed_10m", "crossed 10M (x|g1)+(1|g2)", "lmer", CROSSED, "synthetic",
         synthetic=dict(n_rows=10_000_000, n_g1=100_000, n_g2=3_000, seed=20240503),
         size="xlarge", short="crossed 10M"),
    Case("cbpp", "cbpp binomial (1|herd)", "glmer",
         "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
         family="binomial", inner=5, short="cbpp"),
    Case("grouseticks", "grouseticks Poisson 3 intercepts", "glmer",
         "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "grouseticks",
         family="poisson", inner=2, short="grouseticks"),
    Case("verbagg", "VerbAgg binomial (1|id)+(1|item)", "glmer",
         "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "VerbAgg",
         family="binomial", short="VerbAgg"),
    Case("sleepstudy_boot", "bootstrap: sleepstudy, 1000 refits", "lmer",
         "Reaction ~ Days + (Days | Subject)", "sleepstudy", short="bootstrap 1000",
         boot=1000, size="medium"),
]

#: lme4 2.1.0's library (built by /work/shared/tools/lme4-2.1/install.sh; Debian's default
#: library keeps lme4 1.1-31). ``$LMERPY_BENCH_LME4_21`` overrides the location.
LME4_21_LIBS = os.environ.get("LMERPY_BENCH_LME4_21", "/opt/lme4-2.1")

#: The terms of tests/reference/structured/timings.json, in its order: (suffix, term, label).
STRUCTURED_TERMS = [
    ("cs", "cs(0 + time | subj)", "cs het"),
    ("cs_hom", "cs(0 + time | subj, hom = TRUE)", "cs hom"),
    ("ar1", "ar1(0 + time | subj)", "ar1 hom"),
    ("ar1_het", "ar1(0 + time | subj, hom = FALSE)", "ar1 het"),
    ("diag", "diag(0 + time | subj)", "diag"),
    ("us", "(0 + time | subj)", "us"),
]


def _structured_cases():
    out = []
    for subjects, size, tag in ((1000, "medium", "12k"), (5000, "large", "60k")):
        for suffix, term, label in STRUCTURED_TERMS:
            out.append(Case(f"long{tag}_{suffix}", term, "lmer",
                            f"y ~ x + time + {term}", "bench_long",
                            synthetic=dict(n_subjects=subjects), size=size,
                            short=f"{label} {tag}", group="structured", lme4="2.1.0",
                            r_libs=LME4_21_LIBS, warmup_rows=1200))
    return out


CASES += _structured_cases()

#: nlme's models (issue 13): gls with AR(1) errors on 100k rows in 1,000 series; lme with a
#: random intercept per instructor and a variance per department (varIdent) on InstEval.
CASES += [
    Case("gls_ar1_100k", "gls corAR1 (~1|g), 100k rows x 1,000 groups", "gls",
         "y ~ x + t + trt", "gls_ar1", synthetic=dict(groups=1000, size=100, seed=1),
         size="large", short="gls AR(1) 100k", group="nlme", warmup_rows=2000,
         nlme={"correlation": {"fn": "corAR1", "kwargs": {"form": "~ 1 | g"}}}),
    Case("lme_insteval_varident", "lme InstEval ~1|d, varIdent(~1|dept)", "lme",
         "y ~ service", "InstEval", size="large", short="lme InstEval varIdent",
         group="nlme", warmup_rows=2000,
         nlme={"random": "~ 1 | d",
               "weights": {"fn": "varIdent", "kwargs": {"form": "~ 1 | dept"}},
               # nlme's default (msMaxIter = 50) stops with "nlminb problem, convergence
               # error code = 1 ... iteration limit reached" on this model
               "r_control": {"fn": "lmeControl", "kwargs": {"msMaxIter": 200}}}),
]

BY_NAME = {c.name: c for c in CASES}


def select(names=None, large=False, quick=False, group=None):
    """The cases to run: ``names`` (in suite order), else every case but ``xlarge`` ones unless
    ``large``; ``quick`` keeps only the ``small`` ones, ``group`` only that group's."""
    if names:
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise SystemExit(f"unknown case(s) {', '.join(unknown)}; "
                             f"known: {', '.join(BY_NAME)}")
        return [c for c in CASES if c.name in set(names)]
    out = [c for c in CASES if large or c.size != "xlarge"]
    if quick:
        out = [c for c in out if c.size == "small"]
    if group:
        out = [c for c in out if c.group == group]
    return out


def head(df, rows):
    """The first ``rows`` rows of ``df``, unused categories dropped (the warm-up's data)."""
    out = df.iloc[:int(rows)].copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].cat.remove_unused_categories()
    return out


def load_data(case):
    """The case's data frame, as lmerpy sees it (bundled data set or seeded synthetic)."""
    if case.data == "synthetic":
        return synthetic.crossed(**case.synthetic)
    if case.data == "bench_long":
        return bench_long.load(**case.synthetic)
    if case.data == "gls_ar1":
        return synthetic.gls_ar1(**case.synthetic)
    import lmerpy
    return lmerpy.datasets.load(case.data)


def write_csv(df, directory, stem="data"):
    """Write ``df`` for R: ``stem.csv`` (factors as their labels, no row names) and
    ``stem.levels.json`` (``{"levels": {col: [...]}, "ordered": [...]}``, the format of
    ``tests/reference/data``). Returns the two paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    levels, ordered = {}, []
    for col in df.columns:
        dtype = df[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            levels[col] = [str(v) for v in dtype.categories]
            if dtype.ordered:
                ordered.append(col)
    csv = directory / f"{stem}.csv"
    lev = directory / f"{stem}.levels.json"
    df.to_csv(csv, index=False)
    lev.write_text(json.dumps({"levels": levels, "ordered": ordered}))
    return csv, lev
