"""Deletion diagnostics against lme4 1.1-31 (tests/reference/toolkit/influence, made by
make_influence.R): ``hatvalues``, ``rstudent``, ``cooks.distance`` of the fit and
``influence(fit)`` / ``influence(fit, groups=)`` with its ``cooks.distance``, ``dfbeta``,
``dfbetas`` methods; on sleepstudy (random slopes), Pastes (nested, groups = batch) and cbpp
(binomial GLMM).

LMMs: lme4's refits stop within BOBYQA's tolerance (xtol_rel = 1e-4) of each optimum, lmerpy's
at the optimum itself, so the refits' variance components differ in the 4th digit (up to 3e-2
relative for a covariance near 0). Each LMM deletion is therefore checked at lme4's θ (from its
``var.cov.comps``): the subset model evaluated there gives lme4's fixed effects and σ² to
1e-6, and lmerpy's own refit has a deviance at least as low (a strictly better optimum where
they differ). The summaries (Cook's distances, dfbetas) are checked exactly from lme4's own
refit estimates. The GLMM fit and its refits follow lme4's optimizer path
(``LME4_GLMER``: BOBYQA then Nelder-Mead, not the gradient-based default) and agree with lme4's
directly.
"""
import json
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import lmerpy
from _compare import fit_at_lme4_theta
from _reference import LME4_GLMER, REF
from _toolkit import glmm_at_lme4
from lmerpy.design.subset import subset_design
from lmerpy.errors import ArgumentError, UnknownColumnError
from lmerpy.toolkit.influence import Influence

DIR = REF / "toolkit" / "influence"
CASES = ("sleep_slope", "pastes_nested", "cbpp_logit")


@lru_cache(maxsize=None)
def ref(case_id):
    return json.loads((DIR / f"{case_id}.json").read_text())


def values(xs):
    return np.array([np.nan if v is None else v for v in xs], dtype=float)


