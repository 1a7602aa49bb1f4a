"""The design stage's fast paths give what the plain constructions give.

Zt and Λ' are handed to SciPy without its checks, columns are read without building a pandas
Series, Λ' patterns are remembered, rows are not copied when none is dropped: each is compared
here with the straightforward construction (exact equality), on random designs.
"""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lmerpy
from lmerpy.design import lFormula
from lmerpy.design.model_matrix import check_scale, drop_rank_deficient
from lmerpy.design.reterms import build_zt, lambdat_template
from lmerpy.design.sparse import trusted_csc
from lmerpy.design.structures import ReTerm
from lmerpy.design.values import array_value, column_array, column_value


def _same_csc(a, b):
    assert a.format == b.format == "csc"
    assert a.shape == b.shape
    assert a.indices.dtype == b.indices.dtype and a.indptr.dtype == b.indptr.dtype
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


def test_trusted_csc_equals_scipy():
    rng = np.random.default_rng(1)
    M = sp.random(30, 40, density=0.2, format="csc", random_state=rng)
    M.sort_indices()
    fast = trusted_csc(M.data.copy(), M.indices.astype(np.int64), M.indptr.astype(np.int64),
                       M.shape)
    slow = sp.csc_matrix((M.data, M.indices.astype(np.int64), M.indptr.astype(np.int64)),
                         shape=M.shape)
    _same_csc(fast, slow)
    assert fast.has_canonical_format
    np.testing.assert_array_equal((fast @ np.arange(40.0)), slow @ np.arange(40.0))
    np.testing.assert_array_equal(fast.T.toarray(), slow.T.toarray())
    np.testing.assert_array_equal((fast @ fast.T).toarray(), (slow @ slow.T).toarray())


def _reference_zt(terms, n):
    """Zt by COO triplets (duplicates impossible), explicit zeros dropped."""
    q = sum(t.n_rows for t in terms)
    r, c, v = [], [], []
    for t in terms:
        p = t.n_columns
        for j in range(p):
            r.append(t.row_offset + t.codes * p + j)
            c.append(np.arange(n))
            v.append(np.asarray(t.X, dtype=float)[:, j])
    Z = sp.coo_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))),
                      shape=(q, n)).tocsc()
    Z.eliminate_zeros()
    Z.sort_indices()
    return Z


@pytest.mark.parametrize("zeros", [False, True])
def test_build_zt_matches_triplets(zeros):
    rng = np.random.default_rng(7 + zeros)
    n = 500
    specs = [(2, 40), (1, 7), (3, 5)]
    terms, row, th = [], 0, 0
    for p, nl in specs:
        X = rng.normal(size=(n, p))
        if zeros:
            X[rng.random((n, p)) < 0.2] = 0.0
        codes = rng.integers(0, nl, size=n)
        codes[:nl] = np.arange(nl)
        t = ReTerm(group_name=f"g{p}", cnms=[f"c{i}" for i in range(p)],
                   levels=[str(i) for i in range(nl)], codes=codes.astype(np.int64), X=X,
                   theta_offset=th, row_offset=row)
        terms.append(t)
        row += t.n_rows
        th += t.n_theta
    got = build_zt(terms, n)
    want = _reference_zt(terms, n)
    _same_csc(got, want)
    assert got.has_sorted_indices


