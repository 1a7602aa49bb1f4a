"""The PLS core against lme4's reference fits (tests/reference/*.json), both backends.

At lme4's θ̂ (the ``theta`` field) the criterion must equal lme4's REMLcrit (REML fits) or
deviance (ML fits) to 1e-7 relative, β̂ and its standard errors to 1e-5 relative, σ̂, the
conditional modes b̃ (ranef), their conditional SDs (condsd) and the fitted values likewise.
The designs are lme4's own X, Zt and Λ' (the ``design`` block), so this tests the numerical
core independently of lmerpy's design stage.
"""
import numpy as np
import pytest

from lmerpy.errors import LmerpyError
from lmerpy.pls import LmmDeviance, PlsSolution, available_backends

from _design_from_json import design_from_ref, lmm_cases_with_design, load_ref

BACKENDS = available_backends()
CASES = lmm_cases_with_design()
CRIT_RTOL = 1e-7
EST_RTOL = 1e-5


def test_reference_cases_present():
    # the LMM goldens this module runs on (a missing one would silently shrink the tests)
    assert {"sleep_slope", "sleep_slope_ml", "sleep_ri_reml", "sleep_ri_ml", "sleep_uncorr",
            "dyestuff", "dyestuff2_singular", "penicillin_crossed", "pastes_nested",
            "orthodont"} <= set(CASES)


def test_backends_listed():
    assert "scipy" in BACKENDS
    try:
        import sksparse.cholmod  # noqa: F401
        assert BACKENDS[0] == "cholmod"
    except ImportError:
        assert "cholmod" not in BACKENDS


@pytest.fixture(scope="module", params=CASES)
def case(request):
    ref = load_ref(request.param)
    return ref, design_from_ref(ref)


def _target(ref):
    return ref["REMLcrit"] if ref["REML"] else ref["deviance"]


def _ranef_by_group(design, b):
    """b̃ as {group: {column: values per level}}, terms of one factor merged (lme4's ranef)."""
    out = {}
    for t in design.reterms:
        blk = b[t.row_offset:t.row_offset + t.n_rows].reshape(t.n_levels, t.n_columns)
        grp = out.setdefault(t.group_name, {"levels": t.levels})
        assert grp["levels"] == t.levels
        for k, c in enumerate(t.cnms):
            grp[c] = blk[:, k]
    return out


