"""``na_action="exclude"``: the complete-case fit of ``"omit"``, with fitted values, residuals,
predictions and simulations padded back to the data's rows with NaN (R's ``naresid`` /
``napredict`` for ``na.exclude``); ``"omit"`` keeps the model frame's rows; ``"fail"`` errors.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.errors import DataError

FM = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
#: rows given a missing value (by position), in the response and in a predictor
SLEEP_NA = {"Reaction": [3, 50], "Days": [10]}
CBPP_NA = {"incidence": [2], "period": [20, 21]}


def _with_missing(data, spec):
    d = data.copy()
    for col, rows in spec.items():
        if isinstance(d[col].dtype, pd.CategoricalDtype):
            d[col] = d[col].astype(object)
            d.iloc[rows, d.columns.get_loc(col)] = None
            d[col] = pd.Categorical(d[col], categories=data[col].cat.categories)
        else:
            d[col] = d[col].astype(float)
            d.iloc[rows, d.columns.get_loc(col)] = np.nan
    return d


def _missing_positions(spec):
    return sorted({r for rows in spec.values() for r in rows})


@pytest.fixture(scope="module")
def sleep_na():
    d = lmerpy.datasets.load("sleepstudy")
    d.index = [f"obs{i}" for i in range(len(d))]      # labels, not positions
    return _with_missing(d, SLEEP_NA)


@pytest.fixture(scope="module")
def cbpp_na():
    d = lmerpy.datasets.load("cbpp")
    d.index = d.index + 100
    return _with_missing(d, CBPP_NA)


@pytest.fixture(scope="module")
def lmm(sleep_na):
    return (lmerpy.lmer(FM, sleep_na, na_action="exclude"),
            lmerpy.lmer(FM, sleep_na, na_action="omit"))


@pytest.fixture(scope="module")
def glmm(cbpp_na):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (lmerpy.glmer(CBPP, cbpp_na, family="binomial", na_action="exclude"),
                lmerpy.glmer(CBPP, cbpp_na, family="binomial", na_action="omit"))


def _check_padded(padded, omitted, data, spec):
    """One entry per data row, the data's index, NaN exactly at the dropped rows, and the
    omit fit's values (bit for bit) at the others."""
    assert len(padded) == len(data)
    assert padded.index.equals(data.index)
    miss = np.zeros(len(data), dtype=bool)
    miss[_missing_positions(spec)] = True
    values = np.asarray(padded, dtype=float)
    if values.ndim == 1:
        np.testing.assert_array_equal(np.isnan(values), miss)
    else:
        np.testing.assert_array_equal(np.isnan(values).all(axis=1), miss)
        assert not np.isnan(values[~miss]).any()
    np.testing.assert_array_equal(values[~miss], np.asarray(omitted, dtype=float))
    assert list(data.index[~miss]) == list(omitted.index)


def test_the_fit_is_the_complete_case_fit(lmm, sleep_na):
    exc, omi = lmm
    np.testing.assert_array_equal(exc.theta, omi.theta)
    np.testing.assert_array_equal(exc.fixef(), omi.fixef())
    assert exc.nobs() == omi.nobs() == len(sleep_na) - len(_missing_positions(SLEEP_NA))
    # the model frame and model matrix stay the complete cases, as in R
    assert exc.design.fr.index.equals(omi.design.fr.index)
    assert exc.model_matrix().shape[0] == exc.nobs()


def test_lmer_fitted(lmm, sleep_na):
    exc, omi = lmm
    assert len(omi.fitted()) == omi.nobs()
    _check_padded(exc.fitted(), omi.fitted(), sleep_na, SLEEP_NA)


@pytest.mark.parametrize("type", ["response", "pearson", "working"])
@pytest.mark.parametrize("scaled", [False, True])
def test_lmer_residuals(lmm, sleep_na, type, scaled):
    exc, omi = lmm
    _check_padded(exc.residuals(type=type, scaled=scaled), omi.residuals(type=type, scaled=scaled),
                  sleep_na, SLEEP_NA)
    _check_padded(exc.resid(type=type, scaled=scaled), omi.resid(type=type, scaled=scaled),
                  sleep_na, SLEEP_NA)


@pytest.mark.parametrize("re_form", [None, lmerpy.NA, "~(1 | Subject)"])
def test_lmer_predict(lmm, sleep_na, re_form):
    exc, omi = lmm
    _check_padded(exc.predict(re_form=re_form), omi.predict(re_form=re_form), sleep_na, SLEEP_NA)
    _check_padded(lmerpy.predict(exc, re_form=re_form), omi.predict(re_form=re_form),
                  sleep_na, SLEEP_NA)


