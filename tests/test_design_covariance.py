"""The Covariance types of random-effects terms (lmerpy.design.covariance).

Checked three ways: against lme4 2.1's own ``Covariance.*`` classes evaluated by
``tests/reference/covariance/make_covariance_classes.R`` (θ, its index, Λ, names, bounds,
start, the profile scale, θ → par, isSingular, the VarCorr class); by their algebra (round
trips, Σ's structure, Jacobians against central differences, Σ positive semi-definite); and
``us`` against the θ layout the design stage builds today (same bits), so that wiring the
design to these classes changes no existing fit.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmerpy.design import lFormula
from lmerpy.design.covariance import (AR1, STRUCTURES, CompoundSymmetry, CovarianceLayout,
                                      Diagonal, Unstructured, make_covariance)
from lmerpy.design.reterms import lambdat_template, theta_names
from lmerpy.design.sparse import trusted_csc
from lmerpy.errors import ArgumentError
from lmerpy.pls.lmm.information import template_columns

REF = Path(__file__).parent / "reference" / "covariance" / "classes.json"

#: (kind, hom) of every structure and variant (None: the structure has no hom)
VARIANTS = [("us", None), ("diag", False), ("diag", True), ("cs", False), ("cs", True),
            ("ar1", False), ("ar1", True)]
KS = [1, 2, 3, 4]
ALL = [(kind, hom, k) for kind, hom in VARIANTS for k in KS]


def _ids(case):
    kind, hom, k = case
    return f"{kind}{'' if hom is None else ('-hom' if hom else '-het')}-k{k}"


def _random_par(cov, rng, margin=0.02):
    """A random ``par`` strictly inside the bounds (ρ at least ``margin`` from its bounds)."""
    lo, hi = cov.lower, cov.upper
    p = np.empty(cov.n_par)
    for i in range(cov.n_par):
        if np.isfinite(hi[i]):                    # a correlation
            a, b = lo[i] + margin * (hi[i] - lo[i]), hi[i] - margin * (hi[i] - lo[i])
            p[i] = rng.uniform(a, b)
        elif lo[i] == 0:                          # a standard deviation
            p[i] = rng.uniform(0.2, 2.0)
        else:                                     # an off-diagonal θ of us
            p[i] = rng.normal(0.0, 1.0)
    return p


def _cov(case):
    kind, hom, k = case
    return make_covariance(kind, k, hom)


# --------------------------------------------------------------------------- construction

def test_make_covariance_gives_lme4_defaults():
    assert make_covariance("us", 3) == Unstructured(3)
    assert make_covariance("diag", 3).hom is False       # lme4: diag(..., hom = FALSE)
    assert make_covariance("cs", 3).hom is False          # lme4: cs(..., hom = FALSE)
    assert make_covariance("ar1", 3).hom is True          # lme4: ar1(..., hom = TRUE)
    assert Unstructured(2).hom is None
    assert set(STRUCTURES) == {"us", "diag", "cs", "ar1"}


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "2", None])
def test_bad_number_of_columns(k):
    with pytest.raises(ArgumentError, match=r"cs\(\): the number of columns k .*got"):
        CompoundSymmetry(k)


def test_bad_hom():
    with pytest.raises(ArgumentError, match=r"'hom' is not TRUE or FALSE in ar1\(\); got 'yes'"):
        AR1(3, "yes")
    with pytest.raises(ArgumentError, match=r"us\(\) has no argument 'hom'; got hom=True"):
        Unstructured(3, True)
    with pytest.raises(ArgumentError, match=r"unknown covariance structure 'toep'"):
        make_covariance("toep", 3)


def test_wrong_lengths_are_named():
    c = CompoundSymmetry(3, hom=True)
    with pytest.raises(ArgumentError, match=r"par has length 3, expected 2 for "
                                            r"CompoundSymmetry\(k=3, hom=True\)"):
        c.par_to_theta([1.0, 0.5, 0.2])
    with pytest.raises(ArgumentError, match=r"theta has length 6, expected 5"):
        c.theta_to_par(np.ones(6))
    with pytest.raises(ArgumentError, match=r"cnms has 2 names, expected 3"):
        c.par_names(["a", "b"], "g")


def test_values_are_immutable_equal_hashable_and_picklable():
    c = AR1(4, hom=False)
    assert c == AR1(4, False) and hash(c) == hash(AR1(4, False))
    assert c != AR1(4) and c != CompoundSymmetry(4, False) and c != AR1(3, False)
    assert pickle.loads(pickle.dumps(c)) == c
    assert pickle.loads(pickle.dumps(Unstructured(2))) == Unstructured(2)
    with pytest.raises(AttributeError):
        c.k = 3
    assert repr(c) == "AR1(k=4, hom=False)" and repr(Unstructured(2)) == "Unstructured(k=2)"


# --------------------------------------------------------------------------- bounds, start

@pytest.mark.parametrize("k", KS)
def test_bounds_and_start_as_lme4(k):
    us = Unstructured(k)
    d = np.zeros(us.n_par, dtype=bool)
    d[[s * k - s * (s - 1) // 2 for s in range(k)]] = True
    np.testing.assert_array_equal(us.lower, np.where(d, 0.0, -np.inf))
    np.testing.assert_array_equal(us.start, d.astype(float))
    np.testing.assert_array_equal(us.upper, np.full(us.n_par, np.inf))
    for hom in (False, True):
        n_sd = 1 if hom else k
        np.testing.assert_array_equal(Diagonal(k, hom).lower, np.zeros(n_sd))
        np.testing.assert_array_equal(Diagonal(k, hom).start, np.ones(n_sd))
        for cls, rho_low in ((CompoundSymmetry, -1.0 / (k - 1) if k > 1 else None),
                             (AR1, -1.0)):
            c = cls(k, hom)
            rho = [] if k == 1 else [0.0]
            np.testing.assert_array_equal(c.start, np.r_[np.ones(n_sd), rho])
            np.testing.assert_array_equal(c.lower, np.r_[np.zeros(n_sd),
                                                         [] if k == 1 else [rho_low]])
            np.testing.assert_array_equal(c.upper, np.r_[np.full(n_sd, np.inf),
                                                         [] if k == 1 else [1.0]])


def test_cs_lower_bound_keeps_sigma_semidefinite():
    # R(ρ) = (1-ρ)I + ρ11' has the eigenvalue 1 + (k-1)ρ: zero at ρ = -1/(k-1)
    for k in (2, 3, 4, 6):
        c = CompoundSymmetry(k)
        S = c.covariance(np.r_[np.ones(k), c.lower[-1]])
        w = np.linalg.eigvalsh(S)
        assert abs(w[0]) < 1e-12 and np.all(w > -1e-12)
        assert np.all(np.isfinite(c.par_to_theta(np.r_[np.ones(k), c.lower[-1]])))


@pytest.mark.parametrize("cls", [CompoundSymmetry, AR1])
@pytest.mark.parametrize("hom", [False, True])
def test_rho_one_gives_the_limit(cls, hom):
    # lme4's cs recursion gives 0/0 at ρ = 1; the limit is one column of SDs
    k = 4
    c = cls(k, hom)
    s = np.array([1.5]) if hom else np.array([0.5, 1.0, 1.5, 2.0])
    L = c.lambda_(np.r_[s, 1.0])
    assert np.all(np.isfinite(L))
    np.testing.assert_allclose(L[:, 1:], 0.0, atol=1e-15)
    np.testing.assert_allclose(L[:, 0], np.broadcast_to(s, (k,)), rtol=1e-15)
    near = c.lambda_(np.r_[s, 1.0 - 1e-12])
    np.testing.assert_allclose(near, L, atol=1e-5)


# --------------------------------------------------------------------------- algebra

@pytest.mark.parametrize("case", ALL, ids=_ids)
def test_pattern_and_sizes(case):
    c = _cov(case)
    kind, hom, k = case
    rows, cols = c.pattern()
    assert np.all(rows >= cols)
    assert c.theta_index.shape == rows.shape
    assert sorted(set(c.theta_index.tolist())) == list(range(c.n_theta))
    assert c.lambdat_counts().sum() == rows.shape[0]
    n_sd = k if (kind == "us" or not hom) else 1
    expected_par = {"us": k * (k + 1) // 2, "diag": n_sd}.get(kind, n_sd + (k > 1))
    assert c.n_par == expected_par
    if kind in ("cs", "ar1") and hom:
        assert c.n_theta == 2 * k - 1
    # the pattern is listed row by row of Λ (lme4's Lambdat CSC order)
    order = np.lexsort((cols, rows))
    np.testing.assert_array_equal(order, np.arange(rows.shape[0]))


@pytest.mark.parametrize("case", ALL, ids=_ids)
def test_round_trips(case):
    c = _cov(case)
    rng = np.random.default_rng(sum(map(ord, _ids(case))))
    for _ in range(25):
        par = _random_par(c, rng)
        theta = c.par_to_theta(par)
        np.testing.assert_allclose(c.theta_to_par(theta), par, rtol=1e-11, atol=1e-13)
        L = c.lambda_(par)
        np.testing.assert_array_equal(L, c.lambda_from_theta(theta))
        np.testing.assert_array_equal(L, np.tril(L))
        S = c.covariance(par)
        sd = np.sqrt(np.diag(S))
        pp = c.profpar(par, sigma=1.7)
        # the profile scale: the SDs of Σ (times σ), then the correlations
        n_sd = 1 if (c.hom and c.kind != "diag") or (c.kind == "diag" and c.hom) else c.k
        np.testing.assert_allclose(np.broadcast_to(pp[:n_sd], sd.shape), 1.7 * sd,
                                   rtol=1e-12)
        np.testing.assert_allclose(c.from_profpar(pp, sigma=1.7), par, rtol=1e-11,
                                   atol=1e-13)
        if c.kind == "us" and c.k > 1:
            C = S / np.outer(sd, sd)
            r, cc = np.tril_indices(c.k, -1)
            order = np.lexsort((r, cc))                 # column-major lower triangle
            np.testing.assert_allclose(pp[c.k:], C[r[order], cc[order]], rtol=1e-12,
                                       atol=1e-14)
        if c.kind in ("us", "diag"):
            vc = c.profpar(par, sigma=1.7, scale="varcov")
            np.testing.assert_allclose(c.from_profpar(vc, sigma=1.7, scale="varcov"), par,
                                       rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in ALL if c[0] in ("cs", "ar1") and c[2] > 1],
                         ids=_ids)
def test_structure_of_sigma(case):
    c = _cov(case)
    kind, hom, k = case
    rng = np.random.default_rng(k + 10 * hom)
    for _ in range(25):
        par = _random_par(c, rng)
        rho = par[-1]
        S = c.covariance(par)
        sd = np.sqrt(np.diag(S))
        np.testing.assert_allclose(sd, np.broadcast_to(par[:-1], (k,)), rtol=1e-12)
        C = S / np.outer(sd, sd)
        i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
        want = (np.where(i == j, 1.0, rho) if kind == "cs"
                else rho ** np.abs(i - j).astype(float))
        np.testing.assert_allclose(C, want, rtol=1e-12, atol=1e-13)
        vcomp, ccomp = c.vc(par)
        np.testing.assert_array_equal(ccomp, [rho])


@pytest.mark.parametrize("case", ALL, ids=_ids)
def test_sigma_is_positive_semidefinite_within_bounds(case):
    c = _cov(case)
    rng = np.random.default_rng(7 * c.k + len(c.kind))
    for margin in (0.2, 0.01, 1e-6):
        for _ in range(20):
            S = c.covariance(_random_par(c, rng, margin))
            w = np.linalg.eigvalsh(S)
            assert w[0] >= -1e-12 * max(1.0, w[-1])


@pytest.mark.parametrize("case", ALL, ids=_ids)
def test_jacobians_against_central_differences(case):
    c = _cov(case)
    rng = np.random.default_rng(3 + 5 * c.k)
    h = 1e-6
    for _ in range(5):
        par = _random_par(c, rng, 0.05)
        J = c.theta_jacobian(par)
        DL = c.lambda_jacobian(par)
        assert J.shape == (c.n_theta, c.n_par) and DL.shape == (c.n_par, c.k, c.k)
        for m in range(c.n_par):
            e = np.zeros(c.n_par)
            e[m] = h
            fd = (c.par_to_theta(par + e) - c.par_to_theta(par - e)) / (2 * h)
            np.testing.assert_allclose(J[:, m], fd, rtol=1e-7, atol=1e-9)
            fdl = (c.lambda_(par + e) - c.lambda_(par - e)) / (2 * h)
            np.testing.assert_allclose(DL[m], fdl, rtol=1e-7, atol=1e-9)
        if c.kind in ("us", "diag"):          # Λ linear in par: the 0/1 templates
            np.testing.assert_array_equal(J, np.eye(c.n_theta))
            assert set(np.unique(DL).tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("case", ALL, ids=_ids)
def test_theta_and_par_groups(case):
    c = _cov(case)
    groups = c.theta_groups()
    np.testing.assert_array_equal(np.sort(np.concatenate(groups)), np.arange(c.n_theta))
    rows, cols = c.pattern()
    # a group's θ are used only in the columns of Λ that use that group
    for g in groups:
        used = np.isin(c.theta_index, g)
        cols_g = set(cols[used].tolist())
        assert not np.any(np.isin(c.theta_index[np.isin(cols, list(cols_g))], g, invert=True))
    # Σ is homogeneous of degree 2 in each par group (the Euler term of newton_ai)
    rng = np.random.default_rng(11)
    par = _random_par(c, rng, 0.1)
    for g in c.par_groups():
        p2 = par.copy()
        p2[g] *= 1.7
        if c.is_identity:      # column groups: Σ = Σ_c λ_c λ_c'; scale those columns
            L = c.lambda_(par)
            used = sorted(set(cols[np.isin(c.theta_index, g)].tolist()))
            L[:, used] *= 1.7
            np.testing.assert_allclose(c.lambda_(p2), L, rtol=1e-14)
        else:
            np.testing.assert_allclose(c.covariance(p2), 1.7 ** 2 * c.covariance(par),
                                       rtol=1e-12, atol=1e-14)


def test_theta_to_par_needs_two_nonzero_sds():
    c = AR1(3, hom=True)
    with pytest.raises(ArgumentError, match=r"'rho' is not identifiable as there is no pair "
                                            r"of nonzero standard deviations .*AR1\(k=3"):
        c.theta_to_par(np.zeros(5))


def test_varcov_scale_only_for_us_and_diag():
    with pytest.raises(ArgumentError, match=r'profscale="varcov" not implemented for class '
                                            r'"Covariance.cs"'):
        CompoundSymmetry(3).profpar(np.r_[np.ones(3), 0.2], scale="varcov")
    with pytest.raises(ArgumentError, match=r"profscale must be one of sdcor, varcov; "
                                            r"got 'logs'"):
        Unstructured(2).profpar([1.0, 0.0, 1.0], scale="logs")


# --------------------------------------------------------------------------- lme4 2.1

def _num(x):
    """jsonlite's numbers (``"Inf"``, ``"-Inf"``, ``"NaN"`` as strings) as a float array."""
    if x is None:
        return np.zeros(0)
    a = np.atleast_1d(np.array(x, dtype=object))
    return np.array([float(v) for v in a.ravel()], dtype=float).reshape(a.shape)


