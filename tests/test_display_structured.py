"""lme4 2.x's printed random-effects tables for structured terms, from plain inputs.

Two sets of expectations, no R at test time:

* tests/reference/display/formatvc_structured.json (tests/reference/r/formatvc_structured.R):
  reformulas' ``formatVC`` of VarCorr objects built from lme4 2.1's Covariance classes at
  chosen parameters -- every structure and ``hom``, an SD of 0 (``NaN (ar1)``), one-column
  ``cs``/``ar1`` (``1.00 (cs)``), more than 10 columns (``...``), no correlations, no
  residual, repeated group names -- printed by ``print(VarCorr)`` (digits 5 and 3, both
  components) and as ``summary()``/``print(fit)`` print them (digits 4).
* tests/reference/structured/*.json (the oracle's lme4 2.1 fits): ``summary_text``,
  ``print_text``, ``varcorr_text`` and ``varcorr_text_variance`` of each fit, from a
  SummaryInput built from the golden's own numbers (its terms' SDs and correlations).

Each block's display fields (``vcmat_class``, ``corr_label``, ``n_stddev_printed``) come from
``lmerpy.design.covariance.make_covariance`` for the term's structure, ``k`` and ``hom``.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import lmerpy
from lmerpy.design.covariance import make_covariance
from lmerpy.display import VarCorrBlock, format_print, format_summary, format_varcorr
from lmerpy.formula import parse_formula
from lmerpy.models.varcorr import VarCorr, VarCorrTerm

from _compare import fit_at_theta
from test_display_summary import summary_input

REF = Path(__file__).parent / "reference"
FORMATVC = json.loads((REF / "display" / "formatvc_structured.json").read_text())
SYNTH = {c["id"]: c for c in FORMATVC["cases"]}


def _fit_goldens():
    out = []
    for p in sorted((REF / "structured").glob("*.json")):
        ref = json.loads(p.read_text())
        if ref.get("kind") == "fit" and "summary_text" in ref:
            out.append(ref)
    return out


FITS = {r["id"]: r for r in _fit_goldens()}


def _matrix(rows):
    return np.array([[np.nan if v in (None, "NaN", "NA") else float(v) for v in r] for r in rows])


def _display(kind, k, hom):
    cov = make_covariance(kind, k, hom)
    return dict(vcmat_class=cov.vcmat_class, corr_label=cov.corr_label,
                n_stddev_printed=cov.n_stddev_printed)


# --------------------------------------------------------------------------- formatVC


def _synth_blocks(case):
    blocks = []
    for b in case["blocks"]:
        k = len(b["names"])
        shown = _display(b["kind"], k, b["hom"])
        assert shown["vcmat_class"] == b["vcmat_class"]
        blocks.append(VarCorrBlock(group=b["group"], names=list(b["names"]),
                                   stddev=np.asarray(b["stddev"], float),
                                   corr=_matrix(b["correlation"]) if k > 1 else None, **shown))
    return blocks, case["sigma"]


def test_formatvc_goldens_are_lme4_2():
    assert FORMATVC["lme4_version"].startswith("2.1")
    assert FORMATVC["reformulas_version"] == "0.4.5"
    kinds = {b["vcmat_class"] for c in FORMATVC["cases"] for b in c["blocks"]}
    assert kinds == {"us", "diag", "cs", "homcs", "ar1", "hetar1"}


@pytest.mark.parametrize("cid", sorted(SYNTH))
def test_print_varcorr_matches_lme4_2(cid):
    case = SYNTH[cid]
    blocks, sigma = _synth_blocks(case)
    assert format_varcorr(blocks, sigma, comp=("Std.Dev.",)) == case["print_sd"]
    assert format_varcorr(blocks, sigma) == case["print_both"]
    assert format_varcorr(blocks, sigma, comp=("Std.Dev.", "Variance"), digits=3) == \
        case["print_digits3"]


@pytest.mark.parametrize("cid", sorted(SYNTH))
def test_summary_and_print_tables_match_lme4_2(cid):
    case = SYNTH[cid]
    blocks, sigma = _synth_blocks(case)
    assert format_varcorr(blocks, sigma, digits=4) == case["summary_table"]
    assert format_varcorr(blocks, sigma, comp="Std.Dev.", digits=4) == case["print_fit_table"]


@pytest.mark.parametrize("cid", sorted(SYNTH))
def test_varcorr_from_the_covariance_types_prints_as_lme4_2(cid):
    # what models.varcorr builds for a fit: Σᵢ = σ²ΛᵢΛᵢ' from the term's Covariance
    case = SYNTH[cid]
    sigma = case["sigma"]
    terms = []
    for b in case["blocks"]:
        cov = make_covariance(b["kind"], len(b["names"]), b["hom"])
        scale2 = 1.0 if sigma is None else sigma ** 2
        terms.append(VarCorrTerm(b["group"], list(b["names"]),
                                 scale2 * cov.covariance(np.asarray(b["par"], float)),
                                 **_display(b["kind"], len(b["names"]), b["hom"])))
    vc = VarCorr(terms, sigma, use_sc=sigma is not None)
    assert vc.format() == case["print_sd"]
    assert vc.format(comp=("Variance", "Std.Dev.")) == case["print_both"]


def test_the_corner_cases_are_covered():
    assert "NaN (ar1)" in SYNTH["ar1_sd0"]["print_sd"]
    assert "NaN (ar1)" in SYNTH["hetar1_first_sd0"]["print_sd"]
    assert "1.000 (cs)" in SYNTH["one_column"]["print_sd"]
    assert " ...  ..." in SYNTH["maxdim"]["print_sd"]
    assert "Corr" not in SYNTH["diag_only"]["print_sd"]
    assert "Residual" not in SYNTH["no_residual"]["print_sd"]
    assert "Subject.2" in SYNTH["repeated_groups"]["print_sd"]


def test_one_sd_row_for_homcs_and_ar1():
    blocks, sigma = _synth_blocks(SYNTH["homcs4_diag3"])
    lines = format_varcorr(blocks, sigma, comp="Std.Dev.").split("\n")
    assert lines[1] == " subj     t1          1.525    0.370 (cs)"
    assert lines[2].startswith(" site     (Intercept) 7.750")


def test_a_plain_table_without_classes_keeps_lme4_1_layout():
    # the same us block printed with and without lme4 2.x's class: 2.x adds the empty last
    # correlation column (a trailing space on every line), as lme4 2.1 does
    blk = dict(group="Subject", names=["(Intercept)", "Days"], stddev=np.array([24.7407, 5.9221]),
               corr=np.array([[1, 0.0656], [0.0656, 1]]))
    old = format_varcorr([VarCorrBlock(**blk)], 25.5918, comp="Std.Dev.")
    new = format_varcorr([VarCorrBlock(**blk, vcmat_class="us")], 25.5918, comp="Std.Dev.")
    assert old == (" Groups   Name        Std.Dev. Corr \n"
                   " Subject  (Intercept) 24.7407       \n"
                   "          Days         5.9221  0.066\n"
                   " Residual             25.5918       ")
    assert new.split("\n") == [ln + " " for ln in old.split("\n")]


# --------------------------------------------------------------------------- the oracle's fits


def _fit_blocks(ref):
    blocks = []
    for t in ref["terms"]:
        shown = _display(t["structure"], t["nc"], t["hom"])
        assert "vcmat_" + shown["vcmat_class"] == t["vcmat_class"]
        blocks.append(VarCorrBlock(group=t["varcorr_name"], names=list(t["columns"]),
                                   stddev=np.asarray(t["stddev"], float),
                                   corr=_matrix(t["correlation"]) if t["nc"] > 1 else None,
                                   **shown))
    return blocks


def _scaled_residuals(ref):
    """lme4's ``residuals(fit, "pearson", scaled = TRUE)`` from the golden (no prior weights
    in these fits): r / σ for an LMM, the stored Pearson residuals for a GLMM."""
    assert not ref.get("weights")
    if ref["fn"] == "lmer":
        return np.asarray(ref["residuals"], float) / ref["sigma"]
    return np.asarray(ref["residuals_pearson"], float)


def _fit_input(ref):
    s = summary_input(ref, residuals=False)
    s.formula = parse_formula(ref["formula"]).deparse_lines()     # the formula module's deparse
    s.scaled_residuals = _scaled_residuals(ref)
    s.varcorr = _fit_blocks(ref)
    if "deviance" in s.criteria:            # lme4 2.x's llikAIC names it -2*log(L)
        s.criteria = {("-2*log(L)" if k == "deviance" else k): v for k, v in s.criteria.items()}
    return s


def test_fit_goldens_found():
    assert len(FITS) >= 8
    assert {"sleep_cs_reml", "sleep_diag_hom_reml", "sleep_doublebar_reml"} <= set(FITS)


def _repaired(ref):
    """The oracle re-evaluated lme4's object at its optimum (lme4 2.1 left NaN estimates):
    its ``optinfo`` lost the optimizer's name, so lme4 printed an empty convergence line."""
    return ref.get("optimizer") is None and "repaired_by" in ref


