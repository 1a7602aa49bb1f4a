"""bootMer, its intervals and PBmodcomp.

* Intervals: ``BootResult.confint`` against R's ``boot::boot.ci`` on a fixed replicate vector
  (R code in ``test_intervals_match_boot_ci``), to 1e-9.
* bootMer on Dyestuff (balanced one-way): the bootstrap distribution of β̂₀ is exactly normal
  with the model's variance vcov(fit) (in a balanced design the GLS estimate is the grand mean
  whatever θ̂*), so its mean and SD are checked against β̂₀ and √vcov within 4 Monte-Carlo
  standard errors (mean: sd/√N; SD: sd/√(2(N−1))).
* PBmodcomp on the BHH penicillin blocks against pbkrtest (tests/reference/teaching/
  bhh_penicillin_pb.json, 2000 R samples): the LRT row to 1e-6; the bootstrap p-value and the
  reference distribution's mean within 4 combined Monte-Carlo SEs (R's and ours).
"""
import html
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.errors import LmerpyError
from lmerpy.inference import BootResult, PBmodcomp, bootMer
from lmerpy.inference.bootstrap import norm_inter

from _reference import load_case_data

TEACH = Path(__file__).parent / "reference" / "teaching"


def fixef_of(m):  # module level: picklable for the process workers
    return m.fixef()


def sigma_of(m):
    return m.sigma()


def test_intervals_match_boot_ci():
    """R (boot 1.3):
    tt <- round(exp(sin(1:199) + (1:199)/150), 6); t0 <- 1.7
    b <- structure(list(t0 = t0, t = matrix(tt, ncol = 1), R = 199, ...), class = "boot")
    boot.ci(b, type = "perc" / "basic" / "norm"); boot.ci(b, type = "perc", conf = 0.9)
    b$t <- matrix(tt[1:99], ncol = 1); b$R <- 99; boot.ci(b, type = "perc")
    """
    k = np.arange(1, 200)
    tt = np.round(np.exp(np.sin(k) + k / 150), 6)
    np.testing.assert_allclose(tt[:5], [2.335294, 2.5159, 1.174826, 0.481844, 0.396297])
    b = BootResult(pd.Series([1.7], index=["x"]), pd.DataFrame({"x": tt}), 199, "parametric",
                   None, 0, {})
    np.testing.assert_allclose(b.confint("perc").to_numpy()[0], [0.471527, 8.241144], atol=1e-9)
    np.testing.assert_allclose(b.confint("basic").to_numpy()[0], [-4.841144, 2.928473],
                               atol=1e-9)
    np.testing.assert_allclose(b.confint("norm").to_numpy()[0],
                               [-3.366201184361, 4.853414892903], atol=1e-9)
    ci90 = b.confint("perc", level=0.9)
    assert list(ci90.columns) == ["5 %", "95 %"]
    np.testing.assert_allclose(ci90.to_numpy()[0], [0.530949, 7.169260], atol=1e-9)
    b99 = BootResult(b.t0, pd.DataFrame({"x": tt[:99]}), 99, "parametric", None, 0, {})
    ci = b99.confint()
    assert list(ci.columns) == ["2.5 %", "97.5 %"] and list(ci.index) == ["x"]
    np.testing.assert_allclose(ci.to_numpy()[0], [0.413619702490, 4.558126162211], atol=1e-9)
    # NaN replicates (failed refits) are left out
    np.testing.assert_allclose(norm_inter(np.append(tt, np.nan), [0.025, 0.975]),
                               [0.471527, 8.241144], atol=1e-9)
    with pytest.raises(LmerpyError, match="confint: type must be one of 'perc', 'basic', 'norm', not 'bca'"):
        b.confint("bca")


@pytest.fixture(scope="module")
def dyestuff():
    return lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("Dyestuff"))


@pytest.fixture(scope="module")
def boot200(dyestuff):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bootMer(dyestuff, fixef_of, nsim=200, seed=101, progress=False)


def test_bootmer_fixed_effect_distribution(dyestuff, boot200):
    b = boot200
    N = 200
    assert b.t.shape == (N, 1) and list(b.t.columns) == ["(Intercept)"]
    assert b.t0["(Intercept)"] == pytest.approx(fixef_of(dyestuff)["(Intercept)"])
    beta = float(dyestuff.fixef().iloc[0])
    se = float(np.sqrt(dyestuff.vcov().iloc[0, 0]))
    t = b.t["(Intercept)"].to_numpy()
    assert abs(t.mean() - beta) < 4 * se / np.sqrt(N)
    assert abs(t.std(ddof=1) - se) < 4 * se / np.sqrt(2 * (N - 1))
    ci = b.confint("perc")
    assert ci.iloc[0, 0] < beta < ci.iloc[0, 1]
    assert "PARAMETRIC BOOTSTRAP" in str(b) and "t1*" in str(b)
    assert b._repr_html_() == '<pre class="lmerpy">' + html.escape(str(b)) + "</pre>"


def test_bootmer_seed_and_workers(dyestuff):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = bootMer(dyestuff, fixef_of, nsim=30, seed=101, progress=False)
        again = bootMer(dyestuff, fixef_of, nsim=30, seed=101, progress=False)
        par = bootMer(dyestuff, fixef_of, nsim=30, seed=101, progress=False, n_jobs=2)
        other = bootMer(dyestuff, fixef_of, nsim=30, seed=102, progress=False)
    np.testing.assert_array_equal(again.t.to_numpy(), one.t.to_numpy())
    assert not np.allclose(other.t.to_numpy(), one.t.to_numpy())
    # the responses are simulated in this process: the workers do not change the result
    np.testing.assert_allclose(par.t.to_numpy(), one.t.to_numpy(), rtol=1e-12)
    assert par.n_failed == 0


