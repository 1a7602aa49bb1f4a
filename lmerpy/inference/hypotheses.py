"""Hypothesis (contrast) matrices of the fixed-effect terms for F tests, as lmerTest builds them.

R equivalents: ``lmerTest:::get_contrasts_type1`` (Doolittle decomposition of X'X),
``lmerTest:::get_contrasts_type2_unfolded`` (marginal tests for terms contained in no other,
type II for the rest), ``lmerTest:::get_contrasts_type3`` / ``extract_contrasts_type3``
(estimable functions of the cell-means parametrisation made orthogonal to the terms that
contain a term), ``lmerTest:::containment`` and ``lmerTest:::doolittle``.

Each function returns ``{term label: L}`` with L a (k × p) array over the columns of X.
"""
from __future__ import annotations

import copy

import numpy as np

from ..errors import DataNotHereError, LmerpyError
from ..warnings import InferenceWarning, warn

__all__ = ["containment", "contrasts_type1", "contrasts_type2", "contrasts_type3", "doolittle"]

_GINV_TOL = float(np.sqrt(np.finfo(float).eps))


def _zapsmall(x, digits=7):
    from ..display.rformat import zapsmall
    return np.asarray(zapsmall(np.asarray(x, dtype=float), digits), dtype=float)


def _ginv(a):
    """MASS::ginv: Moore-Penrose inverse dropping singular values below sqrt(eps)·max."""
    return np.linalg.pinv(np.asarray(a, dtype=float), rcond=_GINV_TOL)


