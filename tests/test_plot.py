"""lmerpy.plot: every plot rendered headless to PNG, its panels, labels and drawn values checked
against lme4 goldens.

Goldens: tests/reference/sleep_slope.json and penicillin_crossed.json (lme4 fits: conditional
modes and SDs, fitted values, residuals) and tests/test_plot_reference.json (R's
``as.data.frame(profile(fit))`` with ``confint(profile(fit))``, and ``stats::lowess`` outputs;
the R code that made them is in its ``r_code``).

Tolerances (as tests/test_lmer_reference.py, where the values come from lmerpy's own fit):
- conditional modes: 2e-3 of their conditional SD; conditional SDs (interval widths): 1e-3
  relative;
- fitted values and residuals: 1e-4 of the response's SD;
- values computed from R's own numbers (profile limits, lowess): 1e-9 relative — the same
  arithmetic, only rounding differs.
"""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from scipy.stats import norm  # noqa: E402

import lmerpy  # noqa: E402
from lmerpy import plot  # noqa: E402
from lmerpy.errors import LmerpyError  # noqa: E402
from lmerpy.plot.diagnostics import ppoints, qqline_coefficients  # noqa: E402
from lmerpy.plot.profile_plot import zeta_splines  # noqa: E402

HERE = Path(__file__).parent
REF = HERE / "reference"
PLOT_REF = json.loads((HERE / "test_plot_reference.json").read_text())
Z95 = norm.ppf(0.975)


def _ref(name):
    return json.loads((REF / name).read_text())


@pytest.fixture(scope="module")
def sleep_case():
    ref = _ref("sleep_slope.json")
    data = lmerpy.datasets.load("sleepstudy")
    fit = lmerpy.lmer(ref["formula"], data)
    return ref, data, fit


