"""The lme4 2.1 goldens for structured covariance terms (tests/reference/structured): schema and
internal consistency, no lmerpy fits (those come with the implementation of issue 12).

Each golden must agree with itself the way lme4 2.1 defines the structures (NOTES.md beside the
goldens): θ recomputed here from ``par`` by each structure's own rule, Λ from θ through
``theta_index`` and ``Lind``, Σ = s²ΛΛ' against VarCorr, the par scale (SDs, then ρ) against the
SDs and correlations, lme4's parameter count (GH #943) against df/AIC/BIC and the anova tables,
the term order (decreasing number of levels, stable), the printed Corr column ``0.07 (cs)`` and
the one-SD rows of homogeneous cs/ar1, and the data files against the recorded responses.
Tolerances: 1e-7 relative (+1e-10 absolute) where both sides are computed from the same stored
numbers; printed numbers must match their rounding.
"""
import math
import re

import numpy as np
import pytest
from _reference import load_structured_data, structured_goldens

GOLDENS = structured_goldens()
FITS = [g for g in GOLDENS if g["kind"] == "fit" and "par" in g]
FAILED = [g for g in GOLDENS if g["kind"] == "fit" and "par" not in g]
ANOVAS = [g for g in GOLDENS if g["kind"] == "anova"]
RTOL, ATOL = 1e-7, 1e-10


def _params(cases):
    return [pytest.param(g, id=g["id"]) for g in cases]


def _close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=rtol, atol=atol)


def _mat(rows):
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=float)


# ---- each structure's θ(par), written from its definition -------------------------------------

def _corr(structure, nc, rho):
    d = np.abs(np.subtract.outer(np.arange(nc), np.arange(nc)))
    if structure == "cs":
        return np.where(d == 0, 1.0, rho)
    return rho ** d                                   # ar1


def _chol_corr(structure, nc, rho):
    """The lower Cholesky factor of the cs or AR(1) correlation matrix in closed form (valid on
    the closed bounds, where numpy's cholesky fails: cs at -1/(nc - 1), ar1 at ±1)."""
    lam = np.zeros((nc, nc))
    if structure == "ar1":
        for i in range(nc):
            lam[i, 0] = rho ** i
            for j in range(1, i + 1):
                lam[i, j] = rho ** (i - j) * math.sqrt(1 - rho * rho)
        return lam
    a = 0.0                    # cs: rho^2 a_j = the sum of squares of row j left of the diagonal
    for j in range(nc):
        d = math.sqrt(max(0.0, 1 - rho * rho * a))
        lam[j, j] = d
        for i in range(j + 1, nc):
            lam[i, j] = (rho - rho * rho * a) / d
        if j < nc - 1:
            a += (1 - rho * a) ** 2 / (1 - rho * rho * a)
    return lam


def expected_theta(term):
    """θ of one term from its par, by lme4 2.1's rules (NOTES.md, "θ layout")."""
    s, nc, par, hom = term["structure"], term["nc"], term["par"], term["hom"]
    if s in ("us", "diag") or nc == 1:
        return list(par)
    rho = par[-1]
    sds = np.repeat(par[0], nc) if hom else np.asarray(par[:-1])
    lam = np.diag(sds) @ _chol_corr(s, nc, rho)
    np.testing.assert_allclose(lam @ lam.T, np.diag(sds) @ _corr(s, nc, rho) @ np.diag(sds),
                               atol=1e-12)
    if not hom:                                       # lower triangle, column by column
        return [lam[i, j] for j in range(nc) for i in range(j, nc)]
    if s == "cs":                                     # per column: diagonal, the value below it
        out = []
        for j in range(nc):
            out.append(lam[j, j])
            if j < nc - 1:
                out.append(lam[j + 1, j])
        return out
    # homogeneous ar1: the first column, then the second column from its diagonal down
    return list(lam[:, 0]) + list(lam[1:, 1])


def expected_lengths(term):
    s, nc, hom = term["structure"], term["nc"], term["hom"]
    full = nc * (nc + 1) // 2
    if s == "us":
        return full, full
    if s == "diag":
        return (1, 1) if hom else (nc, nc)
    n_sd = 1 if hom else nc
    n_par = n_sd + (1 if nc > 1 else 0)
    n_theta = full if not hom else 2 * nc - 1
    return n_par, n_theta


