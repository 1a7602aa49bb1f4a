"""lmerpy.plot.panel_plot (lattice's ``xyplot(y ~ x | g)``) and its small formula parser.

Fitted lines are checked against lme4's goldens (tests/reference/sleep_slope.json: ``fitted``
and ``predict_population`` = ``predict(fit, re.form = NA)``) within 1e-4 of the response's SD,
the tolerance tests/test_lmer_reference.py uses for fitted values.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import lmerpy  # noqa: E402
from lmerpy import plot  # noqa: E402
from lmerpy.errors import DataError, FormulaSyntaxError, LmerpyError, UnknownColumnError  # noqa: E402
from lmerpy.plot.panel import PanelFormula, parse_panel_formula  # noqa: E402

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def sleep_case():
    ref = json.loads((REF / "sleep_slope.json").read_text())
    data = lmerpy.datasets.load("sleepstudy")
    return ref, data, lmerpy.lmer(ref["formula"], data)


def _gid(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, f"expected one {gid!r}, found {len(found)}"
    return found[0]


def _png(fig, tmp_path):
    path = tmp_path / "panel.png"
    fig.savefig(path, dpi=50)
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------- the parser


@pytest.mark.parametrize("text, want", [
    ("Reaction ~ Days | Subject", PanelFormula("Reaction", "Days", ("Subject",))),
    ("  y~x|g  ", PanelFormula("y", "x", ("g",))),
    ("y ~ x", PanelFormula("y", "x", ())),
    ("y ~ x | a * b", PanelFormula("y", "x", ("a", "b"))),
    ("y ~ x | a + b + c", PanelFormula("y", "x", ("a", "b", "c"))),
    ("`my y` ~ x.dot | `group (1)`", PanelFormula("my y", "x.dot", ("group (1)",))),
    (".y ~ x_1 | g", PanelFormula(".y", "x_1", ("g",))),
])
def test_parse_panel_formula(text, want):
    assert parse_panel_formula(text) == want


@pytest.mark.parametrize("text, message, column", [
    ("y ~ log(x) | g",
     "unexpected '(': a panel formula is 'y ~ x | group' with column names only", 7),
    ("y ~ x |", "expected a grouping column name after '|', found the end of the formula", 7),
    ("y x | g", "expected '~', found 'x'", 2),
    ("~ x | g", "expected the response column name, found '~'", 0),
    ("y ~ x | g h", "expected the end of the formula, found 'h'", 10),
    ("y ~ x + z | g", "expected '|' before the grouping column, found '+'", 6),
    ("y ~ `x | g", "unclosed backquote", 4),
    ("y ~ x | g$h", "unexpected '$'", 9),
    ("y ~ 2x | g", "unexpected '2'", 4),
])
def test_parse_errors_show_a_caret(text, message, column):
    with pytest.raises(FormulaSyntaxError) as err:
        parse_panel_formula(text)
    assert message in str(err.value)
    assert err.value.column == column
    lines = str(err.value).splitlines()
    assert lines[1] == f"  {text}" and lines[2] == "  " + " " * column + "^"


def test_parse_rejects_non_strings():
    with pytest.raises(LmerpyError, match="must be a string"):
        parse_panel_formula(None)


# ---------------------------------------------------------------------- the plot


def test_panels_per_subject_with_fitted_lines(sleep_case, tmp_path):
    ref, data, fit = sleep_case
    before = data.copy()
    fig = plot.panel_plot(data, "Reaction ~ Days | Subject", fit=fit)
    _png(fig, tmp_path)
    pd.testing.assert_frame_equal(data, before)                  # never mutated
    levels = list(data["Subject"].cat.categories)
    assert [ax.get_title() for ax in fig.axes] == levels         # R's level order
    fitted = np.asarray(ref["fitted"])
    population = np.asarray(ref["predict_population"])
    tol = 1e-4 * data["Reaction"].std()
    for ax, level in zip(fig.axes, levels):
        rows = (data["Subject"] == level).to_numpy()
        pts = _gid(ax, "data")
        np.testing.assert_array_equal(pts.get_xdata(), data.loc[rows, "Days"])
        np.testing.assert_array_equal(pts.get_ydata(), data.loc[rows, "Reaction"])
        order = np.argsort(data.loc[rows, "Days"].to_numpy())
        cond, pop = _gid(ax, "conditional"), _gid(ax, "population")
        np.testing.assert_array_equal(cond.get_xdata(), np.arange(10))
        assert np.max(np.abs(cond.get_ydata() - fitted[rows][order])) <= tol
        assert np.max(np.abs(pop.get_ydata() - population[rows][order])) <= tol
    assert [ax.get_ylabel() for ax in fig.axes[::5]] == ["Reaction"] * 4
    assert fig.axes[-1].get_xlabel() == "Days"
    assert fig.legends and [t.get_text() for t in fig.legends[0].get_texts()] == \
        ["population", "conditional"]


def test_polars_data_draw_the_same_panels(sleep_case):
    import polars as pl
    _, data, fit = sleep_case
    want = plot.panel_plot(data, "Reaction ~ Days | Subject", fit=fit)
    got = plot.panel_plot(pl.from_pandas(data), "Reaction ~ Days | Subject", fit=fit)
    assert [ax.get_title() for ax in got.axes] == [ax.get_title() for ax in want.axes]
    for a, b in zip(got.axes, want.axes):
        for gid in ("data", "conditional", "population"):
            np.testing.assert_array_equal(_gid(a, gid).get_ydata(), _gid(b, gid).get_ydata())
    import matplotlib.pyplot as plt
    plt.close(got)
    plt.close(want)


def test_without_fit_and_with_missing_values(tmp_path):
    data = lmerpy.datasets.load("Orthodont")
    data = data.assign(distance=data["distance"].where(data.index != 3))   # one NA response
    fig = plot.panel_plot(data, "distance ~ age | Sex", ncols=2)
    _png(fig, tmp_path)
    assert [ax.get_title() for ax in fig.axes] == list(data["Sex"].cat.categories)
    counts = [len(_gid(ax, "data").get_xdata()) for ax in fig.axes]
    assert sum(counts) == len(data) - 1
    assert not [a for a in fig.axes[0].lines if a.get_gid() in ("population", "conditional")]
    single = plot.panel_plot(data, "distance ~ age")
    assert len(single.axes) == 1 and single.axes[0].get_title() == ""


def test_two_conditioning_factors_and_a_factor_x(tmp_path):
    data = lmerpy.datasets.load("Pastes")
    fig = plot.panel_plot(data, "strength ~ cask | batch * sample", ncols=10)
    _png(fig, tmp_path)
    # only the 30 (batch, sample) pairs with data; batch varies fastest, as lattice
    assert len(fig.axes) == 30
    # sample (the second factor) varies slowest; each sample belongs to one batch
    assert [ax.get_title() for ax in fig.axes[:4]] == ["A / A:a", "A / A:b", "A / A:c", "B / B:a"]
    assert [len(_gid(ax, "data").get_xdata()) for ax in fig.axes] == [2] * 30
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(data["cask"].cat.categories)
    assert set(_gid(ax, "data").get_xdata()) <= {0.0, 1.0, 2.0}


def test_backquoted_names(tmp_path):
    df = pd.DataFrame({"my y": [1.0, 2.0, 3.0, 4.0], "x": [1, 2, 1, 2],
                       "g 1": ["b", "b", "a", "a"]})
    fig = plot.panel_plot(df, "`my y` ~ x | `g 1`")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert fig.axes[0].get_ylabel() == "my y"


def test_errors_name_the_column(sleep_case):
    _, data, fit = sleep_case
    with pytest.raises(UnknownColumnError,
                       match="column 'Subjet' not found in data; did you mean 'Subject'"):
        plot.panel_plot(data, "Reaction ~ Days | Subjet")
    with pytest.raises(UnknownColumnError, match="column 'reaction'"):
        plot.panel_plot(data, "reaction ~ Days | Subject")
    with pytest.raises(DataError, match="response 'Subject' must be numeric"):
        plot.panel_plot(data, "Subject ~ Days | Subject")
    with pytest.raises(FormulaSyntaxError, match=r"\^"):
        plot.panel_plot(data, "Reaction ~ Days | ")
    with pytest.raises(DataError, match="data must be a data frame .* not list"):
        plot.panel_plot([1, 2], "a ~ a")
    with pytest.raises(LmerpyError, match="pass the data frame the model was fitted to"):
        plot.panel_plot(data.iloc[:50], "Reaction ~ Days | Subject", fit=fit)
    with pytest.raises(LmerpyError, match="fitted mixed model"):
        plot.panel_plot(data, "Reaction ~ Days | Subject", fit="not a fit")
    with pytest.raises(DataError, match="no rows with non-missing"):
        plot.panel_plot(data.assign(Reaction=np.nan), "Reaction ~ Days | Subject")
