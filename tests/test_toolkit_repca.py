"""lmerpy.rePCA against lme4 1.1-31's rePCA (tests/reference/toolkit/make_repca.R): at lme4's
optimum, the components' standard deviations and rotations to 1e-6 relative and the printed
text of ``rePCA(fit)`` and ``summary(rePCA(fit))`` identical."""
import json
import warnings

import numpy as np
import pytest

import lmerpy
from _compare import fit_at_lme4_theta
from _reference import REF, load_case_data
from _toolkit import glmm_at_lme4

REPCA = REF / "toolkit" / "repca"
CASES = sorted(p.stem for p in REPCA.glob("*.json"))


def _fit(ref):
    data = load_case_data({"data": ref["data"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref["fn"] == "lmer":
            return fit_at_lme4_theta(lmerpy.lmer(ref["formula"], data, REML=ref["REML"]),
                                     ref["theta"])
        fam = getattr(lmerpy, ref["family"])(link=ref["link"])
        return glmm_at_lme4(lmerpy.glmer(ref["formula"], data, family=fam), ref)


@pytest.fixture(scope="module", params=CASES)
def case(request):
    ref = json.loads((REPCA / f"{request.param}.json").read_text())
    return ref, lmerpy.rePCA(_fit(ref))


def test_components_match_lme4(case):
    ref, pca = case
    assert list(pca) == [g["group"] for g in ref["groups"]]
    for g in ref["groups"]:
        got = pca[g["group"]]
        np.testing.assert_allclose(got.sdev, g["sdev"], rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(got.rotation, np.array(g["rotation"]), rtol=1e-6, atol=1e-9)


def test_printed_text_is_lme4s(case):
    ref, pca = case
    assert str(pca) == ref["text"]
    assert str(pca.summary()) == ref["summary_text"]


def test_importance_table(case):
    ref, pca = case
    g = ref["groups"][0]
    imp = pca.summary()[g["group"]]
    sd = np.asarray(g["sdev"])
    np.testing.assert_allclose(imp.loc["Standard deviation"], sd, rtol=1e-6)
    np.testing.assert_allclose(imp.loc["Cumulative Proportion"].iloc[-1], 1.0)
    assert list(imp.columns) == [f"PC{i + 1}" for i in range(sd.size)]


def test_getME_Tlist_is_each_terms_relative_factor(fm1):
    T = lmerpy.getME(fm1, "Tlist")
    th = fm1.theta
    np.testing.assert_array_equal(T["Subject"], [[th[0], 0.0], [th[1], th[2]]])
