"""Formulas written by code: thousands of terms, long random parts, deep nesting.

A chain ``x1 + x2 + ... + xn`` parses into a tree as deep as it is long, so every walk over a
formula (parsing, R's term algebra, lme4's bar handling, deparse, hashing, pickling, the
evaluator) must use an explicit stack: the tests run them under a recursion limit far below
the depth of the formula. Function calls are the one thing whose nesting is bounded (they are
evaluated by recursion), with a FormulaError naming the call.
"""
import copy
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy import lFormula, lmer
from lmerpy.cli import read_data
from lmerpy.errors import FormulaError
from lmerpy.formula import parse_formula
from lmerpy.formula.parser import MAX_CALL_NESTING
from lmerpy.inference.reform import parse_re_form

N_TERMS = 2000
P_FIT = 300


def xs(n, prefix="x"):
    return [f"{prefix}{i}" for i in range(1, n + 1)]


def chain(names, op=" + "):
    return op.join(names)


def rejoin(lines):
    """The one-line text of R's ``deparse()`` lines (each line break follows ``"+ "`` or
    ``", "``; continuation lines are indented, by 4 spaces a level)."""
    return lines[0] + "".join(line.lstrip(" ") for line in lines[1:])


@pytest.fixture
def low_recursion_limit():
    """Python's recursion limit at 300 frames, far below the depth of the formulas here."""
    parse_formula("y ~ x + (1 | g)")  # the grammar is loaded (once per process) at full depth
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# --------------------------------------------------------------------------- parse and deparse


def test_parse_2000_terms_keeps_their_order_and_names():
    text = "y ~ " + chain(xs(N_TERMS)) + " + (1 | g)"
    f = parse_formula(text)
    assert f.response == lmerpy.formula.Name("y")
    assert f.fixed.labels == tuple(xs(N_TERMS))
    assert [v.name for v in f.fixed.variables] == xs(N_TERMS)
    assert f.fixed.intercept is True
    assert [rt.deparse() for rt in f.random] == ["(1 | g)"]
    assert f.deparse() == text
    assert f.all_vars() == ("y", *xs(N_TERMS), "g")
    lines = f.deparse_lines()
    assert len(lines) > 100
    assert all(line.endswith("+ ") and len(line) > 60 for line in lines[:-1])
    assert all(line.startswith("    ") for line in lines[1:])
    assert rejoin(lines) == text
    again = parse_formula(rejoin(lines) + " ")
    assert again.fixed == f.fixed and again.random == f.random


