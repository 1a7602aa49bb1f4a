"""The GLMM path's product kernels give the bits of the ones they replace: Z'x and Pz'x of a
vector through CSR twins of the constant CSC matrices (ColumnsMatVec), the bins of
tr(A⁻¹∂A/∂θ) by a CSR product instead of np.bincount, and a state's L made on request —
so that every fit is the same to the last bit (the goldens and the Hessian tests pin the
fits; these pin the kernels on random inputs)."""
import warnings

import numpy as np
import pytest

import lmerpy
from lmerpy.pls.glmm import laplace_gradient as LG
from lmerpy.pls.glmm.pirls import ColumnsMatVec, MatVec


@pytest.fixture(scope="module")
def verbagg_fit():
    data = lmerpy.datasets.load("VerbAgg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmerpy.glmer("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
                            data, family="binomial")


def test_column_twins_add_in_the_same_order(verbagg_fit):
    S = verbagg_fit.devfun.S
    rng = np.random.default_rng(7)
    for M, twin in ((S.Zt, S._zt), (S._pzt.M, S._pzt)):
        assert isinstance(twin, ColumnsMatVec) and twin._rows is not None
        plain = MatVec(M)
        for _ in range(5):
            x = rng.standard_normal(M.shape[1]) * 10.0 ** rng.uniform(-8, 8, M.shape[1])
            np.testing.assert_array_equal(twin(x), plain(x))
        X = rng.standard_normal((M.shape[1], 3))
        np.testing.assert_array_equal(twin(X), plain(X))


def test_trace_bins_are_bincounts(verbagg_fit):
    S = verbagg_fit.devfun.S
    erow, ecol, ka, kb, bin_a, bin_b = LG._k_entries(S)
    rng = np.random.default_rng(3)
    theta = np.asarray(verbagg_fit.theta, dtype=float)
    ainv = rng.standard_normal(ka.shape[0])
    m = rng.standard_normal(ka.shape[0]) * 10.0 ** rng.uniform(-6, 6, ka.shape[0])
    v = ainv * m
    want = (np.bincount(ka, weights=v * theta[kb], minlength=S.n_theta)
            + np.bincount(kb, weights=v * theta[ka], minlength=S.n_theta))
    np.testing.assert_array_equal(LG.trace_at_fixed_weights(S, ainv, m, theta), want)


def test_state_L_on_request_is_the_factors(verbagg_fit):
    dev = verbagg_fit.devfun
    x = np.asarray(verbagg_fit.optsum.theta)
    sol = dev.solve(x)
    dev(x + 0.01)                      # the structure's factor moves on
    L = sol.L
    dev._state = None
    S = dev.S
    S.current = None
    st = dev._evaluate(x)
    dev._refactor(st)
    ref = S.factor.L_matrix()
    assert (L != ref).nnz == 0 and L.shape == ref.shape
