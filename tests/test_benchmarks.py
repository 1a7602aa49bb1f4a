"""Smoke tests of the benchmark harness (benchmarks/): it imports, generates synthetic data
deterministically, runs tiny cases with lmerpy in a worker process and writes a well-formed
results JSON and report. No durations are asserted: only that timings were recorded, and that
the fits the harness made give lme4's numbers (goldens in tests/reference, same tolerances as
tests/test_lmer_reference.py)."""
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import cases, harness, report, run, synthetic  # noqa: E402

REF = ROOT / "tests" / "reference"
TINY = cases.Case("tiny_crossed", "tiny crossed (x|g1)+(1|g2)", "lmer", cases.CROSSED,
                  "synthetic", synthetic=dict(n_rows=400, n_g1=20, n_g2=8, seed=3))
SLEEP = cases.Case("sleepstudy_once", "sleepstudy (Days|Subject)", "lmer",
                   "Reaction ~ Days + (Days | Subject)", "sleepstudy")
CBPP = cases.Case("cbpp_once", "cbpp binomial (1|herd)", "glmer",
                  "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
                  family="binomial")


def _golden(name):
    return json.loads((REF / f"{name}.json").read_text())


def _quiet(*_args, **_kw):
    pass


def test_synthetic_crossed_is_deterministic_and_balanced(tmp_path):
    a = synthetic.crossed(n_rows=600, n_g1=30, n_g2=12, seed=7)
    pd.testing.assert_frame_equal(a, synthetic.crossed(n_rows=600, n_g1=30, n_g2=12, seed=7))
    assert not np.array_equal(a["y"], synthetic.crossed(600, 30, 12, seed=8)["y"])
    assert list(a.columns) == ["y", "x", "g1", "g2"] and len(a) == 600
    assert list(a["g1"].cat.categories[:3]) == ["a00", "a01", "a02"]
    # every level used, balanced: 600/30 and 600/12 rows each
    assert set(a["g1"].value_counts()) == {20} and set(a["g2"].value_counts()) == {50}
    # the CSV that R reads holds exactly the doubles lmerpy fits, and the level order
    csv, lev = cases.write_csv(a, tmp_path)
    back = pd.read_csv(csv)
    assert np.array_equal(back["y"].to_numpy(), a["y"].to_numpy())
    assert np.array_equal(back["x"].to_numpy(), a["x"].to_numpy())
    meta = json.loads(lev.read_text())
    assert meta["levels"]["g2"] == list(a["g2"].cat.categories) and meta["ordered"] == []
    assert back["g1"].astype(str).tolist() == a["g1"].astype(str).tolist()
    with pytest.raises(ValueError):
        synthetic.crossed(n_rows=10, n_g1=11, n_g2=2)


def test_case_selection():
    default = [c.name for c in cases.select()]
    assert "crossed_1m" not in default and "crossed_10m" not in default
    assert {"sleepstudy", "insteval", "crossed_200k", "verbagg"} <= set(default)
    assert {"crossed_1m", "crossed_10m"} <= {c.name for c in cases.select(large=True)}
    assert all(c.size == "small" for c in cases.select(quick=True))
    assert [c.name for c in cases.select(["verbagg", "sleepstudy"])] == ["sleepstudy", "verbagg"]
    with pytest.raises(SystemExit, match="no_such_case"):
        cases.select(["no_such_case"])
    assert cases.BY_NAME["crossed_200k"].synthetic == dict(n_rows=200_000, n_g1=2_000,
                                                           n_g2=300, seed=20240501)


@pytest.fixture(scope="module")
def lmerpy_only_run(tmp_path_factory):
    """One harness run without R: the tiny synthetic case and sleepstudy, 2 repetitions."""
    doc = harness.run_suite([TINY, SLEEP], reps=2, with_r=False, timeout=600, log=_quiet)
    path = tmp_path_factory.mktemp("bench") / "results.json"
    run.save(doc, path, latest=False)
    return json.loads(path.read_text()), path