def doolittle(x, eps=1e-6):
    """LU decomposition without pivoting, L unit lower triangular (R: ``lmerTest:::doolittle``).

    Entries below ``eps`` in absolute value are set to 0; a pivot below ``eps`` gives a zero
    column of L.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = x[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = x[i + 1:, i] - L[i + 1:, :i] @ U[:i, i]
            L[i + 1:, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    U[np.abs(U) < eps] = 0.0
    return L, U


# ---------------------------------------------------------------------------------- terms


class _Terms:
    """The fixed-effect terms of a fit: labels, variables, X columns of each term."""

    def __init__(self, fit):
        d = fit.design
        spec = d.info.get("fixed")
        if spec is None:
            raise LmerpyError("the fit's design has no fixed-effects specification")
        self.fit = fit
        self.spec = spec
        self.labels: list[str] = [t.label for t in spec.terms]
        self.intercept = bool(spec.intercept)
        try:
            self.X = np.asarray(d.X, dtype=float)
            self.XtX = None
            self.p = self.X.shape[1]
        except DataNotHereError:       # a fit on a Dask DataFrame: X'X reduced on the cluster
            XtX = d.info.get("XtX")
            if XtX is None:
                raise
            self.X = None
            self.XtX = np.asarray(XtX, dtype=float)
            self.p = self.XtX.shape[0]
        self.colnames = list(d.X_colnames)
        assign = d.info.get("X_assign")
        if assign is None:
            assign = [spec.assign[i] for i in spec.keep]
        self.assign = np.asarray(assign, dtype=int)
        self.vars = [[part[0] for part in t.parts] for t in spec.terms]
        self.numeric = {}
        for t in spec.terms:
            for expr, _name, coding in t.parts:
                self.numeric[expr] = coding is None

    def cols(self, label):
        j = self.labels.index(label) + 1
        return np.flatnonzero(self.assign == j)


def containment(terms: _Terms) -> dict[str, list[str]]:
    """For each term, the terms that contain it (R: ``lmerTest:::containment``): all of its
    variables and more, with the same numeric variables."""
    out = {}
    for a, va in zip(terms.labels, terms.vars):
        sa = set(va)
        na = {v for v in va if terms.numeric[v]}
        cont = []
        for b, vb in zip(terms.labels, terms.vars):
            sb = set(vb)
            nb = {v for v in vb if terms.numeric[v]}
            if sa <= sb and sb - sa and na == nb:
                cont.append(b)
        out[a] = cont
    return out


# ---------------------------------------------------------------------------------- type I


def _type1_from(X, assign, labels, XtX=None):
    L = doolittle(X.T @ X if XtX is None else XtX)[0].T
    out = {}
    for j, lab in enumerate(labels, start=1):
        out[lab] = L[assign == j, :]
    return out


def contrasts_type1(fit) -> dict[str, np.ndarray]:
    """Sequential (type I) hypotheses (R: ``lmerTest:::get_contrasts_type1``).

    A model whose only column is the intercept has no term to test: ``{}``.
    """
    t = _Terms(fit)
    p = t.p
    if p == 0 or (p == 1 and t.intercept):
        return {}
    return _type1_from(t.X, t.assign, t.labels, t.XtX)


# ---------------------------------------------------------------------------------- type II


def contrasts_type2(fit) -> dict[str, np.ndarray]:
    """Type II hypotheses (R: ``lmerTest:::get_contrasts_type2_unfolded``): marginal tests of
    the terms contained in no other term, type II tests of the others."""
    t = _Terms(fit)
    if t.p <= 1 or len(t.labels) <= 1:
        return contrasts_type1(fit)
    cont = containment(t)
    p = t.p
    out = {}
    for lab in t.labels:
        cols = t.cols(lab)
        if not cont[lab]:
            out[lab] = np.eye(p)[cols]
            continue
        cols_term = np.concatenate([cols] + [t.cols(c) for c in cont[lab]])
        rest = np.setdiff1d(np.arange(p), cols_term)
        order = np.concatenate([rest, cols_term])
        if t.X is None:
            Lc = doolittle(t.XtX[np.ix_(order, order)])[0].T
        else:
            Xnew = t.X[:, order]
            Lc = doolittle(Xnew.T @ Xnew)[0].T
        is_term = np.isin(order, cols)
        rows = Lc[is_term]
        back = np.empty_like(order)
        back[order] = np.arange(p)
        out[lab] = rows[:, back]
    return {lab: out[lab] for lab in t.labels}


# ---------------------------------------------------------------------------------- type III


def _rebuild(fit, spec_changes):
    """Model matrix of the fit's fixed part on its own rows with the factor codings replaced:
    ``spec_changes(coding, levels) -> coding`` for each factor part."""
    from ..design import model_matrices_for
    return model_matrices_for(_recoded_design(fit, spec_changes), _model_rows(fit), fixed=True,
                              random=False).X


def _recoded_design(fit, spec_changes):
    """The fit's design with its fixed part's factor codings replaced (see :func:`_rebuild`):
    what builds the recoded model matrix on any rows."""
    d = fit.design
    spec = d.info["fixed"]
    new_spec = copy.copy(spec)
    new_terms = []
    for ts in spec.terms:
        parts = []
        for expr, name, coding in ts.parts:
            if coding is not None:
                coding = spec_changes(coding, spec.levels[expr])
            parts.append((expr, name, coding))
        new_terms.append(type(ts)(ts.label, parts))
    new_spec.terms = new_terms
    new_spec.keep = slice(None)          # every column (nothing dropped)
    new_design = copy.copy(d)
    new_design.info = dict(d.info)
    new_design.info["fixed"] = new_spec
    return new_design


def _model_rows(fit):
    data = getattr(fit, "data", None)
    if data is None:
        raise LmerpyError("type II/III hypotheses need the data the model was fitted to "
                          "(the fit has none)")
    dropped = np.asarray(getattr(fit.design, "dropped_rows", []), dtype=int)
    if dropped.size:
        keep = np.setdiff1d(np.arange(len(data)), dropped)
        data = data.iloc[keep]
    if len(data) != fit.design.n:
        raise LmerpyError("the fit's data no longer match its model frame")
    return data


def _treatment(coding, levels):
    from ..design import contr_treatment
    if coding.matrix.shape[1] == len(levels):      # indicator coding (no intercept) stays
        return coding
    return contr_treatment(levels)


def _indicator(coding, levels):
    from ..design.contrasts import indicator_coding
    return indicator_coding(levels)


def _extract_type3(t: _Terms, X, assign, cont):
    """lmerTest's ``extract_contrasts_type3`` for a treatment-coded X (with its ``assign``)."""
    rdX = _rebuild(t.fit, _indicator)
    rd_assign = _assign_for(t, _indicator)
    _warn_missing_cells(t, np.flatnonzero(np.all(rdX == 0, axis=0)))
    L = _zapsmall((_ginv(X) @ rdX).T)             # rows: rdX columns, columns: X columns
    # the rows of L named as X's columns: the rdX column equal to each X column of its term
    rows = []
    for k in range(X.shape[1]):
        cand = np.flatnonzero(rd_assign == assign[k])
        hit = [c for c in cand if np.array_equal(rdX[:, c], X[:, k])]
        rows.append(hit)
    return _type3_rows(t, L, assign, cont, rows)