SHAPES = {
    "sum": ("y ~ " + chain(xs(N_TERMS)), xs(N_TERMS)),
    "sum, nested to the right": (
        "y ~ " + "".join(f"x{i} + (" for i in range(1, N_TERMS)) + f"x{N_TERMS}"
        + ")" * (N_TERMS - 1), xs(N_TERMS)),
    "sum, nested to the left": (
        "y ~ " + "(" * (N_TERMS - 2) + "x1" + "".join(f" + x{i})" for i in range(2, N_TERMS))
        + f" + x{N_TERMS}", xs(N_TERMS)),
    "removals": ("y ~ (" + chain(xs(N_TERMS)) + ") - " + chain(xs(N_TERMS)[::2], " - "),
                 xs(N_TERMS)[1::2]),
    # R orders a term's variables by first appearance: x1, z, x2, ... so x2:z is "z:x2"
    "interaction pieces": ("y ~ " + chain(f"x{i}:z" for i in range(1, N_TERMS + 1)),
                           ["x1:z"] + [f"z:x{i}" for i in range(2, N_TERMS + 1)]),
    "one interaction of 2000 variables": ("y ~ " + chain(xs(N_TERMS), ":"),
                                          [chain(xs(N_TERMS), ":")]),
    "a sum inside I()": ("y ~ I(" + chain(xs(N_TERMS)) + ")", ["I(" + chain(xs(N_TERMS)) + ")"]),
    "3000 unary minus signs inside I()": ("y ~ I(" + "-" * 3000 + "x)",
                                          ["I(" + "-" * 3000 + "x)"]),
    "5000 parentheses": ("y ~ " + "(" * 5000 + "x" + ")" * 5000, ["x"]),
    "300 random terms": ("y ~ x + " + chain(f"(1 | g{i})" for i in range(1, 301)), ["x"]),
    "300 double-bar terms": ("y ~ x + " + chain(f"(x || g{i})" for i in range(1, 301)), ["x"]),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_long_formulas_are_walked_without_recursion(shape, low_recursion_limit):
    text, labels = SHAPES[shape]
    f = parse_formula(text)
    assert list(f.fixed.labels) == labels
    # the printed formula parses back to the same model
    one_line = f.deparse()
    assert rejoin(f.deparse_lines()) == one_line
    again = parse_formula(one_line + " ")
    assert again.fixed == f.fixed
    assert [rt.deparse() for rt in again.random] == [rt.deparse() for rt in f.random]
    # an independently built tree: equal, same hash; pickling and copying keep it
    rhs, rhs2 = f._tree.rhs, again._tree.rhs
    assert rhs2 is not rhs and rhs2 == rhs and hash(rhs2) == hash(rhs)
    assert not rhs2 != rhs
    restored = pickle.loads(pickle.dumps(f))
    assert restored._tree.rhs == rhs and restored.deparse() == one_line
    assert restored.fixed == f.fixed and restored.random == f.random
    assert copy.deepcopy(f)._tree.rhs == rhs
    assert repr(rhs).startswith(type(rhs).__name__ + "(")
    assert len(f.frame_variables) >= len(f.fixed.variables)
    if shape == "300 random terms":
        assert [rt.deparse() for rt in f.random] == [f"(1 | g{i})" for i in range(1, 301)]
        assert parse_formula(text.replace(" + (", " - 1 + (", 1)).fixed.intercept is False
        re_form = parse_re_form("~" + text.split(" ~ x + ", 1)[1])  # predict(re_form=...)
        assert [rt.group_label for rt in re_form] == [f"g{i}" for i in range(1, 301)]
    if shape == "300 double-bar terms":
        assert [rt.deparse() for rt in f.random] == [
            bar for i in range(1, 301) for bar in (f"(1 | g{i})", f"(0 + x | g{i})")]
        assert all(rt.double_bar for rt in f.random)
    if shape == "5000 parentheses":
        assert one_line == text


def test_trees_that_differ_deep_down_are_unequal(low_recursion_limit):
    a = parse_formula("y ~ " + chain(xs(N_TERMS)))._tree.rhs
    b = parse_formula("y ~ " + chain(xs(N_TERMS - 1) + ["z"]))._tree.rhs
    c = parse_formula("y ~ (" + chain(xs(N_TERMS - 1)) + ") + x2000")._tree.rhs
    assert a != b and not a == b
    assert a != c  # parentheses are part of the expression, as in R
    assert {a: 1}.get(parse_formula("y ~  " + chain(xs(N_TERMS)))._tree.rhs) == 1


def test_long_formulas_are_evaluated_without_recursion(low_recursion_limit):
    rng = np.random.default_rng(3)
    data = pd.DataFrame(rng.standard_normal((60, P_FIT)), columns=xs(P_FIT))
    data["g"] = np.repeat(list("abcdef"), 10)
    data["y"] = rng.standard_normal(60)
    total = data[xs(P_FIT)].to_numpy().sum(axis=1)
    lf = lFormula("y ~ I(" + chain(xs(P_FIT)) + ") + offset(" + chain(xs(P_FIT), " - ")
                  + ") + (1 | g)", data)
    assert lf.X_colnames == ["(Intercept)", "I(" + chain(xs(P_FIT)) + ")"]
    np.testing.assert_allclose(lf.X[:, 1], total, rtol=1e-12)
    np.testing.assert_allclose(lf.offset, 2 * data["x1"].to_numpy() - total, rtol=1e-12,
                               atol=1e-12)
    lf = lFormula("y ~ " + chain(xs(P_FIT)) + " + (1 | g)", data,
                  control={"check.rankX": "ignore"})
    assert lf.X_colnames == ["(Intercept)"] + xs(P_FIT)
    np.testing.assert_array_equal(lf.X[:, 1:], data[xs(P_FIT)].to_numpy())


# --------------------------------------------------------------------------- nesting


def test_thousands_of_nested_parentheses(low_recursion_limit):
    rng = np.random.default_rng(5)
    data = pd.DataFrame({"x": rng.standard_normal(40), "y": rng.standard_normal(40),
                         "g": np.repeat(list("abcd"), 10)})
    deep = 3000
    text = "y ~ " + "(" * deep + "x" + ")" * deep + " + " + "(" * deep + "1 | g" + ")" * deep
    f = parse_formula(text)
    assert f.fixed.labels == ("x",)
    assert [rt.deparse() for rt in f.random] == ["(1 | g)"]
    assert f.deparse() == text
    lf = lFormula(text, data)
    assert lf.X_colnames == ["(Intercept)", "x"]
    np.testing.assert_array_equal(lf.X[:, 1], data["x"].to_numpy())
    inner = "I(" + "(" * deep + "x + 1" + ")" * deep + ")"
    lf = lFormula(f"y ~ {inner} + (1 | g)", data)
    assert lf.X_colnames == ["(Intercept)", inner]
    np.testing.assert_allclose(lf.X[:, 1], data["x"].to_numpy() + 1, rtol=1e-15)


def test_function_calls_nest_at_most_50_deep():
    assert MAX_CALL_NESTING == 50
    rng = np.random.default_rng(6)
    data = pd.DataFrame({"x": rng.standard_normal(40), "y": rng.standard_normal(40),
                         "g": np.repeat(list("abcd"), 10)})
    ok = "I(" * 49 + "abs(x)" + ")" * 49
    lf = lFormula(f"y ~ {ok} + (1 | g)", data)
    assert lf.X_colnames == ["(Intercept)", ok]
    np.testing.assert_array_equal(lf.X[:, 1], np.abs(data["x"].to_numpy()))
    for depth in (51, 5000):
        text = "y ~ x + " + "log(" * depth + "x" + ")" * depth + " + (1 | g)"
        with pytest.raises(FormulaError, match=r"function calls nest more than 50 deep in "
                                               r"'log\(log\(log\(.*\.\.\.'"):
            parse_formula(text)
        with pytest.raises(FormulaError, match="nest more than 50 deep"):
            lmer(text, data)
    with pytest.raises(FormulaError, match=r"more than 50 deep in 'exp\(exp\("):
        parse_formula("exp(" * 51 + "y" + ")" * 51 + " ~ x")  # the response too


# --------------------------------------------------------------------------- fits


@pytest.fixture(scope="module")
def wide():
    """600 rows, 300 numeric predictors and a 30-level grouping factor."""
    rng = np.random.default_rng(11)
    n, m = 600, 30
    X = rng.standard_normal((n, P_FIT))
    g = np.repeat(np.arange(m), n // m)
    y = X @ rng.normal(0, 0.5, P_FIT) + rng.normal(0, 1.0, m)[g] + rng.normal(0, 1.0, n)
    data = pd.DataFrame(X, columns=xs(P_FIT))
    data["g"] = [f"g{k:02d}" for k in g]
    data["y"] = y
    return data, "y ~ " + chain(xs(P_FIT)) + " + (1 | g)"


@pytest.fixture(scope="module")
def wide_fit(wide):
    data, text = wide
    return lmer(text, data)


def _dense_reml(theta, X, Z, y):
    """The REML criterion of y = Xβ + Zb + ε, b ~ N(0, σ²θ²I), profiled over β and σ, computed
    with dense numpy (V = I + θ²ZZ'); also β̂ and σ̂ at θ."""
    n, p = X.shape
    L = np.linalg.cholesky(np.eye(n) + theta ** 2 * Z @ Z.T)
    Xs, ys = np.linalg.solve(L, X), np.linalg.solve(L, y)
    beta = np.linalg.lstsq(Xs, ys, rcond=None)[0]
    r2 = float(np.sum((ys - Xs @ beta) ** 2))
    logdet_x = np.linalg.slogdet(Xs.T @ Xs)[1]
    crit = 2 * np.sum(np.log(np.diag(L))) + logdet_x + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p)))
    return crit, beta, np.sqrt(r2 / (n - p))


