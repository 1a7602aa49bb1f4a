"""Every backend against an independent dense computation and against each other.

* Larger synthetic designs (q of a few hundred) exercise the blocked layout (first term
  block-diagonal with p₁ = 1 and 2, slot pairs, and the pair-free fallback), CHOLMOD with
  Takahashi's sparse inverse subset (nested design) and with the blocked inverse on the side
  (crossed design). The dense reference solves lme4's penalized least squares problem with
  NumPy only.
* Every reference design (the lmer and glmer goldens, designs by lmerpy's design stage):
  every factor class (:class:`~lmerpy.pls.factor.protocol.Factor`) factorises the same A(θ, w)
  and is checked against NumPy (log|A|, L L' = PAP', solves, A⁻¹ on the pattern and its
  diagonal blocks through :class:`~lmerpy.pls.factor.inverse.SparseInverse`, ``copy``); every
  backend of :class:`~lmerpy.pls.LmmDeviance` and of glmer's deviance gives the same
  criterion, gradient and conditional variances.
"""
import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lmerpy.pls.factor.blocked as blocked_mod
import lmerpy.pls.factor.blocked_layout as layout_mod
from lmerpy.design.structures import Design, ReTerm
from lmerpy.pls import LmmDeviance, available_backends

from test_pls_gradient import assert_gradient_matches

BACKENDS = available_backends()


def make_design(y, X, terms, weights=None, offset=None, REML=True):
    """Design from terms [(name, codes, Xi, cnms)], in the order given (lme4's Zt/Λ' layout)."""
    n = len(y)
    reterms, Zblocks, Lrows, Lcols, Lind = [], [], [], [], []
    row = th = 0
    for name, codes, Xi, cnms in terms:
        codes = np.asarray(codes, dtype=np.int64)
        nl = int(codes.max()) + 1
        p = Xi.shape[1]
        r = (row + codes[:, None] * p + np.arange(p)[None, :]).ravel()
        c = np.repeat(np.arange(n), p)
        Zblocks.append((Xi.ravel(), r, c))
        # Λ' block per level: upper triangle of T', column-major, θ index of T[c, r]
        idx = {}
        k = 0
        for rr in range(p):
            for cc in range(rr, p):
                idx[(cc, rr)] = k
                k += 1
        for lev in range(nl):
            for cc in range(p):
                for rr in range(cc + 1):
                    Lrows.append(row + lev * p + rr)
                    Lcols.append(row + lev * p + cc)
                    Lind.append(th + idx[(cc, rr)] + 1)
        reterms.append(ReTerm(name, list(cnms), [str(i) for i in range(nl)], codes, Xi,
                              theta_offset=th, row_offset=row))
        row += nl * p
        th += p * (p + 1) // 2
    q = row
    data = np.concatenate([b[0] for b in Zblocks])
    Zt = sp.csc_matrix(sp.coo_matrix((data, (np.concatenate([b[1] for b in Zblocks]),
                                             np.concatenate([b[2] for b in Zblocks]))),
                                     shape=(q, n)))
    Zt.eliminate_zeros()
    order = np.lexsort((Lrows, Lcols))
    Lrows, Lcols, Lind = (np.asarray(a)[order] for a in (Lrows, Lcols, Lind))
    theta0 = np.array([1.0 if i == j else 0.0 for _, _, Xi, _ in terms
                       for j in range(Xi.shape[1]) for i in range(j, Xi.shape[1])])
    lower = np.where(theta0 == 1.0, 0.0, -np.inf)
    Lt = sp.csc_matrix((theta0[Lind - 1], Lrows, np.concatenate(
        ([0], np.cumsum(np.bincount(Lcols, minlength=q))))), shape=(q, q))
    return Design(formula=None, fr=pd.DataFrame({"y": y}), y=np.asarray(y, float), X=X,
                  X_colnames=[f"x{i}" for i in range(X.shape[1])],
                  offset=np.zeros(n) if offset is None else offset,
                  weights=np.ones(n) if weights is None else weights, reterms=reterms,
                  Zt=Zt, Lambdat=Lt, Lind=Lind, theta=theta0, lower=lower,
                  theta_names=[f"t{i}" for i in range(len(theta0))],
                  flist=pd.DataFrame(), assign=list(range(len(terms))), REML=REML)


