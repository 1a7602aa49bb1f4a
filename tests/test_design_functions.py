"""R's ``C()`` and lme4's ``dummy()`` in formulas: the parts the design goldens do not cover
(errors, the dropped-contrast warning, predictions on new data). The design matrices
themselves are checked against lme4 in test_design_goldens.py (``fun_C_*``, ``fun_dummy_*``).
"""
import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.errors import DataError, FormulaError
from lmerpy.warnings import DesignWarning


@pytest.fixture(scope="module")
def pen():
    return lmerpy.datasets.load("Penicillin")


def test_C_sum_gives_lme4s_estimates(pen):
    # lme4 1.1-31: lmer(diameter ~ C(sample, contr.sum) + (1|plate), Penicillin)
    m = lmerpy.lmer("diameter ~ C(sample, contr.sum) + (1|plate)", pen)
    fe = lmerpy.fixef(m)
    assert list(fe.index) == ["(Intercept)"] + [f"C(sample, contr.sum){i}" for i in range(1, 6)]
    np.testing.assert_allclose(fe.to_numpy(), [22.97222222, 2.19444444, -1.01388889,
                                               1.94444444, -0.09722222, -0.01388889], atol=5e-9)
    np.testing.assert_allclose(lmerpy.REMLcrit(m), 311.8628, atol=5e-5)


def test_C_predicts_new_data_with_the_fitted_coding(pen):
    m = lmerpy.lmer("diameter ~ C(sample, \"contr.helmert\") + (1|plate)", pen)
    new = pen.iloc[[0, 5, 11]].copy()
    np.testing.assert_allclose(lmerpy.predict(m, newdata=new, re_form=np.nan),
                               lmerpy.predict(m, re_form=np.nan).iloc[[0, 5, 11]])


@pytest.mark.parametrize("formula, fragment", [
    ("diameter ~ C(sample, contr.foo) + (1|plate)", "unknown contrasts 'contr.foo'"),
    ("diameter ~ C(sample, \"nonsense\") + (1|plate)", "unknown contrasts 'nonsense'"),
    ("diameter ~ C(sample, 3) + (1|plate)", "'contr' must be a contrast function"),
    ("diameter ~ C(sample, contr.sum, 9) + (1|plate)", "how.many must be between 1 and 5"),
])
def test_C_bad_contrasts_name_the_call(pen, formula, fragment):
    with pytest.raises(FormulaError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        lmerpy.lmer(formula, pen)


@pytest.mark.parametrize("keep, fragment", [
    ('"Z"', "at least some of the levels in f must also be present in levelsToKeep"),
    ('c("B", "Z")', "all of the levelsToKeep must be levels of f (Z is not"),
])
def test_dummy_bad_levels_name_them(pen, keep, fragment):
    with pytest.raises(DataError) as err:
        lmerpy.lmer(f"diameter ~ 1 + (0 + dummy(sample, {keep}) | plate)", pen)
    assert fragment in str(err.value)


def test_C_contrasts_dropped_with_levels_as_R_warns():
    # R's model.frame(drop.unused.levels = TRUE): "contrasts dropped from factor C(f, contr.sum)
    # due to missing levels"; the factor then gets the default (treatment) coding
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"y": rng.normal(size=60) + np.repeat(3 * rng.normal(size=6), 10), "g": np.repeat(list("abcdef"), 10),
                      "f": pd.Categorical(np.tile(["p", "q"], 30), categories=["p", "q", "r"])})
    with pytest.warns(DesignWarning, match=r"contrasts dropped from factor C\(f, contr.sum\)"):
        m = lmerpy.lmer("y ~ C(f, contr.sum) + (1|g)", d)
    assert list(lmerpy.fixef(m).index) == ["(Intercept)", "C(f, contr.sum)q"]


def test_C_does_not_change_the_callers_data(pen):
    before = pen.copy()
    lmerpy.lmer("diameter ~ C(sample, sum) + (1|plate)", pen)
    pd.testing.assert_frame_equal(pen, before)