def _warn_missing_cells(t: _Terms, empty):
    """lmerTest's warning for all-zero columns of the cell-means coding."""
    if empty.size:
        names = _rd_names(t)
        missing = ", ".join(names[k] if k < len(names) else str(k + 1) for k in empty)
        warn(f"Missing cells for: {missing}. \nInterpret type III hypotheses with care.",
             InferenceWarning)


def _type3_rows(t: _Terms, L, assign, cont, rows):
    """The end of lmerTest's ``extract_contrasts_type3``: L orthogonalised against the terms
    containing each term, then its rows matched to X's columns (``rows``: the matching
    candidates of each column)."""
    cols = {lab: np.flatnonzero(assign == j) for j, lab in enumerate(t.labels, start=1)}
    order = [len(v) for v in t.vars]
    for lab in [t.labels[i] for i in np.argsort(-np.asarray(order), kind="stable")]:
        if cont[lab]:
            A = L[:, np.concatenate([cols[c] for c in cont[lab]])]
            Y = L[:, cols[lab]]
            coef = np.linalg.lstsq(A, Y, rcond=None)[0]
            L[:, cols[lab]] = _zapsmall(Y - A @ coef)
    first = []
    for k, hit in enumerate(rows):
        if not hit:
            raise LmerpyError(f"type III hypotheses: cannot match column {k + 1} of the "
                              "treatment-coded model matrix")
        first.append(hit[0])
    L = L[first, :]
    out = {}
    for lab in t.labels:
        Lt = L[:, cols[lab]].T
        out[lab] = Lt[np.abs(Lt).sum(axis=1) > 1e-8]
    return out


def _assign_for(t: _Terms, transform):
    """R's ``assign`` of the matrix :func:`_rebuild` makes with ``transform``."""
    spec = t.spec
    out = [0] if spec.intercept else []
    for j, ts in enumerate(spec.terms, start=1):
        w = 1
        for expr, _name, coding in ts.parts:
            if coding is not None:
                w *= transform(coding, spec.levels[expr]).matrix.shape[1]
        out += [j] * (w * _numeric_width(t, ts))
    return np.asarray(out, dtype=int)


def _rd_names(t: _Terms):
    """Column names of the all-indicator matrix (first variable varying fastest, as R)."""
    spec = t.spec
    out = ["(Intercept)"] if spec.intercept else []
    for ts in spec.terms:
        names = [""]
        nnum = _numeric_width(t, ts)
        for expr, name, coding in ts.parts:
            if coding is not None:
                part = [name + lev for lev in spec.levels[expr]]
            else:
                part = [name] if nnum == 1 else [f"{name}{k + 1}" for k in range(nnum)]
            names = [(a + ":" + b if a else b) for b in part for a in names]
        out += names
    return out