def test_lmer_with_300_fixed_terms_matches_a_dense_computation(wide, wide_fit):
    from scipy.optimize import minimize_scalar
    data, _ = wide
    fit = wide_fit
    X = np.column_stack([np.ones(len(data)), data[xs(P_FIT)].to_numpy()])
    codes = data["g"].str[1:].astype(int).to_numpy()
    Z = (codes[:, None] == np.arange(30)).astype(float)
    y = data["y"].to_numpy()
    assert list(fit.fixef().index) == ["(Intercept)"] + xs(P_FIT)
    (theta,) = fit.theta
    crit, beta, sigma = _dense_reml(theta, X, Z, y)
    assert fit.REMLcrit() == pytest.approx(crit, rel=1e-8)
    np.testing.assert_allclose(fit.fixef().to_numpy(), beta, rtol=1e-8, atol=1e-10)
    assert fit.sigma() == pytest.approx(sigma, rel=1e-8)
    # θ̂ is the minimiser of the dense criterion
    best = minimize_scalar(lambda t: _dense_reml(t, X, Z, y)[0], bounds=(0.0, 5.0),
                           method="bounded", options={"xatol": 1e-10})
    assert theta == pytest.approx(best.x, rel=1e-6)
    assert fit.REMLcrit() <= best.fun + 1e-8
    assert pickle.loads(pickle.dumps(fit)).fixef().equals(fit.fixef())


