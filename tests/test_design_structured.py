"""lme4 2.x's design rules for structured random-effects terms (lmerpy.design.structured_terms).

* ``ar1()`` over columns that are not the levels of one factor: lme4 2.1 fits it as written
  (the oracle's golden ``sleep_ar1_numeric`` is such a fit; glmmTMB stops); lmerpy fits it
  and warns with a DesignWarning naming the term and its columns.
* any structured term switches lme4's ``check.nobs.vs.nRE`` off (lme4 2.1's ``mkFormula``).
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.design.structured_terms import is_levels_of_one_factor
from lmerpy.errors import DesignError
from lmerpy.warnings import DesignWarning


@pytest.fixture(scope="module")
def long_data():
    rng = np.random.default_rng(12)
    subj = np.repeat([f"s{i:02d}" for i in range(12)], 4)
    times = ["t1", "t2", "t3", "t4"]
    time = pd.Categorical(np.tile(times, 12), categories=times, ordered=True)
    return pd.DataFrame({"y": rng.normal(size=48), "x": rng.normal(size=48), "subj": subj,
                         "time": time, "timec": np.asarray(time).astype(str)})


def _design(formula, data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lf = lmerpy.lFormula(formula, data)
    return lf, [w for w in caught if issubclass(w.category, DesignWarning)]


@pytest.mark.parametrize("formula", [
    "y ~ x + ar1(0 + time | subj)",                      # an ordered factor
    "y ~ x + ar1(0 + timec | subj, hom = FALSE)",        # a character column (a factor)
    "y ~ x + ar1(time - 1 | subj)",
])
def test_ar1_over_the_levels_of_a_factor_is_quiet(formula, long_data):
    lf, caught = _design(formula, long_data)
    assert caught == []
    assert lf.reterms[0].n_columns == 4


@pytest.mark.parametrize("formula, columns", [
    ("y ~ x + ar1(1 + x | subj)", "'(Intercept)', 'x'"),
    ("y ~ x + ar1(time | subj)", "'(Intercept)', 'time.L', 'time.Q', 'time.C'"),
    ("y ~ x + ar1(0 + x + time | subj)", "'x', 'timet1'"),
    ("y ~ x + ar1(0 + time:x | subj)", "'timet1:x'"),
])
def test_ar1_over_other_columns_fits_as_lme4_with_a_warning(formula, columns, long_data):
    lf, caught = _design(formula, long_data)
    assert len(caught) == 1
    msg = str(caught[0].message)
    term = formula.split(" + ", 1)[1].split("(", 1)[1].rsplit(")", 1)[0]
    assert msg.startswith(f"ar1({term})") and columns in msg
    assert "levels of one factor" in msg


def test_the_ar1_warning_names_the_golden_case(long_data):
    sleep = lmerpy.datasets.load("sleepstudy")
    with pytest.warns(DesignWarning, match=r"ar1\(1 \+ Days \| Subject\) correlates neighbouring "
                                           r"columns \('\(Intercept\)', 'Days'\)"):
        lf = lmerpy.lFormula("Reaction ~ Days + ar1(1 + Days | Subject)", sleep)
    assert lf.reterms[0].cnms == ["(Intercept)", "Days"]


def test_levels_of_one_factor_reads_the_spec(long_data):
    lf, _ = _design("y ~ x + cs(0 + time | subj) + (1 + x | subj) + (0 + x | subj)", long_data)
    assert [is_levels_of_one_factor(t.lhs_spec) for t in lf.reterms] == [True, False, False]


def test_structured_terms_skip_check_nobs_vs_nRE(long_data):
    # (0 + time | subj) has 12 x 4 = 48 random effects for 48 observations: lme4 stops for an
    # unstructured term, and lme4 2.1 ignores the check once a term is structured
    with pytest.raises(DesignError, match=r"number of observations \(=48\) <= number of random "
                                          r"effects \(=48\) for term \(0 \+ time \| subj\)"):
        lmerpy.lFormula("y ~ x + (0 + time | subj)", long_data)
    with pytest.raises(DesignError, match="number of random effects"):
        lmerpy.lFormula("y ~ x + us(0 + time | subj)", long_data)
    for s in ("diag", "cs", "ar1"):
        lf = lmerpy.lFormula(f"y ~ x + {s}(0 + time | subj)", long_data)
        assert lf.reterms[0].n_rows == 48
    # one structured term is enough, as lme4's .anyStructured
    lf = lmerpy.lFormula("y ~ x + (0 + time | subj) + cs(1 | subj)", long_data)
    assert [t.n_rows for t in lf.reterms] == [48, 12]