@lru_cache(maxsize=None)
def fitted(case_id):
    r = ref(case_id)
    data = lmerpy.datasets.load(r["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if r["fn"] == "lmer":
            return lmerpy.lmer(r["formula"], data)
        return lmerpy.glmer(r["formula"], data, family=r["family"], control=LME4_GLMER)


@lru_cache(maxsize=None)
def infl(case_id, groups):
    return lmerpy.influence(fitted(case_id), groups=groups, progress=False)


def golden(case_id, groups):
    r = ref(case_id)
    return r["case"] if groups is None else r["by_group"][groups]


DELETIONS = [(c, None) for c in CASES] + [("sleep_slope", "Subject"),
                                          ("pastes_nested", "batch"), ("cbpp_logit", "herd")]


# ----------------------------------------------------------------- leverages, rstudent


@pytest.mark.parametrize("case_id", ["sleep_slope", "pastes_nested"])
def test_lmm_hatvalues_rstudent_cooks_at_lme4_theta(case_id):
    r = ref(case_id)
    fit = fit_at_lme4_theta(fitted(case_id), r["theta"])
    np.testing.assert_allclose(lmerpy.hatvalues(fit).to_numpy(), r["hatvalues"], rtol=1e-6)
    np.testing.assert_allclose(lmerpy.rstudent(fit).to_numpy(), r["rstudent"], rtol=1e-6)
    np.testing.assert_allclose(lmerpy.cooks_distance(fit).to_numpy(), r["cooks_distance_fit"],
                               rtol=1e-6)


def test_glmm_hatvalues_and_rstudent_at_lme4_estimates():
    """lme4's hatvalues.merMod formula with the working weights at the final μ (lme4's own
    take those of its last PIRLS iteration, one step behind: 7e-5 apart here); rstudent is
    NaN where lme4's is (leverages above 1 make the root negative)."""
    r = ref("cbpp_logit")
    fit = glmm_at_lme4(fitted("cbpp_logit"), {"theta": r["theta"],
                                              "fixef": list(r["fixef"].values())})
    with pytest.warns(UserWarning, match="may not make sense for GLMMs"):
        h = lmerpy.hatvalues(fit).to_numpy()
    np.testing.assert_allclose(h, r["hatvalues_final_weights"], rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rs = lmerpy.rstudent(fit).to_numpy()
    want = values(r["rstudent_final_weights"])
    np.testing.assert_array_equal(np.isnan(rs), np.isnan(want))
    np.testing.assert_array_equal(np.isnan(rs), np.isnan(values(r["rstudent"])))
    np.testing.assert_allclose(rs[~np.isnan(rs)], want[~np.isnan(want)], rtol=1e-6)


# ----------------------------------------------------------------- influence: structure


@pytest.mark.parametrize("case_id,groups", DELETIONS)
def test_influence_structure_as_lme4(case_id, groups):
    g, inf = golden(case_id, groups), infl(case_id, groups)
    key = "case" if groups is None else groups
    assert inf.groups == key
    assert [str(u) for u in inf.deleted] == (
        [str(i) for i in range(len(g["deleted"]))] if groups is None else g["deleted"])
    assert list(inf.fixed_effects_deleted.columns) == g["fixed_deleted"]["colnames"]
    assert list(inf.var_cov_comps_deleted.columns) == g["var_cov_deleted"]["colnames"]
    assert list(inf.var_cov_comps.index) == g["var_cov_deleted"]["colnames"]
    np.testing.assert_allclose(inf.fixed_effects.to_numpy(), list(g["fixed"].values()),
                               rtol=1e-5)
    assert inf.converged.all() and all(g["converged"])
    assert (inf.function_evals > 0).all()
    assert inf[f"fixed.effects[-{key}]"] is inf.fixed_effects_deleted
    assert inf[f"vcov[-{key}]"] is inf.vcov_deleted
    assert len(inf.vcov_deleted) == len(inf.deleted)
    np.testing.assert_allclose(inf.sigma ** 2, inf.var_cov_comps_deleted["sigma^2"])


# ----------------------------------------------------------------- influence: numbers


def _theta_from_var_cov(fit, vc):
    """lme4's θ from its ``var.cov.comps`` row: Λ_k = chol(Σ_k / σ²) per term."""
    s2 = vc[0] if fit.use_sc else 1.0
    theta, pos = [], 1
    for term in fit.VarCorr():
        k = len(term.names)
        S = np.zeros((k, k))
        for j in range(k):
            for i in range(j, k):
                S[i, j] = S[j, i] = vc[pos]
                pos += 1
        L = np.linalg.cholesky(S / s2) if np.all(np.diag(S) > 0) else np.sqrt(np.clip(S, 0, None))
        theta.extend(L[i, j] for j in range(k) for i in range(j, k))
    return np.array(theta)


@pytest.mark.parametrize("case_id,groups", [("sleep_slope", None), ("sleep_slope", "Subject"),
                                            ("pastes_nested", None),
                                            ("pastes_nested", "batch")])
def test_lmm_deletions_at_lme4_theta(case_id, groups):
    g, inf, fit = golden(case_id, groups), infl(case_id, groups), fitted(case_id)
    F_r = np.array(g["fixed_deleted"]["rows"], dtype=float)
    V_r = np.array(g["var_cov_deleted"]["rows"], dtype=float)
    units = range(0, len(inf.deleted), 9 if groups is None else 1)     # every 9th case
    data = fit.data
    for u in units:
        label = inf.deleted[u]
        col = data.index == label if groups is None else (data[groups] == label).to_numpy()
        design = subset_design(fit.design, np.flatnonzero(~col))
        dev = lmerpy.mkLmerDevfun(design)
        th = _theta_from_var_cov(fit, V_r[u])
        sol = dev.solve(th)
        np.testing.assert_allclose(sol.beta, F_r[u], rtol=1e-6)
        assert sol.sigma ** 2 == pytest.approx(V_r[u][0], rel=1e-6)
        # lmerpy's refit: an optimum at least as good as lme4's stopping point
        ours = _theta_from_var_cov(fit, inf.var_cov_comps_deleted.iloc[u].to_numpy())
        assert dev(ours) <= dev(th) + 1e-9 * abs(dev(th))
        # and the same fixed effects as its own θ gives
        np.testing.assert_allclose(dev.solve(ours).beta,
                                   inf.fixed_effects_deleted.iloc[u].to_numpy(), rtol=1e-8)


def _influence_from_golden(case_id, groups):
    """An Influence holding lme4's own refit estimates (to check the summaries' formulas)."""
    g, inf = golden(case_id, groups), infl(case_id, groups)
    idx = inf.fixed_effects_deleted.index
    names = g["fixed_deleted"]["colnames"]
    F = pd.DataFrame(np.array(g["fixed_deleted"]["rows"], dtype=float), index=idx,
                     columns=names)
    vc_names = g["var_cov_deleted"]["colnames"]
    V = pd.DataFrame(np.array(g["var_cov_deleted"]["rows"], dtype=float), index=idx,
                     columns=vc_names)
    vcov = pd.DataFrame(np.array(g["vcov"]["rows"], dtype=float), index=names, columns=names)
    vd = {u: pd.DataFrame(np.diag(d), index=names, columns=names)
          for u, d in zip(idx, np.array(g["vcov_deleted_diag"], dtype=float))}
    return Influence(inf.model, inf.groups, list(idx), pd.Series(g["fixed"]), F,
                     pd.Series(g["var_cov"]), V, vcov, vd, inf.converged, inf.function_evals)


@pytest.mark.parametrize("case_id,groups", DELETIONS)
def test_cooks_distance_dfbeta_dfbetas_formulas(case_id, groups):
    """From lme4's estimates (written with 15 digits: differences of nearby estimates keep
    fewer, hence 1e-8 with a floor of 1e-12 of the largest value)."""
    g = golden(case_id, groups)
    r_inf = _influence_from_golden(case_id, groups)
    cd = np.asarray(g["cooks_distance"])
    np.testing.assert_allclose(lmerpy.cooks_distance(r_inf).to_numpy(), cd, rtol=1e-8,
                               atol=1e-12 * cd.max())
    np.testing.assert_allclose(lmerpy.dfbeta(r_inf).to_numpy(),
                               np.array(g["dfbeta"]["rows"], dtype=float), rtol=1e-8,
                               atol=1e-12)
    np.testing.assert_allclose(r_inf.dfbeta("var.cov").to_numpy(),
                               np.array(g["dfbeta_var_cov"]["rows"], dtype=float), rtol=1e-8,
                               atol=1e-12)
    if g["dfbetas"] is not None:      # lme4 1.1-31's dfbetas fails with one fixed effect
        np.testing.assert_allclose(lmerpy.dfbetas(r_inf).to_numpy(),
                                   np.array(g["dfbetas"]["rows"], dtype=float), rtol=1e-8)


@pytest.mark.parametrize("groups", [None, "herd"])
def test_glmm_deletions_match_lme4(groups):
    """The GLMM refits (two stages, started at θ̂ and β̂) reach lme4's optima."""
    g, inf = golden("cbpp_logit", groups), infl("cbpp_logit", groups)
    np.testing.assert_allclose(inf.fixed_effects_deleted.to_numpy(),
                               np.array(g["fixed_deleted"]["rows"], dtype=float), rtol=1e-6)
    np.testing.assert_allclose(inf.var_cov_comps_deleted.to_numpy(),
                               np.array(g["var_cov_deleted"]["rows"], dtype=float), rtol=1e-6)
    np.testing.assert_allclose(inf.cooks_distance().to_numpy(), g["cooks_distance"], rtol=1e-6)
    # the refits' vcov come from finite-difference Hessians (lme4's deriv12 and lmerpy's
    # steps differ in the last digits): standard errors to 1e-5
    np.testing.assert_allclose(inf.dfbetas().to_numpy(),
                               np.array(g["dfbetas"]["rows"], dtype=float), rtol=1e-5)


# ----------------------------------------------------------------- workers, bar, errors


def test_influence_workers_give_the_same_result(capsys, monkeypatch):
    import lmerpy.progress
    fit = fitted("sleep_slope")
    one = infl("sleep_slope", "Subject")
    monkeypatch.setattr(lmerpy.progress, "DELAY", 0.0)
    two = lmerpy.influence(fit, groups="Subject", n_jobs=2, progress=True)
    assert "influence" in capsys.readouterr().err          # tqdm's bar, on stderr
    pd.testing.assert_frame_equal(two.fixed_effects_deleted, one.fixed_effects_deleted)
    pd.testing.assert_frame_equal(two.var_cov_comps_deleted, one.var_cov_comps_deleted)
    lmerpy.influence(fit, groups="Subject", progress=False)
    assert "influence" not in capsys.readouterr().err


def test_influence_errors():
    fit = fitted("sleep_slope")
    with pytest.raises(UnknownColumnError, match="Subjekt"):
        lmerpy.influence(fit, groups="Subjekt")
    with pytest.raises(ArgumentError, match="maxfun"):
        lmerpy.influence(fit, groups="Subject", maxfun=0)
    with pytest.raises(ArgumentError, match="dfbetas"):
        lmerpy.dfbetas(fit)
    with pytest.raises(ArgumentError, match="no element"):
        infl("sleep_slope", "Subject")["fixed.effects[-case]"]


def test_several_grouping_columns_delete_each_combination(sleep):
    data = sleep.assign(half=np.where(sleep["Days"] < 5, "early", "late"))
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    inf = lmerpy.influence(fit, groups=["Subject", "half"], progress=False)
    assert inf.groups == "Subject.half" and len(inf.deleted) == 36
    assert inf.deleted[:2] == ["308.early", "308.late"]


# ----------------------------------------------------------------- the plot


def test_plot_influence_draws_cooks_distances():
    from matplotlib.figure import Figure
    from lmerpy.plot import plot_influence
    inf = infl("sleep_slope", "Subject")
    fig = plot_influence(inf)
    assert isinstance(fig, Figure)
    (line,) = [a for a in fig.axes[0].get_lines() if a.get_gid() == "cooks"]
    np.testing.assert_allclose(line.get_xdata(), inf.cooks_distance().to_numpy())
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [str(u) for u in inf.deleted]
    fig.savefig(__import__("io").BytesIO(), format="png")
    ax = Figure().add_subplot(1, 1, 1)
    assert plot_influence(lmerpy.cooks_distance(fitted("sleep_slope")), ax=ax) is ax


def test_a_case_dropped_for_missing_values_deletes_nothing(sleep):
    """As lme4 (cases are the data's rows): deleting a row the fit never used refits the
    same model."""
    data = sleep.copy()
    data.loc[3, "Reaction"] = np.nan
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    inf = lmerpy.influence(fit, progress=False)
    assert len(inf.deleted) == 180 and inf.deleted[3] == 3
    np.testing.assert_allclose(inf.fixed_effects_deleted.loc[3], fit.fixef(), rtol=1e-6)
    assert not np.allclose(inf.fixed_effects_deleted.loc[4], fit.fixef(), rtol=1e-6)
    np.testing.assert_allclose(lmerpy.influence(fit, data=data, groups="Subject",
                                                progress=False).fixed_effects_deleted,
                               lmerpy.influence(fit, groups="Subject",
                                                progress=False).fixed_effects_deleted)
    with pytest.raises(ArgumentError, match="data has 179 rows"):
        lmerpy.influence(fit, data=data.iloc[1:])
