"""The fast paths give the generic path's numbers (issue 5).

* Small models (all of A dense): ``LmmDeviance._evaluate_dense`` performs the generic
  evaluation's arithmetic inlined, so its criterion is *identical* (bit for bit) to
  ``_evaluate_generic`` on every reference case — lme4's BOBYQA path reacts to the last bit
  of the deviance, and this is what keeps lmerpy's optimum on lme4's. Its dense log-determinant
  gradient agrees with the sparse-inverse one to 1e-9 relative, and so do the batched
  gradients the post-fit Hessian uses with the one-by-one ones.
* Z'WZ and Z'WX of small models come from ordered NumPy sums: the same bits as SciPy's sparse
  products.
* The blocked backend's reused buffers and its level-ordered dense mode give the same deviance
  as a fresh object and as CHOLMOD (1e-8 relative).
* Lazily built pieces (θ-map, pattern maps, model frame, flist) equal their eager versions.
* Large models fit on the analytic gradient (the default "newton_ai"; signs rectified) reach
  BOBYQA's optimum or a better one; on every reference case the unbounded L-BFGS-B reaches
  lme4's criterion (within 1e-6) or a lower one.

Tolerances: exact where the arithmetic is the same by construction; otherwise 1e-8 relative
for criteria (the issue's requirement) and 1e-9 relative for gradients computed two ways.
"""
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lmerpy
import lmerpy.pls.factor.blocked_layout as layout_mod
from lmerpy.design import lFormula
from lmerpy.models.lmm import mkLmerDevfun
from lmerpy.optimize import lmer_optimizer, lmerControl
from lmerpy.pls import LmmDeviance, available_backends
from lmerpy.pls.crossprod import CrossProducts, ScalingMap, _as_csc
from lmerpy.pls.lmm.gradient import deviance_gradient

from _reference import case_kwargs, lmer_cases, load_case_data
from test_pls_backends import crossed_design, nested_design, random_thetas

REFS = [r for r in lmer_cases() if r["nobs"] <= 20000]


