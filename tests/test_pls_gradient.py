"""The analytic gradient of the profiled criterion against central finite differences.

Every reference LMM case, REML and ML, both backends, at the start θ and at lme4's θ̂.
Finite differences: central differences at h, h/2, h/4 (h = 1e-3·max(1, |θ_k|)) combined by
two Richardson steps (error O(h⁶)); their rounding noise is ~1e-9 for criteria of size 10³.
Tolerance: |g_k − fd_k| ≤ 1e-6·max(|fd_k|, 1), i.e. 1e-6 relative wherever the gradient is
of order one or more (the start θ), and 1e-6 absolute near θ̂ where the gradient is ~0 and a
relative comparison would only measure the differencing noise.
"""
import numpy as np
import pytest

from lmerpy.pls import LmmDeviance, available_backends

from _compare import richardson_gradient
from _design_from_json import design_from_ref, lmm_cases_with_design, load_ref

BACKENDS = available_backends()
CASES = lmm_cases_with_design()
RTOL = 1e-6


def assert_gradient_matches(dev, theta):
    g = dev.gradient(theta)
    n0 = dev.n_evals
    fd = richardson_gradient(dev, theta)
    assert dev.n_evals > n0
    assert g.shape == (dev.n_theta,)
    bad = np.abs(g - fd) > RTOL * np.maximum(np.abs(fd), 1.0)
    assert not bad.any(), f"analytic {g} vs finite differences {fd}"
    return g, fd


@pytest.fixture(scope="module", params=CASES)
def case(request):
    ref = load_ref(request.param)
    return ref, design_from_ref(ref)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_gradient_at_start(case, backend, REML):
    ref, des = case
    dev = LmmDeviance(des, REML=REML, backend=backend)
    g, fd = assert_gradient_matches(dev, des.theta)
    assert np.max(np.abs(g)) > 0.1  # the start is far from the optimum: a real test


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_gradient_at_lme4_optimum(case, backend, REML):
    ref, des = case
    dev = LmmDeviance(des, REML=REML, backend=backend)
    g, _ = assert_gradient_matches(dev, ref["theta"])
    if REML == ref["REML"] and not ref["singular"]:
        # lme4's θ̂ is (close to) a stationary point of its own criterion
        assert np.max(np.abs(g)) < 0.05


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_off_the_optimum_with_negative_correlation(backend):
    ref = load_ref("sleep_slope")
    des = design_from_ref(ref)
    for REML in (True, False):
        dev = LmmDeviance(des, REML=REML, backend=backend)
        assert_gradient_matches(dev, [0.5, -0.3, 0.8])


def test_gradient_does_not_count_as_evaluation():
    ref = load_ref("sleep_slope")
    dev = LmmDeviance(design_from_ref(ref), REML=True)
    dev.gradient(ref["theta"])
    dev.gradient([1.0, 0.0, 1.0])
    assert dev.n_evals == 0
