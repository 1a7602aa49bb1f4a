"""Unit tests of the design stage's pieces against values computed by R 4.2 / lme4 1.1-31.

Every expected value below was printed by R (the R expression is given next to it); the
golden-file tests over whole designs are in ``test_design_goldens.py``.
"""
import numpy as np
import pandas as pd
import pytest

from lmerpy.design.contrasts import (contr_helmert, contr_poly, contr_SAS, contr_sum,
                                     contr_treatment, resolve_contrast)
from lmerpy.design.evaluate import Evaluator, poly_fit, poly_predict
from lmerpy.design.model_matrix import drop_rank_deficient, model_matrix
from lmerpy.design.rformat import format_number, r_sorted
from lmerpy.errors import DataError
from lmerpy.formula.terms import BinOp, Call, ModelTerms, Name, Number, Term

TOL = 1e-10


# --------------------------------------------------------------------------- R text rules

@pytest.mark.parametrize("value, text", [
    # R: as.character(c(...))
    (0.0001234, "0.0001234"), (1e-5, "1e-05"), (12345678, "12345678"), (1.5e-10, "1.5e-10"),
    (3.14159265358979, "3.14159265358979"), (2 / 3 * 1e6, "666666.666666667"), (-0.5, "-0.5"),
    (1e5 + 0.1, "100000.1"), (100000, "1e+05"), (123456, "123456"), (1e15, "1e+15"),
    (1 / 3, "0.333333333333333"), (1e-20, "1e-20"), (0.1, "0.1"), (2, "2"), (1e-4, "1e-04"),
])
def test_format_number_matches_as_character(value, text):
    assert format_number(value) == text


def test_integer_columns_print_in_full():
    # R: as.character(100000L) is "100000"
    assert format_number(100000, integer=True) == "100000"


def test_string_sort_matches_r_icu_collation():
    # R (UTF-8 locale, ICU): sort(c("a b","ab","a_b","a-b","A","a","a1","a10","a2","B","b",
    #   "Ab","aB","x.1","x1","","Z","_","1","-1","éa","eb"))
    words = ["a b", "ab", "a_b", "a-b", "A", "a", "a1", "a10", "a2", "B", "b", "Ab", "aB",
             "x.1", "x1", "", "Z", "_", "1", "-1", "éa", "eb"]
    expected = ["", "_", "-1", "1", "a", "A", "a b", "a_b", "a-b", "a1", "a10", "a2", "ab", "aB",
                "Ab", "b", "B", "éa", "eb", "x.1", "x1", "Z"]
    assert r_sorted(words) == expected


# --------------------------------------------------------------------------- contrasts

def test_contr_poly_matches_r():
    # R: contr.poly(5)
    expected = np.array([
        [-6.3245553203367588e-01, 0.53452248382484868, -3.1622776601683766e-01, 0.11952286093343928],
        [-3.1622776601683783e-01, -0.26726124191242440, 6.3245553203367588e-01, -0.47809144373375739],
        [0.0, -0.53452248382484868, 0.0, 0.71713716560063623],
        [3.1622776601683783e-01, -0.26726124191242429, -6.3245553203367588e-01, -0.47809144373375739],
        [6.3245553203367588e-01, 0.53452248382484879, 3.1622776601683777e-01, 0.11952286093343929]])
    c = contr_poly(list("abcde"))
    np.testing.assert_allclose(c.matrix, expected, atol=TOL)
    assert c.colnames == [".L", ".Q", ".C", "^4"]


def test_contr_helmert_sum_sas_treatment_match_r():
    # R: contr.helmert(4); contr.sum(3); contr.SAS(3); contr.treatment(3)
    np.testing.assert_array_equal(contr_helmert(list("abcd")).matrix,
                                  [[-1, -1, -1], [1, -1, -1], [0, 2, -1], [0, 0, 3]])
    np.testing.assert_array_equal(contr_sum(list("abc")).matrix, [[1, 0], [0, 1], [-1, -1]])
    sas = contr_SAS(list("abc"))
    np.testing.assert_array_equal(sas.matrix, [[1, 0], [0, 1], [0, 0]])
    assert sas.colnames == ["a", "b"]
    tr = contr_treatment(list("abc"))
    np.testing.assert_array_equal(tr.matrix, [[0, 0], [1, 0], [0, 1]])
    assert tr.colnames == ["b", "c"]
    assert contr_sum(list("abc")).suffixes() == ["1", "2"]


def test_resolve_contrast_names_and_errors():
    assert resolve_contrast("sum", list("abc")).name == "contr.sum"
    assert resolve_contrast("contr.helmert", list("abc")).name == "contr.helmert"
    with pytest.raises(DataError, match="unknown contrasts 'contr.bogus' for 'f'"):
        resolve_contrast("contr.bogus", list("abc"), "f")
    with pytest.raises(DataError, match="3 levels"):
        resolve_contrast(np.ones((2, 1)), list("abc"), "f")