def _scale(g):
    return g["sigma"] if g["fn"] == "lmer" else 1.0


def _nonzero_positions(term):
    """The structural nonzeros of Λᵢ in the order of Λᵢ' stored by columns (Λᵢ row by row), the
    order of ``theta_index`` and of ``Lind`` within a block."""
    nc = term["nc"]
    if term["structure"] == "diag":
        return [(j, j) for j in range(nc)]
    return [(i, j) for i in range(nc) for j in range(i + 1)]


# ---- the tests ----------------------------------------------------------------------------------

def test_the_goldens_cover_the_issue():
    """Every structure with both hom settings, LMM REML/ML, binomial and Poisson GLMMs, mixed,
    crossed, nested, singular, the (x || g) split, anova and the lme4 failures are there."""
    seen = {(t["structure"], t["hom"]) for g in FITS for t in g["terms"]}
    assert seen >= {("us", None), ("diag", False), ("diag", True), ("cs", False), ("cs", True),
                    ("ar1", True), ("ar1", False)}
    structured = [g for g in FITS if any(t["structure"] != "us" for t in g["terms"])]
    assert {g["family"] for g in structured} == {"gaussian", "binomial", "poisson"}
    lmm = [g for g in structured if g["fn"] == "lmer"]
    assert {g["REML"] for g in lmm} == {True, False}
    assert any(len(g["terms"]) > 1 and any(t["structure"] == "us" for t in g["terms"])
               for g in structured)                               # mixed with plain terms
    assert any(g["singular"] for g in structured)
    assert any("confint_profile" in g and "error" not in g["confint_profile"] for g in structured)
    assert any(g.get("lme4_nan_state") for g in FITS)
    assert any("lme4_error" in g for g in FAILED) and any("expect_error" in g for g in FAILED)
    assert len(ANOVAS) >= 3
    assert all(g["lme4_version"] == "2.1.0" for g in GOLDENS)


@pytest.mark.parametrize("g", _params(FITS))
def test_term_parameterisation(g):
    """Per term: par/θ lengths, names and bounds; θ = θ(par); Λ from θ via theta_index."""
    for t in g["terms"]:
        n_par, n_theta = expected_lengths(t)
        assert (len(t["par"]), len(t["theta"])) == (n_par, n_theta), t["group"]
        assert len(t["par_names"]) == len(t["lower"]) == len(t["upper"]) == n_par
        assert len(t["theta_names"]) == n_theta
        _close(t["theta"], expected_theta(t), atol=1e-8)   # θ near 0 in singular fits: noise
        grp, nc, s = t["group"], t["nc"], t["structure"]
        sd_lower = [0.0] * (n_par - (1 if s in ("cs", "ar1") and nc > 1 else 0))
        if s == "us":
            diag_pos = [sum(nc - k for k in range(j)) for j in range(nc)]
            assert [t["lower"][k] for k in diag_pos] == [0.0] * nc
            assert all(t["lower"][k] is None for k in range(n_par) if k not in diag_pos)
            assert t["par_names"] == t["theta_names"]
        elif s == "diag":
            assert t["lower"] == sd_lower and all(u is None for u in t["upper"])
            assert t["par_names"] == ([f"{grp}.*"] if t["hom"] else [f"{grp}.{c}" for c in t["columns"]])
        elif nc > 1:                                  # cs, ar1: SDs >= 0, then rho
            rho_low = -1.0 / (nc - 1) if s == "cs" else -1.0
            assert t["lower"][:-1] == sd_lower
            _close(t["lower"][-1], rho_low, rtol=1e-14)
            assert t["upper"][:-1] == [None] * (n_par - 1) and t["upper"][-1] == 1.0
            sd_names = [f"{grp}.*"] if t["hom"] else [f"{grp}.{c}" for c in t["columns"]]
            assert t["par_names"] == sd_names + [f"{grp}.rho"]
            assert t["par_names_sdcor"][-1] == f"cor_rho|{grp}"
        lam = _mat(t["Lambda"])
        assert lam.shape == (nc, nc)
        pos = _nonzero_positions(t)
        assert len(t["theta_index"]) == len(pos)
        _close([lam[i, j] for i, j in pos], [t["theta"][k - 1] for k in t["theta_index"]])
        mask = np.ones((nc, nc), bool)
        for i, j in pos:
            mask[i, j] = False
        assert np.all(lam[mask] == 0)


