"""LmmDeviance.with_data: new n-long values on the same design (lme's whitened rows) give the
deviance a freshly built object gives, reusing the pattern maps and the analysis (small
models) or the blocked factor's layout with its values refilled (q > 100)."""
from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

import lmerpy.pls.factor.blocked_layout as layout_mod
from lmerpy.errors import DataError
from lmerpy.pls import LmmDeviance, available_backends
from lmerpy.pls.crossprod import CrossProducts, ReducedProducts

from _design_from_json import design_from_ref, insteval_design, load_ref
from test_pls_backends import DESIGNS, _thetas


@pytest.fixture(scope="module")
def sleep_design():
    return design_from_ref(load_ref("sleep_slope"))


def _new_values(des, seed=3):
    """Zt with its pattern and new values, X, y and weights, all perturbed."""
    rng = np.random.default_rng(seed)
    Zt = sp.csc_matrix(des.Zt, copy=True)
    Zt.data = Zt.data * rng.uniform(0.5, 1.5, Zt.nnz) + rng.normal(0, 0.1, Zt.nnz)
    X = np.asarray(des.X, dtype=float) * rng.uniform(0.8, 1.2, np.shape(des.X))
    y = np.asarray(des.y, dtype=float) + rng.normal(0, 20, des.n)
    w = rng.uniform(0.5, 2.0, des.n)
    return Zt, X, y, w


@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_with_data_equals_a_fresh_object(sleep_design, REML):
    des = sleep_design
    dev = LmmDeviance(des, REML=REML)
    Zt, X, y, w = _new_values(des)
    new = dev.with_data(Zt, X, y, weights=w)
    assert new is not None and new.REML == REML and new.n_evals == 0
    assert new.factor.st is dev.factor.st            # the analysis is shared
    fresh = LmmDeviance(replace(des, Zt=Zt, X=X, y=y, weights=w), REML=REML)
    for th in ([1.0, 0.0, 1.0], [0.9, 0.1, 0.2], [0.3, -0.2, 0.05]):
        v_old = dev(th)
        assert new(th) == fresh(th)                   # the same arithmetic, bit for bit
        np.testing.assert_array_equal(new.gradient(th), fresh.gradient(th))
        assert dev(th) == v_old                       # the template is left alone
        a, b = new.solve(th), fresh.solve(th)
        np.testing.assert_array_equal(a.beta, b.beta)
        np.testing.assert_array_equal(a.b, b.b)
        assert a.sigma == b.sigma


def test_with_data_zero_values_on_the_pattern(sleep_design):
    """Zeros where the template had values (a zero weight) keep A's values exact."""
    des = sleep_design
    dev = LmmDeviance(des)
    Zt, X, y, w = _new_values(des, seed=5)
    w[:10] = 0.0                     # the first subject's rows carry no weight
    new = dev.with_data(Zt, X, y, weights=w)
    fresh = LmmDeviance(replace(des, Zt=Zt, X=X, y=y, weights=w))
    assert new is not None
    for th in ([1.0, 0.0, 1.0], [0.5, 0.3, 0.4]):
        assert new(th) == pytest.approx(fresh(th), rel=1e-14)


def test_with_data_declines_outside_the_pattern(sleep_design):
    """A Z whose cross-product has a nonzero the template's lacks (a row in two subjects'
    columns) is not the same design: None, and the caller builds a new deviance."""
    des = sleep_design
    dev = LmmDeviance(des)
    Zt = sp.lil_matrix(des.Zt)
    Zt[2, 0] = 1.0
    assert dev.with_data(sp.csc_matrix(Zt), des.X, des.y) is None
    assert dev.with_data(des.Zt, des.X, des.y) is not None


# -- larger models (q > 100): the blocked factor's layout is refilled ------------------------

@pytest.fixture(scope="module", params=["crossed_slope", "three_terms", "nested"])
def large_design(request):
    return DESIGNS[request.param]()


def _fresh(des, monkeypatch, backend="scipy", **parts):
    """A deviance built anew on ``des`` with ``parts`` replaced, its response's shift β₀ from
    the normal equations as :meth:`LmmDeviance.with_data` takes it on larger designs (so
    every other number can be compared bit for bit)."""
    with monkeypatch.context() as m:
        m.setattr(CrossProducts, "normal_shift", True)
        return LmmDeviance(replace(des, **parts), backend=backend)