def test_lambdat_template_fresh_arrays_each_call():
    lf = lFormula("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
    lam1, lind1, th1, lo1 = lambdat_template(lf.reterms)
    want = (lam1.copy(), lind1.copy(), th1.copy(), lo1.copy())
    lam1.data[:] = 5.0                       # a caller may scribble on what it got
    lind1[:] = 1
    th1[:] = 9.0
    lam2, lind2, th2, lo2 = lambdat_template(lf.reterms)
    _same_csc(lam2, want[0])
    np.testing.assert_array_equal(lind2, want[1])
    np.testing.assert_array_equal(th2, want[2])
    np.testing.assert_array_equal(lo2, want[3])
    # lme4's layout for (Days | Subject): per level [θ1; θ2 θ3] upper triangular in Λ'
    assert lind2[:3].tolist() == [1, 2, 3]
    assert lam2.shape == (36, 36) and lam2.nnz == 54


def test_column_fast_route_equals_series_route():
    df = pd.DataFrame({
        "f": [1.5, np.nan, 3.0, 4.0],
        "i": np.array([3, 1, 2, 2], dtype=np.int64),
        "u": np.array([3, 1, 2, 2], dtype=np.uint8),
        "c": pd.Categorical(["b", "a", None, "b"], categories=["b", "a"]),
        "o": pd.Categorical(["lo", "hi", "hi", "lo"], categories=["lo", "hi"], ordered=True),
        "ci": pd.Categorical([10, 2, 2, 10]),
        "cf": pd.Categorical([0.5, 2.0, 2.0, 0.5]),
    })
    for col in df.columns:
        arr = column_array(df, col)
        assert arr is not None
        fast = array_value(arr, col)
        slow = column_value(df[col], col)
        assert type(fast) is type(slow)
        for k, v in vars(slow).items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(getattr(fast, k), v)
                assert getattr(fast, k).dtype == v.dtype
            else:
                assert getattr(fast, k) == v, (col, k)
    assert column_value(df["ci"], "ci").levels == ["2", "10"]


def test_fast_route_never_aliases_the_callers_data():
    df = pd.DataFrame({"y": np.arange(40.0) % 7 + np.arange(40) * 0.1,
                       "x": np.arange(40.0),
                       "g": pd.Categorical(np.repeat(list("abcdefgh"), 5))})
    before = df.copy(deep=True)
    w = np.ones(40)
    lf = lFormula("y ~ x + (1 | g)", df, weights=w)
    assert not np.shares_memory(lf.weights, w)
    assert not np.shares_memory(lf.X, df["x"].to_numpy())
    assert not np.shares_memory(lf.y, df["y"].to_numpy())
    lf.weights[:] = 2.0
    lf.X[:] = -1.0
    lf.y[:] = 0.0
    pd.testing.assert_frame_equal(df, before)
    assert np.all(w == 1.0)


def test_dropped_rows_still_subset_everything():
    df = pd.DataFrame({"y": np.arange(40.0) % 7 + np.arange(40) * 0.1,
                       "x": np.arange(40.0), "w": np.linspace(1, 2, 40),
                       "g": pd.Categorical(np.repeat(list("abcdefgh"), 5))})
    df.loc[3, "x"] = np.nan
    df.loc[10, "w"] = np.nan
    lf = lFormula("y ~ x + (1 | g)", df, weights="w")
    keep = np.setdiff1d(np.arange(40), [3, 10])
    assert lf.n == 38 and lf.dropped_rows.tolist() == [3, 10]
    np.testing.assert_array_equal(lf.X[:, 1], df["x"].to_numpy()[keep])
    np.testing.assert_array_equal(lf.weights, df["w"].to_numpy()[keep])
    assert list(lf.fr.index) == keep.tolist()


def _check_scale_pairs(X, tol=1000.0):
    """lme4's checkScaleX written out pair by pair."""
    cont = ~np.all((X == 0) | (X == 1), axis=0)
    if not cont.any():
        return None
    sd = X[:, cont].std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = list(np.abs(np.log(sd)))
        for i in range(sd.size):
            for j in range(i):
                vals.append(abs(np.log(sd[i] / sd[j])))
    return "msg" if np.any(np.asarray(vals) > np.log(tol)) else None


@pytest.mark.parametrize("scales", [(1, 1, 1), (1, 1e3, 1), (1, 999, 1.5), (0.5, 600, 0.6),
                                    (1e-3, 1, 1), (2e-4, 1, 1), (0, 1, 1)])
def test_check_scale_matches_pairwise(scales):
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(50), rng.integers(0, 2, 50).astype(float)]
                        + [rng.normal(size=50) * s for s in scales])
    assert (check_scale(X) is None) == (_check_scale_pairs(X) is None)


def test_drop_rank_deficient_matches_numpy_qr():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(60, 3))
    X = np.column_stack([np.ones(60), a, a[:, 0] + a[:, 1], rng.normal(size=60), 2 * a[:, 2]])
    assert drop_rank_deficient(X).tolist() == [0, 1, 2, 3, 5]
    assert drop_rank_deficient(X[:3]).tolist() == [0, 1, 2]          # fewer rows than columns
    assert drop_rank_deficient(np.zeros((5, 0))).tolist() == []


def test_formula_nodes_remember_hash_and_label_but_do_not_pickle_them():
    import copy
    import pickle

    from lmerpy.formula import parse_formula
    f = parse_formula("y ~ log(x + 1) * g + I(z^2) + (1 + x | g)")
    t = f.fixed.terms[-1]
    assert t.label == "log(x + 1):g" and hash(t) == hash(t)
    assert "_hash" in t.__dict__ and "_label" in t.__dict__
    state = pickle.loads(pickle.dumps(t)).__dict__
    assert set(state) == {"factors"}
    for g in (pickle.loads(pickle.dumps(f)), copy.deepcopy(f)):
        assert g == f and hash(g) == hash(f)
        assert [u.label for u in g.fixed.terms] == [u.label for u in f.fixed.terms]
        assert {g.fixed.terms[0]: 1}[f.fixed.terms[0]] == 1