@pytest.mark.parametrize("g", _params(FITS))
def test_par_theta_and_varcorr_agree(g):
    """Σ = s²ΛΛ' is VarCorr's covariance; its SDs and correlations are the par scale."""
    s = _scale(g)
    assert g["par"] == [p for t in g["terms"] for p in t["par"]]
    _close(g["theta"], [v for t in g["terms"] for v in t["theta"]])
    assert g["par_names"] == [n for t in g["terms"] for n in t["par_names"]]
    assert g["theta_names"] == [n for t in g["terms"] for n in t["theta_names"]]
    assert g["lower"] == [v for t in g["terms"] for v in t["lower"]]
    assert g["upper"] == [v for t in g["terms"] for v in t["upper"]]
    assert g["npar"] == len(g["par"])
    rows = iter(g["varcorr"])
    for t in g["terms"]:
        lam = _mat(t["Lambda"])
        cov = s * s * lam @ lam.T
        _close(_mat(t["covariance"]), cov)
        sd = np.sqrt(np.diag(cov))
        _close(t["stddev"], sd)
        nc, par = t["nc"], t["par"]
        if t["structure"] == "us":
            pass                                      # par = θ, checked above
        else:
            n_sd = 1 if t["hom"] else nc
            _close(sd, s * np.resize(np.asarray(par[:n_sd]), nc))
        cor = _mat(t["correlation"])
        ok = np.outer(sd > 0, sd > 0)
        with np.errstate(invalid="ignore", divide="ignore"):   # a zero SD: no correlation
            implied = cov / np.outer(sd, sd)
        _close(cor[ok], implied[ok])
        if t["structure"] in ("cs", "ar1") and nc > 1:
            _close(cor[ok], _corr(t["structure"], nc, par[-1])[ok], rtol=1e-6, atol=1e-9)
        if t["structure"] == "diag":
            assert np.all(cor[ok & ~np.eye(nc, dtype=bool)] == 0)
        # as.data.frame(VarCorr): the SDs, then the correlations (lower triangle, by column)
        for k, col in enumerate(t["columns"]):
            r = next(rows)
            assert (r["grp"], r["var1"], r["var2"]) == (t["varcorr_name"], col, "")
            _close(r["sdcor"], sd[k])
        for j in range(nc):
            for i in range(j + 1, nc):
                r = next(rows)
                assert (r["var1"], r["var2"]) == (t["columns"][j], t["columns"][i])
                if r["sdcor"] is not None:
                    _close(r["sdcor"], cor[i, j])
    if g["fn"] == "lmer":
        r = next(rows)
        assert r["grp"] == "Residual"
        _close(r["sdcor"], g["sigma"])
    assert next(rows, None) is None


@pytest.mark.parametrize("g", _params(FITS))
def test_profpar_is_the_par_scale_in_sd_units(g):
    """profpar: per term the SDs (times σ for an LMM), then the correlation(s); σ last. For us
    terms this is not par's order (θ's, SDs and correlations interleaved)."""
    want, names = [], []
    for t in g["terms"]:
        sd, cor = np.asarray(t["stddev"]), _mat(t["correlation"])
        if t["structure"] == "us":
            want += list(sd) + [cor[i, j] for j in range(t["nc"]) for i in range(j + 1, t["nc"])]
        else:
            n_sd = 1 if t["hom"] else t["nc"]
            want += list(_scale(g) * np.asarray(t["par"][:n_sd]))
            want += t["par"][n_sd:]
        assert sorted(t["profpar_names"]) == sorted(t["par_names_sdcor"])
        n_sd = 1 if t["hom"] else t["nc"]
        assert all(n.startswith("sd_") for n in t["profpar_names"][:n_sd])
        assert all(n.startswith("cor_") for n in t["profpar_names"][n_sd:])
        names += t["profpar_names"]
    if g["fn"] == "lmer":
        want.append(g["sigma"])
        names.append("sigma")
    assert g["profpar_names"] == names
    got = np.asarray(g["profpar"], dtype=float)
    keep = np.isfinite(np.asarray(want, dtype=float))
    _close(got[keep], np.asarray(want, dtype=float)[keep])