def _strs(x):
    return [x] if isinstance(x, str) else list(x)


def _load_reference():
    return json.loads(REF.read_text())


_REF = _load_reference()
CNMS = ["(Intercept)", "x", "f2", "f3"]


def _ref_id(rec):
    hom = rec.get("hom")
    tag = "" if hom is None else ("-hom" if hom else "-het")
    return f"{rec['kind']}{tag}-k{rec['nc']}-par{_num(rec['par']).tolist()}"


@pytest.mark.parametrize("rec", _REF["cases"], ids=_ref_id)
def test_matches_lme4_2_1(rec):
    c = make_covariance(rec["kind"], rec["nc"], rec.get("hom"))
    k = rec["nc"]
    cn = CNMS[:k]
    par = _num(rec["par"])
    np.testing.assert_array_equal(c.start, _num(rec["start"]))
    np.testing.assert_array_equal(c.lower, _num(rec["lower"]))
    np.testing.assert_array_equal(c.upper, _num(rec["upper"]))
    # θ and Λ with lme4's arithmetic: the same bits
    np.testing.assert_array_equal(c.par_to_theta(par), _num(rec["theta"]))
    np.testing.assert_array_equal(c.theta_index + 1, _num(rec["theta_index"]))
    np.testing.assert_array_equal(c.lambdat_counts(), _num(rec["lambdat_dp"]))
    np.testing.assert_array_equal(c.pattern()[1], _num(rec["lambdat_i"]))
    np.testing.assert_array_equal(c.lambda_(par), _num(rec["Lambda"]).reshape(k, k))
    assert c.theta_names(cn, "g") == _strs(rec["theta_names"])
    assert c.par_names(cn, "g") == _strs(rec["par_names"])
    assert c.par_names(cn, "g", old=False) == _strs(rec["par_names_new"])
    vcomp, ccomp = c.vc(par)
    pp = c.profpar(par, sigma=1.7)
    back = c.from_profpar(_num(rec["profpar_sdcor_sc"]), sigma=1.7)
    if rec["kind"] == "us":      # through ΛΛ' (BLAS) and a Cholesky (LAPACK): to rounding
        close = dict(rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(vcomp, _num(rec["vcomp"]), **close)
        np.testing.assert_allclose(ccomp, _num(rec["ccomp"]), **close)
        np.testing.assert_allclose(pp, _num(rec["profpar_sdcor_sc"]), **close)
        np.testing.assert_allclose(back, _num(rec["par_from_profpar"]), **close)
    else:                        # copies and products: the same bits
        np.testing.assert_array_equal(vcomp, _num(rec["vcomp"]))
        np.testing.assert_array_equal(ccomp, _num(rec["ccomp"]))
        np.testing.assert_array_equal(pp, _num(rec["profpar_sdcor_sc"]))
        np.testing.assert_array_equal(back, _num(rec["par_from_profpar"]))
    np.testing.assert_array_equal(c.prof_lower(), _num(rec["prof_lower"]))
    np.testing.assert_array_equal(c.prof_upper(), _num(rec["prof_upper"]))
    want = rec["par_from_theta"]
    if isinstance(want, str):
        assert "not identifiable" in want
        with pytest.raises(ArgumentError, match="'rho' is not identifiable"):
            c.theta_to_par(_num(rec["theta"]))
    else:
        np.testing.assert_array_equal(c.theta_to_par(_num(rec["theta"])), _num(want))
    assert c.is_singular(par) is rec["singular"]
    assert c.is_singular(par, tol=1e-3) is rec["singular_1e_3"]
    assert "vcmat_" + c.vcmat_class == rec["vcmat_class"]
    np.testing.assert_allclose(c.covariance(par) * 1.7 ** 2,
                               _num(rec["varcov"]).reshape(k, k), rtol=1e-15, atol=1e-16)
    # reformulas' formatVC: rows of SDs printed, and the tag of the single correlation
    rows = [r for r in rec["formatted"] if r[0] != "Residual"]
    assert len(rows) == c.n_stddev_printed
    corr = rows[0][3] if len(rows[0]) > 3 else ""
    if c.corr_label is None:
        assert "(" not in corr
    else:
        assert corr.endswith(f"({c.corr_label})")
    if rec["kind"] in ("us", "diag"):
        np.testing.assert_allclose(c.profpar(par, sigma=1.7, scale="varcov"),
                                   _num(rec["profpar_varcov_sc"]), rtol=1e-15)
        np.testing.assert_array_equal(c.prof_lower("varcov"),
                                      _num(rec["prof_lower_varcov"]))
    # lme4 2.1's getVCNames with a prefix names a "rho" of a one-column cs/ar1 term, and for a
    # homogeneous one takes k names as SDs (an NA among them); not copied
    names = _strs(rec["prof_names"])
    mine = sum(c.vc_names(cn, "g"), [])
    if rec["kind"] in ("cs", "ar1") and k == 1:
        assert names == mine + ["cor_rho|g"]
    elif rec["kind"] in ("cs", "ar1") and c.hom:
        assert names == mine + [None] * (k - 1)
    else:
        assert mine == names


@pytest.mark.parametrize("rec", _REF["fallback"], ids=lambda r: r["kind"])
def test_lme4_fallback_when_the_second_sd_is_zero(rec):
    c = make_covariance(rec["kind"], rec["nc"], rec["hom"])
    np.testing.assert_allclose(c.theta_to_par(_num(rec["theta"])),
                               _num(rec["par_from_theta"]), rtol=1e-14, atol=1e-15)


def test_reference_covers_every_variant():
    seen = {(r["kind"], r.get("hom"), r["nc"]) for r in _REF["cases"]}
    assert seen == {(kind, hom, k) for kind, hom, k in ALL}
    assert _REF["lme4"].startswith("2.1")


# --------------------------------------------------------------------------- today's layout
# The design's θ layout before the Covariance types took it over (lmerpy.design.reterms'
# theta_layout and lambdat_template until issue 12, step 2), kept here as the reference the
# unstructured layout must reproduce bit for bit.

def theta_layout(p):
    """One term with ``p`` columns: (rows, theta_index, counts, diag) of one level's block of
    Λ' (CSC, upper triangular), θ 0-based in lme4's column-major lower-triangle order."""
    rows, tidx, counts = [], [], []
    for r in range(p):           # column r of T' = row r of T
        for s in range(r + 1):   # T[r, s], r >= s
            rows.append(s)
            tidx.append(s * p - s * (s - 1) // 2 + (r - s))
        counts.append(r + 1)
    diag = np.zeros(p * (p + 1) // 2, dtype=bool)
    diag[[s * p - s * (s - 1) // 2 for s in range(p)]] = True
    return np.array(rows), np.array(tidx), np.array(counts), diag


def old_lambdat_template(terms):
    """Λ' (at the start), Lind, θ and lower as the design built them for unstructured terms."""
    data_rows, data_lind, col_counts, theta, lower = [], [], [], [], []
    row_offset = theta_offset = 0
    for t in terms:
        p, nl = int(t.n_columns), int(t.n_levels)
        rows, tidx, counts, diag = theta_layout(p)
        lvl = np.repeat(np.arange(nl) * p, rows.size)
        data_rows.append(row_offset + lvl + np.tile(rows, nl))
        data_lind.append(np.tile(tidx, nl) + theta_offset + 1)
        col_counts.append(np.tile(counts, nl))
        theta.append(diag.astype(float))
        lower.append(np.where(diag, 0.0, -np.inf))
        row_offset += p * nl
        theta_offset += p * (p + 1) // 2
    rows = np.concatenate(data_rows).astype(np.int64)
    lind = np.concatenate(data_lind).astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(col_counts))]).astype(np.int64)
    theta0, lower0 = np.concatenate(theta), np.concatenate(lower)
    lam = trusted_csc(theta0[lind - 1], rows, indptr, (row_offset, row_offset))
    return lam, lind, theta0, lower0

@pytest.mark.parametrize("p", [1, 2, 3, 4, 5])
def test_us_is_todays_theta_layout(p):
    c = Unstructured(p)
    rows, tidx, counts, diag = theta_layout(p)
    np.testing.assert_array_equal(c.pattern()[1], rows)
    np.testing.assert_array_equal(c.theta_index, tidx)
    np.testing.assert_array_equal(c.lambdat_counts(), counts)
    np.testing.assert_array_equal(c.lower == 0, diag)
    np.testing.assert_array_equal(c.start, diag.astype(float))


def _same_layout(design):
    """The Covariance layout of ``design``'s terms (all us) gives the design's Λ', Lind, θ,
    lower and names, bit for bit."""
    terms = design.reterms
    lay = CovarianceLayout([Unstructured(t.n_columns) for t in terms])
    lam, lind = lay.lambdat_template([t.n_levels for t in terms])
    assert lam.shape == design.Lambdat.shape
    for a, b in ((lam.indices, design.Lambdat.indices), (lam.indptr, design.Lambdat.indptr),
                 (lam.data, design.Lambdat.data), (lind, design.Lind)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(lay.start, design.theta)
    np.testing.assert_array_equal(lay.lower, design.lower)
    np.testing.assert_array_equal(lay.par_to_theta(lay.start), design.theta)
    assert lay.theta_names(design.cnms_list()) == design.theta_names
    assert lay.theta_names(design.cnms_list()) == theta_names(terms)
    assert [int(t.theta_offset) for t in terms] == lay.theta_offsets[:-1].tolist()
    assert [g.tolist() for g in lay.theta_groups()] == \
        [g.tolist() for g in template_columns(terms)]
    assert lay.is_identity
    # the design's own template function, on the same terms
    lam2, lind2, theta2, lower2 = lambdat_template(terms)
    np.testing.assert_array_equal(lam2.data, lam.data)
    np.testing.assert_array_equal(lind2, lind)
    # and the design's layout before the Covariance types (same bits, same dtypes)
    lam3, lind3, theta3, lower3 = old_lambdat_template(terms)
    for a, b in ((lam3.indices, design.Lambdat.indices), (lam3.indptr, design.Lambdat.indptr),
                 (lam3.data, design.Lambdat.data), (lind3, design.Lind),
                 (theta3, design.theta), (lower3, design.lower)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert design.layout.is_identity and design.n_par == lay.n_theta
    np.testing.assert_array_equal(design.par_start, design.theta)
    np.testing.assert_array_equal(design.upper, np.full(lay.n_par, np.inf))
    assert design.par_names == design.theta_names
    return lay


def test_us_reproduces_the_sleepstudy_design():
    from lmerpy.datasets import load
    d = lFormula("Reaction ~ Days + (Days | Subject)", load("sleepstudy"))
    lay = _same_layout(d)
    assert lay.theta_names(d.cnms_list()) == ["Subject.(Intercept)",
                                              "Subject.Days.(Intercept)", "Subject.Days"]


def test_us_reproduces_a_three_column_term_with_crossed_and_split_terms():
    rng = np.random.default_rng(5)
    n = 240
    df = pd.DataFrame({"y": rng.normal(size=n), "x1": rng.normal(size=n),
                       "x2": rng.normal(size=n),
                       "g": [f"g{i % 12}" for i in range(n)],
                       "h": [f"h{(i * 7) % 8}" for i in range(n)],
                       "f": pd.Categorical([("a", "b", "c")[i % 3] for i in range(n)])})
    d = lFormula("y ~ x1 + (1 + x1 + x2 | g) + (0 + f | h) + (x1 || h)", df)
    assert [t.n_columns for t in d.reterms] == [3, 3, 1, 1]
    _same_layout(d)


# --------------------------------------------------------------------------- layouts

def test_layout_of_mixed_structures():
    covs = [CompoundSymmetry(3, hom=True), Unstructured(2), AR1(4, hom=False), Diagonal(2)]
    lay = CovarianceLayout(covs)
    assert lay.n_par == 2 + 3 + 5 + 2 and lay.n_theta == 5 + 3 + 10 + 2
    assert not lay.is_identity
    rng = np.random.default_rng(2)
    par = np.concatenate([_random_par(c, rng, 0.1) for c in covs])
    theta = lay.par_to_theta(par)
    for i, c in enumerate(covs):
        np.testing.assert_array_equal(theta[lay.theta_slice(i)],
                                      c.par_to_theta(par[lay.par_slice(i)]))
    np.testing.assert_allclose(lay.theta_to_par(theta), par, rtol=1e-11, atol=1e-13)
    np.testing.assert_array_equal(lay.lower, np.concatenate([c.lower for c in covs]))
    np.testing.assert_array_equal(lay.upper, np.concatenate([c.upper for c in covs]))
    # the chain rule: J'g is the gradient of g·θ(par)
    J = lay.theta_jacobian(par)
    g = rng.normal(size=lay.n_theta)
    h = 1e-6
    fd = np.array([(g @ lay.par_to_theta(par + h * e) - g @ lay.par_to_theta(par - h * e))
                   / (2 * h) for e in np.eye(lay.n_par)])
    np.testing.assert_allclose(lay.gradient_to_par(par, g), fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(J[lay.theta_slice(0), lay.par_slice(1)], 0.0)
    # Λ' from the template: each level's block is Λᵢ' of its term
    nl = [3, 2, 2, 5]
    lam, lind = lay.lambdat_template(nl, theta)
    np.testing.assert_array_equal(lam.data, theta[lind - 1])
    dense = lam.toarray()
    ro = 0
    for c, n, i in zip(covs, nl, range(4)):
        L = c.lambda_(par[lay.par_slice(i)])
        for lev in range(n):
            blk = dense[ro + lev * c.k: ro + (lev + 1) * c.k, ro + lev * c.k: ro + (lev + 1) * c.k]
            np.testing.assert_array_equal(blk, L.T)
        ro += n * c.k
    np.testing.assert_array_equal(dense, np.triu(dense))
    assert dense[np.tril_indices(dense.shape[0], -1)].sum() == 0
    # names, profile scale, singularity
    cn = [("g", ["a", "b", "c"]), ("h", ["(Intercept)", "x"]), ("t", list("pqrs")),
          ("u", ["a", "b"])]
    assert lay.par_names(cn) == ["g.*", "g.rho", "h.(Intercept)", "h.x.(Intercept)", "h.x",
                                 "t.p", "t.q", "t.r", "t.s", "t.rho", "u.a", "u.b"]
    assert lay.profpar_names(cn)[:5] == ["sd_*|g", "cor_rho|g", "sd_(Intercept)|h", "sd_x|h",
                                         "cor_x.(Intercept)|h"]
    pp = lay.profpar(par, sigma=2.0)
    np.testing.assert_allclose(lay.from_profpar(pp, sigma=2.0), par, rtol=1e-11, atol=1e-13)
    assert not lay.is_singular(par)
    p0 = par.copy()
    p0[lay.par_slice(2).stop - 1] = 1.0 - 1e-5            # ar1's ρ at its bound
    assert lay.is_singular(p0)
    with pytest.raises(ArgumentError, match=r"par has length 3, expected 12"):
        lay.par_to_theta(np.ones(3))
    with pytest.raises(ArgumentError, match=r"covariances must be Covariance objects"):
        CovarianceLayout([Unstructured(2), "cs"])
