"""The model frame, errors, the no-mutation guarantee, NA handling, new data and speed.

Expected values come from R 4.2 / lme4 1.1-31 (the R call is quoted next to each number).
"""
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy.datasets as datasets
from lmerpy.design import build_design, lFormula, model_matrices_for
from lmerpy.errors import DataError, DesignError, FormulaError, UnknownColumnError
from lmerpy.warnings import DesignWarning
from lmerpy.formula import parse_formula

TOL = 1e-10


def _formula(text):
    return parse_formula(text)


# --------------------------------------------------------------------------- the frame

def test_caller_frame_is_never_modified():
    df = pd.DataFrame({
        "y": [1.0, 2.5, np.nan, 4.0, 5.5, 3.0, 2.0, 7.0],
        "x": [1, 2, 3, 4, 5, 6, 7, 8],
        "f": ["b", "a", "b", "c", "a", "c", "b", "a"],
        "g": pd.Categorical(["u", "v", "u", "v", "u", "v", "u", "v"], categories=["v", "u", "w"]),
    }, index=[10, 11, 12, 13, 14, 15, 16, 17])
    before = df.copy(deep=True)
    des = build_design(_formula("y ~ x + f + (1 | g)"), df)
    pd.testing.assert_frame_equal(df, before)
    assert list(df["g"].cat.categories) == ["v", "u", "w"]
    # the model frame is a new object with the kept rows, unused level w dropped
    assert list(des.fr.index) == [10, 11, 13, 14, 15, 16, 17]
    assert list(des.flist["g"].cat.categories) == ["v", "u"]
    assert des.X_colnames == ["(Intercept)", "x", "fb", "fc"]  # strings sorted: a, b, c


def test_missing_values_drop_rows(sleep):
    full = build_design(_formula("Reaction ~ Days + (Days | Subject)"), sleep)
    df = sleep.copy()
    df.loc[3, "Reaction"] = np.nan
    df.loc[10, "Days"] = np.nan
    df.loc[20, "Subject"] = np.nan
    des = build_design(_formula("Reaction ~ Days + (Days | Subject)"), df)
    keep = np.setdiff1d(np.arange(180), [3, 10, 20])
    assert des.n == 177 and des.n_dropped == 3
    assert des.dropped_rows.tolist() == [3, 10, 20]
    np.testing.assert_array_equal(des.X, full.X[keep])
    np.testing.assert_array_equal(des.y, full.y[keep])
    np.testing.assert_array_equal(des.Zt.toarray(), full.Zt.toarray()[:, keep])


def test_na_action_fail(sleep):
    df = sleep.copy()
    df.loc[3, "Reaction"] = np.nan
    with pytest.raises(DataError, match="missing values"):
        build_design(_formula("Reaction ~ Days + (Days | Subject)"), df, na_action="fail")


def test_numeric_and_string_grouping_become_factors():
    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                       "g": np.repeat([10, 2, 100000, 7], 10)})
    des = build_design(_formula("y ~ x + (1 | g)"), df)
    # R: levels(factor(c(10L, 2L, 100000L, 7L))) -- integer column, printed in full
    assert des.reterms[0].levels == ["2", "7", "10", "100000"]
    df["g"] = df["g"].astype(float) / 10
    des = build_design(_formula("y ~ x + (1 | g)"), df)
    # R: levels(factor(c(1, 0.2, 10000, 0.7)))
    assert des.reterms[0].levels == ["0.2", "0.7", "1", "10000"]
    df["g"] = np.repeat(["b", "B", "a", "A"], 10)
    des = build_design(_formula("y ~ x + (1 | g)"), df)
    assert des.reterms[0].levels == ["a", "A", "b", "B"]  # R: sort() in a UTF-8 locale


def test_lformula_has_lme4_names(sleep):
    lf = lFormula(_formula("Reaction ~ Days + (Days | Subject)"), sleep)
    assert lf.X.shape == (180, 2) and lf.Zt.shape == (36, 180) and lf.Lambdat.shape == (36, 36)
    assert lf.theta.tolist() == [1, 0, 1] and lf.lower.tolist() == [0, -np.inf, 0]
    assert lf.Lind.tolist() == [1, 2, 3] * 18
    assert lf.cnms == {"Subject": ["(Intercept)", "Days"]}
    assert list(lf.flist.columns) == ["Subject"] and lf.y.shape == (180,)
    assert not lf.offset.any() and (lf.weights == 1).all()
    assert list(lf.fr.columns) == ["Reaction", "Days", "Subject"]


