"""Satterthwaite (lmerTest 3.1-3) and Kenward–Roger (pbkrtest 0.5.2) degrees of freedom.

Goldens: tests/reference/inference/*.json (``satterthwaite``, ``kenward_roger``) and
tests/reference/ddf/*.json (unbalanced designs, factor interactions, contr.sum and contr.poly
factors, ML, weighted and singular fits, anova types 1-3, printed summaries; made by
r/make_ddf_goldens.R).

Tolerances (at lme4's θ̂, ``fit_at_lme4_theta``: lmerpy's own fit is the optimum itself, lme4's
its optimizer's stopping point, which moves degrees of freedom and standard errors in their
4th-6th digits — Orthodont's Satterthwaite df are 25.00779 at lme4's θ̂ and 25 at the optimum):
- df, p-values: 1e-3 relative (the brief); estimates, SEs, t values: 1e-6 relative;
- F values: 1e-5 relative; Sum Sq / Mean Sq: 1e-6; NumDF exact;
- printed anova tables: identical; printed summaries: identical at lme4's θ̂ (the ``Data:``
  line aside), but for exact rounding ties of a printed number (decided by floating-point
  noise, in R as here);
- Kenward–Roger's Woodbury computation against pbkrtest's dense n×n formulas: 1e-8 relative.
"""
import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _compare import (
    differs_only_in_numbers,
    fit_at_lme4_theta,
    is_rounding_tie,
    strip_data_line,
    within_last_digit,
)
from _reference import load_case_data

import lmerpy
from lmerpy.errors import LmerpyError
from lmerpy.inference.ddf import anova_ddf, coef_table_ddf, contest1D, contestMD

REF = Path(__file__).parent / "reference"


def _load(p):
    return json.loads(Path(p).read_text())


_FITS = {}


# the goldens' row filters (R expressions in the JSON), written out here
_SUBSETS = {"!(f == 'c' & h == 'hi')": lambda d: d[~((d["f"] == "c") & (d["h"] == "hi"))]}


def _fit(data_name, formula, REML=True, weights=None, contrasts=None, fn="lmer", family=None,
         subset=None):
    key = (data_name, formula, REML, weights, json.dumps(contrasts), fn, family, subset)
    if key not in _FITS:
        data = load_case_data({"data": data_name})
        if subset is not None:
            data = _SUBSETS[subset](data).copy()
        kw = {}
        if weights:
            kw["weights"] = weights
        if contrasts:
            kw["contrasts"] = contrasts
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = (lmerpy.lmer(formula, data, REML=REML, **kw) if fn == "lmer"
                          else lmerpy.glmer(formula, data, family=family, **kw))
    return _FITS[key]


def _values(rows, ncol):
    return np.array([[np.nan if v is None else v for v in r] for r in rows],
                    dtype=float).reshape(-1, ncol)


def _check_coefs(tab, want):
    assert list(tab.index) == want["rownames"]
    assert list(tab.columns) == want["colnames"]
    exp = _values(want["values"], 5)
    got = tab.to_numpy()
    np.testing.assert_allclose(got[:, [0, 1, 3]], exp[:, [0, 1, 3]], rtol=1e-6)
    np.testing.assert_allclose(got[:, 2], exp[:, 2], rtol=1e-3)          # df
    np.testing.assert_allclose(got[:, 4], exp[:, 4], rtol=1e-3)          # Pr(>|t|)


def _check_anova(tab, want):
    assert tab.heading == want["heading"]
    assert list(tab.index) == want["rownames"]
    assert list(tab.columns) == want["colnames"]
    exp = _values(want["values"], 6)
    got = tab.to_numpy()
    if exp.size:
        np.testing.assert_allclose(got[:, :2], exp[:, :2], rtol=1e-6)
        np.testing.assert_array_equal(got[:, 2], exp[:, 2])
        np.testing.assert_allclose(got[:, 3], exp[:, 3], rtol=1e-3)
        np.testing.assert_allclose(got[:, 4], exp[:, 4], rtol=1e-5)
        np.testing.assert_allclose(got[:, 5], exp[:, 5], rtol=1e-3)
    assert str(tab) == want["text"]


# ------------------------------------------------------------------------------ inference goldens


def _method_params(refs):
    """One (golden, method key) param per method the golden holds."""
    out = []
    for ref in refs:
        for key in ("satterthwaite", "kenward_roger"):
            if key in ref:
                out.append(pytest.param(ref, key, id=f"{ref['id']}-{key}"))
    return out


def _inference_cases():
    return _method_params(_load(p) for p in sorted((REF / "inference").glob("*.json")))