def _same_numbers(new, fresh, thetas, cond_var=True):
    """The deviance, gradient, solution and conditional variances of ``new`` are
    ``fresh``'s, bit for bit."""
    for th in thetas:
        assert new(th) == fresh(th)
        np.testing.assert_array_equal(new.gradient(th), fresh.gradient(th))
        a, b = new.solve(th), fresh.solve(th)
        np.testing.assert_array_equal(a.beta, b.beta)
        np.testing.assert_array_equal(a.b, b.b)
        assert a.sigma == b.sigma
        if cond_var:
            np.testing.assert_array_equal(a.cond_var(0), b.cond_var(0))


@pytest.mark.parametrize("mode", ["pairs", "dense", "sparse"])
def test_with_data_on_larger_designs(large_design, mode, monkeypatch):
    """q > 100: the layout's structure (slots, pairs, θ-map structure) is shared and only
    Z'WZ's values are refilled; every number equals a freshly built deviance's, with each
    way of forming FF' (the θ-map is refilled in pair mode)."""
    des = large_design
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    dev = LmmDeviance(des, backend="scipy")
    assert des.q > 100 and dev.factor.st.nl
    Zt, X, y, w = _new_values(des, seed=7)
    thetas = _thetas(des)
    new = dev.with_data(Zt, X, y, weights=w)
    assert new is not None and new.n_evals == 0 and new.factor.st.mode == mode
    st, st0 = new.factor.st, dev.factor.st
    assert st is not st0 and st.slot_row is st0.slot_row and st.lev_order is st0.lev_order
    fresh = _fresh(des, monkeypatch, Zt=Zt, X=X, y=y, weights=w)
    v_old = dev(thetas[0])
    _same_numbers(new, fresh, thetas)
    assert dev(thetas[0]) == v_old                  # the template is left alone
    again = dev.with_data(Zt, X, y, weights=w)      # refills again (the θ-map's index kept)
    _same_numbers(again, fresh, thetas[:1], cond_var=False)


def test_with_data_larger_shift_to_rounding(large_design):
    """With a fresh deviance's least-squares shift β₀ the numbers agree to rounding."""
    des = large_design
    dev = LmmDeviance(des, backend="scipy")
    Zt, X, y, w = _new_values(des, seed=7)
    new = dev.with_data(Zt, X, y, weights=w)
    fresh = LmmDeviance(replace(des, Zt=Zt, X=X, y=y, weights=w), backend="scipy")
    for th in _thetas(des):
        assert new(th) == pytest.approx(fresh(th), rel=1e-13)
        np.testing.assert_allclose(new.gradient(th), fresh.gradient(th), rtol=1e-9,
                                   atol=1e-9)
        np.testing.assert_allclose(new.solve(th).beta, fresh.solve(th).beta, rtol=1e-10)


