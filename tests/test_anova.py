"""anova() and drop1() against lme4 1.1-31.

Goldens: tests/reference/inference/*.json (``anova`` = lme4's one-model table,
``anova_compare`` = LRT tables with R's printed text and messages). The data set is named
``df`` there (R's ``Data: df`` line), so the tests set ``DataFrame.attrs["name"] = "df"``.

Tolerances: table values 1e-6 relative (lmer, at lme4's θ̂: ``fit_at_lme4_theta``), 1e-3
relative for glmer one-model tables (Laplace optima ~1e-5 apart move the sums of squares in
the 5th digit); printed text identical. drop1 expectations are R's printed output (commands
in the docstrings).
"""
import json
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.errors import DataError, LmerpyError, LmerpyMessage
from lmerpy.inference import AnovaTable

from _compare import fit_at_lme4_theta
from _reference import LME4_GLMER, load_case_data

INF = Path(__file__).parent / "reference" / "inference"
CASES = [json.loads(p.read_text()) for p in sorted(INF.glob("*.json"))]

_FITS = {}


def fits_of(ref):
    if ref["id"] not in _FITS:
        data = load_case_data(ref)
        data.attrs["name"] = "df"
        out = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, m in ref["models"].items():
                if m["fn"] == "lmer":
                    out[name] = lmerpy.lmer(m["formula"], data, REML=m["REML"])
                else:
                    out[name] = lmerpy.glmer(m["formula"], data, family=m["family"],
                                             nAGQ=m["nAGQ"], control=LME4_GLMER)
        _FITS[ref["id"]] = out
    return _FITS[ref["id"]]


def _values(ref_values):
    return np.array([[np.nan if v is None else v for v in row] for row in ref_values], float)


ONE = [c for c in CASES if "anova" in c]
CMP = [(c, k) for c in CASES for k in range(len(c.get("anova_compare", [])))]


@pytest.mark.parametrize("ref", ONE, ids=[c["id"] for c in ONE])
def test_one_model_table(ref):
    fit = fits_of(ref)[ref["main"]]
    glmm = ref["models"][ref["main"]]["fn"] == "glmer"
    if not glmm:
        fit = fit_at_lme4_theta(fit, ref["models"][ref["main"]]["theta"])
    tab = lmerpy.anova(fit)
    want = ref["anova"]
    assert isinstance(tab, AnovaTable)
    assert list(tab.index) == want["rownames"] and list(tab.columns) == want["colnames"]
    assert tab.heading == want["heading"]
    np.testing.assert_allclose(tab.to_numpy(), _values(want["values"]),
                               rtol=1e-3 if glmm else 1e-6)
    if not glmm:
        assert str(tab) == want["text"]
    pd.testing.assert_frame_equal(fit.anova(), tab)


@pytest.mark.parametrize("ref,k", CMP, ids=[f"{c['id']}-{k}" for c, k in CMP])
def test_lrt_table(ref, k):
    case = ref["anova_compare"][k]
    fits = fits_of(ref)
    models = [fits[n] for n in case["models"]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tab = lmerpy.anova(*models, names=case["models"], refit=case["refit"])
    msgs = [str(w.message) for w in caught if issubclass(w.category, LmerpyMessage)]
    assert msgs == case["r_messages"]
    assert list(tab.index) == case["rownames"] and list(tab.columns) == case["colnames"]
    assert tab.heading == case["heading"]
    np.testing.assert_allclose(tab.to_numpy(), _values(case["values"]), rtol=1e-6)
    assert str(tab) == case["text"]


def _sleep_fits():
    ref = next(c for c in CASES if c["id"] == "sleep_slope")
    f = fits_of(ref)
    return f["m0"], f["m1"]


def test_intercept_only_table():
    """R: print(anova(lmer(Yield ~ 1 + (1|Batch), Dyestuff)))"""
    fit = lmerpy.lmer("Yield ~ 1 + (1|Batch)", lmerpy.datasets.load("Dyestuff"))
    tab = fit.anova()
    assert tab.shape == (0, 4)
    assert str(tab) == "Analysis of Variance Table\n     npar Sum Sq Mean Sq F value"


def test_model_names():
    m0, m1 = _sleep_fits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LmerpyMessage)
        by_kw = lmerpy.anova(m0=m0, m1=m1)
        by_pos = lmerpy.anova(m1, m0)
        method = m0.anova(m1=m1, names=["m0"])
    assert list(by_kw.index) == ["m0", "m1"]
    # R's fallback names, rows ordered by npar
    assert list(by_pos.index) == ["MODEL2", "MODEL1"]
    assert by_pos.heading[2].startswith("MODEL2: Reaction ~ Days + (1 | Subject)")
    assert list(method.index) == ["m0", "m1"]
    with pytest.raises(LmerpyError, match="different lengths"):
        lmerpy.anova(m0, m1, names=["a"])


