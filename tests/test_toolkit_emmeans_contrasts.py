"""contrast / pairs / confint and emmeans(at=) against emmeans 1.8.4-1 + pbkrtest 0.5.2 with
lme4 1.1-31 (tests/reference/toolkit/emmeans_contrasts, made by make_emmeans_contrasts.R), on
the models of make_emmeans.R at lme4's optimum: the tables at test_toolkit_emmeans' tolerances
and the printed text identical."""
import json
import warnings

import numpy as np
import pytest

from _reference import REF
from _toolkit import emmeans_fit, emmeans_ref
from test_toolkit_emmeans import assert_table
from lmerpy.errors import ArgumentError
from lmerpy.toolkit import contrast, emmeans, pairs
from lmerpy.warnings import LmerpyMessage

DIR = REF / "toolkit" / "emmeans_contrasts"
CASES = sorted(p.stem for p in DIR.glob("*.json"))


def _replay(ref):
    model = ref["model"]
    call = dict(ref["call"])
    base = emmeans_ref(model)
    kw = {"specs": call.pop("specs", base["specs"]), "by": call.pop("by", base.get("by"))}
    for k in ("type", "at"):
        if k in call:
            kw[k] = call.pop(k)
    em = emmeans(emmeans_fit(model), lmer_df=base["lmer_df"], **kw)
    if "method" not in call:
        return em.table
    method = call.pop("method")
    want_ci = call.pop("confint", False)
    level = call.pop("level", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LmerpyMessage)
        res = contrast(em, method, **call)
    return res.confint(level) if want_ci else res


@pytest.fixture(scope="module", params=CASES)
def case(request):
    ref = json.loads((DIR / f"{request.param}.json").read_text())
    return ref, _replay(ref)


#: Dunnett intervals: emmeans' quantile is uniroot's root of its .pdunnx equation with
#: tol = 5e-4; lmerpy solves the same equation exactly (checked below), so the limits agree to
#: R's root tolerance times the SE
DUNNETT_CI = {"pen_confint_trt_vs_ctrl"}


def test_table_matches_emmeans(case):
    ref, got = case
    if ref["id"] in DUNNETT_CI:
        want = ref["table"]["columns"]
        se = np.asarray(want["SE"], dtype=float)
        for col in ("lower.CL", "upper.CL"):
            np.testing.assert_allclose(got[col], want[col], rtol=0, atol=5e-4 * se.max())
        return
    assert_table(got, ref["table"], glmm="family" in emmeans_ref(ref["model"]))


def test_dunnett_quantile_solves_emmeans_equation():
    from lmerpy.toolkit.emm_adjust import _pdunnx, critical_values
    for df in (12.0, np.inf):
        q = critical_values(0.95, np.array([df]), "dunnettx", 3, 4)
        assert _pdunnx(q, 3, np.array([df]))[0] == pytest.approx(0.95, abs=1e-10)


def test_printed_text_is_emmeans(case):
    ref, got = case
    assert str(got) == ref["text"]


def test_tukey_on_a_non_pairwise_family_becomes_sidak_with_emmeans_note():
    em = emmeans(emmeans_fit("penicillin_treat"), "treat")
    with pytest.warns(LmerpyMessage, match='adjust = "tukey" was changed to "sidak"'):
        contrast(em, "trt.vs.ctrl", adjust="tukey")


def test_consec_needs_an_adjustment_lmerpy_computes():
    em = emmeans(emmeans_fit("penicillin_treat"), "treat")
    with pytest.raises(ArgumentError, match="multivariate t"):
        contrast(em, "consec")
    got = contrast(em, "consec", adjust="none")
    assert list(got["contrast"]) == ["B - A", "C - B", "D - C"]


@pytest.mark.parametrize("method, match", [
    ({"x": [1, -1]}, "must be 4 finite numbers"),
    ({}, "empty"),
    (3, "'method' must be a name or a dict"),
])
def test_bad_contrasts_are_named(method, match):
    em = emmeans(emmeans_fit("penicillin_treat"), "treat")
    with pytest.raises(ArgumentError, match=match):
        contrast(em, method)


def test_response_scale_needs_differences():
    em = emmeans(emmeans_fit("cbpp_period"), "period", type="response")
    with pytest.raises(ArgumentError, match="only differences"):
        contrast(em, "poly")


def test_trt_vs_ctrl_ref_by_name_equals_by_position():
    em = emmeans(emmeans_fit("penicillin_treat"), "treat")
    a, b = contrast(em, "trt.vs.ctrl", ref="B"), contrast(em, "trt.vs.ctrl", ref=2)
    np.testing.assert_array_equal(a["p.value"], b["p.value"])
    with pytest.raises(ArgumentError, match="not one of the levels"):
        contrast(em, "trt.vs.ctrl", ref="Z")
