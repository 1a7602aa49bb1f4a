"""The design stage against lme4's own designs (``tests/reference/**.json``, lme4 1.1-31).

For every case with a ``design`` block: X (names, values, assign, contrasts), Zt (triplets and
row names), Λ' at lme4's θ, Lind, lower, θ names and start, cnms, flist (names, levels,
assign), Gp, y, offset, prior weights, rows dropped by na.omit, columns dropped for rank
deficiency and lme4's messages — all exact to 1e-10. Cases with ``expect_error`` must raise an
:class:`~lmerpy.errors.LmerpyError` carrying lme4's text (or, where R's text is an R-level
lookup failure, naming the column or function at fault).
"""
import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from _reference import REF, load_case_data
from lmerpy.design import build_design
from lmerpy.errors import FormulaError, LmerpyError, UnknownColumnError
from lmerpy.warnings import LmerpyWarning

parse_formula = pytest.importorskip("lmerpy.formula").__dict__.get("parse_formula")
if parse_formula is None:  # the parser has not landed yet
    pytest.skip("lmerpy.formula.parse_formula is not available", allow_module_level=True)

TOL = 1e-10


def _cases():
    out = []
    for sub in ("", "design", "lmer", "glmer"):
        d = REF / sub if sub else REF
        for p in sorted(d.glob("*.json")):
            ref = json.loads(p.read_text())
            if ref.get("design") or ref.get("expect_error"):
                ref.setdefault("id", p.stem)
                out.append(pytest.param(ref, id=f"{sub or 'top'}/{ref['id']}"))
    return out


CASES = _cases()
DESIGN_CASES = [c for c in CASES if c.values[0].get("design")]
ERROR_CASES = [c for c in CASES if c.values[0].get("expect_error")]


def _kwargs(ref):
    kw = {"REML": bool(ref.get("REML", True))}
    if ref.get("weights"):
        kw["weights"] = ref["weights"]  # a column name or "1/w": parsed, never eval'ed
    if ref.get("contrasts"):
        kw["contrasts"] = ref["contrasts"]
    for key, value in (ref.get("args") or {}).items():
        if key == "contrasts":
            kw["contrasts"] = {k: (np.asarray(v, dtype=float) if isinstance(v, list) else v)
                               for k, v in value.items()}
        elif key == "offset_column":
            kw["offset"] = value
        elif key == "weights_column":
            kw["weights"] = value
        else:
            raise KeyError(f"case {ref['id']}: unknown args key {key!r}")
    if ref.get("fn") in ("glFormula", "glmer") or ref.get("family") not in (None, "gaussian"):
        kw["glmer"] = True
    return kw


def _build(ref):
    data = load_case_data(ref)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        des = build_design(parse_formula(ref["formula"]), data, **_kwargs(ref))
    return des, [str(w.message) for w in caught if issubclass(w.category, LmerpyWarning)]


def _csc(tr):
    m = sp.coo_matrix((np.asarray(tr["x"], dtype=float),
                       (np.asarray(tr["i"], dtype=np.int64), np.asarray(tr["j"], dtype=np.int64))),
                      shape=(tr["nrow"], tr["ncol"])).tocsc()
    m.sum_duplicates()
    m.sort_indices()
    return m


