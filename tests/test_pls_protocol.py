"""The written contracts of the PLS core: every deviance and every factor satisfies its protocol.

:class:`lmerpy.pls.protocol.Deviance` is all that ``optimize``, ``models`` and ``inference`` may
ask of a deviance; :class:`lmerpy.pls.factor.protocol.Factor` is all a deviance asks of a
Cholesky backend. Checked structurally (``runtime_checkable``) and by value: ``components``
is the arithmetic of ``__call__`` (the criterion rebuilt from it is the same float), the
names, start and bounds are lme4's.
"""
import math

import numpy as np
import pytest

import lmerpy
from lmerpy.models.glmm import glFormula
from lmerpy.pls import LmmDeviance, available_backends
from lmerpy.pls.factor.protocol import Factor
from lmerpy.pls.glmm.deviance import GlmmDeviance
from lmerpy.pls.protocol import (Components, Deviance, DifferentiableDeviance,
                                 RefittableDeviance)

from test_pls_backends import crossed_design, nested_design

BACKENDS = available_backends()
LOG2PI = math.log(2 * math.pi)


@pytest.fixture(scope="module")
def sleepstudy_design():
    return lmerpy.lFormula("Reaction ~ Days + (Days | Subject)",
                           lmerpy.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def cbpp_design():
    return glFormula("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     lmerpy.datasets.load("cbpp"), family=lmerpy.binomial)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lmm_deviance_satisfies_the_protocols(sleepstudy_design, backend):
    dev = LmmDeviance(sleepstudy_design, backend=backend)
    for proto in (Deviance, DifferentiableDeviance, RefittableDeviance):
        assert isinstance(dev, proto), proto.__name__
    assert isinstance(dev.with_response(sleepstudy_design.y * 2), RefittableDeviance)
    assert isinstance(dev.factor, Factor)


def test_glmm_deviance_satisfies_the_protocol(cbpp_design):
    dev1 = GlmmDeviance(cbpp_design, lmerpy.binomial())
    dev2 = dev1.stage2()
    for dev in (dev1, dev2):
        assert isinstance(dev, Deviance)
        # no analytic gradient, no cheap refit for a new response: not promised
        assert not isinstance(dev, DifferentiableDeviance)
        assert not isinstance(dev, RefittableDeviance)
    assert isinstance(dev1.S.factor, Factor)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lmer_and_glmer_factors_are_one_family(sleepstudy_design, cbpp_design, backend):
    """lmer and glmer take their factor from one chooser and one class family; with CHOLMOD
    both hold the same class (lme4's merPredD), glmer's with the one-solve A⁻¹B."""
    from lmerpy.pls.factor.base import FactorBase, FirstTermFactor
    from lmerpy.pls.factor.block_first import BlockFirstFactor
    from lmerpy.pls.factor.blocked import BlockedFactor
    from lmerpy.pls.glmm.pirls import GlmmStructure
    lmm = LmmDeviance(sleepstudy_design, backend=backend).factor
    glmm = GlmmStructure(cbpp_design, backend=backend).factor
    for fac in (lmm, glmm):
        assert isinstance(fac, FactorBase), type(fac).__name__
    assert issubclass(BlockedFactor, FirstTermFactor)
    assert issubclass(BlockFirstFactor, FirstTermFactor)
    if backend == "cholmod":
        assert type(lmm) is type(glmm)
        assert (lmm.weights_vary, glmm.weights_vary) == (False, True)
        assert lmm.copy().weights_vary is False and glmm.copy().weights_vary is True
        b = np.arange(1.0, glmm.q + 1.0)
        glmm.factor(GlmmStructure(cbpp_design, backend=backend).smap.values(np.array([0.7])))
        np.testing.assert_allclose(glmm.solve_A(b), glmm.solve_Lt(glmm.solve_L(b)),
                                   rtol=1e-13)


def test_names_start_and_bounds_are_lme4s(sleepstudy_design, cbpp_design):
    dev = LmmDeviance(sleepstudy_design)
    assert dev.names == ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]
    np.testing.assert_array_equal(dev.start(), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(dev.lower, [0.0, -np.inf, 0.0])
    np.testing.assert_array_equal(dev.upper, [np.inf] * 3)
    assert [g.tolist() for g in dev.par_groups()] == [[0, 1], [2]]
    s = dev.start()
    s[0] = 7.0
    assert dev.start()[0] == 1.0            # a copy
    g1 = GlmmDeviance(cbpp_design, lmerpy.binomial())
    g2 = g1.stage2()
    assert g1.names == ["herd.(Intercept)"]
    assert g2.names == ["herd.(Intercept)", "(Intercept)", "period2", "period3", "period4"]
    assert g2.start().shape == g2.lower.shape == g2.upper.shape == (5,)
    np.testing.assert_array_equal(g2.lower, [0.0] + [-np.inf] * 4)
    assert np.all(g2.upper == np.inf)
    assert [g.tolist() for g in g2.par_groups()] == [[0]]


def _criterion(c, n, p, sum_log_w, REML):
    """lme4's profiled criterion rebuilt from the components (the deviance's own formula)."""
    lr = math.log(c.pwrss)
    if REML:
        return (c.ldL2 + c.ldRX2 + (n - p) * (1.0 + LOG2PI + lr - math.log(n - p))
                - sum_log_w)
    return c.ldL2 + n * (1.0 + LOG2PI + lr - math.log(n)) - sum_log_w


DESIGNS = {"crossed": crossed_design, "nested": nested_design}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("which", ["sleepstudy", "crossed", "nested"])
def test_lmm_components_are_the_criterions_pieces(sleepstudy_design, which, backend, REML):
    des = sleepstudy_design if which == "sleepstudy" else DESIGNS[which]()
    dev = LmmDeviance(des, REML=REML, backend=backend)
    th = np.where(dev.lower == 0, 0.7, 0.1)
    c = dev.components(th)
    assert isinstance(c, Components)
    assert dev.n_evals == 0                  # not counted
    assert _criterion(c, dev.n, dev.p, dev.sum_log_w, REML) == dev(th)   # the same float
    sol = dev.solve(th)
    assert c.ldL2 == sol.ldL2 and c.ldRX2 == sol.ldRX2
    np.testing.assert_array_equal(c.beta, sol.beta)
    np.testing.assert_array_equal(c.RX, sol.RX)
    assert c.pwrss == pytest.approx(sol.pwrss, rel=1e-10)   # cross-products vs residuals
    # at another θ, then back: the same numbers (no state leaks between evaluations)
    dev.components(th * 1.3)
    c2 = dev.components(th)
    assert (c2.ldL2, c2.ldRX2, c2.pwrss) == (c.ldL2, c.ldRX2, c.pwrss)


def test_glmm_components(cbpp_design):
    dev = GlmmDeviance(cbpp_design, lmerpy.binomial()).stage2()
    x = dev.start()
    x[0] = 0.6
    c = dev.components(x)
    assert dev.n_evals == 0
    sol = dev.solve(x)
    assert c.ldL2 == sol.ldL2 and c.pwrss == sol.pwrss
    np.testing.assert_array_equal(c.beta, sol.beta)
    np.testing.assert_array_equal(c.RX, sol.RX)
    assert c.ldRX2 == pytest.approx(2 * np.log(np.abs(np.diag(sol.RX))).sum(), rel=1e-15)
    # lme4's Laplace deviance from its pieces: ldL2 + ‖ũ‖² + aic(μ̃)
    assert dev(x) == pytest.approx(sol.ldL2 + sol.ussq + sol.aic, rel=1e-14)
