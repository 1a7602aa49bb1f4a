"""The blocked layout's θ-path: A's pieces from Z'WZ and Λ's blocks, without A's pattern.

Checked against the dense reference of test_pls_backends (deviance 1e-10 relative) and against
the values path (A's values on its pattern, the map the θ-path replaces): the same
factorisation to rounding (log-determinant 1e-12, solves 1e-9, as test_blocked_modes_agree).
F held dense in small column chunks gives the one-chunk numbers (1e-12; BLAS sums in another
order). A deviance evaluation and its gradient never build A's pattern or its θ⊗θ map.
"""
import numpy as np
import pytest

import lmerpy.pls.factor.blocked as blocked_mod
import lmerpy.pls.factor.blocked_layout as layout_mod
from lmerpy.pls import LmmDeviance

from test_pls_backends import DESIGNS, _thetas, dense_reference, three_term_design

MODES = ["pairs", "dense", "sparse"]


@pytest.fixture(scope="module", params=list(DESIGNS))
def design(request):
    return request.param, DESIGNS[request.param]()


@pytest.mark.parametrize("mode", MODES)
def test_theta_path_builds_no_pattern(design, mode, monkeypatch):
    name, des = design
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    dev = LmmDeviance(des, REML=True, backend="scipy")
    assert dev.factor.st.theta_path
    for th in _thetas(des):
        ref = dense_reference(des, th, True)
        assert dev(th) == pytest.approx(ref["dev"], rel=1e-10)
        dev.gradient(th)
        np.testing.assert_allclose(dev.solve(th).b, ref["b"], rtol=1e-7, atol=1e-9)
    built = [k for k in ("rows", "cols", "C", "_Cdense", "_keys") if k in dev.smap.__dict__]
    assert not built, f"the θ-path built {built}"


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_small_chunks_of_F(design, mode, monkeypatch):
    """F's dense column chunks of a few levels each give one chunk's numbers."""
    name, des = design
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    th = np.asarray(_thetas(des)[1], dtype=float)
    one = LmmDeviance(des, REML=True, backend="scipy")
    v1, g1 = one(th), one.gradient(th)
    cv1 = one.solve(th).cond_var(0)
    monkeypatch.setattr(blocked_mod, "F_CHUNK", 7 * one.factor.st.q2 * one.factor.st.p1)
    many = LmmDeviance(des, REML=True, backend="scipy")
    assert many(th) == pytest.approx(v1, rel=1e-12)
    assert len(list(many.factor.F_chunks())) > 3
    np.testing.assert_allclose(many.gradient(th), g1, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(many.solve(th).cond_var(0), cv1, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_theta_path_equals_values_path(mode, monkeypatch):
    """Λ₂ with off-diagonal entries (a (x | g) trailing term): the slots its rows reach
    through Λ₂ only, and A₂₂'s rows and columns there."""
    des = three_term_design()
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    dev = LmmDeviance(des, REML=True, backend="scipy")
    B = np.random.default_rng(1).normal(size=(des.q, 3))
    for th in _thetas(des):
        th = np.asarray(th, dtype=float)
        f_theta, f_vals = dev.factor.copy(), dev.factor.copy()
        f_theta.factor(None, th)
        f_vals.factor(dev.smap.values(th))
        assert f_theta.logdet() == pytest.approx(f_vals.logdet(), rel=1e-12)
        np.testing.assert_allclose(f_theta.Fs, f_vals.Fs, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(f_theta.solve_A(B), f_vals.solve_A(B), rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
@pytest.mark.parametrize("gather", [True, False, "bands"], ids=["gather", "gemm", "bands"])
def test_gradient_by_gathers_or_gemm(mode, gather, monkeypatch):
    """F_g'S⁻¹F_g from S⁻¹'s blocks at each level's slots (one band of S⁻¹'s rows, or many
    bands with batches of a few levels), or from S⁻¹F by GEMM: the same gradient and
    conditional variances (the pattern formula's, 1e-10)."""
    import lmerpy.pls.factor.blocked_bands as bands_mod
    import lmerpy.pls.factor.blocked_inverse as inv_mod
    des = three_term_design()
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    monkeypatch.setattr(inv_mod, "_gather_is_cheaper", lambda st: bool(gather))
    if gather == "bands":
        monkeypatch.setattr(bands_mod, "BAND", 400)           # rows of S⁻¹ per band: 4
        monkeypatch.setattr(bands_mod, "GATHER", 200)
    dev = LmmDeviance(des, REML=True, backend="scipy")
    ref = dense_reference(des, _thetas(des)[1], True)
    for th in _thetas(des):
        st = dev._evaluate(np.asarray(th, dtype=float))
        a = dev._logdet_gradient_traces(st)
        b = dev._logdet_gradient_pattern(st)
        assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b))
    if gather == "bands":
        assert dev.factor.st.q2 > 3 * 4 and len(dev.factor.st._splan[1]) > 20
    sol = dev.solve(_thetas(des)[1])
    t = des.reterms[0]
    idx = t.row_offset + np.arange(t.n_levels)
    np.testing.assert_allclose(sol.cond_var(0)[:, 0, 0], ref["Vb"][idx, idx], rtol=1e-8)


def test_sparse_mode_bands(design, monkeypatch):
    """FF' scattered by many bands of S's rows, in batches of a few levels and flushes of a
    few pairs, equals one band (1e-12) and the dense reference (1e-10)."""
    import lmerpy.pls.factor.blocked_bands as bands_mod
    name, des = design
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", "sparse")
    th = np.asarray(_thetas(des)[1], dtype=float)
    one = LmmDeviance(des, REML=True, backend="scipy")
    v1 = one(th)
    q2 = one.factor.st.q2
    monkeypatch.setattr(bands_mod, "BAND", 5 * q2)                  # 5 rows per band
    monkeypatch.setattr(bands_mod, "GATHER", 50)
    monkeypatch.setattr(bands_mod, "SCATTER", 300)
    many = LmmDeviance(des, REML=True, backend="scipy")
    assert many(th) == pytest.approx(v1, rel=1e-12)
    rows, plan, bh = many.factor.st._splan
    assert q2 > 10 and bh == 5 and len({b for *_, b in plan}) > 1
    zero = th.copy()
    zero[-1] = 0.0                             # the last trailing entry 0: cancelled products
    for t in (th, zero, th * 1.1):
        assert many(t) == pytest.approx(dense_reference(des, t, True)["dev"], rel=1e-10)