def _condsd_by_group(design, sol):
    out = {}
    for i, t in enumerate(design.reterms):
        cv = sol.cond_var(i)
        sd = np.sqrt(np.diagonal(cv, axis1=1, axis2=2))
        grp = out.setdefault(t.group_name, {})
        for k, c in enumerate(t.cnms):
            grp[c] = sd[:, k]
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_criterion_at_lme4_theta(case, backend):
    ref, des = case
    dev = LmmDeviance(des, REML=ref["REML"], backend=backend)
    assert dev.backend_name == backend
    val = dev(ref["theta"])
    assert dev.n_evals == 1
    np.testing.assert_allclose(val, _target(ref), rtol=CRIT_RTOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_solution_at_lme4_theta(case, backend):
    ref, des = case
    dev = LmmDeviance(des, REML=ref["REML"], backend=backend)
    sol = dev.solve(ref["theta"])
    assert isinstance(sol, PlsSolution)
    assert dev.n_evals == 0  # solve() is not an evaluation
    np.testing.assert_allclose(sol.criterion, _target(ref), rtol=CRIT_RTOL)
    if ref["REML"]:
        np.testing.assert_allclose(sol.reml_criterion, ref["REMLcrit"], rtol=CRIT_RTOL)
    else:
        np.testing.assert_allclose(sol.deviance_ml, ref["deviance"], rtol=CRIT_RTOL)
    np.testing.assert_allclose(sol.beta, list(ref["fixef"].values()), rtol=EST_RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(sol.vcov_beta)), list(ref["se"].values()),
                               rtol=EST_RTOL)
    np.testing.assert_allclose(sol.vcov_beta, ref["vcov"], rtol=EST_RTOL,
                               atol=EST_RTOL * np.max(np.abs(ref["vcov"])))
    np.testing.assert_allclose(sol.sigma, ref["sigma"], rtol=EST_RTOL)
    # devcomp identities
    assert sol.pwrss == pytest.approx(sol.wrss + sol.ussq, rel=1e-12)
    np.testing.assert_allclose(sol.b, sol.Lambdat.T @ sol.u, rtol=1e-12, atol=1e-12)
    # R_X'R_X = X'WX − R_ZX'R_ZX, R_X upper triangular
    assert np.allclose(np.tril(sol.RX, -1), 0)
    XtX = des.X.T @ des.X
    np.testing.assert_allclose(sol.RX.T @ sol.RX + sol.RZX.T @ sol.RZX, XtX,
                               rtol=1e-9, atol=1e-9 * np.max(np.abs(XtX)))
    # fitted values and residuals
    np.testing.assert_allclose(sol.fitted, ref["fitted"], rtol=EST_RTOL)
    np.testing.assert_allclose(sol.residuals, ref["residuals"], rtol=EST_RTOL,
                               atol=EST_RTOL * np.max(np.abs(ref["fitted"])))
    np.testing.assert_allclose(sol.fitted + sol.residuals, des.y, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ranef_and_condsd(case, backend):
    ref, des = case
    dev = LmmDeviance(des, REML=ref["REML"], backend=backend)
    sol = dev.solve(ref["theta"])
    got = _ranef_by_group(des, sol.b)
    sds = _condsd_by_group(des, sol)
    scale = max(np.max(np.abs(np.asarray(g["values"]))) for g in ref["ranef"].values())
    for gname, rg in ref["ranef"].items():
        assert got[gname]["levels"] == rg["levels"]
        vals = np.asarray(rg["values"], dtype=float)
        csd = np.asarray(rg["condsd"], dtype=float)
        for k, col in enumerate(rg["columns"]):
            # b̃ of a singular fit is 0 up to rounding: compare on the scale of all modes
            np.testing.assert_allclose(got[gname][col], vals[:, k], rtol=EST_RTOL,
                                       atol=EST_RTOL * max(scale, 1e-300))
            np.testing.assert_allclose(sds[gname][col], csd[:, k], rtol=EST_RTOL, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_factor_is_a_cholesky_of_A(case, backend):
    ref, des = case
    dev = LmmDeviance(des, REML=ref["REML"], backend=backend)
    sol = dev.solve(ref["theta"])
    Lt = des.lambdat_at(ref["theta"]).toarray()
    Zt = des.Zt.toarray()
    A = Lt @ Zt @ Zt.T @ Lt.T + np.eye(des.q)
    L = sol.L.toarray()
    assert np.allclose(np.triu(L, 1), 0)
    P = sol.perm
    np.testing.assert_allclose(L @ L.T, A[np.ix_(P, P)], rtol=1e-10, atol=1e-10)
    assert sol.ldL2 == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-10)
    # lme4's RZX = L⁻¹ P Λ' Z' X
    RZX = np.linalg.solve(L, (Lt @ Zt @ des.X)[P])
    np.testing.assert_allclose(sol.RZX, RZX, rtol=1e-8, atol=1e-8 * np.max(np.abs(RZX)))
    # Var(b|y) = σ² Λ A⁻¹ Λ' on the diagonal blocks
    V = sol.sigma ** 2 * Lt.T @ np.linalg.inv(A) @ Lt
    for i, t in enumerate(des.reterms):
        cv = sol.cond_var(i)
        assert cv.shape == (t.n_levels, t.n_columns, t.n_columns)
        for g in range(t.n_levels):
            idx = t.row_offset + g * t.n_columns + np.arange(t.n_columns)
            np.testing.assert_allclose(cv[g], V[np.ix_(idx, idx)], rtol=1e-8,
                                       atol=1e-10 * np.max(np.abs(V)))


def test_backends_agree_away_from_optimum(case):
    if len(BACKENDS) < 2:
        pytest.skip("only one backend installed")
    ref, des = case
    rng = np.random.default_rng(1)
    th = np.abs(np.asarray(ref["theta"]) + rng.normal(0, 0.3, len(ref["theta"])))
    th = np.where(np.asarray(des.lower) == 0, th + 0.05, th - 0.2)
    for reml in (True, False):
        vals = [LmmDeviance(des, REML=reml, backend=b)(th) for b in BACKENDS]
        np.testing.assert_allclose(vals[1:], vals[0], rtol=1e-8)
        vals0 = [LmmDeviance(des, REML=reml, backend=b)(des.theta) for b in BACKENDS]
        np.testing.assert_allclose(vals0[1:], vals0[0], rtol=1e-8)


def test_ml_and_reml_at_same_theta(case):
    """deviance_ml / reml_criterion are both reported, whatever the object's flag."""
    ref, des = case
    th = ref["theta"]
    d_ml = LmmDeviance(des, REML=False)
    d_reml = LmmDeviance(des, REML=True)
    s_ml, s_reml = d_ml.solve(th), d_reml.solve(th)
    assert s_ml.deviance_ml == pytest.approx(d_ml(th), rel=1e-10)
    assert s_reml.reml_criterion == pytest.approx(d_reml(th), rel=1e-10)
    assert s_ml.reml_criterion == pytest.approx(s_reml.reml_criterion, rel=1e-12)
    np.testing.assert_allclose(s_ml.beta, s_reml.beta, rtol=1e-12)
    n, p = des.n, des.p
    assert s_ml.sigma == pytest.approx(np.sqrt(s_ml.pwrss / n), rel=1e-12)
    assert s_reml.sigma == pytest.approx(np.sqrt(s_reml.pwrss / (n - p)), rel=1e-12)


def test_default_backend_is_available(case):
    ref, des = case
    dev = LmmDeviance(des, REML=ref["REML"])
    assert dev.backend_name in BACKENDS


def test_unknown_backend_is_an_lmerpy_error(case):
    _, des = case
    with pytest.raises(LmerpyError, match="unknown backend 'superlu'"):
        LmmDeviance(des, backend="superlu")