def _same_sparse(mine, ref):
    mine = sp.csc_matrix(mine)
    mine.sort_indices()
    assert mine.shape == ref.shape
    np.testing.assert_array_equal(mine.indptr, ref.indptr)
    np.testing.assert_array_equal(mine.indices, ref.indices)
    np.testing.assert_allclose(mine.data, ref.data, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("ref", DESIGN_CASES)
def test_design_matches_lme4(ref):
    des, msgs = _build(ref)
    d = ref["design"]
    assert des.n == ref["nobs"]
    # fixed effects
    assert des.X_colnames == d["X_colnames"]
    np.testing.assert_allclose(des.X, np.asarray(d["X"], dtype=float).reshape(des.n, -1),
                               rtol=TOL, atol=TOL)
    if "X_assign" in d:
        assert des.info["X_assign"].tolist() == d["X_assign"]
    if "X_contrasts" in d:
        mine = des.info["contrasts"]
        assert set(mine) == set(d["X_contrasts"])
        for k, v in d["X_contrasts"].items():
            if isinstance(v, dict):
                np.testing.assert_allclose(mine[k]["matrix"], np.asarray(v["matrix"], float))
                assert mine[k]["colnames"] == v["colnames"]
            else:
                assert mine[k] == v
    assert des.dropped_columns == ref.get("dropped_columns", [])
    # random effects
    _same_sparse(des.Zt, _csc(d["Zt"]))
    assert des.Zt_rownames == d["Zt_rownames"]
    assert des.Lind.tolist() == d["Lind"]
    lower = [-np.inf if v is None else v for v in d["lower"]]
    np.testing.assert_array_equal(des.lower, lower)
    if ref.get("fn") in ("lFormula", "glFormula"):
        theta = d["theta0"]
        np.testing.assert_array_equal(des.theta, theta)
    else:
        theta = ref["theta"]
    _same_sparse(des.lambdat_at(theta), _csc(d["Lambdat"]))
    assert des.cnms == d["cnms"]
    assert list(des.flist.columns) == d["flist_names"]
    assert des.theta_names == d.get("theta_names", ref.get("theta_names"))
    if "Gp" in d:
        assert des.Gp.tolist() == d["Gp"]
    if "nl" in d:
        assert [t.n_levels for t in des.reterms] == list(d["nl"].values())
    if "flist_assign" in d:
        assert [a + 1 for a in des.assign] == d["flist_assign"]
    if "flist_levels" in d:
        assert {c: list(des.flist[c].cat.categories) for c in des.flist} == d["flist_levels"]
    # response, offset, weights, rows
    weights = des.weights
    if "y" in d:
        y_ref = np.asarray(d["y"], dtype=float)
        if des.y.ndim == 2 and y_ref.ndim == 1:
            # a glmer fit stores binomial's (successes / trials, weights = trials); the design
            # keeps cbind(successes, failures) as glFormula does
            trials = des.y.sum(axis=1)
            np.testing.assert_allclose(des.y[:, 0] / trials, y_ref, rtol=TOL, atol=TOL)
            weights = des.weights * trials
        else:
            np.testing.assert_allclose(des.y, y_ref, rtol=TOL, atol=TOL)
    if d.get("offset") is not None:
        np.testing.assert_allclose(des.offset, d["offset"], rtol=TOL, atol=TOL)
    else:
        assert not np.any(des.offset)
    if d.get("prior_weights") is not None:
        np.testing.assert_allclose(weights, d["prior_weights"], rtol=TOL, atol=TOL)
    if "rows_dropped" in ref:
        assert des.dropped_rows.tolist() == ref["rows_dropped"]
        assert des.n_dropped == len(ref["rows_dropped"])
    # lme4's design-stage messages and warnings
    if ref.get("expect_message"):
        assert ref["expect_message"] in msgs
    scale_msg = "Some predictor variables are on very different scales: consider rescaling"
    assert (scale_msg in msgs) == (scale_msg in (ref.get("r_warnings") or []))


# R-level failures have no lme4 text; lmerpy names the culprit instead.
_R_LOOKUP = {
    "object 'nosuch' not found": (UnknownColumnError, "nosuch"),
    'could not find function "foo"': (FormulaError, "foo"),
}


@pytest.mark.parametrize("ref", ERROR_CASES)
def test_design_errors_match_lme4(ref):
    data = load_case_data(ref)
    text = ref["expect_error"]
    exc, needle = _R_LOOKUP.get(text, (LmerpyError, text))
    with pytest.raises(exc) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LmerpyWarning)
            build_design(parse_formula(ref["formula"]), data, **_kwargs(ref))
    assert needle in str(info.value)
