"""allFit against lme4 1.1-31 (tests/reference/toolkit/allfit, made by make_allfit.R):
the optimizers lmerpy shares with lme4 reach lme4's log-likelihoods to 1e-6; with
``polish=False`` the NLopt ones follow lme4's path (same evaluation counts); the default
(polished) refits all end at the optimum itself."""
import html
import json
import re
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import lmerpy
from _reference import REF
from lmerpy.errors import ArgumentError
from lmerpy.toolkit.allfit import AllFit, allFit

DIR = REF / "toolkit" / "allfit"
SHARED = ["bobyqa", "Nelder_Mead", "nloptwrap.NLOPT_LN_NELDERMEAD", "nloptwrap.NLOPT_LN_BOBYQA"]


@lru_cache(maxsize=None)
def ref(case_id):
    return json.loads((DIR / f"{case_id}.json").read_text())


@lru_cache(maxsize=None)
def fitted(case_id):
    r = ref(case_id)
    data = lmerpy.datasets.load(r["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if r["fn"] == "lmer":
            return lmerpy.lmer(r["formula"], data)
        return lmerpy.glmer(r["formula"], data, family=r["family"])


@lru_cache(maxsize=None)
def all_fits(case_id, polish):
    fit = fitted(case_id)
    control = None
    if not polish:
        control = lmerpy.lmerControl(polish=False) if ref(case_id)["fn"] == "lmer" else None
    return allFit(fit, control=control, progress=False)


@pytest.mark.parametrize("case_id", ["sleep_slope", "cbpp_logit"])
def test_shared_optimizers_reach_lme4s_log_likelihoods(case_id):
    r = ref(case_id)
    s = all_fits(case_id, polish=False).summary()
    assert s.which_OK.all() and all(r["which_OK"])
    for name in SHARED:
        assert s.llik[name] == pytest.approx(r["llik"][name], rel=1e-6, abs=0)
        assert s.msgs[name] is None and r["msgs"][name] is None
    # lmerpy's NLopt optimizers and its Nelder-Mead follow lme4's: same evaluations
    for name in SHARED[1:]:
        assert s.feval[name] == r["feval"][r["names"].index(name)]
    assert list(s.fixef.columns) == r["fixef"]["colnames"]
    assert list(s.theta.columns) == r["theta"]["colnames"]
    assert list(s.sdcor.columns) == r["sdcor"]["colnames"]
    for name in SHARED[1:]:
        i = r["names"].index(name)
        np.testing.assert_allclose(s.theta.loc[name], r["theta"]["rows"][i], rtol=1e-6)
        np.testing.assert_allclose(s.fixef.loc[name], r["fixef"]["rows"][i], rtol=1e-6)
        np.testing.assert_allclose(s.sdcor.loc[name], r["sdcor"]["rows"][i], rtol=1e-6)


def test_polished_refits_all_end_at_the_optimum():
    r = ref("sleep_slope")
    af = all_fits("sleep_slope", polish=True)
    assert list(af) == SHARED + ["lbfgsb", "newton_ai"]
    s = af.summary()
    best = max(r["llik"].values())
    assert (s.llik >= best - 1e-9 * abs(best)).all()
    assert s.llik.max() - s.llik.min() < 1e-9
    assert isinstance(s.times, pd.DataFrame) and (s.times["elapsed"] >= 0).all()
    assert s["which.OK"] is s.which_OK


def test_print_as_lme4():
    r = ref("sleep_slope")
    want = r["printed"].splitlines()
    got = str(all_fits("sleep_slope", polish=True)).splitlines()
    assert got[:3] == want[:3] and got[4] == want[4]
    assert re.fullmatch(r"max= \S+ ; std dev= \S+ ", got[5])
    # lme4 cuts the optimizer list at 77 characters and strwraps it; cat() joins the pieces:
    # the same refits under lme4's five names print lme4's line
    fit = fitted("sleep_slope")
    as_r = AllFit({name: fit for name in r["names"]}, fit, {})
    assert str(as_r).splitlines()[3] == want[3]
    text = str(all_fits("sleep_slope", polish=True).summary())
    assert text.startswith("$which.OK\n") and text.endswith('attr(,"class")\n[1] "summary.allFit"')
    for section in ("$msgs", "$fixef", "$llik", "$sdcor", "$theta", "$times", "$feval"):
        assert f"\n{section}\n" in text
    # Jupyter shows the same text, escaped, in a <pre> block (as summaries and anova tables)
    for obj in (all_fits("sleep_slope", polish=True), all_fits("sleep_slope", polish=True)
                .summary()):
        assert obj._repr_html_() == '<pre class="lmerpy">' + html.escape(str(obj)) + "</pre>"


def test_allfit_glmm_optimizers_and_errors(capsys):
    g = fitted("cbpp_logit")
    assert list(all_fits("cbpp_logit", polish=True)) == SHARED
    with pytest.raises(ArgumentError, match="newton_ai.*lmer"):
        allFit(g, optimizers=["newton_ai"])
    with pytest.raises(ArgumentError, match="optimizers"):
        allFit(fitted("sleep_slope"), optimizers=["nlminbwrap"])
    af = allFit(fitted("sleep_slope"), optimizers="Nelder_Mead", maxfun=5, verbose=True,
                progress=False)
    assert isinstance(af, AllFit) and "Nelder_Mead : [OK]" in capsys.readouterr().out
    assert af.summary().msgs["Nelder_Mead"] or af["Nelder_Mead"].optsum.return_code != 0