def _design(ref):
    data = load_case_data(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lFormula(ref["formula"], data, REML=bool(ref["REML"]), **case_kwargs(ref, data))


@pytest.fixture(scope="module", params=REFS, ids=[r["id"] for r in REFS])
def ref_design(request):
    return request.param, _design(request.param)


def _thetas(lf, ref):
    rng = np.random.default_rng(5)
    th0 = np.asarray(lf.theta, dtype=float)
    out = [th0, np.asarray(ref["theta"], dtype=float)]
    out.append(np.where(np.asarray(lf.lower) == 0, rng.uniform(0.05, 2.0, th0.size),
                        rng.uniform(-0.8, 0.8, th0.size)))
    out.append(rng.standard_normal(th0.size))        # negative diagonals too
    return out


@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_dense_path_is_the_generic_arithmetic(ref_design, REML):
    ref, lf = ref_design
    dev = mkLmerDevfun(lf, REML=REML)
    assert dev._dense, "reference designs are small: all of A is held dense"
    for th in _thetas(lf, ref):
        a = dev._evaluate_dense(th)
        b = dev._evaluate_generic(th)
        for name in ("ldL2", "ldRX2", "r2", "crit_ml", "crit_reml"):
            va, vb = getattr(a, name), getattr(b, name)
            assert va == vb or (np.isnan(va) and np.isnan(vb)), (name, va, vb)
        assert np.array_equal(a.RZX, b.RZX) and np.array_equal(a.cu, b.cu)
        assert np.array_equal(a.RX, b.RX) and np.array_equal(a.cbeta, b.cbeta)


@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_dense_gradient_matches_sparse_inverse_gradient(ref_design, REML):
    ref, lf = ref_design
    dev = mkLmerDevfun(lf, REML=REML)
    for th in _thetas(lf, ref):
        g_dense = deviance_gradient(dev, dev._evaluate_dense(th))
        g_pattern = deviance_gradient(dev, dev._evaluate_generic(th))
        scale = max(1.0, float(np.max(np.abs(g_pattern))))
        assert np.max(np.abs(g_dense - g_pattern)) <= 1e-9 * scale
        # the public gradient is cached per θ and handed out as a copy
        g1 = dev.gradient(th)
        g2 = dev.gradient(th)
        assert g1 is not g2 and np.array_equal(g1, g2)


@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_batched_gradients_match_one_by_one(ref_design, REML):
    ref, lf = ref_design
    dev = mkLmerDevfun(lf, REML=REML)
    th = np.asarray(ref["theta"], dtype=float)
    k = th.size
    pts = np.vstack([th + s * 1e-4 * np.eye(k)[j] for j in range(k) for s in (1, -1)]
                    + _thetas(lf, ref))
    batch = dev.gradients(pts)
    one = np.stack([dev.gradient(t) for t in pts])
    assert np.all(np.abs(batch - one) <= 1e-9 * np.maximum(1.0, np.abs(one).max(axis=1,
                                                                              keepdims=True)))


def test_small_cross_products_are_scipys_bits(ref_design):
    _, lf = ref_design
    w = np.asarray(lf.weights, dtype=float)
    cp = CrossProducts(lf.Zt, lf.X, w)
    assert cp.ZtWZ_dense is not None
    Zt = _as_csc(lf.Zt)
    ZtW = sp.csc_matrix(Zt @ sp.diags(w))
    M = _as_csc(ZtW @ Zt.T)
    assert np.array_equal(cp.ZtWZ_dense, M.toarray())
    assert np.array_equal(cp.ZtWX, np.asarray(ZtW @ cp.X))
    # the sparse Z'WZ built from the dense one has the sparse product's pattern and values
    S = cp.ZtWZ
    assert np.array_equal(S.indptr, M.indptr) and np.array_equal(S.indices, M.indices)
    assert np.array_equal(S.data, M.data)


def test_lazy_scaling_map_equals_eager(ref_design):
    ref, lf = ref_design
    cp = CrossProducts(lf.Zt, lf.X, np.asarray(lf.weights, dtype=float))
    blocks = [(t.row_offset, t.n_levels, t.n_columns) for t in lf.reterms]
    n_theta = len(lf.theta)
    lazy = ScalingMap(lambda: cp.ZtWZ_dense, lf.Lambdat, lf.Lind, n_theta, blocks)
    eager = ScalingMap(cp.ZtWZ, lf.Lambdat, lf.Lind, n_theta, blocks)
    eager._build_map()
    assert "rows" not in lazy.__dict__                 # nothing built yet
    for th in _thetas(lf, ref):
        assert np.array_equal(lazy.values(th), eager.values(th))
    assert np.array_equal(lazy.rows, eager.rows) and np.array_equal(lazy.cols, eager.cols)
    assert (lazy.C != eager.C).nnz == 0
    assert (lazy.M != eager.M).nnz == 0
    back = pickle.loads(pickle.dumps(ScalingMap(lambda: cp.ZtWZ_dense, lf.Lambdat, lf.Lind,
                                                n_theta, blocks)))
    assert np.array_equal(back.values(lf.theta), eager.values(lf.theta))


def test_cached_small_theta_map_takes_this_designs_values():
    """A small model's θ-map pattern is cached by template and Z'WZ's pattern: a design with
    the same pattern and other values (prior weights) gets its own values, the same bits as
    a map built afresh, and the shared pattern arrays are read-only."""
    from lmerpy.pls import crossprod
    d = lmerpy.datasets.load("sleepstudy")
    w = 1.0 + (np.arange(len(d)) % 5) / 4.0
    f = "Reaction ~ Days + (Days | Subject)"
    lf1, lf2 = lFormula(f, d), lFormula(f, d, weights=w)
    th = np.array([0.9, 0.2, 0.3])
    crossprod._MAP_CACHE.clear()
    mkLmerDevfun(lf1).smap.values(th)                    # builds and caches the pattern
    hit = mkLmerDevfun(lf2)
    v_hit, crit_hit = hit.smap.values(th), hit(th)
    assert len(crossprod._MAP_CACHE) == 1
    crossprod._MAP_CACHE.clear()
    fresh = mkLmerDevfun(lf2)
    assert np.array_equal(fresh.smap.values(th), v_hit) and fresh(th) == crit_hit
    assert not np.array_equal(v_hit, mkLmerDevfun(lf1).smap.values(th))
    assert np.array_equal(hit.smap.rows, fresh.smap.rows)
    with pytest.raises(ValueError):
        hit.smap.rows[0] = 1                              # shared: never written


def test_rectified_theta_keeps_the_deviance(ref_design):
    ref, lf = ref_design
    dev = mkLmerDevfun(lf)
    lower = np.asarray(lf.lower)
    for th in _thetas(lf, ref):
        r = dev.rectify_theta(th)
        assert np.all(r[lower == 0] >= 0)
        assert np.array_equal(np.abs(r), np.abs(th))
        assert dev(r) == pytest.approx(dev(th), rel=1e-13)


def test_other_backend_agrees(ref_design):
    ref, lf = ref_design
    if "cholmod" not in available_backends():
        pytest.skip("scikit-sparse not installed")
    a = mkLmerDevfun(lf, backend="scipy")
    b = mkLmerDevfun(lf, backend="cholmod")
    for th in _thetas(lf, ref):
        assert a(th) == pytest.approx(b(th), rel=1e-8)
        ga, gb = a.gradient(th), b.gradient(th)
        assert np.max(np.abs(ga - gb)) <= 1e-7 * max(1.0, float(np.max(np.abs(gb))))


def test_lazy_design_frames():
    d = lmerpy.datasets.load("sleepstudy")
    lf = lFormula("Reaction ~ Days + (Days | Subject)", d)
    assert callable(lf.__dict__["_lazy_fr"]) and callable(lf.__dict__["_lazy_flist"])
    assert callable(lf.__dict__["_lazy_theta_names"])
    assert lf.theta_names == ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]
    fr, fl = lf.fr, lf.flist
    assert isinstance(fr, pd.DataFrame) and list(fr.columns) == ["Reaction", "Days", "Subject"]
    assert np.array_equal(fr["Reaction"].to_numpy(), d["Reaction"].to_numpy())
    assert list(fl.columns) == ["Subject"] and fl["Subject"].cat.categories.size == 18
    assert lf.fr is fr                                  # built once
    back = pickle.loads(pickle.dumps(lFormula("Reaction ~ Days + (Days | Subject)", d)))
    assert back.fr.equals(fr) and back.flist.equals(fl)