@pytest.mark.parametrize("ref,key", _inference_cases())
def test_inference_goldens(ref, key):
    m = ref["models"][ref["main"]]
    fit = fit_at_lme4_theta(_fit(ref["data"], m["formula"], m["REML"]), m["theta"])
    ddf = "Satterthwaite" if key == "satterthwaite" else "Kenward-Roger"
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # lmerTest warned about nothing here
        _check_coefs(coef_table_ddf(fit, ddf), ref[key]["coefficients"])
        _check_anova(anova_ddf(fit, type=3, ddf=ddf), ref[key]["anova"])


# ------------------------------------------------------------------------------ ddf goldens


DDF = [_load(p) for p in sorted((REF / "ddf").glob("*.json"))]


def _ddf_fit(ref):
    return _fit(ref["data"], ref["formula"], ref["REML"], ref.get("weights"),
                ref.get("contrasts"), subset=ref.get("subset"))


def _ddf_cases():
    return _method_params(DDF)


@pytest.mark.parametrize("ref,key", _ddf_cases())
def test_ddf_goldens(ref, key):
    fit = _ddf_fit(ref)
    # the same optimum as lme4's, at least as good (θ itself may differ by more than 1e-3 on
    # a flat ridge: Orthodont's intercept SD, where lme4 stops 5.6e-6 above the optimum)
    fit = fit_at_lme4_theta(fit, ref["theta"])
    ddf = "Satterthwaite" if key == "satterthwaite" else "Kenward-Roger"
    want = ref[key]
    assert not want["r_warnings"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check_coefs(coef_table_ddf(fit, ddf), want["coefficients"])
        for t in (1, 2, 3):
            if f"anova_type{t}" in want:
                _check_anova(anova_ddf(fit, type=t, ddf=ddf), want[f"anova_type{t}"])
    msgs = {str(w.message) for w in caught}
    if ref["id"] == "design_missing_cell":      # lmerTest's message (R: message())
        assert msgs == {"Missing cells for: fc:hhi. \nInterpret type III hypotheses with care."}
    else:
        assert not msgs


def _same_but_ties(got, want, values):
    """Identical, or differing only in numbers one unit apart in the last printed digit whose
    midpoint is (to 1e-9) one of ``values``: an exact rounding tie."""
    return differs_only_in_numbers(
        got, want, lambda a, b: within_last_digit(a, b) and is_rounding_tie(a, b, values))


@pytest.mark.parametrize("ref,key", [p for p in _ddf_cases()
                                     if "summary_text" in p.values[0][p.values[1]]])
def test_lmertest_summary_text(ref, key):
    fit = _ddf_fit(ref)
    # the model at lme4's θ̂, where lme4's optimizer stopped (named by a convergence trailer)
    at_lme4 = lmerpy.mkMerMod(fit.devfun, dataclasses.replace(
        fit.optsum, theta=np.asarray(ref["theta"], dtype=float), optimizer="nloptwrap"),
        fit.design, data=fit._data, call=fit.call)
    ddf = "Satterthwaite" if key == "satterthwaite" else "Kenward-Roger"
    s = at_lme4.summary(ddf=ddf)
    got, want = strip_data_line(str(s)), strip_data_line(ref[key]["summary_text"])
    assert got == want or _same_but_ties(got, want, s.coefficients.to_numpy().ravel()), \
        f"{got}\n!=\n{want}"
    assert list(s.coefficients.columns) == ["Estimate", "Std. Error", "df", "t value",
                                            "Pr(>|t|)"]


def test_summary_ddf_lme4_is_plain_summary():
    fit = _fit("sleepstudy", "Reaction ~ Days + (Days|Subject)")
    assert str(fit.summary(ddf="lme4")) == str(fit.summary())
    assert list(fit.summary().coefficients.columns) == ["Estimate", "Std. Error", "t value"]
    s = fit.summary(ddf="Kenward-Roger")
    assert s.ddf == "Kenward-Roger"
    assert "t-tests use Kenward-Roger's method" in str(s)


# ------------------------------------------------------------------------------ API and errors


def test_anova_wiring_and_types():
    fit = _fit("Orthodont", "distance ~ age * Sex + (age|Subject)")
    a3 = fit.anova(type=3, ddf="Kenward-Roger")
    assert a3.heading == ["Type III Analysis of Variance Table with Kenward-Roger's method"]
    a1 = lmerpy.anova(fit, type=1)
    assert a1.heading == ["Type I Analysis of Variance Table with Satterthwaite's method"]
    pd.testing.assert_frame_equal(pd.DataFrame(anova_ddf(fit, type="III")),
                                  pd.DataFrame(anova_ddf(fit, type=3)))
    with pytest.raises(LmerpyError, match="type must be 1, 2 or 3"):
        anova_ddf(fit, type=4)
    with pytest.raises(LmerpyError, match="ddf must be"):
        coef_table_ddf(fit, ddf="Welch")


def test_kenward_roger_needs_reml_and_lmm():
    ml = _fit("sleepstudy", "Reaction ~ Days + (Days|Subject)", REML=False)
    with pytest.raises(LmerpyError, match="Kenward-Roger's method is only available for REML"):
        coef_table_ddf(ml, "Kenward-Roger")
    gm = _fit("cbpp", "cbind(incidence, size - incidence) ~ period + (1|herd)", fn="glmer",
              family="binomial")
    with pytest.raises(LmerpyError, match="only available for linear mixed models"):
        coef_table_ddf(gm)
    with pytest.raises(LmerpyError, match="only available for linear mixed models"):
        gm.summary(ddf="Satterthwaite")


def test_contests_agree_with_tables():
    ref = next(r for r in DDF if r["id"] == "design_fxh")
    fit = _ddf_fit(ref)
    p = len(fit.fixef())
    row = contest1D(fit, np.eye(p)[4])
    tab = coef_table_ddf(fit)
    assert row["df"] == pytest.approx(tab.loc["x", "df"], rel=1e-12)
    # the two-row test of f through contestMD is the type III row of f
    from lmerpy.inference.hypotheses import contrasts_type3
    L = contrasts_type3(fit)["f"]
    res = contestMD(fit, L)
    a3 = anova_ddf(fit, type=3)
    assert res["NumDF"] == 2
    assert res["F value"] == pytest.approx(a3.loc["f", "F value"], rel=1e-12)
    with pytest.raises(LmerpyError, match="entries"):
        contest1D(fit, [1, 0])
    assert contestMD(fit, np.zeros((0, p))) is None


# ------------------------------------------------------------------------------ KR vs dense


def _dense_vcov_adj(fit):
    """pbkrtest's vcovAdj with Σ formed densely (n×n), as pbkrtest does; W⁻¹ for σ²."""
    d = fit.design
    X = np.asarray(d.X, dtype=float)
    Zt = d.Zt.toarray()
    w = np.asarray(d.weights, dtype=float)
    s2 = fit.sigma() ** 2
    G, gam = [], []
    vc = fit.VarCorr()
    for t, term in zip(d.reterms, vc.terms):
        Zs = Zt[t.row_offset:t.row_offset + t.n_rows]
        pc = t.n_columns
        for j in range(pc):
            for i in range(j, pc):
                E = np.zeros((pc, pc))
                E[i, j] = E[j, i] = 1.0
                G.append(Zs.T @ np.kron(np.eye(t.n_levels), E) @ Zs)
                gam.append(term.cov[i, j])
    G.append(np.diag(1.0 / w))
    gam.append(s2)
    Sigma = sum(g * Gi for g, Gi in zip(gam, G))
    Si = np.linalg.inv(Sigma)
    Phi = np.linalg.inv(X.T @ Si @ X)
    g = len(G)
    H = [Gi @ Si for Gi in G]
    P = [-(X.T @ Si @ Gi @ Si @ X) for Gi in G]
    Q = {(i, j): X.T @ Si @ G[i] @ Si @ G[j] @ Si @ X for i in range(g) for j in range(g)}
    IE2 = np.array([[np.trace(H[i] @ H[j]) - 2 * np.sum(Phi * Q[i, j])
                     + np.trace(Phi @ P[i] @ Phi @ P[j]) for j in range(g)] for i in range(g)])
    W = 2 * np.linalg.inv(IE2)
    U = sum(W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j]) for i in range(g) for j in range(g))
    return Phi, Phi + 2 * Phi @ U @ Phi


@pytest.mark.parametrize("formula,weights", [
    ("y ~ f * x + (x|g)", None),
    ("y ~ x + f + (1|g)", "w"),
])
def test_kenward_roger_woodbury_equals_dense(formula, weights):
    from lmerpy.inference.kenward_roger import kr_pieces
    fit = _fit("synth_groups", formula, weights=weights)
    kr = kr_pieces(fit)
    Phi, PhiA = _dense_vcov_adj(fit)
    np.testing.assert_allclose(kr.vcov, Phi, rtol=1e-8)
    np.testing.assert_allclose(kr.vcov, fit.vcov().to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(kr.vcov_adj, PhiA, rtol=1e-8)
    assert not np.allclose(PhiA, Phi, rtol=1e-6)              # an adjustment was made