@pytest.mark.parametrize("g", _params(FITS))
def test_criteria_count_par_not_theta(g):
    """df = p + length(par) + [σ] (GH #943); AIC, BIC and the printed criterion from logLik."""
    p = len(g["fixef"])
    assert g["df"] == p + len(g["par"]) + (1 if g["fn"] == "lmer" else 0)
    _close(g["AIC"], -2 * g["logLik"] + 2 * g["df"])
    _close(g["BIC"], -2 * g["logLik"] + math.log(g["nobs"]) * g["df"])
    if g["fn"] == "lmer" and g["REML"]:
        _close(g["REMLcrit"], -2 * g["logLik"])
        assert "REML criterion at convergence" in g["summary_text"]
    else:
        _close(g.get("minus2logLik", g.get("deviance")), -2 * g["logLik"])
        header = g["summary_text"].splitlines()
        assert any(re.fullmatch(r"\s+AIC\s+BIC\s+logLik\s+-2\*log\(L\)\s+df\.resid\s*", h)
                   for h in header), "lme4 2.x names the -2logLik column -2*log(L)"


@pytest.mark.parametrize("g", _params(FITS))
def test_design_lambdat_and_lind(g):
    """Λ' in the design is block diagonal: each term's Λᵢ' once per level; Lind points in θ."""
    assert "design" in g                            # every structured golden has n <= 2000
    des = g["design"]
    lt = des["Lambdat"]
    theta = np.asarray(g["theta"], dtype=float)
    lind = np.asarray(des["Lind"]) - 1
    _close(lt["x"], theta[lind])
    dense = np.zeros((lt["nrow"], lt["ncol"]))
    dense[lt["i"], lt["j"]] = lt["x"]
    blocks = [(t, _mat(t["Lambda"]).T) for t in g["terms"]]
    start = 0
    for t, blk in blocks:
        nc = t["nc"]
        for _ in range(t["nl"]):
            _close(dense[start:start + nc, start:start + nc], blk)
            start += nc
    assert start == lt["nrow"] == len(des["Zt_rownames"])
    _close(des["Gp"], np.cumsum([0] + [t["nc"] * t["nl"] for t in g["terms"]]))
    assert set(g["ranef"]) == {t["group"] for t in g["terms"]}
    for grp, re_ in g["ranef"].items():             # ranef: one table per factor, its terms' columns
        mine = [t for t in g["terms"] if t["group"] == grp]
        assert re_["columns"] == [c for t in mine for c in t["columns"]]
        assert len(re_["levels"]) == mine[0]["nl"] == len(re_["values"]) == len(re_["condsd"])


@pytest.mark.parametrize("g", _params(FITS))
def test_terms_in_lme4_order(g):
    """lme4 2.x sorts the bar terms stably by decreasing number of levels, structure or not."""
    ft, order = g["formula_terms"], g["term_order"]
    assert sorted(order) == list(range(1, len(ft) + 1)) == list(range(1, len(g["terms"]) + 1))
    nl = [t["nl"] for t in g["terms"]]
    assert nl == sorted(nl, reverse=True)
    for k in range(len(order) - 1):
        if nl[k] == nl[k + 1]:
            assert order[k] < order[k + 1]
    for t, i in zip(g["terms"], order):
        term = ft[i - 1]
        assert term.startswith(t["structure"] + "(")
        grp = t["group"].split(":")
        assert all(re.search(r"\|\s*[^)]*\b" + re.escape(p) + r"\b", term) for p in grp), term
        if t["hom"] is not None and "hom =" in term:
            assert f"hom = {str(t['hom']).upper()}" in term


