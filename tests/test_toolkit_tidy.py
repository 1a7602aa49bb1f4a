"""tidy/glance/augment against broom.mixed 0.2.9.4 (tests/reference/toolkit, lme4 1.1-31).

Tolerances: 1e-6 relative at lme4's optimum (_toolkit.fitted); columns and their order exactly
broom's. GLMMs' fixed-effects standard errors (and the z, p and Wald limits made from them) come
from a finite-difference Hessian of the deviance, lmerpy's and lme4's: 2e-5 relative there
(differences of 5e-6 seen; test_glmer_reference allows 5e-4; Wald limits through their
half-width z·SE), p-values 1e-3 relative (they
amplify an SE's relative error by about z², as test_glmer_reference notes; the z statistic they
come from is held to 2e-5).
"""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy
from _reference import REF
from _toolkit import case_ids, fitted, load_ref, rel_tol
from lmerpy.errors import ArgumentError
from lmerpy.warnings import InferenceWarning
from lmerpy.toolkit import augment, cooks_distance, glance, hatvalues, tidy

CASES = case_ids()
LMM_CASES = [c for c in CASES if load_ref(c)["fn"] == "lmer"]


HESSIAN_COLUMNS = {"std.error", "statistic", "p.value", "conf.low", "conf.high"}


def assert_frame_matches(got, want, ref, abs=1e-10, hessian=False):
    assert list(got.columns) == want["names"]
    cols = want["columns"]
    for name in want["names"]:
        w = cols[name]
        g = got[name].tolist()
        assert len(g) == len(w), name
        if all(isinstance(x, str) or x is None for x in w) and any(isinstance(x, str) for x in w):
            assert [None if (x is None or (isinstance(x, float) and np.isnan(x))) else str(x)
                    for x in g] == w, name
        else:
            wv = np.array([np.nan if x is None else x for x in w], dtype=float)
            gv = np.asarray(g, dtype=float)
            assert np.array_equal(np.isnan(gv), np.isnan(wv)), name
            ok = ~np.isnan(wv)
            rtol = 2e-5 if hessian and name in HESSIAN_COLUMNS else rel_tol(ref)
            rtol = 1e-3 if hessian and name == "p.value" else rtol
            if hessian and name in ("conf.low", "conf.high"):
                # the half-width z·SE carries the Hessian's error (a limit can be near 0)
                est = np.asarray(got["estimate"], dtype=float)
                west = np.array(cols["estimate"], dtype=float)
                gv, wv = gv - est, wv - west
            np.testing.assert_allclose(gv[ok], wv[ok], rtol=rtol, atol=abs, err_msg=name)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("key, kwargs", [
    ("tidy", {}),
    ("tidy_fixed_ci", {"effects": "fixed", "conf_int": True}),
    ("tidy_fixed_ci90", {"effects": "fixed", "conf_int": True, "conf_level": 0.9}),
    ("tidy_ran_pars", {"effects": "ran_pars"}),
    ("tidy_ran_pars_vcov", {"effects": "ran_pars", "scales": "vcov"}),
    ("tidy_ran_vals", {"effects": "ran_vals", "conf_int": True}),
])
def test_tidy(case, key, kwargs):
    ref = load_ref(case)
    hessian = ref["fn"] == "glmer" and key != "tidy_ran_vals"
    assert_frame_matches(tidy(fitted(case), **kwargs), ref[key], ref, abs=1e-9, hessian=hessian)


@pytest.mark.parametrize("case", CASES)
def test_glance(case):
    ref = load_ref(case)
    assert_frame_matches(glance(fitted(case)), ref["glance"], ref)


@pytest.mark.parametrize("case", LMM_CASES)
def test_augment(case):
    ref = load_ref(case)
    got = augment(fitted(case))
    dot = [c for c in got.columns if c.startswith(".")]
    assert_frame_matches(got[dot], ref["augment"], ref, abs=1e-9)
    frame = fitted(case).design.fr
    assert list(got.columns[:frame.shape[1]]) == list(frame.columns)


