"""predict() against lme4 1.1-31 (tests/reference/inference/*.json, ``predict`` blocks) and the
behaviour around it: re_form forms, new levels, missing columns, offsets.

Tolerances: lmer predictions 1e-6 of the response's SD, at lme4's θ̂ (``fit_at_lme4_theta``:
lmerpy's fit is the optimum itself, lme4's its optimizer's stopping point); glmer predictions
1e-4 absolute on the link scale and 2e-5 on the response scale, relative (lmerpy's and lme4's
optimizers stop at slightly different (θ, β), ~1e-5 apart).
Extra expected values come from R (commands in comments).
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.errors import DataError, LmerpyError, UnknownColumnError

from _compare import fit_at_lme4_theta
from _reference import LME4_GLMER, load_case_data

INF = Path(__file__).parent / "reference" / "inference"
CASES = [json.loads(p.read_text()) for p in sorted(INF.glob("*.json"))]
PRED = [(c, k) for c in CASES for k in range(len(c.get("predict", [])))]


def _fit(ref, name):
    m = ref["models"][name]
    data = load_case_data(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if m["fn"] == "lmer":
            fit = lmerpy.lmer(m["formula"], data, REML=m["REML"])
            return fit_at_lme4_theta(fit, m["theta"]), data
        return lmerpy.glmer(m["formula"], data, family=m["family"], nAGQ=m["nAGQ"],
                            control=LME4_GLMER), data


@pytest.fixture(scope="module")
def fits():
    cache = {}

    def get(ref):
        if ref["id"] not in cache:
            cache[ref["id"]] = _fit(ref, ref["main"])
        return cache[ref["id"]]
    return get


@pytest.mark.parametrize("ref,k", PRED, ids=[f"{c['id']}-{k}" for c, k in PRED])
def test_predict_matches_lme4(ref, k, fits):
    fit, data = fits(ref)
    case = ref["predict"][k]
    nd = pd.DataFrame(case["newdata"])
    before = nd.copy()
    got = lmerpy.predict(fit, nd, re_form=case["re_form"],
                         allow_new_levels=case["allow_new_levels"], type=case["type"])
    pd.testing.assert_frame_equal(nd, before)        # newdata is never modified
    assert isinstance(got, pd.Series) and list(got.index) == list(nd.index)
    want = np.asarray(case["values"], dtype=float)
    if ref["models"][ref["main"]]["fn"] == "lmer":
        resp = np.asarray(fit.design.y, dtype=float)
        tol = 1e-6 * resp.std()
    else:
        tol = 1e-4 if case["type"] == "link" else 2e-5 * np.maximum(1.0, np.abs(want))
    assert np.all(np.abs(got.to_numpy() - want) < tol)


ND = pd.DataFrame({"Days": [1.0, 2.0, 3.0], "Subject": ["999", "308", "1000"]})


def test_fitted_rows_defaults(fm1):
    np.testing.assert_allclose(fm1.predict().to_numpy(), fm1.fitted().to_numpy(), rtol=1e-12)
    pop = fm1.predict(re_form=lmerpy.NA).to_numpy()
    np.testing.assert_allclose(pop, fm1.design.X @ fm1.fixef().to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("form", [lmerpy.NA, "NA", False, "~0", "~ 0", float("nan")])
def test_na_forms_are_population_level(fm1, form):
    got = fm1.predict(ND, re_form=form)     # new levels are fine: no random effects used
    want = fm1.fixef()["(Intercept)"] + fm1.fixef()["Days"] * ND["Days"].to_numpy()
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-12)


def test_new_levels_error_names_them(fm1):
    # R: predict(fm1, data.frame(Days = 1:3, Subject = c("999", "308", "1000")))
    #    Error: new levels detected in newdata: 999, 1000
    with pytest.raises(DataError, match="new levels detected in newdata: 999, 1000"):
        fm1.predict(ND)
    # R lists them in order of appearance: new levels detected in newdata: b1, a1
    nd = pd.DataFrame({"Days": [1.0, 2, 3, 4], "Subject": ["b1", "308", "a1", "b1"]})
    with pytest.raises(DataError, match="new levels detected in newdata: b1, a1"):
        fm1.predict(nd)


def test_new_levels_get_zero_random_effects(fm1):
    got = fm1.predict(ND, allow_new_levels=True).to_numpy()
    pop = fm1.predict(ND, re_form=lmerpy.NA).to_numpy()
    assert got[0] == pytest.approx(pop[0], rel=1e-12)
    assert got[2] == pytest.approx(pop[2], rel=1e-12)
    assert got[1] == pytest.approx(fm1.predict(ND.iloc[[1]]).iloc[0], rel=1e-12)


def test_missing_grouping_value(fm1):
    # R: predict(fm1, data.frame(Days = c(1, NA, 3), Subject = c("333", "308", NA)),
    #            allow.new.levels = TRUE) -> 278.4893 NA 282.8070 (at lme4's θ̂)
    nd = pd.DataFrame({"Days": [1.0, np.nan, 3.0], "Subject": ["333", "308", None]})
    at_lme4 = fit_at_lme4_theta(fm1, [0.966741773967412, 0.0151690588960361,
                                      0.230909953207795])     # inference/sleep_slope.json
    got = at_lme4.predict(nd, allow_new_levels=True).to_numpy()
    assert got[0] == pytest.approx(278.4893, abs=1e-4)
    assert np.isnan(got[1])
    assert got[2] == pytest.approx(282.8070, abs=1e-4)
    with pytest.raises(DataError, match="NAs are not allowed in prediction data"):
        fm1.predict(nd.iloc[[0, 2]])
    # lmerpy's optimum (1.5e-9 below lme4's REML criterion) predicts within 1e-3 of those
    assert fm1.predict(nd, allow_new_levels=True).to_numpy()[[0, 2]] == \
        pytest.approx(got[[0, 2]], abs=1e-3)


def test_missing_column_is_named(fm1):
    with pytest.raises(UnknownColumnError, match="Subject"):
        fm1.predict(pd.DataFrame({"Days": [1.0]}))
    with pytest.raises(UnknownColumnError, match="Days"):
        fm1.predict(pd.DataFrame({"Subject": ["308"]}))
    # re_form=NA does not need the grouping column (as lme4)
    assert fm1.predict(pd.DataFrame({"Days": [1.0]}), re_form=lmerpy.NA).shape == (1,)


def test_re_form_errors(fm1):
    with pytest.raises(LmerpyError, match="grouping factors specified in re.form that were not "
                                          "present in original model: Foo"):
        fm1.predict(ND, re_form="~(1|Foo)")
    with pytest.raises(LmerpyError, match="not present in original model: x"):
        fm1.predict(ND.assign(x=1.0), re_form="~(0 + x|Subject)")
    with pytest.raises(LmerpyError, match="type must be 'link' or 'response'"):
        fm1.predict(type="probability")
    with pytest.raises(DataError, match="newdata must be a data frame .* not list"):
        fm1.predict([{"Days": 1}])
    with pytest.raises(UnknownColumnError, match="column 'Subject' not found"):
        fm1.predict({"Days": [1]})      # a dict of columns is data: Subject is missing


def test_re_form_slope_only(fm1):
    # R: predict(fm1, data.frame(Days = 1:3, Subject = c("333", "308", "310")),
    #            re.form = ~(0 + Days | Subject)) -> 261.6488 290.7376 266.4604
    nd = pd.DataFrame({"Days": [1.0, 2.0, 3.0], "Subject": ["333", "308", "310"]})
    got = fm1.predict(nd, re_form="~(0+Days|Subject)").to_numpy()
    np.testing.assert_allclose(got, [261.6488, 290.7376, 266.4604], atol=1e-4)


def test_type_response_is_link_for_lmm(fm1):
    np.testing.assert_allclose(fm1.predict(type="response"), fm1.predict(type="link"))


def test_offsets(sleep):
    # R (lme4 1.1-31):
    #   ss <- sleepstudy; ss$off <- rep(c(0, 10, -5), 60)
    #   nd <- data.frame(Days = c(0, 5, 9), Subject = c("308", "309", "new"))
    #   m <- lmer(Reaction ~ Days + offset(2*Days) + (1|Subject), ss)
    #   predict(m, nd, allow.new.levels = TRUE)
    #   m2 <- lmer(Reaction ~ Days + (1|Subject), ss, offset = off)
    #   predict(m2, nd, allow.new.levels = TRUE); head(predict(m2, re.form = NA))
    ss = sleep.copy()
    ss["off"] = np.tile([0.0, 10.0, -5.0], 60)
    nd = pd.DataFrame({"Days": [0.0, 5.0, 9.0], "Subject": ["308", "309", "new"]})
    m = lmerpy.lmer("Reaction ~ Days + offset(2*Days) + (1|Subject)", ss)
    np.testing.assert_allclose(m.predict(nd, allow_new_levels=True).to_numpy(),
                               [292.1888146879, 225.8919808245, 345.6106784848], atol=1e-6)
    m2 = lmerpy.lmer("Reaction ~ Days + (1|Subject)", ss, offset="off")
    # on new data the offset argument is not carried over (lme4)
    np.testing.assert_allclose(m2.predict(nd, allow_new_levels=True).to_numpy(),
                               [290.5062019315, 223.7761446780, 343.9440118182], atol=1e-6)
    np.testing.assert_allclose(m2.predict(re_form="NA").to_numpy()[:6],
                               [249.7384381818, 270.2057241414, 265.6730101010,
                                281.1402960606, 301.6075820202, 297.0748679798], atol=1e-6)


def test_poly_terms_rebuilt_on_new_data(sleep):
    # R: m3 <- lmer(Reaction ~ poly(Days, 2) + (Days|Subject), sleepstudy)
    #    predict(m3, nd, allow.new.levels = TRUE)
    #    predict(m3, nd, re.form = ~(0 + Days|Subject), allow.new.levels = TRUE)
    nd = pd.DataFrame({"Days": [0.0, 5.0, 9.0], "Subject": ["308", "309", "new"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m3 = lmerpy.lmer("Reaction ~ poly(Days, 2) + (Days|Subject)", sleep)
    np.testing.assert_allclose(m3.predict(nd, allow_new_levels=True).to_numpy(),
                               [257.6649741749, 217.5306362868, 349.6549464141], atol=2e-3)
    np.testing.assert_allclose(
        m3.predict(nd, re_form="~(0+Days|Subject)", allow_new_levels=True).to_numpy(),
        [255.4493727778, 257.9563226000, 349.6549464141], atol=2e-3)


def test_index_follows_newdata(fm1):
    nd = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", "309"]}, index=["a", "b"])
    assert list(fm1.predict(nd).index) == ["a", "b"]
    assert fm1.predict(nd).loc["a"] == pytest.approx(fm1.predict(nd.iloc[:1]).iloc[0])


def test_top_level_function_and_na_sentinel(fm1):
    assert repr(lmerpy.NA) == "NA" and not lmerpy.NA
    import pickle
    assert pickle.loads(pickle.dumps(lmerpy.NA)) is lmerpy.NA
    np.testing.assert_allclose(lmerpy.predict(fm1), fm1.predict())