# --------------------------------------------------------------------------- poly and scale

def test_poly_matches_r_values_and_coefficients():
    # R: p <- poly(c(1,2,4,7,11,3), 3); unclass(p); attr(p, "coefs")
    x = np.array([1, 2, 4, 7, 11, 3], dtype=float)
    expected = np.array([
        [-0.440352422963989687, 0.52359813946863099, -0.47540796292259868],
        [-0.320256307610174207, 0.12955005512625903, 0.17718871123184443],
        [-0.080064076902543593, -0.39944600330596552, 0.34566322355064694],
        [0.280224269158902417, -0.54518981532300714, -0.64581896388874416],
        [0.760608730574163894, 0.46961894983268948, 0.18299817717387196],
        [-0.200160192256358949, -0.17813132579860635, 0.41537681485497918]])
    vals, coefs = poly_fit(x, 3)
    np.testing.assert_allclose(vals, expected, atol=TOL)
    np.testing.assert_allclose(coefs["alpha"], [4.6666666666666661, 7.4583333333333330,
                                                5.5477272727272720], rtol=TOL)
    np.testing.assert_allclose(coefs["norm2"], [1, 6, 69.333333333333329, 536.249999999999886,
                                                3173.563636363635396], rtol=TOL)
    # R: predict(p, c(0, 5, 12))
    new = poly_predict(np.array([0.0, 5.0, 12.0]), 3, coefs["alpha"], coefs["norm2"])
    np.testing.assert_allclose(new, [
        [-0.560448538317804945, 1.00401292722850810, -1.648920083212189525],
        [0.040032038451271859, -0.53439397739581906, 0.074554812922688368],
        [0.880704845927979374, 0.93923789966537896, 1.484318548188073184]], atol=TOL)


def test_scale_matches_r_with_missing_values():
    # R: scale(c(1, 2, 4, NA, 7)) -> centre 3.5, scale 2.6457513110645907
    df = pd.DataFrame({"x": [1, 2, 4, np.nan, 7]})
    ev = Evaluator(df)
    out = ev(Call("scale", (Name("x"),)))
    np.testing.assert_allclose(out.values[:, 0], [-0.94491118252306805, -0.56694670951384085,
                                                  0.18898223650461360, np.nan,
                                                  1.32287565553229514], atol=TOL)
    st = ev.state[("scale", Call("scale", (Name("x"),)))]
    assert st["center"] == pytest.approx(3.5, abs=TOL)
    assert st["scale"] == pytest.approx(2.6457513110645907, abs=TOL)


def test_evaluator_arithmetic_and_logs():
    df = pd.DataFrame({"x": [1.0, 2.0, 8.0], "y": [3.0, 5.0, 7.0]})
    ev = Evaluator(df)
    x = Name("x")
    np.testing.assert_allclose(ev(Call("log", (x,), (("base", Number(2.0, "2")),))).values,
                               [0, 1, 3], atol=TOL)
    np.testing.assert_allclose(ev(BinOp("%%", Name("y"), Number(2.0, "2"))).values, [1, 1, 1])
    np.testing.assert_allclose(ev(BinOp("^", x, Number(2.0, "2"))).values, [1, 4, 64])
    np.testing.assert_allclose(ev(Call("pmax", (x, Number(2.0, "2")))).values, [2, 2, 8])


# --------------------------------------------------------------------------- model.matrix rules

def _mt(*terms, intercept=True):
    variables = []
    for t in terms:
        for v in t:
            if v not in variables:
                variables.append(v)
    order = {v: i for i, v in enumerate(variables)}
    ts = [Term(tuple(sorted(t, key=order.get))) for t in terms]
    ts.sort(key=lambda t: t.order)  # R: by order, ties as written
    return ModelTerms(terms=tuple(ts), intercept=intercept, variables=tuple(variables))


@pytest.fixture
def abcx():
    df = pd.DataFrame({
        "a": pd.Categorical(["a1", "a2", "a1", "a2", "a1", "a2"]),
        "b": pd.Categorical(["b1", "b1", "b2", "b2", "b3", "b3"]),
        "c": pd.Categorical(["c1", "c2", "c2", "c1", "c1", "c2"]),
        "x": [1, 2, 3, 4, 5, 6.5]})
    ev = Evaluator(df)
    return {Name(k): ev(Name(k)) for k in "abcx"}


A, B, C, X = Name("a"), Name("b"), Name("c"), Name("x")