# -- larger designs: the blocked layout ---------------------------------------------------

LARGE = {
    "crossed_pairs": lambda: crossed_design(slope=False, weights=True),
    "crossed_slope": lambda: crossed_design(),
    "nested": lambda: nested_design(),
}


@pytest.fixture(scope="module", params=list(LARGE))
def large(request):
    return request.param, LARGE[request.param]()


def _large_thetas(des):
    return random_thetas(des, 9, 3, pos=(0.2, 1.5), off=(-0.5, 0.5))


@pytest.mark.parametrize("mode", ["pairs", "dense", "sparse"])
def test_blocked_buffers_and_modes(large, mode, monkeypatch):
    name, des = large
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    dev = LmmDeviance(des, REML=True, backend="scipy")
    assert dev.factor.st.nl > 0
    ths = _large_thetas(des)
    first = [dev(th) for th in ths]
    again = [dev(th.copy() + 0.0) for th in reversed(ths)][::-1]
    for th, v1, v2 in zip(ths, first, again):
        fresh = LmmDeviance(des, REML=True, backend="scipy")(th)
        assert v1 == v2 == fresh       # the reused buffer carries nothing over
    if mode == "dense":                # level-ordered F: its slot-order view is F's values
        fac = dev.factor
        dev(ths[0])
        st = fac.st
        F = np.hstack([Fc.copy() for _, _, Fc in fac.F_chunks()])   # dense column chunks
        ind, _ = st.F_structure()
        expect = F[st.slot_row[:, None], ind.reshape(st.ns, st.p1)]
        assert np.array_equal(fac.Fs, expect)
        assert np.array_equal(fac.F_matrix().toarray(), F)
    if "cholmod" in available_backends():
        ref = LmmDeviance(des, REML=True, backend="cholmod")
        for th, v in zip(ths, first):
            assert v == pytest.approx(ref(th), rel=1e-8)
            g, gr = dev.gradient(th), ref.gradient(th)
            assert np.max(np.abs(g - gr)) <= 1e-7 * max(1.0, float(np.max(np.abs(gr))))