def test_results_json_is_well_formed(lmerpy_only_run):
    doc, path = lmerpy_only_run
    assert doc["schema"] == harness.SCHEMA and not (path.parent / "latest.json").exists()
    assert doc["settings"]["blas_threads"] == 1
    assert doc["settings"]["env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert [c["name"] for c in doc["cases"]] == ["tiny_crossed", "sleepstudy_once"]
    for rec in doc["cases"]:
        py, r = rec["lmerpy"], rec["lme4"]
        assert py["available"] and "error" not in py, py.get("error")
        assert py["ready"]["env"]["OPENBLAS_NUM_THREADS"] == "1"
        assert len(py["times"]) == 2 and all(math.isfinite(t) and t > 0 for t in py["times"])
        assert py["median"] == pytest.approx(float(np.median(py["times"])))
        assert isinstance(py["feval"], int) and py["feval"] > 0
        assert py["time_per_feval"] == pytest.approx(py["median"] / py["feval"])
        assert py["per_eval"]["n_evals"] >= 5 and py["per_eval"]["per_eval"] > 0
        mem = py["memory"]
        assert mem["peak_rss_mb"] >= 0 and mem["baseline_rss_mb"] > 0 and mem["delta_mb"] >= 0
        assert r == {"available": False, "reason": "lme4 not run"}
        assert rec["ratio"] is None and rec["objective_diff"] is None
    assert doc["cases"][0]["n"] == 400 and doc["cases"][1]["n"] == 180


def test_harness_fits_match_direct_fit_and_lme4(lmerpy_only_run):
    doc, _ = lmerpy_only_run
    tiny, sleep = doc["cases"]
    direct = lmerpy.lmer(TINY.formula, cases.load_data(TINY))
    assert tiny["lmerpy"]["objective"] == pytest.approx(direct.REMLcrit(), rel=1e-12)
    assert tiny["lmerpy"]["theta"] == pytest.approx(list(direct.theta), rel=1e-12)
    ref = _golden("sleep_slope")
    assert sleep["lmerpy"]["objective"] == pytest.approx(ref["REMLcrit"], abs=2e-4)
    assert sleep["lmerpy"]["theta"] == pytest.approx(ref["theta"], abs=2e-3, rel=1e-3)


def test_report_table_and_plot(lmerpy_only_run, tmp_path):
    doc, _ = lmerpy_only_run
    md = tmp_path / "performance.md"
    md.write_text(f"# Performance\n\nhand-written intro\n\n{report.START}\nold\n{report.END}\n"
                  "\nhand-written analysis\n")
    pytest.importorskip("matplotlib")
    out_md, png = report.write_report(doc, md, tmp_path / "img" / "performance.png")
    text = out_md.read_text()
    assert "hand-written intro" in text and "hand-written analysis" in text and "\nold\n" not in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert len(rows) == 1 + len(doc["cases"])  # header + one row per case
    assert "tiny crossed (x\\|g1)+(1\\|g2)" in rows[1]
    assert all(ln.replace("\\|", "").count("|") == rows[0].count("|") for ln in rows)
    assert "![fit time against n" in text and "img/performance.png" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_glmm_case_runs_or_reports_not_available():
    doc = harness.run_suite([CBPP], reps=1, with_r=False, timeout=600, log=_quiet)
    side = doc["cases"][0]["lmerpy"]
    if not hasattr(lmerpy, "glmer"):
        assert side["available"] is False
        assert side["reason"] == "lmerpy.glmer is not available yet"
        assert "fits" not in side and doc["cases"][0]["ratio"] is None
        assert "n/a (lmerpy.glmer is not available yet)" in report.table(doc)
    else:
        assert side["available"] and "error" not in side, side.get("error")
        ref = _golden("cbpp_laplace")
        assert side["objective"] == pytest.approx(-2.0 * ref["logLik"], abs=4e-4)


@pytest.mark.needs_r
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed")
def test_side_by_side_with_lme4():
    ok, why = harness.r_available()
    if not ok:
        pytest.skip(why)
    doc = harness.run_suite([SLEEP], reps=1, with_r=True, timeout=600, log=_quiet)
    rec = doc["cases"][0]
    r = rec["lme4"]
    assert r["available"] and "error" not in r, (r.get("error"), r.get("log_tail"))
    assert r["ready"]["env"]["OPENBLAS_NUM_THREADS"] == "1"
    ref = _golden("sleep_slope")
    assert r["objective"] == pytest.approx(ref["REMLcrit"], abs=1e-6)
    assert r["theta"] == pytest.approx(ref["theta"], rel=1e-6)
    assert r["feval"] > 0 and r["per_eval"]["n_evals"] >= 5 and r["memory"]["delta_mb"] >= 0
    assert abs(rec["objective_diff"]) < 4e-4 and rec["ratio"] > 0