@pytest.mark.parametrize("fid", sorted(FITS))
def test_summary_text_matches_lme4_2(fid):
    ref = FITS[fid]
    got, want = format_summary(_fit_input(ref)), ref["summary_text"]
    if _repaired(ref):
        msg = "boundary (singular) fit: see help('isSingular')"
        assert want.split("\n")[-3:] == ["", msg, ""]
        assert got.split("\n")[-3:] == ["optimizer (nloptwrap) convergence code: 0 (OK)", msg, ""]
        got, want = got.split("\n")[:-3], want.split("\n")[:-3]
    assert got == want


@pytest.mark.parametrize("fid", sorted(FITS))
def test_print_text_matches_lme4_2(fid):
    ref = FITS[fid]
    got, want = format_print(_fit_input(ref)), ref["print_text"]
    if _repaired(ref):
        assert want.split("\n")[-1] == " ; 0 optimizer warnings; 1 lme4 warnings "
        got, want = got.split("\n")[:-1], want.split("\n")[:-1]
    assert got == want


@pytest.mark.parametrize("fid", sorted(FITS))
def test_varcorr_text_matches_lme4_2(fid):
    ref = FITS[fid]
    s = _fit_input(ref)
    sigma = s.sigma if s.use_sc else None
    assert format_varcorr(s.varcorr, sigma, comp="Std.Dev.") == ref["varcorr_text"]
    assert format_varcorr(s.varcorr, sigma) == ref["varcorr_text_variance"]


