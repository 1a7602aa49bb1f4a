"""profile(): lme4's likelihood profiles (tests/reference/profile/*.json, made by
tests/reference/r/make_profile_goldens.R with lme4 1.1-31).

Tolerances:
- splines (interpSpline / backSpline): 1e-10 relative (same formulas);
- profile tables: same parameters, columns and number of points per parameter; ζ of our
  profile (its interpolating spline) at lme4's points within |ζ| <= 3: 1e-3 absolute (the two
  BOBYQA runs stop at slightly different points, and the steps follow the ζ values);
- the singular Dyestuff2 profile's points: ζ and the stepped parameter 1e-6 relative (the
  steps are lme4's), the other parameters at each point 1e-4 (they are where the optimizer
  stopped in a flat direction);
- a fixed-effect ζ against a refit with that coefficient moved into an offset: 1e-6 absolute.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _reference import LME4_GLMER, load_case_data

import lmerpy
from lmerpy.errors import LmerpyError
from lmerpy.inference.profile import (
    Profile,
    profile,
    sdcor_to_theta,
    theta_to_sdcor,
    var_par_names,
)
from lmerpy.inference.profile_spline import (
    SplineError,
    approx_linear,
    back_spline,
    interp_spline,
)

PROF = Path(__file__).parent / "reference" / "profile"


def _ref(name):
    return json.loads((PROF / f"{name}.json").read_text())


def _fit(ref):
    data = load_case_data(ref)
    kw = {"weights": ref["weights"]} if ref.get("weights") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref["fn"] == "lmer":
            return lmerpy.lmer(ref["formula"], data, REML=ref["REML"], **kw)
        return lmerpy.glmer(ref["formula"], data, family=ref["family"], control=LME4_GLMER,
                            **kw)


_PROFILES = {}


def _profile(name):
    if name not in _PROFILES:
        ref = _ref(name)
        fit = _fit(ref)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pr = profile(fit)
        _PROFILES[name] = (ref, fit, pr, [str(w.message) for w in caught])
    return _PROFILES[name]


# ------------------------------------------------------------------------------ splines


def test_interp_and_back_spline_match_R():
    ref = _ref("splines")
    fwd = interp_spline(ref["x"], ref["y"])
    got = fwd(ref["forward_at"])
    want = np.array([np.nan if v is None else v for v in ref["forward"]])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    bak = back_spline(fwd)
    got = bak(ref["backward_at"])
    want = np.array([np.nan if v is None else v for v in ref["backward"]])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # a decreasing curve: R reverses the knots (and so evaluates the neighbouring piece)
    bak2 = back_spline(interp_spline(ref["x"], ref["y_decreasing"]))
    want = np.array([np.nan if v is None else v for v in ref["backward_decreasing"]])
    np.testing.assert_allclose(bak2(ref["backward_decreasing_at"]), want, rtol=1e-10,
                               atol=1e-12)


def test_spline_errors_as_R():
    with pytest.raises(SplineError, match="distinct"):
        interp_spline([0, 1, 1, 2], [0, 1, 2, 3])
    with pytest.raises(SplineError, match="at least"):
        interp_spline([0, 1, 2], [0, 1, 2])
    with pytest.raises(SplineError, match="monotone"):
        back_spline(interp_spline([0, 1, 2, 3, 4], [0, 1, 0.5, 2, 3]))


def test_approx_linear_is_R_approxfun():
    # ties averaged, NaN outside the range
    out = approx_linear([0, 1, 1, 2], [0, 1, 3, 4], [-0.5, 0.5, 1, 1.5, 2.5])
    np.testing.assert_allclose(out, [np.nan, 1.0, 2.0, 3.0, np.nan])


# ------------------------------------------------------------------------------ scales


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_sdcor_theta_round_trip(p):
    rng = np.random.default_rng(p)
    k = p * (p + 1) // 2
    T = np.tril(rng.normal(size=(p, p)))
    T[np.diag_indices(p)] = np.abs(T[np.diag_indices(p)]) + 0.1
    cols, rows = np.triu_indices(p)
    theta = np.concatenate([[0.7], T[rows, cols]])
    blocks = [(0, 1), (1, p)]
    sigma = 2.5
    v = theta_to_sdcor(theta, blocks, sigma)
    S = sigma ** 2 * T @ T.T
    sd = np.sqrt(np.diag(S))
    assert v[0] == pytest.approx(0.7 * sigma)
    for val, r, c in zip(v[1:], rows, cols):
        want = sd[r] if r == c else S[r, c] / (sd[r] * sd[c])
        assert val == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(sdcor_to_theta(v, blocks, sigma), theta, rtol=1e-10)
    assert k == len(v) - 1


def test_sdcor_to_theta_semidefinite():
    # a correlation of 1 and a zero SD give a positive semi-definite block: zero pivots
    th = sdcor_to_theta([2.0, 1.0, 3.0], [(0, 2)], sigma=1.0)
    np.testing.assert_allclose(th, [2.0, 3.0, 0.0], atol=1e-12)
    th = sdcor_to_theta([0.0, 0.3, 3.0], [(0, 2)], sigma=1.0)
    np.testing.assert_allclose(th, [0.0, 0.0, 3.0], atol=1e-12)
    th = sdcor_to_theta([1.0, 0.5, 0.3, 2.0, 0.2, 0.0], [(0, 3)], sigma=1.0)  # sd, cor, cor, sd, cor, sd
    T = np.zeros((3, 3))
    cols, rows = np.triu_indices(3)
    T[rows, cols] = th
    S = T @ T.T
    np.testing.assert_allclose(np.diag(S), [1.0, 4.0, 0.0], atol=1e-12)
    assert S[1, 0] == pytest.approx(0.5 * 1.0 * 2.0)


# ------------------------------------------------------------------------------ tables


@pytest.mark.parametrize("name", ["sleep_slope", "dyestuff2", "pastes", "cbpp"])
def test_profile_table_matches_lme4(name):
    ref, _, pr, _ = _profile(name)
    df = pr.as_dataframe()
    cols = ref["profile"]["columns"]
    assert list(df.columns) == cols + [".par", ".focal"]
    R = pd.DataFrame([[np.nan if v is None else v for v in r] for r in ref["profile"]["values"]],
                     columns=cols)
    R[".par"] = ref["profile"]["par"]
    assert list(df[".par"].cat.categories) == list(dict.fromkeys(ref["profile"]["par"]))
    for par in R[".par"].unique():
        ours = df[df[".par"] == par]
        theirs = R[R[".par"] == par]
        assert len(ours) == len(theirs), par
        np.testing.assert_array_equal(ours[".focal"].to_numpy(), ours[par].to_numpy())
        assert np.all(np.diff(ours[par].to_numpy()) > 0)           # sorted by the parameter
        x = theirs[par].to_numpy()
        z = theirs[".zeta"].to_numpy()
        zo = pr[par].forward(x)
        keep = ~np.isnan(zo) & (np.abs(z) <= 3)
        assert keep.sum() >= 5
        np.testing.assert_allclose(zo[keep], z[keep], atol=1e-3, err_msg=par)


def test_singular_profile_points_as_lme4():
    ref, fit, pr, caught = _profile("dyestuff2")
    assert fit.isSingular()
    R = np.array([[np.nan if v is None else v for v in r] for r in ref["profile"]["values"]])
    df = pr.as_dataframe()
    ours = df[ref["profile"]["columns"]].to_numpy()
    # ζ and the profiled parameter's values (the steps) exactly as lme4; the other
    # parameters as precisely as the optimizers stop
    np.testing.assert_allclose(ours[:, 0], R[:, 0], rtol=1e-6, atol=1e-9)
    focal_R = [R[i, ref["profile"]["columns"].index(p)] for i, p in enumerate(ref["profile"]["par"])]
    np.testing.assert_allclose(df[".focal"].to_numpy(), focal_R, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours, R, rtol=1e-4, atol=1e-9)
    # .sig01 sits on its bound: no downward profile, the first points step 0.001, 0.011, 0.111
    sig = pr[".sig01"].table
    np.testing.assert_allclose(sig[".sig01"].to_numpy()[:4], [0, 0.001, 0.011, 0.111])
    assert sig[".zeta"].iloc[0] == 0
    ci = pr.confint()
    assert ci.loc[".sig01", "2.5 %"] == 0.0                  # the bound, as lme4
    assert not [m for m in caught if "singular" in m]       # the ML refit stays quiet


def test_profile_of_reml_fit_uses_ml_deviance():
    _, fit, pr, _ = _profile("sleep_slope")
    assert fit.REML
    ml = fit.refitML()
    assert pr.base_deviance == pytest.approx(ml.deviance(REML=False), abs=1e-8)
    np.testing.assert_allclose(pr.optimum[".sigma"], ml.sigma(), rtol=1e-10)
    assert pr.optimum.index.tolist() == [".sig01", ".sig02", ".sig03", ".sigma",
                                         "(Intercept)", "Days"]


def test_fixed_effect_zeta_equals_offset_refit():
    data = lmerpy.datasets.load("sleepstudy")
    fit = lmerpy.lmer("Reaction ~ Days + (Days|Subject)", data, REML=False)
    pr = profile(fit, which="Days")
    assert list(pr.profiles) == ["Days"]
    tab = pr["Days"].table
    z = tab[".zeta"].to_numpy()
    for i in (1, int(np.argmin(np.abs(z - 1.0))), len(tab) - 2):
        b = float(tab["Days"].iloc[i])
        d2 = data.copy()
        d2["off"] = b * d2["Days"]
        m = lmerpy.lmer("Reaction ~ 1 + (Days|Subject)", d2, REML=False, offset="off")
        zeta = np.sign(b - fit.fixef()["Days"]) * np.sqrt(m.deviance() - pr.base_deviance)
        assert tab[".zeta"].iloc[i] == pytest.approx(zeta, abs=1e-6)
        # the other parameters are as precise as the optimizers stop (flat directions)
        assert tab[".sigma"].iloc[i] == pytest.approx(m.sigma(), rel=1e-4)
        assert tab["(Intercept)"].iloc[i] == pytest.approx(m.fixef().iloc[0], rel=1e-4)


def test_weighted_fixed_effect_profile_equals_offset_refit():
    # lme4 1.1-31's fixed-effect profiles ignore the prior weights (its confint for them is
    # a sliver around the estimate); lmerpy's agree with a weighted refit with an offset
    ref = _ref("groups_weights")
    fit = _fit(ref)
    data = load_case_data(ref)
    pr = profile(fit, which=["x", ".sig01"])
    tab = pr["x"].table
    for i in (1, len(tab) - 2):
        b = float(tab["x"].iloc[i])
        d2 = data.copy()
        d2["off"] = b * d2["x"]
        m = lmerpy.lmer("y ~ 1 + (1|g)", d2, REML=False, weights="w", offset="off")
        zeta = np.sign(b - fit.fixef()["x"]) * np.sqrt(m.deviance() - pr.base_deviance)
        assert tab[".zeta"].iloc[i] == pytest.approx(zeta, abs=1e-6)
    want = ref["confint"][0]
    ci = pr.confint()
    np.testing.assert_allclose(ci.loc[".sig01"].to_numpy(), want["values"][0], rtol=1e-3)


def test_profile_which_and_names():
    data = lmerpy.datasets.load("Dyestuff")
    fit = lmerpy.lmer("Yield ~ 1 + (1|Batch)", data)
    pr = profile(fit, which="theta_", signames=False)
    assert list(pr.profiles) == ["sd_(Intercept)|Batch", "sigma"]
    assert var_par_names(fit, old_names=True) == [".sig01", ".sigma"]
    pr = profile(fit, which=[2])
    assert list(pr.profiles) == ["(Intercept)"]
    with pytest.raises(LmerpyError, match="unknown parameter"):
        profile(fit, which="nope")
    with pytest.raises(LmerpyError, match="unknown argument"):
        profile(fit, bogus=1)
    assert isinstance(pr, Profile) and "(Intercept)" in repr(pr)


def test_glmm_profile_restrictions():
    cbpp = lmerpy.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit0 = lmerpy.glmer(f, cbpp, family="binomial", nAGQ=0)
    with pytest.raises(LmerpyError, match="nAGQ"):
        profile(fit0)


def test_failed_points_become_na_as_lme4():
    from lmerpy.errors import FitError
    from lmerpy.inference.profile_base import Stepper, guard
    state = {"na": False}

    def zeta_at(x, start):
        if x > 1.5:
            raise FitError("Downdated VtV is not positive definite")
        return x - 1.0, np.array([x - 1.0, x, 7.0])

    g = guard(zeta_at, 1, 3, state)
    z, row = g(2.0, None)
    assert np.isnan(z) and row[1] == 2.0 and np.isnan(row[2]) and state["na"]
    st = Stepper(delta=0.5, cutoff=3.0, maxpts=6, maxmult=10)
    pts = st.fill((1.0, 0.0, np.array([0.0, 1.0, 7.0])), (1.2, 0.2, np.array([0.2, 1.2, 7.0])),
                  -np.inf, np.inf, g)
    assert len(pts) == 6 and np.isnan(pts[-1][1])
    assert "Last two rows have identical or NA .zeta values: using minstep" in st.warnings


def test_profile_verbose_trace_and_progress_bar(capsys, monkeypatch):
    """``verbose`` prints lme4's trace (tests/reference/profile/dyestuff_verbose.txt, lme4
    1.1-31's ``profile(fm, verbose = 1)``): the same lines, numbers printed with 7 digits
    agreeing to 2e-6 relative (the profiles' inner optimizations stop at slightly different
    points); the progress bar (drawn after lmerpy.progress.DELAY seconds, here at once)
    counts the profiled parameters; the result depends on neither."""
    import lmerpy.progress
    from _compare import differs_only_in_numbers
    fit = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("Dyestuff"))
    quiet = lmerpy.profile(fit, progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(lmerpy.progress, "DELAY", 0.0)
    loud = lmerpy.profile(fit, verbose=1)
    cap = capsys.readouterr()
    want = (Path(__file__).parent / "reference" / "profile" / "dyestuff_verbose.txt").read_text()
    assert differs_only_in_numbers(
        cap.out, want, lambda a, b: abs(float(a) - float(b)) <= 2e-6 * abs(float(b)) + 1e-7)
    assert "profile" in cap.err and "3/3" in cap.err
    pd.testing.assert_frame_equal(loud.as_dataframe(), quiet.as_dataframe())
    gfit = lmerpy.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)",
                        lmerpy.datasets.load("cbpp"), family="binomial")
    lmerpy.profile(gfit, which="theta_", verbose=True, progress=False)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "parameter 1:" and out[1].startswith("2 2 ")