def test_different_data_is_an_error():
    m0, m1 = _sleep_fits()
    sleep = lmerpy.datasets.load("sleepstudy")
    short = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", sleep.iloc[:170])
    with pytest.raises(DataError, match="models were not all fitted to the same size of dataset"):
        lmerpy.anova(m0, short)
    other = sleep.assign(Reaction=sleep["Reaction"] * 2)
    m2 = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", other)
    with pytest.raises(DataError, match="all models must be fit to the same data"):
        lmerpy.anova(m0, m2)


def test_refit_false_mixed_reml_warns():
    m0, m1 = _sleep_fits()
    ml = m1.refitML()
    with pytest.warns(UserWarning, match="some models fit with REML = TRUE, some not"):
        tab = lmerpy.anova(m0, ml, refit=False)
    assert tab.loc["MODEL1", "logLik"] == pytest.approx(float(m0.logLik()), rel=1e-12)


def test_not_a_model_is_an_error():
    m0, _ = _sleep_fits()
    with pytest.raises(LmerpyError, match="expected fitted models"):
        lmerpy.anova(m0, "m1")
    with pytest.raises(LmerpyError, match="unknown argument"):
        lmerpy.anova(m0, test="F")


def test_type_and_ddf_delegate_to_part_b(monkeypatch):
    m0, _ = _sleep_fits()
    seen = {}
    fake = types.ModuleType("lmerpy.inference.ddf")

    def anova_ddf(fit, **kw):
        seen.update(kw, fit=fit)
        return "ddf table"
    fake.anova_ddf = anova_ddf
    monkeypatch.setitem(sys.modules, "lmerpy.inference.ddf", fake)
    assert lmerpy.anova(m0, type=3, ddf="Kenward-Roger") == "ddf table"
    assert seen == {"type": 3, "ddf": "Kenward-Roger", "fit": m0}


# ----------------------------------------------------------------------------- drop1


@pytest.fixture(scope="module")
def ortho():
    return lmerpy.datasets.load("Orthodont")


def test_drop1_refits_reml_by_ml():
    """R: fm <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy); drop1(fm, test = "Chisq")"""
    _, m1 = _sleep_fits()
    got = lmerpy.drop1(m1, test="Chisq")
    assert str(got) == (
        "Single term deletions\n\nModel:\nReaction ~ Days + (Days | Subject)\n"
        "       npar    AIC    LRT   Pr(Chi)    \n"
        "<none>      1763.9                     \n"
        "Days      1 1785.5 23.537 1.226e-06 ***\n"
        "---\nSignif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1")
    assert got.loc["Days", "LRT"] == pytest.approx(23.537, abs=1e-3)


def test_drop1_respects_marginality(ortho):
    """R: fm2 <- lmer(distance ~ age * Sex + (1|Subject), Orthodont, REML = FALSE)
    drop1(fm2, test = "Chisq"); drop1(fm2)"""
    fm2 = lmerpy.lmer("distance ~ age * Sex + (1|Subject)", ortho, REML=False)
    got = fm2.drop1()
    assert str(got) == (
        "Single term deletions\n\nModel:\ndistance ~ age * Sex + (1 | Subject)\n"
        "        npar    AIC    LRT Pr(Chi)  \n"
        "<none>       440.64                 \n"
        "age:Sex    1 444.86 6.2174 0.01265 *\n"
        "---\nSignif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1")
    assert str(fm2.drop1(test="none")) == (
        "Single term deletions\n\nModel:\ndistance ~ age * Sex + (1 | Subject)\n"
        "        npar    AIC\n<none>       440.64\nage:Sex    1 444.86")


def test_drop1_two_main_effects(ortho):
    """R: fm3 <- lmer(distance ~ age + Sex + (1|Subject), Orthodont, REML = FALSE)
    drop1(fm3, test = "Chisq")"""
    fm3 = lmerpy.lmer("distance ~ age + Sex + (1|Subject)", ortho, REML=False)
    got = lmerpy.drop1(fm3)
    assert str(got).split("\n")[4:8] == [
        "       npar    AIC    LRT   Pr(Chi)    ",
        "<none>      444.86                     ",
        "age       1 514.96 72.102 < 2.2e-16 ***",
        "Sex       1 451.39  8.533  0.003488 ** "]
    # the Sex row is the LRT of anova(m0, m) in orthodont_ri.json
    assert got.loc["Sex", "LRT"] == pytest.approx(8.53306, abs=1e-4)
    with pytest.raises(LmerpyError, match="scope is not a subset of term labels: age:Sex"):
        lmerpy.drop1(fm3, scope=["age:Sex"])
    only = lmerpy.drop1(fm3, scope="Sex")
    assert list(only.index) == ["<none>", "Sex"]
    with pytest.raises(LmerpyError, match="test must be"):
        lmerpy.drop1(fm3, test="F")