def _random_effects_block(text):
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(" Groups"))
    end = next((k for k in range(start, len(lines)) if not lines[k].startswith(" ")), len(lines))
    return lines[start:end]


@pytest.mark.parametrize("g", _params(FITS))
def test_printed_random_effects(g):
    """VarCorr prints one row per column, one only for homogeneous cs and ar1; the Corr column
    holds the correlation of the first two columns followed by the structure: '0.07 (cs)'."""
    for text in (g["varcorr_text"], g["print_text"], g["summary_text"]):
        block = _random_effects_block(text)
        want_rows = sum(1 if t["vcmat_class"] in ("vcmat_ar1", "vcmat_homcs") else min(t["nc"], 10)
                        for t in g["terms"]) + (1 if g["fn"] == "lmer" else 0)
        assert len(block) - 1 == want_rows
    digits = {"varcorr_text": 3, "print_text": 2, "summary_text": 2}
    for key, d in digits.items():
        block = _random_effects_block(g[key])[1:]
        row = 0
        for t in g["terms"]:
            first = block[row]
            tag = {"cs": "(cs)", "ar1": "(ar1)"}.get(t["structure"])
            if tag:
                cor = _mat(t["correlation"])
                value = cor[1, 0] if t["nc"] > 1 else cor[0, 0]
                shown = "NaN" if np.isnan(value) else f"{round(value, d):.{d}f}"
                assert f"{shown} {tag}" in first, (key, first)
            else:
                assert "(cs)" not in first and "(ar1)" not in first
            row += 1 if t["vcmat_class"] in ("vcmat_ar1", "vcmat_homcs") else min(t["nc"], 10)
            if t["vcmat_class"] in ("vcmat_ar1", "vcmat_homcs"):
                assert t["columns"][0] in first        # the one row names the first column


@pytest.mark.parametrize("g", _params(FITS))
def test_data_files_give_the_recorded_response(g):
    data = load_structured_data(g["data"])
    assert len(data) == g["nobs"]
    y = np.asarray(g["design"]["y"], dtype=float)
    lhs = g["formula"].split("~")[0].strip()
    if lhs.startswith("cbind("):
        succ, rest = re.fullmatch(r"cbind\((\w+), (\w+) - (\w+)\)", lhs).group(1, 2)
        _close(y, data[succ] / data[rest])
    else:
        _close(y, data[lhs].astype(float))
    for grp, levels in g["design"]["flist_levels"].items():
        if ":" not in grp:
            assert levels == [str(x) for x in data[grp].cat.categories]


@pytest.mark.parametrize("g", _params(FITS))
def test_confidence_intervals(g):
    """Wald: nothing for the variance parameters, β̂ ± z·SE; profile (where lme4 2.1 managed):
    all SDs, then correlations, then σ, then β, each interval around its estimate."""
    z = 1.959963984540054
    w = g["confint_wald"]
    p = len(g["fixef"])
    fixed = dict(zip(w["rownames"][-p:], w["values"][-p:]))
    assert list(fixed) == list(g["fixef"])
    for name, (lo, hi) in fixed.items():
        _close([lo, hi], [g["fixef"][name] - z * g["se"][name], g["fixef"][name] + z * g["se"][name]],
               rtol=1e-9)
    assert all(v == [None, None] for v in w["values"][:-p])
    assert len(w["rownames"]) == len(g["par"]) + (1 if g["fn"] == "lmer" else 0) + p
    ci = g.get("confint_profile")
    if ci is None:
        return
    if "error" in ci:
        assert ci["error"] and "signames_false" in ci
        return
    new = ci["signames_false"]
    assert new["rownames"] == g["profpar_names"] + list(g["fixef"])
    est = list(g["profpar"]) + list(g["fixef"].values())
    for name, (lo, hi), e in zip(new["rownames"], new["values"], est):
        assert lo is not None and hi is not None, name
        assert lo - 1e-6 * abs(e) <= e <= hi + 1e-6 * abs(e), name
    _close(_mat(ci["values"]), _mat(new["values"]))
    assert ci["rownames"][:len(g["par"])] == [f".sig{k:02d}" for k in range(1, len(g["par"]) + 1)]