# --------------------------------------------------------------------------- errors

def test_unknown_column_suggests_close_names(sleep):
    with pytest.raises(UnknownColumnError, match="'Dayz'.*did you mean 'Days'"):
        build_design(_formula("Reaction ~ Dayz + (1 | Subject)"), sleep)


def test_unknown_function_is_named(sleep):
    with pytest.raises(FormulaError, match="unknown function 'foo' in 'foo\\(Days\\)'"):
        build_design(_formula("Reaction ~ foo(Days) + (1 | Subject)"), sleep)


def test_infinite_values_name_the_variable(sleep):
    # log(0) = -Inf on the Days == 0 rows
    with pytest.raises(DataError, match="'log\\(Days\\)' has infinite values"):
        build_design(_formula("Reaction ~ log(Days) + (1 | Subject)"), sleep)
    df = sleep.copy()
    df.loc[5, "Reaction"] = np.inf
    with pytest.raises(DataError, match="'Reaction' has infinite values"):
        build_design(_formula("Reaction ~ Days + (1 | Subject)"), df)


def test_non_numeric_response(sleep):
    df = sleep.copy()
    df["Reaction"] = np.where(df["Reaction"] > 300, "slow", "fast")
    with pytest.raises(DataError, match="response must be numeric: 'Reaction' is a factor"):
        build_design(_formula("Reaction ~ Days + (1 | Subject)"), df)
    # glmer's hook: a factor response is allowed (first level = failure)
    des = build_design(_formula("Reaction ~ Days + (1 | Subject)"), df, glmer=True)
    np.testing.assert_array_equal(des.y, (df["Reaction"] == "slow").astype(float))
    assert des.info["response_levels"] == ["fast", "slow"]


def test_empty_frame_after_na_removal(sleep):
    df = sleep.copy()
    df["Reaction"] = np.nan
    with pytest.raises(DataError, match="0 \\(non-NA\\) cases"):
        build_design(_formula("Reaction ~ Days + (1 | Subject)"), df)


def test_negative_and_bad_weights(sleep):
    w = np.ones(180)
    w[7] = -1
    with pytest.raises(DataError, match="negative weights"):
        build_design(_formula("Reaction ~ Days + (1 | Subject)"), sleep, weights=w)
    with pytest.raises(DataError, match="length 3"):
        build_design(_formula("Reaction ~ Days + (1 | Subject)"), sleep, weights=[1, 2, 3])


def test_single_level_factor_in_fixed_part():
    df = pd.DataFrame({"y": np.arange(12.0), "x": np.arange(12.0) % 5,
                       "f": ["a"] * 12, "g": list("abcd") * 3})
    with pytest.raises(DataError, match="2 or more levels: 'f' has 1 level"):
        build_design(_formula("y ~ x + f + (1 | g)"), df)


def test_lme4_checks_and_control(sleep):
    small = sleep[sleep["Days"] < 2]
    with pytest.raises(DesignError, match=r"number of observations \(=36\) <= number of random "
                                          r"effects \(=36\) for term \(Days \| Subject\)"):
        build_design(_formula("Reaction ~ Days + (Days | Subject)"), small)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        des = build_design(_formula("Reaction ~ Days + (Days | Subject)"), small,
                           control={"check.nobs.vs.nRE": "warning"})
    assert des.q == 36
    assert any("probably unidentifiable" in str(w.message) for w in caught)
    # glmer compares with '<' (allow.n): as many random effects as observations is allowed
    build_design(_formula("Reaction ~ Days + (Days | Subject)"), small, glmer=True)


# --------------------------------------------------------------------------- contrasts option

def test_contrasts_option_reaches_x_only():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                       "f": pd.Categorical(list("abcd") * 10), "g": np.repeat(np.arange(8), 5)})
    des = build_design(_formula("y ~ x + f + (1 | g)"), df, contrasts={"f": "contr.sum"})
    assert des.X_colnames == ["(Intercept)", "x", "f1", "f2", "f3"]
    np.testing.assert_array_equal(des.X[3, 2:], [-1, -1, -1])  # level d
    assert des.info["contrasts"] == {"f": "contr.sum"}
    des = build_design(_formula("y ~ x + f + (1 | g)"), df, contrasts={"f": "helmert"})
    np.testing.assert_array_equal(des.X[:4, 2:], [[-1, -1, -1], [1, -1, -1], [0, 2, -1],
                                                  [0, 0, 3]])
    with pytest.warns(DesignWarning, match="variable 'h' is absent"):
        build_design(_formula("y ~ x + f + (1 | g)"), df, contrasts={"h": "contr.sum"})