def test_with_data_larger_zeros_on_the_pattern(large_design, monkeypatch):
    """Z values that are 0 on Z's pattern (whole random effects without data) leave zeros
    in Z'WZ where the template has values: the same numbers as a fresh deviance, whose own
    pattern lacks them."""
    des = large_design
    dev = LmmDeviance(des, backend="scipy")
    Zt, X, y, w = _new_values(des, seed=9)
    Zt.data[np.isin(Zt.indices, [1, des.q // 2, des.q - 2])] = 0.0
    new = dev.with_data(Zt, X, y, weights=w)
    assert new is not None and np.count_nonzero(new.cp.ZtWZ.data == 0) > 0
    fresh = _fresh(des, monkeypatch, Zt=Zt, X=X, y=y, weights=w)
    _same_numbers(new, fresh, _thetas(des), cond_var=False)


def test_with_data_larger_uneven_columns(large_design, monkeypatch):
    """Observations with different numbers of Z entries (a slope of 0 left out of Z's
    pattern, as lme4's sparse Z may do): the pairs are taken observation by observation."""
    des = large_design
    Zt = sp.csc_matrix(des.Zt, copy=True)
    Zt.data[Zt.indptr[:-1][::5]] = 0.0      # every 5th row's first entry left out
    Zt.eliminate_zeros()
    base = replace(des, Zt=Zt)
    dev = LmmDeviance(base, backend="scipy")
    Zn, X, y, w = _new_values(base, seed=4)
    new = dev.with_data(Zn, X, y, weights=w)
    assert new is not None and dev.cp._sparse_plan()[0] == 0
    fresh = _fresh(des, monkeypatch, Zt=Zn, X=X, y=y, weights=w)
    _same_numbers(new, fresh, _thetas(des), cond_var=False)


def test_with_data_larger_declines_outside_the_pattern(large_design):
    """A row in two levels of one term is another design: None (the caller builds one)."""
    des = large_design
    dev = LmmDeviance(des, backend="scipy")
    Zt = sp.lil_matrix(des.Zt)
    Zt[0, 5] = 1.0
    Zt[des.q - 1, 5] = 1.0
    assert dev.with_data(sp.csc_matrix(Zt), des.X, des.y) is None
    assert dev.with_data(des.Zt, des.X, des.y) is not None


def test_with_data_on_insteval(monkeypatch):
    """InstEval's design (q = 4100, a 1142-square dense block, the θ-map in pair mode) takes
    new weights with a fresh deviance's numbers."""
    des = insteval_design()
    dev = LmmDeviance(des, backend="scipy")
    w = np.random.default_rng(2).uniform(0.5, 2.0, des.n)
    new = dev.with_data(des.Zt, des.X, des.y, weights=w)
    assert new is not None and new.factor.st.tmap is not None
    fresh = _fresh(des, monkeypatch, weights=w)
    th = [0.3, 0.5, 0.4]
    assert new(th) == fresh(th)
    np.testing.assert_array_equal(new.gradient(th), fresh.gradient(th))


@pytest.mark.skipif("cholmod" not in available_backends(), reason="CHOLMOD not installed")
def test_with_data_keeps_cholmods_analysis(large_design, monkeypatch):
    """A CHOLMOD factor keeps its symbolic analysis (A's pattern is the template's): a fresh
    deviance's numbers bit for bit; with zeros on Z'WZ's pattern (the fresh pattern lacks
    them, its analysis may differ) to rounding."""
    des = large_design
    dev = LmmDeviance(des, backend="cholmod")
    Zt, X, y, w = _new_values(des, seed=7)
    new = dev.with_data(Zt, X, y, weights=w)
    assert new is not None and new.backend_name == "cholmod"
    fresh = _fresh(des, monkeypatch, backend="cholmod", Zt=Zt, X=X, y=y, weights=w)
    _same_numbers(new, fresh, _thetas(des))
    Zt.data[np.isin(Zt.indices, [1, des.q // 2])] = 0.0
    new = dev.with_data(Zt, X, y, weights=w)
    fresh = _fresh(des, monkeypatch, backend="cholmod", Zt=Zt, X=X, y=y, weights=w)
    for th in _thetas(des):
        assert new(th) == pytest.approx(fresh(th), rel=1e-13)
        np.testing.assert_allclose(new.gradient(th), fresh.gradient(th), rtol=1e-10,
                                   atol=1e-10)


def test_with_products_is_with_data_without_the_rows(large_design, sleep_design):
    """New cross-products alone (ReducedProducts) on a larger design: the numbers of
    with_data on the rows they come from, to rounding; small models (all of A dense) and
    products off the pattern decline."""
    des = large_design
    dev = LmmDeviance(des, backend="scipy")
    Zt, X, y, w = _new_values(des, seed=11)
    new = dev.with_data(Zt, X, y, weights=w)
    cp, r = new.cp, new.resp
    red = dev.with_products(ReducedProducts(cp.ZtWZ, cp.ZtWX, cp.XtWX, r.ZtWy, r.XtWy, r.yWy,
                                            r.beta0, cp.n), new.sum_log_w)
    assert red is not None and not red.cp.has_data
    for th in _thetas(des):
        assert red(th) == new(th)                    # the same products: the same numbers
        np.testing.assert_array_equal(red.gradient(th), new.gradient(th))
        assert red.solve(th).sigma == pytest.approx(new.solve(th).sigma, rel=1e-12)
    off = sp.lil_matrix(cp.ZtWZ)
    k = int(des.reterms[0].n_columns)          # two levels of one term: never together
    off[0, k] = off[k, 0] = 1.0
    assert dev.with_products(ReducedProducts(off, cp.ZtWX, cp.XtWX, r.ZtWy, r.XtWy, r.yWy,
                                             r.beta0, cp.n), 0.0) is None
    small = LmmDeviance(sleep_design)
    c2, r2 = small.cp, small.resp
    assert small.with_products(ReducedProducts(c2.ZtWZ, c2.ZtWX, c2.XtWX, r2.ZtWy, r2.XtWy,
                                               r2.yWy, r2.beta0, c2.n), 0.0) is None