@pytest.fixture(scope="module")
def penicillin():
    ref = _ref("penicillin_crossed.json")
    data = lmerpy.datasets.load(ref["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmerpy.lmer(ref["formula"], data, REML=bool(ref["REML"]))
    return ref, data, fit


def _png(fig, tmp_path, name="plot.png"):
    path = tmp_path / name
    fig.savefig(path, dpi=60)
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def _by_gid(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, f"expected one artist {gid!r}, found {len(found)}"
    return found[0]


def _golden_ranef(ref, group):
    r = ref["ranef"][group]
    values = pd.DataFrame(r["values"], index=[str(v) for v in r["levels"]], columns=r["columns"])
    condsd = pd.DataFrame(r["condsd"], index=values.index, columns=r["columns"])
    return values, condsd


def _segments_x(coll):
    return [(float(s[0][0]), float(s[1][0])) for s in coll.get_segments()]


# ---------------------------------------------------------------------- caterpillar


def test_caterpillar_sleepstudy_values_and_intervals(sleep_case, tmp_path):
    ref, _, fit = sleep_case
    fig = plot.caterpillar(fit)
    _png(fig, tmp_path)
    values, condsd = _golden_ranef(ref, "Subject")
    assert [ax.get_title() for ax in fig.axes] == ["(Intercept)", "Days"]
    assert fig.axes[0].get_ylabel() == "Subject"
    levels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(levels) == sorted(values.index)
    # lme4's order: by the conditional mode of the first term, lowest at the bottom (y = 0)
    golden_order = list(values["(Intercept)"].sort_values().index)
    assert levels == golden_order
    for ax, term in zip(fig.axes, ["(Intercept)", "Days"]):
        pts = _by_gid(ax, "condval")
        x, y = pts.get_xdata(), pts.get_ydata()
        assert len(x) == 18 and list(y) == list(range(18))
        want, sd = values.loc[levels, term].to_numpy(), condsd.loc[levels, term].to_numpy()
        assert np.all(np.abs(x - want) <= 2e-3 * sd)
        seg = np.array(_segments_x(_by_gid(ax, "interval")))
        np.testing.assert_allclose((seg[:, 1] - seg[:, 0]) / 2, Z95 * sd, rtol=1e-3)
        np.testing.assert_allclose((seg[:, 1] + seg[:, 0]) / 2, x, rtol=0, atol=1e-9)


def test_caterpillar_crossed_factors_and_group_choice(penicillin, tmp_path):
    ref, _, fit = penicillin
    fig = plot.caterpillar(fit)
    _png(fig, tmp_path)
    assert [ax.get_title() for ax in fig.axes] == ["plate: (Intercept)", "sample: (Intercept)"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["plate", "sample"]
    for ax, group in zip(fig.axes, ["plate", "sample"]):
        values, condsd = _golden_ranef(ref, group)
        x = _by_gid(ax, "condval").get_xdata()
        want = values["(Intercept)"].sort_values()
        assert len(x) == len(want)
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert np.all(np.abs(x - values.loc[labels, "(Intercept)"].to_numpy())
                      <= 2e-3 * condsd.loc[labels, "(Intercept)"].to_numpy())
        assert np.all(np.diff(x) >= 0)
    one = plot.caterpillar(fit, group="sample", level=0.8)
    assert len(one.axes) == 1 and one.axes[0].get_title() == "(Intercept)"
    values, condsd = _golden_ranef(ref, "sample")
    labels = [t.get_text() for t in one.axes[0].get_yticklabels()]
    seg = np.array(_segments_x(_by_gid(one.axes[0], "interval")))
    np.testing.assert_allclose((seg[:, 1] - seg[:, 0]) / 2,
                               norm.ppf(0.9) * condsd.loc[labels, "(Intercept)"], rtol=1e-3)


def test_caterpillar_bad_arguments(sleep_case):
    _, _, fit = sleep_case
    with pytest.raises(LmerpyError, match="no grouping factor named 'Subj'.*Subject"):
        plot.caterpillar(fit, group="Subj")
    with pytest.raises(LmerpyError, match="level must be strictly between 0 and 1"):
        plot.caterpillar(fit, level=95)
    with pytest.raises(LmerpyError, match="expected a fitted mixed model"):
        plot.caterpillar(pd.DataFrame({"a": [1]}))
    with pytest.raises(LmerpyError, match="figsize"):
        plot.caterpillar(fit, figsize="big")


# ---------------------------------------------------------------------- QQ plots


def test_ppoints_and_qqline_as_r():
    # R: ppoints(5); ppoints(11)
    np.testing.assert_allclose(ppoints(5), [0.1190476190, 0.3095238095, 0.5, 0.6904761905,
                                            0.8809523810], rtol=1e-9)
    np.testing.assert_allclose(ppoints(11), (np.arange(1, 12) - 0.5) / 11, rtol=1e-12)
    # R: y <- c(1, 2, 3, 4, 10); quartiles 2 and 4 against qnorm(c(.25, .75)) = ±0.6744898
    a, b = qqline_coefficients([1, 2, 3, 4, 10])
    assert b == pytest.approx(2 / (2 * 0.6744897501960817), rel=1e-12)
    assert a == pytest.approx(3.0, rel=1e-12)


def test_qqplot_residuals(sleep_case, tmp_path):
    ref, data, fit = sleep_case
    fig = plot.qqplot_residuals(fit)
    _png(fig, tmp_path)
    (ax,) = fig.axes
    assert ax.get_title() == "Normal Q-Q Plot"
    assert ax.get_xlabel() == "Theoretical Quantiles"
    assert ax.get_ylabel().startswith("Sample Quantiles")
    pts = _by_gid(ax, "points")
    x, y = pts.get_xdata(), pts.get_ydata()
    np.testing.assert_allclose(x, norm.ppf((np.arange(1, 181) - 0.5) / 180), rtol=1e-12)
    tol = 1e-4 * data["Reaction"].std()
    assert np.max(np.abs(y - np.sort(ref["residuals"]))) <= tol
    line = _by_gid(ax, "qqline")
    _, b = qqline_coefficients(ref["residuals"])
    assert line._slope == pytest.approx(b, abs=tol)
    bare = plot.qqplot_residuals(fit, line=False).axes[0]
    assert not any(a.get_gid() == "qqline" for a in bare.lines)


def test_qqplot_ranef(sleep_case, penicillin, tmp_path):
    ref, _, fit = sleep_case
    fig = plot.qqplot_ranef(fit)
    _png(fig, tmp_path)
    assert [ax.get_title() for ax in fig.axes] == ["Subject: (Intercept)", "Subject: Days"]
    values, condsd = _golden_ranef(ref, "Subject")
    for ax, term in zip(fig.axes, values.columns):
        assert ax.get_xlabel() == "Standard normal quantiles"
        pts = _by_gid(ax, "condval")
        np.testing.assert_allclose(pts.get_xdata(), norm.ppf(ppoints(18)), rtol=1e-12)
        order = values[term].sort_values().index
        sd = condsd.loc[order, term].to_numpy()
        assert np.all(np.abs(pts.get_ydata() - values.loc[order, term].to_numpy()) <= 2e-3 * sd)
        bars = _by_gid(ax, "interval").get_segments()
        half = np.array([(s[1][1] - s[0][1]) / 2 for s in bars])
        np.testing.assert_allclose(half, Z95 * sd, rtol=1e-3)
    pen = plot.qqplot_ranef(penicillin[2], intervals=False, ncols=1)
    assert len(pen.axes) == 2
    assert [len(_by_gid(ax, "condval").get_xdata()) for ax in pen.axes] == [24, 6]
    assert not [a for a in pen.axes[0].get_children() if a.get_gid() == "interval"]


# ---------------------------------------------------------------------- residuals vs fitted


def test_lowess_matches_r():
    low = PLOT_REF["lowess"]
    data = lmerpy.datasets.load("sleepstudy")
    x, y = plot.lowess(data["Days"], data["Reaction"])
    np.testing.assert_allclose(x, low["days_reaction"]["x"], rtol=1e-12)
    np.testing.assert_allclose(y, low["days_reaction"]["y"], rtol=1e-9)
    fr = low["fitted_resid"]
    x, y = plot.lowess(fr["input_x"], fr["input_y"])
    np.testing.assert_allclose(x, fr["x"], rtol=1e-12)
    np.testing.assert_allclose(y, fr["y"], rtol=1e-9, atol=1e-9)
    x, y = plot.lowess(fr["input_x"], fr["input_y"], f=0.3, iter=0)
    np.testing.assert_allclose(y, low["fitted_resid_f03"]["y"], rtol=1e-9, atol=1e-9)
    with pytest.raises(LmerpyError, match="lengths differ"):
        plot.lowess([1, 2, 3], [1, 2])


def test_residuals_vs_fitted(sleep_case, tmp_path):
    ref, data, fit = sleep_case
    fig = plot.residuals_vs_fitted(fit, smooth=True)
    _png(fig, tmp_path)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "Fitted values" and ax.get_ylabel() == "Pearson residuals"
    pts = _by_gid(ax, "points")
    tol = 1e-4 * data["Reaction"].std()
    assert np.max(np.abs(pts.get_xdata() - np.asarray(ref["fitted"]))) <= tol
    assert np.max(np.abs(pts.get_ydata() - np.asarray(ref["residuals"]))) <= tol
    assert list(_by_gid(ax, "zero").get_ydata()) == [0, 0]
    # the smoother of lmerpy's fit is R's lowess of lme4's fit, up to the fits' differences
    smooth = _by_gid(ax, "lowess")
    r_low = PLOT_REF["lowess"]["fitted_resid"]
    assert np.max(np.abs(smooth.get_xdata() - np.asarray(r_low["x"]))) <= tol
    assert np.max(np.abs(smooth.get_ydata() - np.asarray(r_low["y"]))) <= 10 * tol
    plain = plot.residuals_vs_fitted(fit)
    assert not [a for a in plain.axes[0].lines if a.get_gid() == "lowess"]


# ---------------------------------------------------------------------- profile plots


def _r_profile(name):
    c = PLOT_REF["profile"][name]
    df = pd.DataFrame(dict(zip(c["value_columns"], c["values"])))
    df[".par"] = pd.Categorical(c["par"], categories=c["par_levels"])
    return df, c


@pytest.mark.parametrize("name", ["dyestuff", "sleep_slope"])
def test_profile_plot_marks_lme4_confint(name, tmp_path):
    df, c = _r_profile(name)
    fig = plot.profile_plot(df)
    _png(fig, tmp_path)
    params = c["par_levels"]
    assert [ax.get_title() for ax in fig.axes] == params
    assert fig.axes[0].get_ylabel() == "ζ"
    ci = dict(zip(c["confint"]["rownames"], np.asarray(c["confint"]["values"], dtype=float)))
    for ax, p in zip(fig.axes, params):
        curve = _by_gid(ax, "spline")
        assert len(curve.get_xdata()) == 101
        npts = int(np.sum(np.asarray(c["par"]) == p))
        assert len(_by_gid(ax, "profile_points").get_xdata()) <= npts
        segs = _by_gid(ax, "conf_limits").get_segments()
        zetas = np.array([s[0][1] for s in segs])
        # a segment per level and side where the profile reaches it (Dyestuff's .sig01 profile
        # stops at ζ = -2.32, so its 99% lower limit is missing, as lme4's NA)
        profiled = df.loc[df[".par"] == p, ".zeta"]
        levels = norm.ppf(0.5 + np.array([0.5, 0.8, 0.9, 0.95, 0.99]) / 2)
        want = [z for lv in levels for z in (-lv, lv) if profiled.min() <= z <= profiled.max()]
        np.testing.assert_allclose(zetas, want, rtol=1e-12)
        assert all(s[1][1] == 0 and s[0][0] == s[1][0] for s in segs)
        lower = segs[int(np.argmin(np.abs(zetas + Z95)))]
        upper = segs[int(np.argmin(np.abs(zetas - Z95)))]
        assert lower[0][1] == pytest.approx(-Z95) and upper[0][1] == pytest.approx(Z95)
        np.testing.assert_allclose([lower[0][0], upper[0][0]], ci[p], rtol=1e-9)


def test_profile_plot_options_and_errors(tmp_path):
    df, c = _r_profile("sleep_slope")
    fig = plot.profile_plot(df, absVal=True, which=["Days", ".sigma"], conf=[0.95], points=False)
    _png(fig, tmp_path)
    assert [ax.get_title() for ax in fig.axes] == ["Days", ".sigma"]
    assert fig.axes[0].get_ylabel() == "|ζ|"
    for ax in fig.axes:
        assert np.all(_by_gid(ax, "spline").get_ydata() >= 0)
        assert not [a for a in ax.lines if a.get_gid() == "profile_points"]
        segs = _by_gid(ax, "conf_limits").get_segments()
        assert len(segs) == 2 and all(s[0][1] == pytest.approx(Z95) for s in segs)
    splines = zeta_splines(df)
    assert list(splines) == c["par_levels"]
    assert np.isnan(splines["Days"].limits([50.0])[0])        # beyond the profiled ζ range
    with pytest.raises(LmerpyError, match="strictly between 0 and 1"):
        plot.profile_plot(df, conf=[95])
    with pytest.raises(LmerpyError, match="no parameter 'days'.*Days"):
        plot.profile_plot(df, which=["days"])
    with pytest.raises(LmerpyError, match="'.zeta'"):
        plot.profile_plot(df.drop(columns=".zeta"))
    with pytest.raises(LmerpyError, match="needs a profile"):
        plot.profile_plot([1, 2, 3])


def test_profile_plot_of_lmerpy_profile(tmp_path):
    try:
        profile = lmerpy.profile
    except (AttributeError, ImportError):
        pytest.skip("lmerpy.profile (lmerpy.inference) is not available yet")
    ref = _ref("inference/dyestuff.json")
    fit = lmerpy.lmer("Yield ~ 1 + (1|Batch)", lmerpy.datasets.load("Dyestuff"))
    fig = plot.profile_plot(profile(fit))
    _png(fig, tmp_path)
    ci = dict(zip(ref["confint_profile"]["rownames"], ref["confint_profile"]["values"]))
    assert [ax.get_title() for ax in fig.axes] == list(ci)
    for ax in fig.axes:
        segs = _by_gid(ax, "conf_limits").get_segments()
        np.testing.assert_allclose([segs[6][0][0], segs[7][0][0]], ci[ax.get_title()], rtol=1e-3)


# ---------------------------------------------------------------------- headless, lazy import


def test_plots_need_neither_pyplot_nor_a_display(tmp_path):
    code = (
        "import sys, lmerpy, lmerpy.plot as p\n"
        "assert 'matplotlib' not in sys.modules, 'import lmerpy.plot imported matplotlib'\n"
        "fit = lmerpy.lmer('Yield ~ 1 + (1|Batch)', lmerpy.datasets.load('Dyestuff'))\n"
        f"p.caterpillar(fit).savefig({str(tmp_path / 'c.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "import matplotlib.pyplot as plt\n"
        "fig = p.qqplot_residuals(fit)\n"
        "assert plt.fignum_exists(fig.number)  # joins the caller's pyplot session\n"
        "import matplotlib\n"
        "print(matplotlib.get_backend())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert out.stdout.strip().lower() == "agg"


# ---------------------------------------------------------------------- a GLMM


def test_glmm_plots_against_lme4(tmp_path):
    """cbpp binomial GLMM (lme4 golden cbpp_laplace.json): modes, intervals and fitted values
    at the same tolerances; fitted proportions within 1e-4 absolute."""
    try:
        glmer = lmerpy.glmer
    except AttributeError:
        from lmerpy.models.glmm import glmer
    ref = _ref("cbpp_laplace.json")
    data = lmerpy.datasets.load(ref["data"])
    fit = glmer(ref["formula"], data, family="binomial")
    fig = plot.caterpillar(fit)
    _png(fig, tmp_path)
    (ax,) = fig.axes
    values, condsd = _golden_ranef(ref, "herd")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(values["(Intercept)"].sort_values().index)
    sd = condsd.loc[labels, "(Intercept)"].to_numpy()
    x = _by_gid(ax, "condval").get_xdata()
    assert np.all(np.abs(x - values.loc[labels, "(Intercept)"].to_numpy()) <= 2e-3 * sd)
    seg = np.array(_segments_x(_by_gid(ax, "interval")))
    np.testing.assert_allclose((seg[:, 1] - seg[:, 0]) / 2, Z95 * sd, rtol=1e-3)
    rvf = plot.residuals_vs_fitted(fit, smooth=True)
    _png(rvf, tmp_path, "rvf.png")
    pts = _by_gid(rvf.axes[0], "points")
    assert np.max(np.abs(pts.get_xdata() - np.asarray(ref["fitted"]))) <= 1e-4
    panel = plot.panel_plot(data.assign(prop=data["incidence"] / data["size"]),
                            "prop ~ period | herd", fit=fit)
    assert len(panel.axes) == 15
    rows = (data["herd"] == "1").to_numpy()
    cond = _by_gid(panel.axes[0], "conditional").get_ydata()
    pop = _by_gid(panel.axes[0], "population").get_ydata()
    assert np.max(np.abs(cond - np.asarray(ref["fitted"])[rows])) <= 1e-4
    eta = np.asarray(ref["predict_population"])[rows]          # predict(re.form = NA): link
    assert np.max(np.abs(pop - 1 / (1 + np.exp(-eta)))) <= 1e-4