def test_progress_bar_without_tqdm(dyestuff, monkeypatch, capsys):
    """tqdm is optional (the ``progress`` extra): without it ``progress=True`` draws no bar
    and the replicates are the same."""
    import sys
    monkeypatch.setitem(sys.modules, "tqdm", None)       # import tqdm raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = bootMer(dyestuff, fixef_of, nsim=4, seed=3, progress=True)
    assert "bootMer" not in capsys.readouterr().err
    monkeypatch.undo()
    import lmerpy.progress
    monkeypatch.setattr(lmerpy.progress, "DELAY", 0.0)   # drawn at once (default: after 2 s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        barred = bootMer(dyestuff, fixef_of, nsim=4, seed=3, progress=True)
    err = capsys.readouterr().err
    assert "bootMer" in err and "4/4" in err            # tqdm's bar, on stderr
    pd.testing.assert_frame_equal(plain.t, barred.t)


def test_bootmer_scalar_and_failures(dyestuff):
    calls = {"n": 0}

    def flaky(m):
        calls["n"] += 1
        if calls["n"] in (3, 5):
            raise ValueError("boom")
        return m.sigma()
    with pytest.warns(UserWarning, match=r"some bootstrap runs failed \(2/6\)"):
        b = bootMer(dyestuff, flaky, nsim=6, seed=1, progress=False)
    assert list(b.t.columns) == ["t1"] and b.n_failed == 2
    assert np.isnan(b.t["t1"].to_numpy()).sum() == 2
    assert b.messages["error"] == {"ValueError: boom": 2}


def test_bootmer_semiparametric(dyestuff):
    with pytest.raises(LmerpyError, match="use_u=False not yet implemented"):
        bootMer(dyestuff, fixef_of, nsim=2, type="semiparametric", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = bootMer(dyestuff, sigma_of, nsim=20, seed=3, type="semiparametric", use_u=True,
                    progress=False)
    assert b.sim == "semiparametric" and np.all(np.isfinite(b.t.to_numpy()))
    with pytest.raises(LmerpyError, match="bootMer: nsim must be a positive integer, not 0"):
        bootMer(dyestuff, fixef_of, nsim=0)


def test_bootmer_glmer():
    cbpp = lmerpy.datasets.load("cbpp")
    fit = lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                       family="binomial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = bootMer(fit, fixef_of, nsim=12, seed=5, progress=False)
    assert b.t.shape == (12, 4) and b.n_failed == 0
    assert "sigma" not in b.mle
    # the simulated responses are counts of the same herds: estimates stay near β̂
    assert np.all(np.abs(b.t.mean().to_numpy() - fit.fixef().to_numpy()) < 1.0)


# ----------------------------------------------------------------------------- PBmodcomp


@pytest.fixture(scope="module")
def penicillin():
    ref = json.loads((TEACH / "bhh_penicillin_pb.json").read_text())
    data = load_case_data(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lmerpy.lmer("yield ~ treat + (1|blend)", data)
        m0 = lmerpy.lmer("yield ~ 1 + (1|blend)", data)
    return ref, m, m0


def test_pbmodcomp_against_pbkrtest(penicillin):
    ref, m, m0 = penicillin
    want = ref["pbmodcomp"]
    N = 200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pb = PBmodcomp(m, m0, nsim=N, seed=2024)
    assert list(pb.test.index) == ["LRT", "PBtest"]
    assert list(pb.test.columns) == ["stat", "df", "p.value"]
    assert pb.test.loc["LRT", "stat"] == pytest.approx(want["stat"], rel=1e-6)
    assert pb.test.loc["LRT", "df"] == want["df"]
    assert pb.test.loc["LRT", "p.value"] == pytest.approx(want["p_chisq"], rel=1e-6)
    p_r = want["p_pb"]
    se_p = np.sqrt(p_r * (1 - p_r) * (1 / N + 1 / want["nsim"]))
    assert abs(pb.p_value - p_r) < 4 * se_p
    refpos = pb.ref[pb.ref > 0]
    se_m = np.sqrt(want["ref_var"] * (1 / refpos.size + 1 / want["npos"]))
    assert abs(refpos.mean() - want["ref_mean"]) < 4 * se_m
    lines = str(pb).split("\n")
    assert lines[0].startswith("Bootstrap test; time: ")
    assert lines[0].endswith(f"samples: {N}; extremes: {pb.n_extreme};")
    assert lines[1:4] == ["large : yield ~ treat + (1 | blend)", "yield ~ 1 + (1 | blend)",
                          "         stat df p.value"]
    assert lines[4] == "LRT    4.0474  3  0.2564"
    summ = pb.summary()
    assert list(summ.index) == ["LRT", "PBtest", "Gamma", "Bartlett", "F"]
    assert summ.loc["Bartlett", "stat"] == pytest.approx(3 * want["stat"] / refpos.mean())
    assert "Bartlett" in pb.summary_text()
    assert pb._repr_html_() == '<pre class="lmerpy">' + html.escape(str(pb)) + "</pre>"
    again = PBmodcomp(m, m0, ref=pb.ref)
    assert again.p_value == pb.p_value


def test_pbmodcomp_bad_input(penicillin):
    _, m, m0 = penicillin
    with pytest.raises(LmerpyError, match="more parameters"):
        PBmodcomp(m0, m, nsim=2)
    with pytest.raises(LmerpyError, match="fitted models"):
        PBmodcomp(m, 3, nsim=2)