def dense_reference(des, theta, REML):
    """lme4's deviance, β̂, b̃ and Var(b|y) by dense linear algebra (independent of lmerpy.pls)."""
    Lt = des.lambdat_at(theta).toarray()
    Z = des.Zt.toarray().T
    w = des.weights
    X, y = des.X, des.y - des.offset
    ZL = Z @ Lt.T
    A = ZL.T @ (w[:, None] * ZL) + np.eye(des.q)
    K = ZL.T @ (w[:, None] * X)
    M = np.block([[A, K], [K.T, X.T @ (w[:, None] * X)]])
    rhs = np.concatenate((ZL.T @ (w * y), X.T @ (w * y)))
    sol = np.linalg.solve(M, rhs)
    u, beta = sol[:des.q], sol[des.q:]
    r = y - X @ beta - ZL @ u
    r2 = np.sum(w * r * r) + u @ u
    ldL2 = np.linalg.slogdet(A)[1]
    V = X.T @ (w[:, None] * X) - K.T @ np.linalg.solve(A, K)
    ldRX2 = np.linalg.slogdet(V)[1]
    n, p = des.n, des.p
    slw = np.sum(np.log(w))
    if REML:
        dev = ldL2 + ldRX2 + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p))) - slw
        s2 = r2 / (n - p)
    else:
        dev = ldL2 + n * (1 + np.log(2 * np.pi * r2 / n)) - slw
        s2 = r2 / n
    Vb = s2 * Lt.T @ np.linalg.inv(A) @ Lt
    return dict(dev=dev, beta=beta, b=Lt.T @ u, Vb=Vb, sigma=np.sqrt(s2))


def crossed_design(seed=3, n=1500, l1=170, l2=45, slope=True, weights=False,
                   slope2=False):
    rng = np.random.default_rng(seed)
    g1 = rng.integers(0, l1, n)
    g2 = rng.integers(0, l2, n)
    g1 = np.unique(g1, return_inverse=True)[1]
    g2 = np.unique(g2, return_inverse=True)[1]
    x = rng.normal(size=n)
    X = np.column_stack((np.ones(n), x))
    b1 = rng.normal(size=(g1.max() + 1, 2)) * [1.0, 0.5]
    b2 = rng.normal(size=g2.max() + 1) * 0.7
    y = 2 + 0.3 * x + b1[g1, 0] + b1[g1, 1] * x + b2[g2] + rng.normal(size=n)
    X1 = X if slope else X[:, :1]
    X2 = X if slope2 else X[:, :1]
    terms = [("g1", g1, X1, ["(Intercept)", "x"][:X1.shape[1]]),
             ("g2", g2, X2, ["(Intercept)", "x"][:X2.shape[1]])]
    w = rng.uniform(0.5, 2.0, n) if weights else None
    return make_design(y, X, terms, weights=w)


def nested_design(seed=4, schools=40, per=6, n_per=6):
    rng = np.random.default_rng(seed)
    cls = np.repeat(np.arange(schools * per), n_per)
    sch = cls // per
    n = cls.shape[0]
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=schools)[sch] + 0.8 * rng.normal(size=schools * per)[cls] \
        + rng.normal(size=n)
    X = np.column_stack((np.ones(n), x))
    terms = [("class:school", cls, np.ones((n, 1)), ["(Intercept)"]),
             ("school", sch, np.ones((n, 1)), ["(Intercept)"])]
    return make_design(y, X, terms)