# -- the optimizer policy --------------------------------------------------------------------

def _crossed_frame(n=12000, l1=700, l2=40, slope_sd=0.3, g2_sd=0.5, seed=1):
    rng = np.random.default_rng(seed)
    g1 = rng.integers(0, l1, n)
    g2 = rng.integers(0, l2, n)
    x = rng.standard_normal(n)
    u = rng.standard_normal((l1, 2))
    y = (1 + 0.5 * x + 0.8 * u[g1, 0] + slope_sd * u[g1, 1] * x
         + g2_sd * rng.standard_normal(l2)[g2] + rng.standard_normal(n))
    return pd.DataFrame({"y": y, "x": x, "g1": pd.Categorical(g1), "g2": pd.Categorical(g2)})


@pytest.mark.parametrize("slope_sd,g2_sd", [(0.3, 0.5), (0.0, 0.5), (0.3, 0.0)],
                         ids=["interior", "slope_zero", "g2_zero"])
def test_large_models_use_the_gradient_and_reach_bobyqas_optimum(slope_sd, g2_sd):
    d = _crossed_frame(slope_sd=slope_sd, g2_sd=g2_sd)
    f = "y ~ x + (x | g1) + (1 | g2)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = lmerpy.lmer(f, d)
        slow = lmerpy.lmer(f, d, control=lmerControl(gradient_min_q=None))
    assert fast.devfun.q >= 1000
    assert fast.optsum.optimizer == "newton_ai" and slow.optsum.optimizer == "nloptwrap"
    assert fast.optsum.feval < slow.optsum.feval
    assert fast.REMLcrit() <= slow.REMLcrit() + 1e-6
    assert np.max(np.abs(fast.theta - slow.theta)) <= 1e-3
    assert np.all(fast.theta[np.asarray(fast.design.lower) == 0] >= 0)
    assert fast.isSingular() == slow.isSingular()


def test_optimizer_choice():
    lf = lFormula("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
    dev = mkLmerDevfun(lf)
    assert lmer_optimizer(dev, lmerControl()) == "newton_ai"                 # the default
    assert lmer_optimizer(dev, lmerControl(polish=False)) == "nloptwrap"     # lme4's path
    assert lmer_optimizer(dev, lmerControl(gradient_min_q=None)) == "nloptwrap"
    assert lmer_optimizer(dev, lmerControl(optimizer="nloptwrap")) == "nloptwrap"  # q = 36
    assert lmer_optimizer(dev, lmerControl(optimizer="nloptwrap", gradient_min_q=10)) \
        == "newton_ai"
    assert lmer_optimizer(dev, lmerControl(gradient_min_q=10)) == "newton_ai"
    assert lmer_optimizer(dev, lmerControl(gradient_min_q=10, optCtrl={"maxeval": 50})) \
        == "nloptwrap"                                                        # settings given
    assert lmer_optimizer(dev, lmerControl(gradient_min_q=10, optimizer="bobyqa")) == "bobyqa"
    assert lmer_optimizer(lambda th: 0.0, lmerControl(gradient_min_q=0)) == "nloptwrap"


@pytest.mark.parametrize("ref", [r for r in REFS if not r.get("r_warnings")],
                         ids=[r["id"] for r in REFS if not r.get("r_warnings")])
def test_unbounded_lbfgsb_reaches_lme4s_optimum(ref):
    data = load_case_data(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmerpy.lmer(ref["formula"], data, REML=bool(ref["REML"]),
                          control=lmerControl(optimizer="lbfgsb"), **case_kwargs(ref, data))
    crit = fit.REMLcrit() if ref["REML"] else fit.deviance()
    want = ref["REMLcrit"] if ref["REML"] else ref["deviance"]
    assert crit <= want + 1e-6
    assert np.all(fit.theta[np.asarray(fit.design.lower) == 0] >= 0)