def test_hatvalues_and_cooks_distance_are_augment_columns():
    fit = fitted("sleep_slope")
    a = augment(fit)
    np.testing.assert_array_equal(hatvalues(fit).to_numpy(), a[".hat"].to_numpy())
    np.testing.assert_array_equal(cooks_distance(fit).to_numpy(), a[".cooksd"].to_numpy())
    # the hat matrix maps y to the fitted values: its trace is the effective df
    assert 2 < hatvalues(fit).sum() < 2 + 36


AUGMENT_GLMM = sorted(p.stem for p in (REF / "toolkit" / "augment").glob("*.json"))


@pytest.mark.parametrize("case", AUGMENT_GLMM)
def test_augment_glmm(case):
    # broom.mixed's GLMM columns at lme4's (theta, beta) (make_augment_glmm.R) to 1e-8, except
    # .hat and .cooksd: lme4's hatvalues() uses the factor stored in the fit, made with the
    # working weights of PIRLS's last iteration (one step before the final mu), where lmerpy
    # uses those of the final mu. Against R's evaluation of lme4's formula at the final
    # weights (hat_final_weights) they agree to 1e-8; against lme4's own values to PIRLS's
    # convergence: .hat 2e-4 relative (seen 7e-5), .cooksd 2e-3 (h/(1-h)^2 amplifies the
    # leverage's difference about 5-fold at these leverages near 2; seen 9e-4)
    ref = json.loads((REF / "toolkit" / "augment" / f"{case}.json").read_text())
    fit = fitted(case)
    with pytest.warns(InferenceWarning, match="may not make sense for GLMMs"):
        got = augment(fit)
    dot = [c for c in ref["names"] if c.startswith(".")]
    assert [c for c in got.columns if c.startswith(".")] == dot

    def want(values):
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    for col in dot:
        rtol = {".hat": 2e-4, ".cooksd": 2e-3}.get(col, 1e-8)
        np.testing.assert_allclose(got[col].to_numpy(dtype=float), want(ref["columns"][col]),
                                   rtol=rtol, atol=1e-10, err_msg=col)
    np.testing.assert_allclose(got[".hat"], want(ref["hat_final_weights"]), rtol=1e-8)
    np.testing.assert_allclose(got[".cooksd"], want(ref["cooksd_final_weights"]), rtol=1e-7)


def test_hatvalues_of_a_glmm_warns_and_are_augments():
    """lme4's hatvalues works on a GLMM with its warning (numbers:
    tests/test_toolkit_influence.py); augment's .hat and .cooksd are hatvalues and
    cooks_distance."""
    fit = fitted("cbpp_logit")
    with pytest.warns(InferenceWarning, match="hat matrix may not make sense for GLMMs"):
        h = hatvalues(fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = augment(fit)
        cd = cooks_distance(fit)
    np.testing.assert_array_equal(h.to_numpy(), a[".hat"].to_numpy())
    np.testing.assert_array_equal(cd.to_numpy(), a[".cooksd"].to_numpy())


@pytest.mark.parametrize("kwargs, culprit", [
    ({"effects": "random"}, "effects"),
    ({"effects": []}, "effects"),
    ({"conf_int": "yes"}, "conf_int"),
    ({"conf_level": 1.5}, "conf_level"),
    ({"conf_level": 1.0}, "conf_level"),
    ({"scales": "sd"}, "scales"),
])
def test_tidy_bad_arguments(kwargs, culprit):
    with pytest.raises(ArgumentError, match=culprit):
        tidy(fitted("sleep_slope"), **kwargs)


def test_tidy_does_not_touch_the_fit_data():
    fit = fitted("sleep_slope")
    before = fit.design.fr.copy()
    a = augment(fit)
    a.loc[:, "Reaction"] = 0.0
    pd.testing.assert_frame_equal(fit.design.fr, before)


def test_top_level_names():
    assert lmerpy.tidy is tidy and lmerpy.glance is glance and lmerpy.augment is augment