def three_term_design(seed=5, n=2500, l1=260, l2=70, l3=6):
    """InstEval's shape in small: a large scalar term eliminated first, a scalar and a
    vector-valued trailing term with few levels (Λ₂ diagonal but for a few rows)."""
    rng = np.random.default_rng(seed)
    g = [np.unique(rng.integers(0, m, n), return_inverse=True)[1] for m in (l1, l2, l3)]
    x = rng.normal(size=n)
    X = np.column_stack((np.ones(n), x))
    y = (1 + 0.4 * x + rng.normal(size=l1)[g[0]] + 0.6 * rng.normal(size=l2)[g[1]]
         + rng.normal(size=l3)[g[2]] + 0.5 * rng.normal(size=l3)[g[2]] * x + rng.normal(size=n))
    terms = [("s", g[0], X[:, :1], ["(Intercept)"]), ("d", g[1], X[:, :1], ["(Intercept)"]),
             ("dept", g[2], X, ["(Intercept)", "x"])]
    return make_design(y, X, terms)


DESIGNS = {
    "crossed_slope": lambda: crossed_design(),
    "three_terms": lambda: three_term_design(),
    "crossed_scalar_weighted": lambda: crossed_design(slope=False, weights=True),
    "crossed_trailing_slope": lambda: crossed_design(slope=False, slope2=True, l2=60),
    "nested": lambda: nested_design(),
}


@pytest.fixture(scope="module", params=list(DESIGNS))
def design(request):
    return request.param, DESIGNS[request.param]()


def random_thetas(des, seed, n, pos=(0.3, 1.5), off=(-0.4, 0.4)):
    """``n`` random θ for ``des``: uniform on ``pos`` where θ is bounded below by 0 (diagonal
    entries), on ``off`` elsewhere."""
    rng = np.random.default_rng(seed)
    k = des.theta.shape[0]
    return [np.where(des.lower == 0, rng.uniform(*pos, k), rng.uniform(*off, k))
            for _ in range(n)]


