"""The design of structured covariance terms (lme4 2.x's ``us()``, ``diag()``, ``cs()``,
``ar1()``): each random term's ``structure``/``hom`` (set by the formula parser) becomes its
:class:`~lmerpy.design.covariance.Covariance`, and the design's Λ' template, ``Lind``, θ, the
bounds and names of ``par`` come from the terms' :class:`CovarianceLayout`.

Unstructured designs are checked bit for bit against the layout code they replace in
tests/test_design_covariance.py; here: structured and mixed designs, lme4 2.x's relaxed
``check.nobs.vs.nRE``, and the errors.
"""
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from _structured import structured_formula, tag_terms

from lmerpy.datasets import load
from lmerpy.design import ReTerm, lFormula
from lmerpy.design.covariance import (AR1, CompoundSymmetry, CovarianceLayout, Diagonal,
                                      Unstructured)
from lmerpy.design.reterms import lambdat_template, term_covariance
from lmerpy.errors import DesignError, FormulaError
from lmerpy.formula import parse_formula


@pytest.fixture(scope="module")
def sleep():
    d = load("sleepstudy").copy()
    d["Dg"] = pd.Categorical(np.array(["a", "b", "c"])[np.minimum(d["Days"].to_numpy() // 4, 2)])
    d["half"] = pd.Categorical(np.where(d["Days"].to_numpy() < 5, "early", "late"))
    return d


def test_terms_carry_their_structures(sleep):
    f = structured_formula("Reaction ~ Days + cs(0 + Dg | Subject, hom = TRUE) + "
                           "ar1(0 + Dg | half) + diag(Days | Subject) + (1 | half)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # two-level grouping factor
        d = lFormula(f, sleep, control={"check.nlev.gtr.1": "ignore"})
    # lme4's order: decreasing number of levels (a stable sort reversed: ties reversed)
    assert [(t.group_name, t.covariance) for t in d.reterms] == [
        ("Subject", Diagonal(2)), ("Subject", CompoundSymmetry(3, hom=True)),
        ("half", Unstructured(1)), ("half", AR1(3))]
    lay = d.layout
    assert isinstance(lay, CovarianceLayout) and not lay.is_identity
    assert [t.n_par for t in d.reterms] == [2, 2, 1, 2]
    assert [t.n_theta for t in d.reterms] == [2, 5, 1, 5]
    assert [t.par_offset for t in d.reterms] == [0, 2, 4, 5]
    assert [t.theta_offset for t in d.reterms] == [0, 2, 7, 8]
    assert d.n_par == lay.n_par == 7 and d.theta.shape == (13,)
    np.testing.assert_array_equal(d.par_start, [1, 1, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(d.theta, lay.par_to_theta(lay.start))
    np.testing.assert_array_equal(d.lower, [0, 0, 0, -0.5, 0, 0, -1])
    np.testing.assert_array_equal(d.upper, [np.inf, np.inf, np.inf, 1, np.inf, np.inf, 1])
    # lme4 2.1's getParNames / getThetaNames (a homogeneous SD is "g.*")
    assert d.par_names == ["Subject.(Intercept)", "Subject.Days", "Subject.*",
                           "Subject.rho", "half.(Intercept)", "half.*", "half.rho"]
    assert d.theta_names == ["Subject.(Intercept)", "Subject.Days", "Subject.Dga",
                             "Subject.*.Dga", "Subject.Dgb", "Subject.*.Dgb", "Subject.Dgc",
                             "half.(Intercept)", "half.Dga", "half.Dgb.Dga", "half.Dgc.Dga",
                             "half.Dgb", "half.Dgc.Dgb"]


def test_lambdat_follows_each_structure(sleep):
    f = structured_formula("Reaction ~ Days + cs(0 + Dg | Subject, hom = TRUE) + "
                           "ar1(0 + Dg | half, hom = FALSE) + diag(Days | Subject, hom = TRUE)")
    d = lFormula(f, sleep, control={"check.nlev.gtr.1": "ignore"})
    lay = d.layout
    rng = np.random.default_rng(3)
    par = np.where(np.isfinite(d.upper), rng.uniform(-0.3, 0.8, d.n_par),
                   rng.uniform(0.2, 2.0, d.n_par))
    theta = lay.par_to_theta(par)
    L = d.lambdat_at(theta).toarray().T          # Λ
    ro = 0
    for i, t in enumerate(d.reterms):
        Li = t.covariance.lambda_(par[lay.par_slice(i)])
        for lev in range(t.n_levels):
            k = t.n_columns
            blk = L[ro + lev * k: ro + (lev + 1) * k, ro + lev * k: ro + (lev + 1) * k]
            np.testing.assert_array_equal(blk, Li)
        ro += t.n_rows
    np.testing.assert_array_equal(L, np.tril(L))
    # Lind: the 1-based θ of each stored entry of Λ'
    np.testing.assert_array_equal(d.lambdat_at(theta).data, theta[d.Lind - 1])
    # the diag(hom) term repeats its one θ on the diagonal of every level
    t = d.reterms[0]
    assert t.covariance == Diagonal(2, hom=True) and t.n_theta == 1


def test_lambdat_template_fresh_arrays_for_structured_terms(sleep):
    d = lFormula(structured_formula("Reaction ~ Days + ar1(0 + Dg | Subject)"), sleep)
    a = lambdat_template(d.reterms)
    b = lambdat_template(d.reterms)
    for x, y in zip(a[1:], b[1:]):
        assert x is not y and x.flags.writeable
        np.testing.assert_array_equal(x, y)
    a[0].data[:] = -1
    np.testing.assert_array_equal(b[0].data, d.Lambdat.data)


def test_unstructured_terms_are_the_default(sleep):
    f = parse_formula("Reaction ~ Days + (Days | Subject)")
    d = lFormula(f, sleep)
    assert d.reterms[0].covariance == Unstructured(2)
    assert d.layout.is_identity and d.n_par == 3
    # explicit us() is the same design
    d2 = lFormula(structured_formula("Reaction ~ Days + us(Days | Subject)"), sleep)
    for a, b in ((d.Lambdat.data, d2.Lambdat.data), (d.Lind, d2.Lind), (d.theta, d2.theta),
                 (d.lower, d2.lower)):
        np.testing.assert_array_equal(a, b)
    assert d.par_names == d2.par_names == d.theta_names


def test_nobs_vs_nre_is_not_checked_for_structured_terms(sleep):
    """lme4 2.x: with any structured term, check.nobs.vs.nRE is "ignore" (the structure has
    fewer parameters than random effects); unstructured models keep lme4's stop."""
    with pytest.raises(DesignError, match=r"number of observations \(=180\) <= number of "
                                          r"random effects \(=180\) for term "
                                          r"\(0 \+ factor\(Days\) \| Subject\)"):
        lFormula("Reaction ~ Days + (0 + factor(Days) | Subject)", sleep)
    d = lFormula(structured_formula("Reaction ~ Days + ar1(0 + factor(Days) | Subject)"), sleep)
    assert d.q == 180 and d.reterms[0].covariance == AR1(10)
    assert not any("number of random effects" in m for m in d.messages)


def test_term_covariance_reads_the_parsed_term():
    rt = parse_formula("y ~ (x | g)").random[0]
    assert term_covariance(rt, 2) == Unstructured(2)
    for kind, hom, want in (("diag", None, Diagonal(2)), ("diag", True, Diagonal(2, True)),
                            ("cs", None, CompoundSymmetry(2)), ("ar1", False, AR1(2, False)),
                            ("ar1", np.bool_(True), AR1(2, True))):
        tagged = tag_terms(parse_formula("y ~ (x | g)"), {"(x | g)": (kind, hom)}).random[0]
        assert term_covariance(tagged, 2) == want


@pytest.mark.parametrize("kind, hom, words", [
    ("toeplitz", None, ["unknown covariance structure 'toeplitz' in the random-effects term "
                        "(x | g)", "us, diag, cs, ar1"]),
    ("cs", "yes", ["'hom' is not TRUE or FALSE in special call cs() in the random-effects term "
                   "(x | g)", "hom='yes'"]),
    ("ar1", 1, ["'hom' is not TRUE or FALSE in special call ar1()", "hom=1"]),
    ("us", True, ["us() has no argument 'hom' in the random-effects term (x | g)"]),
])
def test_bad_structures_are_formula_errors(kind, hom, words):
    tagged = tag_terms(parse_formula("y ~ (x | g)"), {"(x | g)": (kind, hom)}).random[0]
    with pytest.raises(FormulaError) as info:
        term_covariance(tagged, 2, "x | g")
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_bad_structure_stops_the_design(sleep):
    f = tag_terms(parse_formula("Reaction ~ Days + (Days | Subject)"),
                  {"(Days | Subject)": ("arma", None)})
    with pytest.raises(FormulaError, match=r"unknown covariance structure 'arma' in the "
                                           r"random-effects term \(Days \| Subject\)"):
        lFormula(f, sleep)


def test_a_term_and_its_covariance_must_agree():
    with pytest.raises(DesignError, match=r"term \(x \| g\) has 2 columns but its covariance "
                                          r"CompoundSymmetry\(k=3, hom=False\) has 3"):
        ReTerm("g", ["(Intercept)", "x"], ["a", "b"], np.array([0, 1]), np.ones((2, 2)),
               term_label="x | g", covariance=CompoundSymmetry(3))


def test_the_design_is_not_changed_by_replace(sleep):
    d = lFormula(structured_formula("Reaction ~ Days + cs(Days | Subject)"), sleep)
    lay = d.layout
    assert d.layout is lay                      # built once
    d2 = dataclasses.replace(d, y=d.y + 1.0)
    assert d2.layout.covariances == lay.covariances
    np.testing.assert_array_equal(d2.par_start, [1.0, 1.0, 0.0])