# --------------------------------------------------------------------------- end to end


def _sleep_fit(formula, REML, theta):
    """lmerpy's fit of sleepstudy, evaluated at lme4's θ̂ (the optimum is flat enough for the
    two optimizers to differ in the 5th digit of an SD)."""
    data = lmerpy.datasets.load("sleepstudy")
    data.attrs["name"] = "df"
    return fit_at_theta(lmerpy.lmer(formula, data, REML=REML), theta)


@pytest.mark.parametrize("fid", ["sleep_us_reml", "sleep_us_ml"])
def test_a_fit_written_with_us_prints_as_lme4_2(fid):
    # us() is today's unstructured term: a fit prints lme4 2.1's text (the trailing Corr
    # column, "-2*log(L)")
    ref = FITS[fid]
    fit = _sleep_fit(ref["formula"], ref["REML"], ref["theta"])
    assert str(fit.summary()) == ref["summary_text"]
    assert str(fit) == ref["print_text"]
    assert str(fit.VarCorr()) == ref["varcorr_text"]
    assert fit.VarCorr().format(comp=("Variance", "Std.Dev.")) == ref["varcorr_text_variance"]


def test_a_plain_formula_keeps_lme4_1_printing():
    # lmerpy prints models without covariance calls as lme4 1.1-31 (its existing goldens);
    # lme4 2.1 prints the same model with the extra Corr column (the oracle's sleep_plain_reml)
    old = json.loads((REF / "sleep_slope.json").read_text())
    new = FITS["sleep_plain_reml"]
    fit = _sleep_fit("Reaction ~ Days + (Days | Subject)", True, old["theta"])
    assert str(fit.summary()) == old["summary_text"]
    assert str(fit.summary()) != new["summary_text"]
    assert [ln.rstrip() for ln in old["summary_text"].split("\n")] == [
        ln.rstrip() for ln in new["summary_text"].split("\n")]
