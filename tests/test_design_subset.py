"""A design restricted to some rows (lmerpy.design.subset) is the design of those rows: the
same X, y, Zt, Λ' template and levels as lFormula on the subset of the data."""
import numpy as np
import pytest

import lmerpy
from lmerpy.design.subset import subset_design
from lmerpy.errors import DesignError


@pytest.mark.parametrize("data_name,formula,column,level", [
    ("Pastes", "strength ~ 1 + (1 | batch/cask)", "batch", "C"),
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "Subject", "309"),
])
def test_subset_design_is_the_design_of_the_subset(data_name, formula, column, level):
    data = lmerpy.datasets.load(data_name)
    full = lmerpy.lFormula(formula, data)
    keep = (data[column].astype(str) != level).to_numpy()
    sub = subset_design(full, np.flatnonzero(keep))
    want = lmerpy.lFormula(formula, data[keep].assign(**{
        c: data[c][keep].cat.remove_unused_categories() for c in data.columns
        if str(data[c].dtype) == "category"}))
    np.testing.assert_array_equal(sub.X, want.X)
    np.testing.assert_array_equal(sub.y, want.y)
    assert [t.levels for t in sub.reterms] == [t.levels for t in want.reterms]
    assert (sub.Zt != want.Zt).nnz == 0
    assert (sub.Lambdat != want.Lambdat).nnz == 0
    np.testing.assert_array_equal(sub.Lind, want.Lind)
    assert sub.fr.shape[0] == keep.sum() and full.n == data.shape[0]
    dev = lmerpy.mkLmerDevfun(sub)
    assert dev(sub.theta) == pytest.approx(lmerpy.mkLmerDevfun(want)(want.theta), rel=1e-12)


def test_subset_design_drops_a_vanished_fixed_effect_column():
    data = lmerpy.datasets.load("cbpp")
    full = lmerpy.glFormula("cbind(incidence, size - incidence) ~ period + (1 | herd)", data)
    sub = subset_design(full, np.flatnonzero((data["period"] != "4").to_numpy()))
    assert sub.X_colnames == ["(Intercept)", "period2", "period3"]


def test_subset_design_errors():
    full = lmerpy.lFormula("Reaction ~ Days + (1 | Subject)", lmerpy.datasets.load("sleepstudy"))
    with pytest.raises(DesignError, match="no rows"):
        subset_design(full, [])
    with pytest.raises(DesignError, match="0..179"):
        subset_design(full, [180])
