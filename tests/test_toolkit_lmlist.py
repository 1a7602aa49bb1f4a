"""lmerpy.lmList against lme4 1.1-31's lmList (tests/reference/toolkit/make_lmlist.R): the
per-group coefficients to 1e-6 relative, the printed results identical, the failure warning."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy
from _reference import REF
from lmerpy.warnings import GroupFitWarning

LMLIST = REF / "toolkit" / "lmlist"
CASES = sorted(p.stem for p in LMLIST.glob("*.json"))


def _data(ref):
    if ref["data"] == "sleepz":
        s = lmerpy.datasets.load("sleepstudy")
        first3 = s["Subject"].cat.codes < 3
        d = s.assign(z=np.where(first3, 0.0, s["Days"].astype(float) ** 2))
    elif ref["data"] == "gt6":
        g = lmerpy.datasets.load("grouseticks")
        d = g[g["LOCATION"].astype(str).isin([str(i) for i in range(1, 7)])].copy()
    else:
        return lmerpy.datasets.load(ref["data"])
    d.attrs["name"] = ref["data"]
    return d


@pytest.fixture(scope="module", params=CASES)
def case(request):
    ref = json.loads((LMLIST / f"{request.param}.json").read_text())
    family = getattr(lmerpy, ref["family"])() if ref["family"] else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = lmerpy.lmList(ref["formula"], _data(ref), family=family)
    return ref, fit, [str(w.message) for w in caught if issubclass(w.category, GroupFitWarning)]


def _frame(m):
    rows = [[np.nan if v is None else v for v in r] for r in m["rows"]]
    return pd.DataFrame(rows, index=m["rownames"], columns=m["colnames"], dtype=float)


def test_coefficients_match_lme4(case):
    ref, fit, _ = case
    pd.testing.assert_frame_equal(fit.coef(), _frame(ref["coef"]), rtol=1e-6, atol=1e-10)


def test_printed_fit_and_summary_are_lme4s(case):
    ref, fit, _ = case
    assert str(fit) == ref["text"]
    assert str(fit.summary()) == ref["summary_text"]


def test_failures_warn_as_lme4(case):
    # lme4's message, then lmerpy's own account of the failure (which factor, which level)
    ref, _, caught = case
    assert len(caught) == len(ref["warnings"])
    for got, want in zip(caught, ref["warnings"]):
        assert got.startswith(want)


def test_confint_and_sigma(case):
    # a glm's interval is MASS's profile likelihood (confint.glm); where lme4's confint stops
    # because a group has a coefficient the first group lacks, the golden holds each group's
    # own intervals of the first group's coefficients, which lmerpy returns
    ref, fit, _ = case
    ci = fit.confint()
    for block in ref["confint"]:
        pd.testing.assert_frame_equal(ci[block["name"]], _frame(block), rtol=1e-6, atol=1e-10)
    assert str(ci) == ref["confint_text"]
    assert str(fit.confint(level=0.9)) == ref["confint90_text"]
    if not ref["family"]:
        assert fit.sigma() == pytest.approx(ref["sigma"], rel=1e-10)


def test_confint_plot_draws_each_coefficient(sleep):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    ci = lmerpy.lmList("Reaction ~ Days | Subject", sleep).confint()
    fig = ci.plot()
    assert [a.get_title() for a in fig.axes] == ["(Intercept)", "Days"]
    f2 = Figure()
    axes = f2.subplots(1, 2)
    assert ci.plot(ax=axes) is axes
    with pytest.raises(lmerpy.ArgumentError, match="2 panels need 2 Axes"):
        ci.plot(ax=axes[0])


@pytest.mark.parametrize("formula, fragment", [
    ("Reaction ~ Days", "of the form 'y ~ x1 + ... + xn | g'"),
    ("Reaction ~ Days + (Days | Subject)", "of the form 'y ~ x1 + ... + xn | g'"),
    ("Reaction ~ Days | nosuch", "nosuch"),
])
def test_bad_formulas_name_the_problem(sleep, formula, fragment):
    with pytest.raises(lmerpy.LmerpyError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("+", r"\+").replace(".", r"\.").replace("|", r"\|")):
        lmerpy.lmList(formula, sleep)


def test_data_are_not_changed(sleep):
    before = sleep.copy()
    lmerpy.lmList("Reaction ~ Days | Subject", sleep)
    pd.testing.assert_frame_equal(sleep, before)