@pytest.mark.parametrize("g", _params([g for g in FITS if g.get("glmmtmb")]))
def test_glmmtmb_second_opinion(g):
    """glmmTMB's fit of the same model: same fixed-effect names and term sizes; the recorded
    difference in log-likelihood and the `lme4_worse_optimum` flag follow from the numbers."""
    tmb = g["glmmtmb"]
    assert tmb["version"] == "1.1.5" and tmb["REML"] == g["REML"]
    assert "error" not in tmb
    assert list(tmb["fixef"]) == list(g["fixef"])
    by_group = {t["group"]: t["nc"] for t in g["terms"]}
    for vc in tmb["varcorr"]:
        assert len(vc["stddev"]) == len(vc["columns"])
        if vc["group"] in by_group and g["id"] != "sleep_doublebar_reml":
            assert len(vc["columns"]) == by_group[vc["group"]]
    if tmb["logLik"] is None:                          # glmmTMB: non-positive-definite Hessian
        assert tmb["pdHess"] is False and tmb["r_warnings"]
        assert "lme4_worse_optimum" not in g
        return
    _close(tmb["logLik_minus_lme4"], tmb["logLik"] - g["logLik"], rtol=1e-9, atol=1e-9)
    assert g["lme4_worse_optimum"] == (tmb["logLik_minus_lme4"] > 1e-3)
    if not g["lme4_worse_optimum"] and abs(tmb["logLik_minus_lme4"]) < 1e-3:
        _close(list(tmb["fixef"].values()), list(g["fixef"].values()), rtol=2e-3, atol=2e-3)


def test_lme4_nan_state_was_repaired_at_lme4s_optimum():
    cases = [g for g in FITS if g.get("lme4_nan_state")]
    assert cases
    for g in cases:
        raw = g["lme4_raw"]
        assert all(v is None for v in raw["fixef"]) and "NaN" in raw["print_text"]
        _close(raw["par"], g["par"], rtol=1e-12)
        _close(raw["criterion"], g["REMLcrit"] if g["REML"] else g["deviance"], rtol=1e-10)
        assert all(np.isfinite(list(g["fixef"].values())))
        assert g["repaired_by"].startswith("re-evaluated at lme4's optimum")


@pytest.mark.parametrize("g", _params(FAILED))
def test_failures_are_recorded(g):
    """lme4 2.1's errors: bad input (expect_error) or a failure on a valid model (lme4_error),
    the latter with glmmTMB's fit where glmmTMB can write the structure."""
    assert ("expect_error" in g) != ("lme4_error" in g)
    msg = g.get("expect_error") or g["lme4_error"]
    assert msg
    if "expect_error" in g:
        assert "hom" in msg or "could not find function" in msg
    if g.get("glmmtmb"):
        assert "logLik" in g["glmmtmb"]


@pytest.mark.parametrize("a", _params(ANOVAS))
def test_anova_counts_par(a):
    """npar per model = its logLik df; Chisq = 2Δlog L, Df = Δnpar, where lme4 gave numbers."""
    tab = a["anova"]
    cols = tab["colnames"]
    assert cols[:5] == ["npar", "AIC", "BIC", "logLik", "-2*log(L)"]
    models = a["models"]
    assert tab["rownames"] == tab["models"] == list(models)
    rows = {r: dict(zip(cols, v)) for r, v in zip(tab["rownames"], tab["values"])}
    for name, m in models.items():
        assert rows[name]["npar"] == m["df"] == len(m["fixef"]) + len(m["par"]) + 1
        if not tab["refit"]:
            _close(rows[name]["logLik"], m["logLik"])
    names = list(models)
    for prev, cur in zip(names, names[1:]):
        r, q = rows[cur], rows[prev]
        assert r["Df"] == r["npar"] - q["npar"]
        if r["Chisq"] is not None and r["logLik"] is not None and q["logLik"] is not None:
            _close(r["Chisq"], max(0.0, 2 * (r["logLik"] - q["logLik"])), rtol=1e-9, atol=1e-9)
    if tab["refit"]:
        assert "refitting model(s) with ML (instead of REML)" in tab["r_messages"]
