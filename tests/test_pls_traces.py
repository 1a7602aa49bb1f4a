"""The log-determinant gradient from per-term sums of A⁻¹'s diagonal blocks (logdet_gradient).

2[(n_t I − E_t)T_t⁻¹]_{ji} with E_t = Σ_g (A⁻¹)_gg must equal the pattern formula
tr(A⁻¹ ∂A/∂θ_k) (A⁻¹ on A's whole pattern) — the same quantity computed another way, so to
1e-10 relative (normwise; both are exact to ~1e-15 here) — in every blocked mode (pairs through
the θ-map, dense, sparse), with Λ₂ diagonal, diagonal but for a few rows (the J correction), or
held whole. Where it does not apply (a zero diagonal θ, too much cancellation, a template
without lme4's block structure) the pattern formula takes over and the gradient still matches
finite differences (test_pls_gradient's tolerance).
"""
import numpy as np
import pytest
import scipy.sparse as sp

import lmerpy.pls.factor.blocked_layout as layout_mod
import lmerpy.pls.factor.blocked_thetamap as thetamap_mod
from lmerpy.pls import LmmDeviance
from lmerpy.pls.lmm.logdet_gradient import TermTemplates

from test_pls_backends import DESIGNS, _thetas, dense_reference, three_term_design
from test_pls_gradient import assert_gradient_matches

RTOL = 1e-10


def _both(dev, th):
    st = dev._evaluate(np.asarray(th, dtype=float))
    return dev._logdet_gradient_traces(st), dev._logdet_gradient_pattern(st)


@pytest.fixture(scope="module", params=list(DESIGNS))
def design(request):
    return request.param, DESIGNS[request.param]()


@pytest.mark.parametrize("mode", [None, "pairs", "dense", "sparse"])
def test_traces_equal_pattern_formula(design, mode, monkeypatch):
    name, des = design
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    for REML in (True, False):
        dev = LmmDeviance(des, REML=REML, backend="scipy")
        assert dev.factor.st.nl > 0 and dev.factor.st.ns > 0
        for th in _thetas(des):
            a, b = _both(dev, th)
            assert a is not None, "the trace formula applies here"
            assert np.max(np.abs(a - b)) <= RTOL * np.max(np.abs(b)), (a, b)
            assert np.max(np.abs(a)) > 0.1


def test_lambda2_correction_equals_whole_lambda2(monkeypatch):
    """(service | dept)-like trailing term: Λ₂ diagonal but for a few rows J. Its correction
    gives the deviance and gradient of Λ₂ applied whole (sparse products)."""
    des = three_term_design()
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", "pairs")
    dev = LmmDeviance(des, REML=True, backend="scipy")
    ths = _thetas(des)
    vals = [dev(th) for th in ths]
    grads = [dev.gradient(th) for th in ths]
    lam2 = dev.factor.st.tmap.lam2
    assert not lam2.dense and lam2.nJ == 2 * des.reterms[2].n_levels
    monkeypatch.setattr(thetamap_mod.Lambda2, "J_FRACTION", 10 ** 9)   # whole Λ₂
    whole = LmmDeviance(des, REML=True, backend="scipy")
    for th, v, g in zip(ths, vals, grads):
        assert whole(th) == pytest.approx(v, rel=1e-12)
        assert whole.factor.st.tmap.lam2.dense
        np.testing.assert_allclose(whole.gradient(th), g, rtol=1e-10, atol=1e-10)
        assert v == pytest.approx(dense_reference(des, th, True)["dev"], rel=1e-10)


def test_fallback_at_zero_and_near_zero_theta(design):
    name, des = design
    dev = LmmDeviance(des, REML=True, backend="scipy")
    th = np.asarray(_thetas(des)[1], dtype=float)
    for tiny in (0.0, 1e-9):
        t = th.copy()
        t[0] = tiny                       # the first term's (first) diagonal θ
        a, b = _both(dev, t)
        assert a is None                  # singular block / all digits cancelled
        assert_gradient_matches(dev, t)


def test_templates_without_lme4_structure():
    des = three_term_design()
    dev = LmmDeviance(des, REML=True, backend="scipy")
    assert TermTemplates(dev.smap, dev.blocks).ok
    # levels of one term with different θ indices: not lme4's structure
    smap = dev.smap
    lind = smap.Lind0.copy()
    off, nl, p = dev.blocks[0]
    first_level = np.flatnonzero(smap.lt_rows == off)
    lind[first_level] = 1
    smap_odd = type("S", (), dict(lt_rows=smap.lt_rows, lt_cols=smap.lt_cols, Lind0=lind,
                                  n_theta=smap.n_theta))()
    assert not TermTemplates(smap_odd, dev.blocks).ok
    # an entry of Λ' coupling two terms
    smap_cross = type("S", (), dict(lt_rows=np.append(smap.lt_rows, 0),
                                    lt_cols=np.append(smap.lt_cols, des.q - 1),
                                    Lind0=np.append(smap.Lind0, 0),
                                    n_theta=smap.n_theta))()
    assert not TermTemplates(smap_cross, dev.blocks).ok


@pytest.mark.parametrize("mode", ["pairs", "dense", "sparse"])
def test_odd_template_uses_the_pattern_formula(mode, monkeypatch):
    """A design whose Λ' gives each level of the first term its own θ: the gradient still
    matches finite differences (pattern formula), the deviance the dense reference."""
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    des = three_term_design(n=800, l1=40, l2=12, l3=3)
    Lind = np.asarray(des.Lind).copy()
    Lt = sp.csc_matrix(des.Lambdat)
    cols = np.repeat(np.arange(des.q), np.diff(Lt.indptr))
    first = cols < des.reterms[0].n_rows
    # levels alternate between θ₀ and θ₁ (θ₁ is the second term's θ)
    Lind[first] = np.where(cols[first] % 2 == 0, 1, 2)
    des.Lind = Lind
    dev = LmmDeviance(des, REML=True, backend="scipy")
    assert not TermTemplates(dev.smap, dev.blocks).ok
    th = np.array([0.7, 0.9, 1.1, 0.2, 0.6])
    st = dev._evaluate(th)
    assert dev._logdet_gradient_traces(st) is None
    assert_gradient_matches(dev, th)
    assert dev(th) == pytest.approx(dense_reference(des, th, True)["dev"], rel=1e-10)


@pytest.mark.parametrize("mode", ["pairs", "dense"])
def test_state_after_the_gradient_consumed_the_factor(mode, monkeypatch):
    """The gradient computes S⁻¹ in L₂₂'s place; the solution at the same θ refactorises."""
    des = three_term_design()
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    dev = LmmDeviance(des, REML=True, backend="scipy")
    th = np.asarray(_thetas(des)[1], dtype=float)
    ref = dense_reference(des, th, True)
    dev.gradient(th)
    assert dev.factor.L2 is None and dev._fstate is None
    sol = dev.solve(th)
    np.testing.assert_allclose(sol.b, ref["b"], rtol=1e-7, atol=1e-9)
    t = des.reterms[1]
    idx = t.row_offset + np.arange(t.n_levels)
    np.testing.assert_allclose(sol.cond_var(1)[:, 0, 0], ref["Vb"][idx, idx], rtol=1e-8)
    L = sol.L.toarray()
    A = (des.lambdat_at(th) @ des.Zt @ des.Zt.T @ des.lambdat_at(th).T).toarray()
    A += np.eye(des.q)
    np.testing.assert_allclose(L @ L.T, A[np.ix_(sol.perm, sol.perm)], atol=1e-9)
    assert dev(th) == pytest.approx(ref["dev"], rel=1e-10)
