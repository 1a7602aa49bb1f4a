"""Every plotting function draws into the caller's matplotlib Axes when given ``ax=`` (one
Axes, or a sequence/array of them for plots of several panels) and returns it; without ``ax``
it returns a new Figure. Each is drawn with the Agg backend and rendered to PNG; what is drawn
into the caller's Axes is what the function draws into its own Figure."""
import io
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

import lmerpy  # noqa: E402
from lmerpy import plot  # noqa: E402
from lmerpy.errors import LmerpyError  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """pyplot keeps the figures the functions open: close them after each test."""
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.fixture(scope="module")
def fits():
    sleep = lmerpy.datasets.load("sleepstudy")
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    dye = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("Dyestuff"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prof = lmerpy.profile(dye, progress=False)
    infl = lmerpy.influence(fit, groups="Subject", progress=False)
    return {"sleep": sleep, "fit": fit, "prof": prof, "infl": infl}


def _drawn(ax, gid):
    """The data of the artists with this gid (lines: x and y; collections: segments)."""
    out = []
    for a in ax.get_children():
        if a.get_gid() != gid:
            continue
        if hasattr(a, "get_xdata"):
            out.append((np.asarray(a.get_xdata(), float), np.asarray(a.get_ydata(), float)))
        elif hasattr(a, "get_segments"):
            out.append([np.asarray(s, float) for s in a.get_segments()])
    return out


def _same(a, b):
    assert len(a) == len(b) and len(a) > 0
    for x, y in zip(a, b):
        if isinstance(x, tuple):
            np.testing.assert_array_equal(x[0], y[0])
            np.testing.assert_array_equal(x[1], y[1])
        else:
            assert len(x) == len(y)
            for s, t in zip(x, y):
                np.testing.assert_array_equal(s, t)


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


SINGLE = [
    ("qqplot_residuals", lambda f, **k: plot.qqplot_residuals(f["fit"], **k), "points"),
    ("residuals_vs_fitted", lambda f, **k: plot.residuals_vs_fitted(f["fit"], smooth=True, **k),
     "lowess"),
    ("plot_influence", lambda f, **k: plot.plot_influence(f["infl"], **k), "cooks"),
]
#: (name, call, gid, number of panels)
PANELS = [
    ("caterpillar", lambda f, **k: plot.caterpillar(f["fit"], **k), "condval", 2),
    ("qqplot_ranef", lambda f, **k: plot.qqplot_ranef(f["fit"], **k), "condval", 2),
    ("profile_plot", lambda f, **k: plot.profile_plot(f["prof"], **k), "spline", 3),
    ("panel_plot", lambda f, **k: plot.panel_plot(f["sleep"], "Reaction ~ Days | Subject",
                                                  f["fit"], **k), "conditional", 18),
]


@pytest.mark.parametrize("name,draw,gid", SINGLE, ids=[s[0] for s in SINGLE])
def test_single_panel_plots_draw_into_the_given_axes(fits, name, draw, gid):
    own = draw(fits)
    assert isinstance(own, Figure) and len(own.axes) == 1
    fig = Figure(figsize=(8, 4))
    left, right = fig.subplots(1, 2)
    assert draw(fits, ax=right) is right
    assert not left.get_children() or not _drawn(left, gid)
    _same(_drawn(right, gid), _drawn(own.axes[0], gid))
    _png(fig)


@pytest.mark.parametrize("name,draw,gid,n", PANELS, ids=[p[0] for p in PANELS])
def test_panel_plots_draw_into_the_given_axes(fits, name, draw, gid, n):
    own = draw(fits)
    assert isinstance(own, Figure)
    fig = Figure(figsize=(12, 10))
    grid = fig.subplots(int(np.ceil(n / 4)), 4, squeeze=False)
    assert draw(fits, ax=grid) is grid
    for mine, theirs in zip(list(grid.flat)[:n], [a for a in own.axes if _drawn(a, gid)]):
        _same(_drawn(mine, gid), _drawn(theirs, gid))
    _png(fig)
    as_list = list(Figure().subplots(1, n, squeeze=False).flat)
    assert draw(fits, ax=as_list) is as_list
    with pytest.raises(LmerpyError, match=f"{name}: the plot has {n} panels but ax holds 1"):
        draw(fits, ax=Figure().add_subplot(1, 1, 1))


def test_a_single_panel_plot_takes_one_axes(fits):
    ax = Figure().add_subplot(1, 1, 1)
    dye_fit = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("Dyestuff"))
    assert plot.caterpillar(dye_fit, ax=ax) is ax
    assert len(_drawn(ax, "condval")) == 1


@pytest.mark.parametrize("name,draw,gid", SINGLE, ids=[s[0] for s in SINGLE])
def test_ax_must_be_axes(fits, name, draw, gid):
    with pytest.raises(LmerpyError, match=f"{name}: ax must be a matplotlib Axes"):
        draw(fits, ax="left")


def test_lmlist_intervals_plot_draws_into_the_given_axes(fits):
    """lme4's ``plot(confint(lmList(...)))`` (lmerpy.toolkit.lmlist, drawn by
    lmerpy.plot.intervals): one Axes per coefficient."""
    ci = lmerpy.lmList("Reaction ~ Days | Subject", fits["sleep"]).confint()
    own = ci.plot()
    assert isinstance(own, Figure) and len(own.axes) == 2
    fig = Figure(figsize=(8, 6))
    axes = fig.subplots(1, 2)
    assert ci.plot(ax=axes) is axes
    for mine, theirs in zip(axes, own.axes):
        m = [a for a in mine.get_lines()]
        t = [a for a in theirs.get_lines()]
        assert len(m) == len(t) == 1
        np.testing.assert_array_equal(m[0].get_xdata(), t[0].get_xdata())
    _png(fig)
