"""The ``lmerpy`` command line, end to end in a subprocess (``python -m lmerpy``).

The happy path must print exactly ``str(fit.summary())`` of the same fit made in Python; JSON
results are compared with lme4's goldens (tests/reference/sleep_slope.json, cbpp_laplace.json)
at the tolerances of tests/test_lmer_reference.py: fixed effects within 2e-3 of their standard
error, standard errors and SDs 1e-3 relative, correlations 2e-3 absolute, log-likelihood 1e-4
absolute. Each error prints one message on stderr (no traceback) with its exit status: 2 for a
usage error, 1 for a data or model error.
"""
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.cli import read_data
from lmerpy.errors import LmerpyError, UnknownColumnError

REF = Path(__file__).parent / "reference"
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"


def run(*args, stdin=None, cwd=None):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONIOENCODING="utf-8")
    env.pop("LMERPY_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "lmerpy", *map(str, args)], capture_output=True,
                          check=False, text=True, encoding="utf-8", env=env, input=stdin,
                          cwd=cwd, timeout=300)


def _ref(name):
    return json.loads((REF / name).read_text())


@pytest.fixture(scope="module")
def sleep_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "sleepstudy.csv"
    out = run("datasets", "sleepstudy", "--output", path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""
    return path


def _fail(out, status, *fragments):
    assert out.returncode == status, (out.returncode, out.stderr)
    assert out.stdout == ""
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("lmerpy: error: ")
    for f in fragments:
        assert f in out.stderr, out.stderr


# ---------------------------------------------------------------------- datasets


def test_datasets_lists_the_bundled_data():
    out = run("datasets")
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.splitlines() == lmerpy.datasets.list_datasets()
    assert "sleepstudy" in out.stdout.splitlines()


def test_datasets_export_round_trips(sleep_csv, tmp_path):
    out = run("datasets", "SLEEPSTUDY")                 # names are case-insensitive; stdout
    assert out.returncode == 0
    assert out.stdout == sleep_csv.read_text()
    back = pd.read_csv(sleep_csv)
    orig = lmerpy.datasets.load("sleepstudy")
    assert list(back.columns) == list(orig.columns) and len(back) == len(orig) == 180
    np.testing.assert_array_equal(back["Reaction"], orig["Reaction"])
    assert list(back["Subject"].astype(str)) == list(orig["Subject"].astype(str))
    # missing values are written as R writes them
    run("datasets", "grouseticks", "-o", tmp_path / "g.csv")
    assert len(pd.read_csv(tmp_path / "g.csv")) == len(lmerpy.datasets.load("grouseticks"))


def test_datasets_errors(tmp_path):
    _fail(run("datasets", "sleepy"), 2, "no data set named 'sleepy'", "sleepstudy")
    _fail(run("datasets", "--output", tmp_path / "x.csv"), 2, "--output needs a data set name")
    _fail(run("datasets", "Dyestuff", "-o", tmp_path / "no" / "dir.csv"), 1, "cannot write")


# ---------------------------------------------------------------------- fit: the summary


def test_fit_prints_lme4s_summary(sleep_csv, tmp_path):
    out = run("fit", sleep_csv, SLEEP_FORMULA)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    fit = lmerpy.lmer(SLEEP_FORMULA, lmerpy.datasets.load("sleepstudy"))
    assert out.stdout == str(fit.summary()) + "\n"
    assert "   Data: sleepstudy\n" in out.stdout
    assert out.stdout.startswith("Linear mixed model fit by REML ['lmerMod']\n")
    # the Data: line names the file's stem
    other = tmp_path / "my_sleep.csv"
    shutil.copy(sleep_csv, other)
    out2 = run("fit", other, SLEEP_FORMULA)
    assert out2.stdout == out.stdout.replace("   Data: sleepstudy\n", "   Data: my_sleep\n")


def test_fit_ml_and_stdin(sleep_csv):
    formula = "Reaction ~ Days + (1 | Subject)"
    out = run("fit", "-", formula, "--ml", stdin=sleep_csv.read_text())
    assert out.returncode == 0, out.stderr
    data = lmerpy.datasets.load("sleepstudy")
    data.attrs["name"] = "stdin"
    fit = lmerpy.lmer(formula, data, REML=False)
    assert out.stdout == str(fit.summary()) + "\n"
    assert out.stdout.startswith("Linear mixed model fit by maximum likelihood")


# ---------------------------------------------------------------------- fit: JSON


def test_fit_json_against_lme4(sleep_csv):
    ref = _ref("sleep_slope.json")
    out = run("fit", sleep_csv, SLEEP_FORMULA, "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["formula"] == SLEEP_FORMULA and res["data"] == "sleepstudy"
    assert res["model"] == "lmer" and res["REML"] is True and res["family"] == "gaussian"
    assert res["nobs"] == ref["nobs"] == 180 and res["ngrps"] == {"Subject": 18}
    assert list(res["fixef"]) == list(ref["fixef"])
    for name, value in ref["fixef"].items():
        assert abs(res["fixef"][name] - value) <= 2e-3 * ref["se"][name]
        assert res["se"][name] == pytest.approx(ref["se"][name], rel=1e-3)
    assert res["logLik"] == pytest.approx(ref["logLik"], abs=1e-4)
    assert res["REMLcrit"] == pytest.approx(ref["REMLcrit"], abs=2e-4)
    assert res["AIC"] == pytest.approx(ref["AIC"], abs=2e-4)
    assert res["BIC"] == pytest.approx(ref["BIC"], abs=2e-4)
    assert res["df"] == ref["df"] and res["deviance"] is None
    assert res["sigma"] == pytest.approx(ref["sigma"], rel=1e-3)
    assert res["theta_names"] == ref["theta_names"]
    assert len(res["theta"]) == 3
    # the golden writes R's NA names as ""; the JSON has null
    assert [(r["grp"], r["var1"], r["var2"]) for r in res["varcorr"]] == \
        [(r["grp"], r["var1"] or None, r["var2"] or None) for r in ref["varcorr"]]
    for got, want in zip(res["varcorr"], ref["varcorr"]):
        if not want["var2"]:
            assert got["sdcor"] == pytest.approx(want["sdcor"], rel=1e-3)
        else:
            assert got["sdcor"] == pytest.approx(want["sdcor"], abs=2e-3)
    assert res["convergence"] == {"code": 0, "messages": []}
    assert res["singular"] is False and res["warnings"] == []


def test_fit_glmer_json_with_factor_column(tmp_path):
    ref = _ref("cbpp_laplace.json")
    csv = tmp_path / "cbpp.csv"
    assert run("datasets", "cbpp", "-o", csv).returncode == 0
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    # period is numeric in the CSV (as R's read.csv reads it): one slope without --factor
    numeric = json.loads(run("fit", csv, formula, "--family", "binomial", "--json").stdout)
    assert list(numeric["fixef"]) == ["(Intercept)", "period"]
    out = run("fit", csv, formula, "--family", "binomial", "--link", "logit", "--factor",
              "period", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["model"] == "glmer" and res["family"] == "binomial" and res["link"] == "logit"
    assert res["nAGQ"] == 1 and res["REML"] is False
    assert list(res["fixef"]) == list(ref["fixef"])
    for name, value in ref["fixef"].items():
        assert abs(res["fixef"][name] - value) <= 2e-3 * ref["se"][name]
        assert res["se"][name] == pytest.approx(ref["se"][name], rel=1e-3)
    assert res["logLik"] == pytest.approx(ref["logLik"], abs=1e-4)
    assert res["theta"] == pytest.approx(ref["theta"], rel=1e-3)
    assert res["sigma"] == 1.0 and res["ngrps"] == {"herd": 15}
    text = run("fit", csv, formula, "--family", "binomial", "--factor", "period")
    assert text.returncode == 0
    assert text.stdout.startswith("Generalized linear mixed model fit by maximum likelihood")
    assert " Family: binomial  ( logit )\n" in text.stdout


# ---------------------------------------------------------------------- fit: errors


def test_fit_error_missing_file(tmp_path):
    _fail(run("fit", tmp_path / "nope.csv", "y ~ x + (1|g)"), 1,
          f"cannot read '{tmp_path / 'nope.csv'}': no such file")
    _fail(run("fit", tmp_path, "y ~ x + (1|g)"), 1, "not a file")
    (tmp_path / "empty.csv").write_text("")
    _fail(run("fit", tmp_path / "empty.csv", "y ~ x + (1|g)"), 1, "the file is empty")


def test_fit_error_bad_formula_shows_the_caret(sleep_csv):
    out = run("fit", sleep_csv, "Reaction ~ Days + (1|Subject")
    _fail(out, 1, "bad formula: unbalanced parentheses")
    lines = out.stderr.splitlines()
    assert lines[1] == "  Reaction ~ Days + (1|Subject"
    assert lines[2] == "  " + " " * 18 + "^"


def test_fit_error_unknown_column(sleep_csv):
    out = run("fit", sleep_csv, "Reaction ~ Dayz + (1|Subject)")
    _fail(out, 1, "column 'Dayz' not found in data; did you mean 'Days'?")
    assert len(out.stderr.splitlines()) == 1
    _fail(run("fit", sleep_csv, "Reaction ~ Days + (1|Subject)", "--factor", "subject"), 1,
          "--factor: column 'subject' not found", "did you mean 'Subject'?")


def test_fit_usage_errors(sleep_csv):
    f = "Reaction ~ Days + (1|Subject)"
    family = run("fit", sleep_csv, f, "--family", "binomal")
    _fail(family, 2, "unknown family 'binomal'; did you mean 'binomial'?", "poisson")
    _fail(run("fit", sleep_csv, f, "--family", "poisson", "--link", "logit"), 2,
          'link "logit" not available for poisson family')
    _fail(run("fit", sleep_csv, f, "--nagq", "5"), 2, "--nagq needs --family")
    _fail(run("fit", sleep_csv, f, "--link", "log"), 2, "--link needs --family")
    _fail(run("fit", sleep_csv, f, "--family", "poisson", "--nagq", "-1"), 2,
          "--nagq must be an integer from 0 to 100, not -1")
    missing = run("fit", sleep_csv)
    _fail(missing, 2, "the following arguments are required: formula")
    _fail(run("fit", sleep_csv, f, "--bogus"), 2, "unrecognized arguments: --bogus")
    _fail(run("frobnicate"), 2, "invalid choice: 'frobnicate'")
    for out in (family, missing):
        assert len(out.stderr.splitlines()) == 1
    bare = run()
    assert bare.returncode == 2 and "usage: lmerpy" in bare.stderr


def test_help_and_version():
    out = run("fit", "--help")
    assert out.returncode == 0 and "--family" in out.stdout and "--json" in out.stdout
    ver = run("--version")
    assert ver.returncode == 0 and ver.stdout.strip() == f"lmerpy {lmerpy.__version__}"


def test_console_script_is_the_same_program():
    script = Path(sys.executable).with_name("lmerpy")
    if not script.exists():
        pytest.skip("the lmerpy console script is not installed next to this python")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([str(script), "datasets"], capture_output=True, check=False, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0 and out.stdout == run("datasets").stdout
    bad = subprocess.run([str(script), "datasets", "nope"], capture_output=True, check=False,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("lmerpy: error: no data set named")


# ---------------------------------------------------------------------- reading CSV (in process)


def test_read_data_makes_r_factors(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("y,g,n,flag,x\n1.5,b,3,TRUE,0.5\n2,A,10,FALSE,NA\n3,a,3,TRUE,1\n4,B,2.5,FALSE,2\n"
                   "5,,10,TRUE,3\n")
    df = read_data(csv, factors=["n"])
    assert df.attrs["name"] == "d"
    # R: sort(c("b", "A", "a", "B")) in a UTF-8 locale
    assert list(df["g"].cat.categories) == ["a", "A", "b", "B"]
    assert df["g"].isna().tolist() == [False, False, False, False, True]
    # R: factor(c(3, 10, 3, 2.5, 10)) has levels 2.5, 3, 10
    assert list(df["n"].cat.categories) == ["2.5", "3", "10"]
    assert df["flag"].dtype == bool
    assert df["x"].isna().sum() == 1 and df["y"].dtype == float
    ints = tmp_path / "i.csv"
    ints.write_text("y,s\n1,308\n2,309\n3,308\n")
    assert list(read_data(ints, factors=["s"])["s"].cat.categories) == ["308", "309"]
    with pytest.raises(UnknownColumnError, match="--factor: column 'S'"):
        read_data(ints, factors=["S"])
    with pytest.raises(LmerpyError, match="no data rows"):
        header_only = tmp_path / "h.csv"
        header_only.write_text("y,x\n")
        read_data(header_only)


def test_read_data_renames_a_repeated_header_as_read_csv(tmp_path):
    # R: read.csv makes names unique (check.names = TRUE): x, g, x.1
    csv = tmp_path / "dup.csv"
    csv.write_text("x,g,x\n1,a,5\n2,b,6\n3,a,7\n")
    df = read_data(csv)
    assert list(df.columns) == ["x", "g", "x.1"]
    assert df["x"].tolist() == [1, 2, 3] and df["x.1"].tolist() == [5, 6, 7]


def test_read_data_fits_like_the_bundled_data(sleep_csv):
    data = read_data(sleep_csv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", data)
    ref = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", lmerpy.datasets.load("sleepstudy"))
    assert float(fit.logLik()) == float(ref.logLik())
    assert list(fit.ranef()["Subject"].index) == list(ref.ranef()["Subject"].index)