# --------------------------------------------------------------------------- new data

def test_newdata_rebuilds_the_fit_design(sleep):
    des = build_design(_formula("Reaction ~ Days + (Days | Subject)"), sleep)
    nd = model_matrices_for(des, sleep)
    np.testing.assert_array_equal(nd.X, des.X)
    codes, X_i = nd.terms[0]
    np.testing.assert_array_equal(codes, des.reterms[0].codes)
    np.testing.assert_array_equal(X_i, des.reterms[0].X)
    assert nd.unknown_levels == {}


def test_newdata_poly_and_scale_use_fit_coefficients(sleep):
    des = build_design(_formula("Reaction ~ poly(Days, 2) + (scale(Days) | Subject)"), sleep)
    assert des.X_colnames == ["(Intercept)", "poly(Days, 2)1", "poly(Days, 2)2"]
    assert des.cnms == {"Subject": ["(Intercept)", "scale(Days)"]}
    # R: head(poly(sleepstudy$Days, 2), 3)
    np.testing.assert_allclose(des.X[:3, 1:3], [[-0.116774841624228437, 0.123091490979332835],
                                                [-0.090824876818844325, 0.041030496993110843],
                                                [-0.064874912013460240, -0.020515248496555512]],
                               atol=TOL)
    new = pd.DataFrame({"Days": [0, 4.5, 12], "Subject": pd.Categorical(["308", "999", "309"])})
    nd = model_matrices_for(des, new)
    # R: predict(poly(sleepstudy$Days, 2), c(0, 4.5, 12)); sd(sleepstudy$Days) = 2.8802932811564279
    np.testing.assert_allclose(nd.X[:, 1:3], [[-0.11677484162422844, 0.123091490979332710],
                                              [0.0, -0.084625400048291263],
                                              [0.19462473604038072, 0.492365963917330896]],
                               atol=TOL)
    codes, X_i = nd.terms[0]
    np.testing.assert_allclose(X_i[:, 1], (np.array([0, 4.5, 12]) - 4.5) / 2.8802932811564279,
                               atol=TOL)
    assert codes.tolist() == [0, -1, 1]
    assert nd.unknown_levels == {"Subject": ["999"]}


def test_newdata_unknown_fixed_level_is_an_error():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                       "f": list("abcd") * 10, "g": np.repeat(np.arange(8), 5)})
    des = build_design(_formula("y ~ x + f + (1 | g)"), df)
    new = pd.DataFrame({"x": [0.0, 1.0], "f": ["b", "zz"], "g": [0, 1]})
    with pytest.raises(DataError, match="factor 'f' has new level zz"):
        model_matrices_for(des, new)
    nd = model_matrices_for(des, new.iloc[:1])
    np.testing.assert_array_equal(nd.X, [[1, 0, 1, 0, 0]])


# --------------------------------------------------------------------------- speed

def test_insteval_builds_fast():
    data = datasets.load("InstEval")
    f = _formula("y ~ service + (1 | s) + (1 | d) + (1 | dept)")
    build_design(f, data.iloc[:2000])  # warm-up
    t0 = time.perf_counter()
    des = build_design(f, data)
    elapsed = time.perf_counter() - t0
    assert des.Zt.shape == (4114, 73421) and des.Zt.nnz == 3 * 73421
    assert [t.group_name for t in des.reterms] == ["s", "d", "dept"]
    assert elapsed < 1.0, f"InstEval design took {elapsed:.2f} s"


def test_pi_and_in_operator_inside_expressions():
    df = pd.DataFrame({"y": np.arange(20.0) % 7, "x": np.arange(20.0), "f": list("abcd") * 5,
                       "g": np.repeat(np.arange(5), 4)})
    des = build_design(_formula('y ~ I(sin(2*pi*x/10)) + I(f %in% c("a", "b")) + (1 | g)'), df)
    # R: colnames(model.matrix(~ I(sin(2*pi*x/10)) + I(f %in% c("a", "b")), df))
    assert des.X_colnames == ["(Intercept)", "I(sin(2 * pi * x/10))",
                              'I(f %in% c("a", "b"))TRUE']
    np.testing.assert_allclose(des.X[:, 1], np.sin(2 * np.pi * np.arange(20) / 10), atol=TOL)
    np.testing.assert_array_equal(des.X[:, 2], np.tile([1, 1, 0, 0], 5))