def test_lmer_predict_newdata_is_not_padded(lmm, sleep_na):
    exc, omi = lmm
    new = sleep_na.iloc[:20]
    p = exc.predict(newdata=new)
    assert p.index.equals(new.index)
    np.testing.assert_array_equal(p.to_numpy(), omi.predict(newdata=new).to_numpy())
    assert np.isnan(p.iloc[10])          # Days missing there: NaN (R's na.pass)


def test_lmer_simulate(lmm, sleep_na):
    exc, omi = lmm
    s_exc = exc.simulate(nsim=3, seed=42)
    s_omi = omi.simulate(nsim=3, seed=42)
    assert list(s_exc.columns) == ["sim_1", "sim_2", "sim_3"]
    _check_padded(s_exc, s_omi, sleep_na, SLEEP_NA)
    assert s_exc.attrs["seed"] == 42


def test_lmer_summary_uses_the_complete_cases(lmm):
    exc, omi = lmm
    assert str(exc.summary()) == str(omi.summary())
    assert len(exc.summary().residuals) == len(exc.fitted())


def test_glmer_fitted_and_predict(glmm, cbpp_na):
    exc, omi = glmm
    _check_padded(exc.fitted(), omi.fitted(), cbpp_na, CBPP_NA)
    for type in ("link", "response"):
        _check_padded(exc.predict(type=type), omi.predict(type=type), cbpp_na, CBPP_NA)
        _check_padded(exc.predict(type=type, re_form=lmerpy.NA),
                      omi.predict(type=type, re_form=lmerpy.NA), cbpp_na, CBPP_NA)


@pytest.mark.parametrize("type", ["deviance", "pearson", "working", "response"])
def test_glmer_residuals(glmm, cbpp_na, type):
    exc, omi = glmm
    _check_padded(exc.residuals(type=type), omi.residuals(type=type), cbpp_na, CBPP_NA)


def test_glmer_simulate_cbind(glmm, cbpp_na):
    exc, omi = glmm
    s_exc, s_omi = exc.simulate(nsim=2, seed=7), omi.simulate(nsim=2, seed=7)
    assert isinstance(s_exc.columns, pd.MultiIndex)
    assert list(s_exc.columns) == list(s_omi.columns)
    _check_padded(s_exc, s_omi, cbpp_na, CBPP_NA)


def test_glmer_simulate_factor_response(cbpp_na):
    d = cbpp_na.copy()
    d["any"] = pd.Categorical(np.where(d["incidence"] > 0, "yes", "no"))
    d.loc[d["incidence"].isna(), "any"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exc = lmerpy.glmer("any ~ period + (1 | herd)", d, family="binomial",
                           na_action="exclude")
        omi = lmerpy.glmer("any ~ period + (1 | herd)", d, family="binomial")
    s_exc, s_omi = exc.simulate(nsim=2, seed=3), omi.simulate(nsim=2, seed=3)
    assert len(s_exc) == len(d) and s_exc.index.equals(d.index)
    miss = np.zeros(len(d), dtype=bool)
    miss[_missing_positions(CBPP_NA)] = True
    for col in s_exc.columns:
        assert isinstance(s_exc[col].dtype, pd.CategoricalDtype)
        assert list(s_exc[col].cat.categories) == ["no", "yes"]
        np.testing.assert_array_equal(s_exc[col].isna().to_numpy(), miss)
        assert list(s_exc[col][~miss]) == list(s_omi[col])


def test_exclude_without_missing_rows_is_omit(sleep_na):
    d = lmerpy.datasets.load("sleepstudy")
    exc = lmerpy.lmer(FM, d, na_action="exclude")
    assert exc.fitted().index.equals(d.index)
    assert exc.design.data_index is None


def test_fail_names_the_columns(sleep_na):
    with pytest.raises(DataError) as e:
        lmerpy.lmer(FM, sleep_na, na_action="fail")
    assert "missing values in object" in str(e.value) and "Days" in str(e.value)


def test_data_not_mutated(sleep_na):
    before = sleep_na.copy()
    fit = lmerpy.lmer(FM, sleep_na, na_action="exclude")
    fit.fitted(), fit.residuals(), fit.predict(), fit.simulate(seed=1)
    pd.testing.assert_frame_equal(sleep_na, before)


def test_update_keeps_exclude(lmm, sleep_na):
    exc, _ = lmm
    ml = exc.update(REML=False)
    assert len(ml.fitted()) == len(sleep_na)