def _thetas(des):
    return [des.theta, *random_thetas(des, 11, 1)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("REML", [True, False], ids=["REML", "ML"])
def test_against_dense_reference(design, backend, REML):
    name, des = design
    assert des.q > blocked_mod.DENSE_Q  # not the all-dense path
    dev = LmmDeviance(des, REML=REML, backend=backend)
    for th in _thetas(des):
        ref = dense_reference(des, th, REML)
        assert dev(th) == pytest.approx(ref["dev"], rel=1e-10)
        sol = dev.solve(th)
        np.testing.assert_allclose(sol.beta, ref["beta"], rtol=1e-8)
        np.testing.assert_allclose(sol.b, ref["b"], rtol=1e-7, atol=1e-9)
        assert sol.sigma == pytest.approx(ref["sigma"], rel=1e-10)
        for i, t in enumerate(des.reterms):
            cv = sol.cond_var(i)
            for g in range(0, t.n_levels, 7):
                idx = t.row_offset + g * t.n_columns + np.arange(t.n_columns)
                np.testing.assert_allclose(cv[g], ref["Vb"][np.ix_(idx, idx)], rtol=1e-8,
                                           atol=1e-12)
        L = sol.L
        A = (des.lambdat_at(th) @ des.Zt @ sp.diags(des.weights) @ des.Zt.T
             @ des.lambdat_at(th).T).toarray() + np.eye(des.q)
        P = sol.perm
        np.testing.assert_allclose((L @ L.T).toarray(), A[np.ix_(P, P)], atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_on_larger_designs(design, backend):
    name, des = design
    for REML in (True, False):
        dev = LmmDeviance(des, REML=REML, backend=backend)
        for th in _thetas(des):
            assert_gradient_matches(dev, th)


@pytest.mark.parametrize("mode", ["pairs", "dense", "sparse"])
def test_blocked_modes_agree(design, mode, monkeypatch):
    """FF' and S⁻¹F by slot pairs, dense BLAS or sparse products: the same numbers."""
    name, des = design
    th = _thetas(des)[1]
    ref = dense_reference(des, th, True)
    monkeypatch.setattr(layout_mod, "MODE_OVERRIDE", mode)
    dev = LmmDeviance(des, REML=True, backend="scipy")
    assert dev.factor.st.mode == mode and dev.factor.st.ns > 0
    assert dev(th) == pytest.approx(ref["dev"], rel=1e-10)
    # factor() from A's values alone (as PIRLS uses it) equals the θ-map route
    th = np.asarray(th, dtype=float)
    vals = dev.smap.values(th)
    f_vals, f_theta = dev.factor.copy(), dev.factor.copy()
    f_vals.factor(vals)
    f_theta.factor(vals, th)
    assert f_vals.logdet() == pytest.approx(f_theta.logdet(), rel=1e-12)
    B = np.random.default_rng(0).normal(size=(des.q, 2))
    np.testing.assert_allclose(f_vals.solve_L(B), f_theta.solve_L(B), rtol=1e-9, atol=1e-12)
    assert_gradient_matches(dev, th)
    sol = dev.solve(th)
    np.testing.assert_allclose(sol.b, ref["b"], rtol=1e-7, atol=1e-9)
    for i, t in enumerate(des.reterms):
        idx = t.row_offset + np.arange(t.n_levels) * t.n_columns
        np.testing.assert_allclose(sol.cond_var(i)[:, 0, 0], ref["Vb"][idx, idx], rtol=1e-8)


def test_blocked_layout_in_use(design):
    name, des = design
    dev = LmmDeviance(des, backend="scipy")
    st = dev.factor.st
    first = int(np.argmax([t.n_rows for t in des.reterms]))
    assert st.q1 == des.reterms[first].n_rows and st.q2 == des.q - st.q1
    assert st.ns > 0


@pytest.mark.skipif("cholmod" not in BACKENDS, reason="scikit-sparse not installed")
def test_cholmod_inverse_paths(design):
    """Nested: Takahashi on CHOLMOD's factor; both paths give the same A⁻¹ entries."""
    from lmerpy.pls.factor.takahashi import TakahashiPlan
    name, des = design
    dev = LmmDeviance(des, REML=True, backend="cholmod")
    th = _thetas(des)[1]
    st = dev._evaluate(np.asarray(th, float))
    L = dev.factor.L_matrix()
    plan = TakahashiPlan(L, dev.factor.perm, dev.smap.rows, dev.smap.cols)
    z = plan.inverse(L)
    blk = LmmDeviance(des, REML=True, backend="scipy")
    blk._evaluate(np.asarray(th, float))
    np.testing.assert_allclose(z, blk.factor.inverse_on_pattern(), rtol=1e-9, atol=1e-12)
    dev._inverse_on_pattern(st)
    if name == "nested":
        assert dev.sparse_inverse.takahashi_plan  # little fill: Takahashi is the chosen path
        assert dev.sparse_inverse.route == "takahashi"


def test_default_backend_choice():
    """Best available: blocked when the dense block is small or dense anyway (crossed),
    CHOLMOD when it would be large and sparse (many nested groups)."""
    assert LmmDeviance(crossed_design()).backend_name == "scipy"
    big_nested = nested_design(schools=400, per=3, n_per=3)
    dev = LmmDeviance(big_nested)
    assert dev.backend_name == ("cholmod" if "cholmod" in BACKENDS else "scipy")
    ref = dense_reference(big_nested, [0.8, 0.6], True)
    assert dev([0.8, 0.6]) == pytest.approx(ref["dev"], rel=1e-10)
    if "cholmod" in BACKENDS:
        assert_gradient_matches(dev, [0.8, 0.6])
        assert dev.sparse_inverse.takahashi_plan  # gradient through Takahashi's recurrences


@pytest.mark.skipif("cholmod" not in BACKENDS, reason="scikit-sparse not installed")
def test_cholmod_inverse_fallbacks(monkeypatch):
    """Too much fill for Takahashi: the blocked formulas on the side, else dense solves."""
    import lmerpy.pls.factor.chooser as chooser
    import lmerpy.pls.factor.inverse as inverse
    des = crossed_design()
    th = _thetas(des)[1]
    ref = dense_reference(des, th, True)
    monkeypatch.setattr(inverse, "TAKAHASHI_BUDGET", 0)
    dev = LmmDeviance(des, REML=True, backend="cholmod")
    assert_gradient_matches(dev, th)
    assert dev.sparse_inverse.takahashi_plan is False and dev._scipy_candidate()[0] is not None
    assert dev.sparse_inverse.route == "side"
    cv = dev.solve(th).cond_var(1)
    t = des.reterms[1]
    np.testing.assert_allclose(cv[:, 0, 0], np.diag(ref["Vb"])[t.row_offset:], rtol=1e-8)
    monkeypatch.setattr(chooser, "blocked_plan", lambda smap, blocks, max_q2: (0, des.q, False))
    dev2 = LmmDeviance(des, REML=True, backend="cholmod")
    assert dev2._scipy_candidate()[0] is None
    np.testing.assert_allclose(dev2.gradient(th), dev.gradient(th), rtol=1e-9, atol=1e-9)
    assert dev2.sparse_inverse.route == "solves"
    with pytest.raises(Exception, match="backend 'scipy'"):
        LmmDeviance(des, backend="scipy")


# ------------------------------------------------------------ every reference design, every backend


def _reference_params(kind):
    from _reference import case_params, glmer_cases, lmer_cases
    cases = {"lmer": lmer_cases, "glmer": glmer_cases}
    return case_params([r for k in kind for r in cases[k]()], slow_nobs=20000)


def _reference_design(ref):
    """The golden case's design from lmerpy's design stage (lFormula / glFormula)."""
    import warnings

    import lmerpy
    from _reference import case_kwargs, load_case_data
    from lmerpy.families import FAMILIES
    from lmerpy.models.glmm import glFormula
    data = load_case_data(ref)
    kw = case_kwargs(ref, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref["fn"] == "lmer":
            return lmerpy.lFormula(ref["formula"], data, **kw)
        fam = (FAMILIES[ref["family"]](link=ref["link"]) if ref["fn"] == "glmer"
               else lmerpy.negative_binomial(1.0))
        return glFormula(ref["formula"], data, family=fam, **kw)


@functools.lru_cache(maxsize=2)
def _cached_design(path):
    return _reference_design(json.loads(Path(path).read_text()))


@pytest.fixture(scope="module", params=_reference_params(["lmer", "glmer"]))
def ref_design(request):
    return request.param, _cached_design(request.param["_path"])


@pytest.fixture(scope="module", params=_reference_params(["lmer"]))
def lmm_design(request):
    return request.param, _cached_design(request.param["_path"])


@pytest.fixture(scope="module", params=_reference_params(["glmer"]))
def glmm_design(request):
    return request.param, _cached_design(request.param["_path"])


def _factor_classes():
    from lmerpy.pls.factor import chooser
    from lmerpy.pls.factor.block_first import BlockFirstFactor
    from lmerpy.pls.factor.cholmod import CholmodFactor
    from lmerpy.pls.factor.dense import DenseFactor

    def blocked(smap, blocks):
        return chooser.scipy_candidate(smap, blocks, weights_vary=False)[0]

    def block_first(smap, blocks):
        first, q2 = chooser.first_term_block(smap, blocks)
        return None if first is None else BlockFirstFactor(smap, blocks, first)

    out = {"blocked": blocked, "dense": lambda smap, blocks: DenseFactor(smap),
           "block_first": block_first}
    if "cholmod" in BACKENDS:
        out["cholmod"] = lambda smap, blocks: CholmodFactor(smap)
        out["glmm_cholmod"] = lambda smap, blocks: CholmodFactor(smap, weights_vary=True)
    return out


FACTOR_CLASSES = _factor_classes()


def _a_values(S, theta, w):
    S.set_theta(theta)
    return S.a_values(w)


def _dense(smap, values):
    A = np.zeros((smap.q, smap.q))
    A[smap.rows, smap.cols] = values
    return A


@pytest.mark.parametrize("route", ["default", "solves"])
@pytest.mark.parametrize("kind", list(FACTOR_CLASSES))
def test_every_factor_on_every_reference_design(ref_design, kind, route, monkeypatch):
    """Each factor class factorises A(θ, w) of the design's pattern (random θ, random
    weights: the PIRLS route) and satisfies the Factor contract against NumPy."""
    import lmerpy.pls.factor.inverse as inverse
    from lmerpy.pls.factor.protocol import Factor
    from lmerpy.pls.glmm.pirls import GlmmStructure
    ref, des = ref_design
    if des.q > 2000:
        pytest.skip("dense reference of a q > 2000 design (InstEval: see the deviance test)")
    S = GlmmStructure(des, backend="scipy")
    smap, blocks = S.smap, S.blocks
    fac = FACTOR_CLASSES[kind](smap, blocks)
    if fac is None:
        assert kind == "block_first"
        pytest.skip("the first term's block of A is not block-diagonal")
    assert isinstance(fac, Factor)
    if route == "solves":
        monkeypatch.setattr(inverse, "TAKAHASHI_BUDGET", -1)
    rng = np.random.default_rng(7)
    theta = np.where(des.lower == 0, rng.uniform(0.4, 1.6, des.theta.shape[0]),
                     rng.uniform(-0.5, 0.5, des.theta.shape[0]))
    w = rng.uniform(0.2, 3.0, des.n)
    values = _a_values(S, theta, w)
    fac.factor(values)
    A = _dense(smap, values)
    assert fac.logdet() == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-10)
    P = np.asarray(fac.perm)
    assert sorted(P.tolist()) == list(range(des.q))
    L = fac.L_matrix()
    np.testing.assert_allclose((L @ L.T).toarray(), A[np.ix_(P, P)], atol=1e-10 * np.abs(A).max())
    B = rng.normal(size=(des.q, 3))
    x = fac.solve_A(B)
    np.testing.assert_allclose(A @ x, B, atol=1e-8 * np.abs(B).max())
    np.testing.assert_allclose(fac.solve_Lt(fac.solve_L(B)), x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fac.solve_L(B[:, 0]), fac.solve_L(B)[:, 0], rtol=1e-12)
    Ainv = np.linalg.inv(A)
    policy = inverse.SparseInverse(smap)
    np.testing.assert_allclose(policy.on_pattern(fac), Ainv[smap.rows, smap.cols],
                               rtol=1e-8, atol=1e-12)
    own = fac.inverse_on_pattern() is not None
    assert policy.route == ("own" if own else "solves" if route == "solves" else "takahashi")
    for off, nl, nc in blocks:
        idx = off + np.arange(nl * nc)
        want = inverse.level_blocks(Ainv[np.ix_(idx, idx)], nl, nc)
        np.testing.assert_allclose(policy.diagonal_blocks(fac, off, nl, nc), want, rtol=1e-8,
                                   atol=1e-12)
    # copy: an independent factor of the same pattern
    other = fac.copy()
    values2 = _a_values(S, theta * 0.5, w[::-1].copy())
    other.factor(values2)
    assert other.logdet() == pytest.approx(np.linalg.slogdet(_dense(smap, values2))[1],
                                           rel=1e-10)
    assert fac.logdet() == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-10)
    np.testing.assert_allclose(fac.solve_A(B), x, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("weights_vary", [False, True], ids=["lmer", "glmer"])
def test_choose_factor_table(ref_design, weights_vary):
    """The chooser's pick on every reference design follows its table."""
    from lmerpy.pls.factor import chooser
    from lmerpy.pls.glmm.pirls import GlmmStructure
    ref, des = ref_design
    S = GlmmStructure(des, backend="cholmod" if "cholmod" in BACKENDS else "scipy")
    T = chooser.THRESHOLDS[weights_vary]
    cand, q2 = chooser.scipy_candidate(S.smap, S.blocks, weights_vary)
    fac = chooser.choose_factor(S.smap, S.blocks, None, weights_vary, candidate=(cand, q2))
    if des.q <= T.dense_q:
        assert fac is cand and q2 == des.q
    elif "cholmod" not in BACKENDS:
        assert fac is cand
    else:
        cheap = q2 <= T.cheap_q2 or cand.dense_block_density() >= T.min_density
        assert (fac is cand) == (cand is not None and cheap)
        if fac is not cand:
            assert fac.name == "cholmod"
    assert chooser.choose_factor(S.smap, S.blocks, "scipy", weights_vary).name != "cholmod"
    if "cholmod" in BACKENDS:
        assert chooser.choose_factor(S.smap, S.blocks, "cholmod", weights_vary).name == \
            "cholmod"


@pytest.mark.skipif(len(BACKENDS) < 2, reason="scikit-sparse not installed")
def test_every_lmm_backend_on_every_reference_design(lmm_design):
    """LmmDeviance: the same criterion, β̂, gradient and conditional variances whatever the
    backend (at the golden's θ̂ and at a point off it)."""
    ref, des = lmm_design
    devs = {b: LmmDeviance(des, REML=bool(ref["REML"]), backend=b) for b in BACKENDS}
    th_hat = np.asarray(ref["theta"], dtype=float)
    for th in (th_hat, np.where(des.lower == 0, th_hat * 0.8 + 0.1, th_hat * 0.5)):
        vals = {b: d(th) for b, d in devs.items()}
        sols = {b: d.solve(th) for b, d in devs.items()}
        first = BACKENDS[0]
        for b in BACKENDS[1:]:
            assert vals[b] == pytest.approx(vals[first], rel=1e-10)
            np.testing.assert_allclose(sols[b].beta, sols[first].beta, rtol=1e-8, atol=1e-10)
            np.testing.assert_allclose(devs[b].gradient(th), devs[first].gradient(th),
                                       rtol=1e-6, atol=1e-6)
            for i in range(len(des.reterms)):
                np.testing.assert_allclose(sols[b].cond_var(i), sols[first].cond_var(i),
                                           rtol=1e-8, atol=1e-12)


@pytest.mark.skipif(len(BACKENDS) < 2, reason="scikit-sparse not installed")
def test_every_glmm_backend_on_every_reference_design(glmm_design):
    """glmer's deviance: the same Laplace deviance and conditional variances whatever the
    backend (dense or block-first against CHOLMOD)."""
    import lmerpy
    from lmerpy.pls.glmm.deviance import GlmmDeviance
    ref, des = glmm_design
    from lmerpy.families import FAMILIES
    fam = (FAMILIES[ref["family"]](link=ref["link"]) if ref["fn"] == "glmer"
           else lmerpy.negative_binomial(float(ref.get("nb_theta", 1.0) or 1.0)))
    devs = {b: GlmmDeviance(des, fam, nAGQ=1, backend=b) for b in BACKENDS}
    x = np.concatenate((np.asarray(ref["theta"], dtype=float), np.asarray(
        list(ref["fixef"].values()) if isinstance(ref["fixef"], dict) else ref["fixef"],
        dtype=float)))
    first = BACKENDS[0]
    sols = {b: d.solve(x) for b, d in devs.items()}
    for b in BACKENDS[1:]:
        assert devs[b].S.factor.name != devs[first].S.factor.name
        assert devs[b](x) == pytest.approx(devs[first](x), rel=1e-9)
        for i in range(len(des.reterms)):
            np.testing.assert_allclose(sols[b].cond_var(i), sols[first].cond_var(i),
                                       rtol=1e-7, atol=1e-12)