def _numeric_width(t: _Terms, ts):
    """Product of the widths of a term's numeric parts (1 for plain vectors): its width in X
    divided by the widths of its coded factors."""
    j = t.labels.index(ts.label) + 1
    spec = t.fit.design.info["fixed"]
    width_all = sum(1 for a in spec.assign if a == j)
    coded = 1
    for expr, _name, coding in ts.parts:
        if coding is not None:
            coded *= coding.matrix.shape[1]
    return max(1, width_all // max(coded, 1))


def _type3_reduced(t: _Terms, cont):
    """Type III hypotheses of a fit whose X is not on the client (a Dask DataFrame). Without
    factors the cell-means coding is X itself: each term's hypothesis is its own columns.
    With factors, one pass over the data forms the cross-products of X and the recoded
    matrices (:func:`lmerpy.dask.gram_pass`), and lmerTest's algebra runs on them:
    ginv(X)·M = (X'X)⁺X'M, a zero column has a zero diagonal, two columns are equal when
    |a − b|² vanishes."""
    if not any(coding is not None for ts in t.spec.terms for _e, _n, coding in ts.parts):
        eye = np.eye(t.p)
        return {lab: eye[t.cols(lab)] for lab in t.labels}
    from ..dask import gram_pass
    codings = list((t.fit.design.info.get("contrasts") or {}).values())
    treatment = bool(codings) and all(c == "contr.treatment" for c in codings)
    designs = [_recoded_design(t.fit, _indicator)]
    if not treatment:
        designs.append(_recoded_design(t.fit, _treatment))
    G = gram_pass(t.fit, designs)
    p = t.p
    nr = len(_assign_for(t, _indicator))
    ix, ir = np.arange(p), np.arange(p, p + nr)
    if treatment:
        return _extract_type3_gram(t, G, ix, ir, t.assign, cont)
    from ..design.model_matrix import drop_rank_deficient
    it_all = np.arange(p + nr, G.shape[0])
    lam, V = np.linalg.eigh(G[np.ix_(it_all, it_all)])
    keep = drop_rank_deficient((V * np.sqrt(np.clip(lam, 0.0, None))) @ V.T)
    it = it_all[keep]
    L3 = _extract_type3_gram(t, G, it, ir, _assign_for(t, _treatment)[keep], cont)
    mapping = _zapsmall(_ginv_gram(G[np.ix_(it, it)]) @ G[np.ix_(it, ix)])
    return {lab: L @ mapping for lab, L in L3.items()}


def _ginv_gram(G):
    """ginv(A)·A'⁺ from A'A: (A'A)⁺ with the singular-value cut of :func:`_ginv` squared."""
    return np.linalg.pinv(np.asarray(G, dtype=float), rcond=_GINV_TOL ** 2, hermitian=True)


def _extract_type3_gram(t: _Terms, G, ix, ir, assign, cont):
    """:func:`_extract_type3` on the cross-products G of [X, rdX] (indices ``ix``, ``ir``)."""
    rd_assign = _assign_for(t, _indicator)
    diag = np.diag(G)
    _warn_missing_cells(t, np.flatnonzero(diag[ir] == 0))
    L = _zapsmall((_ginv_gram(G[np.ix_(ix, ix)]) @ G[np.ix_(ix, ir)]).T)
    rows = []
    for k in range(ix.shape[0]):
        a = ix[k]
        cand = np.flatnonzero(rd_assign == assign[k])
        hit = [c for c in cand
               if abs(diag[a] + diag[ir[c]] - 2.0 * G[a, ir[c]])
               <= 1e-10 * (diag[a] + diag[ir[c]])]
        rows.append(hit)
    return _type3_rows(t, L, assign, cont, rows)


def contrasts_type3(fit) -> dict[str, np.ndarray]:
    """Type III hypotheses (R: ``lmerTest:::get_contrasts_type3``).

    With treatment contrasts everywhere, the estimable functions of the all-indicator
    (cell-means) coding of each term, made orthogonal to the terms containing it; other
    codings are handled through a treatment-coded copy of X and mapped back
    (``ginv(X_treatment) X``).
    """
    t = _Terms(fit)
    if t.p <= 1 or len(t.labels) <= 1:
        return contrasts_type1(fit)
    cont = containment(t)
    if t.X is None:
        return _type3_reduced(t, cont)
    codings = list((fit.design.info.get("contrasts") or {}).values())
    if codings and all(c == "contr.treatment" for c in codings):
        return _extract_type3(t, t.X, t.assign, cont)
    from ..design.model_matrix import drop_rank_deficient
    Xt_all = _rebuild(fit, _treatment)
    assign_all = _assign_for(t, _treatment)
    keep = drop_rank_deficient(Xt_all)
    Xt = Xt_all[:, keep]
    L3 = _extract_type3(t, Xt, assign_all[keep], cont)
    mapping = _zapsmall(_ginv(Xt) @ t.X)
    return {lab: L @ mapping for lab, L in L3.items()}