@pytest.mark.parametrize("terms, intercept, names", [
    # R: colnames(model.matrix(~ 0 + a:b, d)) and so on
    ([(A, B)], False, ["aa1:bb1", "aa2:bb1", "aa1:bb2", "aa2:bb2", "aa1:bb3", "aa2:bb3"]),
    ([(A,), (A, B, C)], True,
     ["(Intercept)", "aa2", "aa1:bb1:cc1", "aa2:bb1:cc1", "aa1:bb2:cc1", "aa2:bb2:cc1",
      "aa1:bb3:cc1", "aa2:bb3:cc1", "aa1:bb1:cc2", "aa2:bb1:cc2", "aa1:bb2:cc2", "aa2:bb2:cc2",
      "aa1:bb3:cc2", "aa2:bb3:cc2"]),
    ([(X, A), (B,)], True, ["(Intercept)", "bb2", "bb3", "x:aa1", "x:aa2"]),
    ([(X,), (A, B)], False, ["x", "aa1:bb1", "aa2:bb1", "aa1:bb2", "aa2:bb2", "aa1:bb3",
                             "aa2:bb3"]),
    ([(A, X, B)], True, ["(Intercept)", "aa1:x:bb1", "aa2:x:bb1", "aa1:x:bb2", "aa2:x:bb2",
                         "aa1:x:bb3", "aa2:x:bb3"]),
    ([(B, A), (X,)], True, ["(Intercept)", "x", "bb1:aa1", "bb2:aa1", "bb3:aa1", "bb1:aa2",
                            "bb2:aa2", "bb3:aa2"]),
    ([(X, A), (B,)], False, ["bb1", "bb2", "bb3", "x:aa1", "x:aa2"]),
])
def test_model_matrix_coding_rules_match_r(abcx, terms, intercept, names):
    X_, spec = model_matrix(_mt(*terms, intercept=intercept), abcx)
    assert spec.colnames == names
    assert X_.shape == (6, len(names))


def test_model_matrix_values_interaction(abcx):
    # columns of ~ x:a + b: x times indicator of a
    X_, spec = model_matrix(_mt((X, A), (B,)), abcx)
    x = np.array([1, 2, 3, 4, 5, 6.5])
    a2 = np.array([0, 1, 0, 1, 0, 1.0])
    np.testing.assert_allclose(X_[:, 3], x * (1 - a2))
    np.testing.assert_allclose(X_[:, 4], x * a2)
    np.testing.assert_allclose(X_[:, 1], [0, 0, 1, 1, 0, 0])


def test_rank_deficient_columns_keep_order():
    rng = np.random.default_rng(1)
    x = rng.normal(size=20)
    X_ = np.column_stack([np.ones(20), x, 2 * x, rng.normal(size=20), x + 1])
    assert drop_rank_deficient(X_).tolist() == [0, 1, 3]
    X_[:, 3] = 0.0
    assert drop_rank_deficient(X_).tolist() == [0, 1]


# --------------------------------------------------------------------------- Zt and Λ' layout

try:
    from hypothesis import given, settings, strategies as st
except ImportError:  # pragma: no cover
    given = None


def _naive_zt(des):
    """Zt by the definition (a loop over observations): row offset + level * p + column."""
    zt = np.zeros((des.q, des.n))
    for t in des.reterms:
        for j in range(des.n):
            for c in range(t.n_columns):
                zt[t.row_offset + t.codes[j] * t.n_columns + c, j] = t.X[j, c]
    return zt


if given is not None:
    @settings(max_examples=25, deadline=None)
    @given(n=st.integers(8, 40), k1=st.integers(2, 5), k2=st.integers(2, 7),
           seed=st.integers(0, 10_000))
    def test_zt_and_lambdat_layout_by_definition(n, k1, k2, seed):
        from lmerpy.design import build_design
        from lmerpy.formula import parse_formula
        rng = np.random.default_rng(seed)
        df = pd.DataFrame({"y": rng.normal(size=n),
                           "x": rng.integers(0, 3, size=n).astype(float),  # zeros: dropped
                           "g": rng.integers(0, k1, size=n), "h": rng.integers(0, k2, size=n)})
        if df["g"].nunique() < 2 or df["h"].nunique() < 2:
            return
        des = build_design(parse_formula("y ~ x + (x | g) + (1 | h)"), df,
                           control={"check.nobs.vs.nRE": "ignore", "check.nobs.vs.nlev": "ignore"})
        dense = _naive_zt(des)
        np.testing.assert_array_equal(des.Zt.toarray(), dense)
        assert des.Zt.nnz == np.count_nonzero(dense)  # explicit zeros dropped
        lam = des.lambdat_at(np.arange(1, des.theta.size + 1, dtype=float)).toarray()
        assert np.allclose(lam, np.triu(lam))  # upper triangular
        for t in des.reterms:  # each level's block is T' with θ in column-major lower order
            p = t.n_columns
            T = np.zeros((p, p))
            idx = t.theta_offset + 1
            for s in range(p):
                for r in range(s, p):
                    T[r, s] = idx
                    idx += 1
            for lv in range(t.n_levels):
                o = t.row_offset + lv * p
                np.testing.assert_array_equal(lam[o:o + p, o:o + p], T.T)