def test_update_and_summary_with_a_long_formula(wide, wide_fit):
    data, text = wide
    small = lmer("y ~ x1 + (1 | g)", data)
    big = small.update(formula=text)
    assert big.fixef().equals(wide_fit.fixef())
    assert big.REMLcrit() == wide_fit.REMLcrit()
    smaller = big.update(formula="y ~ " + chain(xs(P_FIT)[:-1]) + " + (1 | g)")
    assert list(smaller.fixef().index) == ["(Intercept)"] + xs(P_FIT - 1)
    lines = big.design.formula.deparse_lines()
    assert rejoin(lines) == text
    out = str(big.summary())
    assert out.index("Formula: " + lines[0]) < out.index("   Data: ")
    assert "\n" + lines[-1].rstrip() + "\n" in out
    assert "\nx300 " in out and "\nx299 " in out


def test_a_2000_term_model_matrix_has_r_column_names():
    rng = np.random.default_rng(7)
    n, half = 80, N_TERMS // 2
    data = pd.DataFrame(rng.standard_normal((n, half)), columns=xs(half))
    data["f"] = np.tile(["a", "b"], n // 2)
    data["g"] = np.repeat(list("abcdefgh"), n // 8)
    data["y"] = rng.standard_normal(n)
    # x_i:f with x_i in the model: f coded by contrasts, as in R (column "x_i:fb")
    text = "y ~ " + chain(xs(half)) + " + " + chain(f"x{i}:f" for i in range(1, half + 1)) \
        + " + (1 | g)"
    lf = lFormula(text, data, control={"check.rankX": "ignore", "check.scaleX": "ignore"})
    assert lf.formula.fixed.labels == tuple(xs(half)) + tuple(f"x{i}:f" for i in range(1, half + 1))
    assert lf.X_colnames == ["(Intercept)"] + xs(half) + [f"x{i}:fb" for i in range(1, half + 1)]
    assert lf.X.shape == (n, N_TERMS + 1)
    is_b = (data["f"] == "b").to_numpy()
    np.testing.assert_array_equal(lf.X[:, 1:half + 1], data[xs(half)].to_numpy())
    np.testing.assert_array_equal(lf.X[:, half + 1:], data[xs(half)].to_numpy() * is_b[:, None])


def test_cli_fits_a_300_term_formula(wide, wide_fit, tmp_path):
    data, text = wide
    path = tmp_path / "wide.csv"
    data.to_csv(path, index=False)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONIOENCODING="utf-8")
    out = subprocess.run([sys.executable, "-m", "lmerpy", "fit", str(path), text, "--json"],
                         capture_output=True, check=False, text=True, encoding="utf-8", env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["formula"] == text
    fit = lmer(text, read_data(path))
    assert list(res["fixef"]) == ["(Intercept)"] + xs(P_FIT)
    np.testing.assert_allclose(list(res["fixef"].values()), fit.fixef().to_numpy(), rtol=1e-12)
    assert res["REMLcrit"] == pytest.approx(fit.REMLcrit(), rel=1e-12)
    assert res["REMLcrit"] == pytest.approx(wide_fit.REMLcrit(), rel=1e-10)
