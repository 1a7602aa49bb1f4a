"""Leverage, Cook's distance and deletion diagnostics of a mixed model (R: lme4 1.1-31's
``hatvalues.merMod``, ``cooks.distance.merMod``, ``rstudent.merMod``, ``influence.merMod``
and its ``cooks.distance``, ``dfbeta`` and ``dfbetas`` methods).

The hat matrix is that of the penalized least-squares problem at θ̂: with A = S [ZΛ  X]
(S the square roots of the prior weights) and W the weights of the final (PIRLS) system — the
prior weights for an LMM, the working weights for a GLMM —, the leverages are the diagonal of
A M⁻¹ Aᵀ with M = [ZΛ X]ᵀ W [ZΛ X] + diag(I_q, 0). For an LMM that is the matrix mapping y
to the fitted values; for a GLMM it is lme4's formula (which warns that it "may not make
sense"). Cook's distance of the fit is lme4's ``r_i² h_i / (σ² p (1 − h_i)²)`` with r the
Pearson residuals.

:func:`influence` refits the model without each case (``groups=None``) or without each level
of a grouping variable, as lme4's ``influence.merMod``: each refit is the fit's design
restricted to the remaining rows (:func:`lmerpy.design.subset.subset_design`: the formula is
not evaluated again), started at the fit's θ̂ (and β̂ for a GLMM), with the fit's control
and ``maxfun``; the refits run in ``n_jobs`` worker processes.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Optional, Sequence, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..arguments import LOGICAL, Choice, Integer, argument_error
from ..errors import ArgumentError, UnknownColumnError
from ..progress import parallel_map
from ..threads import fit_threads
from ..warnings import InferenceWarning, warn

if TYPE_CHECKING:
    from ..models.base import MixedModel

__all__ = ["hatvalues", "hat_values", "cooks_distance", "cooks_from", "rstudent", "influence",
           "Influence", "dfbeta", "dfbetas"]

_CHUNK = 1024
_MAXFUN = Integer(lower=1)
_WHICH = Choice(("fixed", "var.cov"))


def _is_glmm(fit) -> bool:
    return getattr(fit, "r_kind", "lmer") != "lmer"


def _frame_rows(fit, values) -> np.ndarray:
    from ..models.naresid import model_rows
    return np.asarray(model_rows(fit.design, np.asarray(values, dtype=float)), dtype=float)


def hat_values(fit: MixedModel) -> np.ndarray:
    """The diagonal of the hat matrix for the model frame's rows (not padded); see the module
    text for GLMMs."""
    Zt = sp.csc_matrix(fit.getME("Zt"))
    Lt = sp.csc_matrix(fit.getME("Lambdat"))
    X = np.asarray(fit.getME("X"), dtype=float)
    prior = np.asarray(fit.getME("weights"), dtype=float)
    W = (_frame_rows(fit, fit.weights(type="working"))  # type: ignore[attr-defined]
         if _is_glmm(fit) else prior)
    ZL = sp.csr_matrix((Lt @ Zt).T)
    q = ZL.shape[1]
    B = sp.hstack([ZL, sp.csr_matrix(X)], format="csr")
    M = (B.T @ sp.diags(W) @ B).tocsc() + sp.diags(np.r_[np.ones(q), np.zeros(X.shape[1])],
                                                   format="csc")
    A = sp.csr_matrix(B.multiply(np.sqrt(prior)[:, None]))
    lu = spla.splu(M.tocsc())
    n = A.shape[0]
    out = np.empty(n)
    for start in range(0, n, _CHUNK):
        rows = A[start:start + _CHUNK]
        sol = lu.solve(rows.T.toarray())
        out[start:start + _CHUNK] = np.einsum("ij,ji->i", rows.toarray(), sol)
    return out


def _glmm_hat_warning(fit, caller):
    if _is_glmm(fit):
        warn(f"{caller}: the hat matrix may not make sense for GLMMs", InferenceWarning)


@fit_threads
def hatvalues(fit: MixedModel) -> pd.Series:
    """R: ``hatvalues(fit)``: the leverages, indexed as the model frame (a GLMM warns, as
    lme4: the hat matrix may not make sense there)."""
    _glmm_hat_warning(fit, "hatvalues")
    return pd.Series(hat_values(fit), index=fit.model_matrix().index)


@fit_threads
def cooks_distance(model: Union[MixedModel, "Influence"]) -> pd.Series:
    """R: ``cooks.distance(fit)`` (lme4 1.1-31's merMod method, from the leverages; a GLMM
    warns as its ``hatvalues`` do) or
    ``cooks.distance(influence(fit))`` (from the deletion refits: dfbetaᵢ' V⁻¹ dfbetaᵢ
    (n − p)/(n p), V the fit's ``vcov``, n the number of deleted cases or groups)."""
    if isinstance(model, Influence):
        return model.cooks_distance()
    fit = model
    _glmm_hat_warning(fit, "cooks_distance")
    return pd.Series(cooks_from(fit, hat_values(fit)), index=fit.model_matrix().index)


def cooks_from(fit: MixedModel, h: np.ndarray) -> np.ndarray:
    """lme4's ``cooks.distance.merMod`` from the leverages ``h``: (r / (1 − h))² h / (σ² p),
    r the Pearson residuals, p the rank of X (NaN where it is infinite)."""
    r = _frame_rows(fit, fit.residuals(type="pearson"))
    p = int(np.linalg.matrix_rank(np.asarray(fit.getME("X"), dtype=float)))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = r ** 2 * h / (fit.sigma() ** 2 * p * (1.0 - h) ** 2)
    d[np.isinf(d)] = np.nan
    return d


@fit_threads
def rstudent(model: Union[MixedModel, "Influence"]) -> pd.Series:
    """R: ``rstudent(fit)`` (lme4 1.1-31): studentized residuals
    sign(d)·sqrt(d² + h·r²/(1 − h)) / σ, with d the deviance and r the Pearson residuals and
    h the leverages (for an LMM, d = r). An :class:`Influence` gives its fit's."""
    fit = model.model if isinstance(model, Influence) else model
    _glmm_hat_warning(fit, "rstudent")
    h = hat_values(fit)
    pr = _frame_rows(fit, fit.residuals(type="pearson"))
    d = _frame_rows(fit, fit.residuals(type="deviance")) if _is_glmm(fit) else pr
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sign(d) * np.sqrt(d ** 2 + h * pr ** 2 / (1.0 - h))
    r[np.isinf(r)] = np.nan
    return pd.Series(r / fit.sigma(), index=fit.model_matrix().index)


# ------------------------------------------------------------------------ deletion refits


def var_cov_names(fit: MixedModel) -> List[str]:
    """lme4's names of ``var.cov.comps``: ``sigma^2``, then per term ``v[a]`` (variances) and
    ``C[b,a]`` (covariances), prefixed ``group:`` when the model has several terms."""
    vc = fit.VarCorr()
    several = len(vc) > 1
    out = ["sigma^2"]
    for term in vc:
        c = list(term.names)
        for j in range(len(c)):
            for i in range(j, len(c)):
                e = f"v[{c[i]}]" if i == j else f"C[{c[i]},{c[j]}]"
                out.append(f"{term.group}:{e}" if several else e)
    return out


def var_cov_values(fit: MixedModel) -> np.ndarray:
    """σ² and the lower triangles (column by column) of the terms' covariance matrices."""
    out = [fit.sigma() ** 2]
    for term in fit.VarCorr():
        cov = np.asarray(term.cov, dtype=float)
        out.extend(cov[i, j] for j in range(cov.shape[0]) for i in range(j, cov.shape[0]))
    return np.asarray(out, dtype=float)


def _with_maxfun(control, maxfun: int):
    """The control with an evaluation limit for its optimizer(s) (R: ``optCtrl =
    list(maxfun = maxfun)``)."""
    opts = control.optimizer if isinstance(control.optimizer, tuple) else (control.optimizer,)
    ctrl = dict(control.optCtrl)
    if ctrl:
        return control
    if all(o == "nloptwrap" for o in opts):
        ctrl["maxeval"] = maxfun
    elif all(o in ("bobyqa", "Nelder_Mead", "lbfgsb") for o in opts):
        ctrl["maxfun"] = maxfun
    else:
        return control
    return control.replace(optCtrl=ctrl)


def _deletion_refit(shared, rows):
    """One refit without some rows: (fixef, var.cov, vcov, converged, evaluations, error)."""
    from ..design.subset import subset_design
    fit, control, names = shared
    p = len(names)
    fixed, vcov = np.full(p, np.nan), np.full((p, p), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            design = subset_design(fit.design, rows)
            if _is_glmm(fit):
                from ..models.glmm import fit_glmm
                start: Dict[str, Any] = {"par": fit.par}
                if fit.nAGQ > 0:
                    start["fixef"] = fit.fixef().to_numpy()
                m = fit_glmm(design, fit.family, nAGQ=fit.nAGQ, control=control, start=start,
                             backend=fit.call.get("backend"))
            else:
                from ..models.lmm import mkLmerDevfun, mkMerMod, optimizeLmer
                devfun = mkLmerDevfun(design, REML=fit.REML, backend=fit.call.get("backend"))
                opt = optimizeLmer(devfun, start=fit.par, control=control)
                m = mkMerMod(devfun, opt, design)
            pos = [names.index(c) for c in design.X_colnames]
            fixed[pos] = m.fixef().to_numpy()
            vcov[np.ix_(pos, pos)] = m.vcov().to_numpy()
            os_ = m.optsum
            conv = bool(os_.return_code == 0 and not os_.warnings)
            return fixed, var_cov_values(m), vcov, conv, int(os_.optimizer_evals), None
        except Exception as exc:       # one failed refit is a NaN row, not the end
            return fixed, None, vcov, False, 0, f"{type(exc).__name__}: {exc}"


def _units(fit, groups, data):
    """(name of the deleted units, their labels, the model-frame rows of each)."""
    n = fit.design.n
    dropped = np.asarray(fit.design.dropped_rows, dtype=np.int64)
    if data is None:
        data = fit.data
    if data is not None and not isinstance(data, pd.DataFrame):
        from ..design.dataframe import as_data_frame
        data = as_data_frame(data)
    if data is None:
        if groups is not None:
            raise ArgumentError("influence: the fit holds no data; pass data= to delete groups")
        index = fit.model_matrix().index
        return "case", list(index), [np.array([i]) for i in range(n)]
    kept = np.setdiff1d(np.arange(len(data)), dropped)
    if kept.size != n:
        raise ArgumentError(f"influence: data has {len(data)} rows, the fit used {n} of "
                            f"{n + dropped.size}; pass the data the model was fitted to")
    frame_pos = np.full(len(data), -1, dtype=np.int64)
    frame_pos[kept] = np.arange(n)
    if groups is None:
        return "case", list(data.index), [frame_pos[i:i + 1][frame_pos[i:i + 1] >= 0]
                                          for i in range(len(data))]
    cols = [groups] if isinstance(groups, str) else list(groups)
    if not cols or not all(isinstance(c, str) for c in cols):
        raise argument_error("groups", groups, "a column name or a list of column names",
                             "influence")
    for c in cols:
        if c not in data.columns:
            raise UnknownColumnError(f"influence: groups: no column {c!r} in the data")
    if len(cols) == 1:
        labels = data[cols[0]]
    else:
        labels = data[cols].astype(str).agg(".".join, axis=1)
    codes, uniques = pd.factorize(labels, sort=False)
    rows = [frame_pos[(codes == k) & (frame_pos >= 0)] for k in range(len(uniques))]
    return ".".join(cols), list(uniques), rows


class Influence:
    """Deletion diagnostics of a mixed model (R: an ``influence.merMod`` object).

    Attributes (lme4's element names in brackets)
    ----------
    model : the fit
    groups : str
        ``"case"`` or the grouping variable(s) (``groups``).
    deleted : list
        The deleted cases (the data's index labels) or levels (``deleted``).
    fixed_effects : pandas.Series
        β̂ of the fit (``fixed.effects``).
    fixed_effects_deleted : pandas.DataFrame
        β̂ without each unit, one row per unit (``fixed.effects[-case]``).
    var_cov_comps : pandas.Series
        σ² and the random-effects variances and covariances (``var.cov.comps``).
    var_cov_comps_deleted : pandas.DataFrame
        The same without each unit (``var.cov.comps[-case]``).
    vcov : pandas.DataFrame
        The fit's ``vcov`` (``vcov``).
    vcov_deleted : dict
        unit → ``vcov`` of its refit (``vcov[-case]``).
    converged : pandas.Series
        Whether each refit's optimizer converged without warnings (``converged``).
    function_evals : pandas.Series
        The optimizer's evaluations per refit (``function.evals``).
    hat : pandas.Series
        The fit's leverages (lme4's ``influence(fit, do.coef = FALSE)``).
    errors : dict
        unit → message, for refits that failed (their rows are NaN).
    """

    def __init__(self, model, groups, deleted, fixed, fixed_deleted, var_cov, var_cov_deleted,
                 vcov, vcov_deleted, converged, function_evals, errors=None):
        self.model = model
        self.groups = groups
        self.deleted = list(deleted)
        self.fixed_effects = fixed
        self.fixed_effects_deleted = fixed_deleted
        self.var_cov_comps = var_cov
        self.var_cov_comps_deleted = var_cov_deleted
        self.vcov = vcov
        self.vcov_deleted = vcov_deleted
        self.converged = converged
        self.function_evals = function_evals
        self.errors = dict(errors or {})

    @property
    def hat(self) -> pd.Series:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return hatvalues(self.model)

    @property
    def sigma(self) -> pd.Series:
        """σ of each refit (the square root of the ``sigma^2`` column)."""
        return np.sqrt(self.var_cov_comps_deleted["sigma^2"]).rename("sigma")

    def __getitem__(self, key: str) -> Any:
        """lme4's element names: ``infl["fixed.effects[-case]"]``, ``infl["deleted"]``..."""
        g = self.groups
        table = {"fixed.effects": self.fixed_effects,
                 f"fixed.effects[-{g}]": self.fixed_effects_deleted,
                 "var.cov.comps": self.var_cov_comps,
                 f"var.cov.comps[-{g}]": self.var_cov_comps_deleted, "vcov": self.vcov,
                 f"vcov[-{g}]": self.vcov_deleted, "groups": g, "deleted": self.deleted,
                 "converged": self.converged, "function.evals": self.function_evals,
                 "hat": None}
        if key not in table:
            raise ArgumentError(f"influence: no element {key!r}; available: "
                                f"{', '.join(table)}")
        return self.hat if key == "hat" else table[key]

    def dfbeta(self, which: Literal["fixed", "var.cov"] = "fixed") -> pd.DataFrame:
        """R: ``dfbeta(infl, which)``: each refit's estimates minus the fit's."""
        which = _WHICH("which", which, "dfbeta")
        if which == "fixed":
            return self.fixed_effects_deleted - self.fixed_effects
        return self.var_cov_comps_deleted - self.var_cov_comps

    def dfbetas(self) -> pd.DataFrame:
        """R: ``dfbetas(infl)``: dfbeta scaled by each refit's standard errors (lme4 1.1-31
        divides by the deleted fit's ``sqrt(diag(vcov))``)."""
        se = pd.DataFrame([np.sqrt(np.diag(self.vcov_deleted[u].to_numpy()))
                           for u in self.deleted], index=self.fixed_effects_deleted.index,
                          columns=self.fixed_effects.index)
        return self.dfbeta() / se

    def cooks_distance(self) -> pd.Series:
        """R: ``cooks.distance(infl)``: dfbetaᵢ' V⁻¹ dfbetaᵢ (n − p)/(n p)."""
        db = self.dfbeta().to_numpy()
        n, p = db.shape
        vinv = (n - p) / (n * p) * np.linalg.inv(self.vcov.to_numpy())
        d = np.einsum("ij,jk,ik->i", db, vinv, db)
        return pd.Series(d, index=self.fixed_effects_deleted.index, name="cooks.distance")

    def __repr__(self) -> str:
        k = len(self.deleted)
        bad = int((~self.converged).sum())
        return (f"<Influence: {k} refits without each {self.groups}"
                + (f", {bad} not converged" if bad else "") + ">")


def dfbeta(infl: Influence, which: Literal["fixed", "var.cov"] = "fixed") -> pd.DataFrame:
    """R: ``dfbeta(influence(fit), which = "fixed" | "var.cov")``."""
    return _influence_arg(infl, "dfbeta").dfbeta(which)


def dfbetas(infl: Influence) -> pd.DataFrame:
    """R: ``dfbetas(influence(fit))``."""
    return _influence_arg(infl, "dfbetas").dfbetas()


def _influence_arg(infl, caller):
    if not isinstance(infl, Influence):
        raise argument_error("model", infl, "what influence() returns", caller)
    return infl


def influence(fit: MixedModel, groups: Union[str, Sequence[str], None] = None,
              data: Any = None, maxfun: int = 1000, n_jobs: int = 1,
              progress: bool = True) -> Influence:
    """Case- or group-deletion diagnostics (R: lme4 1.1-31's ``influence(model, groups,
    data, maxfun, ncores)``).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    groups : str or list of str, optional
        Delete each level of this data column (several columns: each combination,
        labelled ``a.b``) instead of each case (row of the data).
    data : DataFrame, optional
        The data the model was fitted to (default: the fit's own).
    maxfun : int
        The optimizer's evaluation limit for each refit (lme4's ``maxfun``).
    n_jobs : int
        Worker processes for the refits (1: none; -1: one per CPU).
    progress : bool
        Show a progress bar when the refits take more than a couple of seconds.

    Returns
    -------
    Influence
        With ``cooks_distance()``, ``dfbeta()``, ``dfbetas()``, R's element names by
        ``infl["fixed.effects[-case]"]``, and :func:`lmerpy.plot.plot_influence`.

    Each refit starts at the fit's θ̂ (θ̂ and β̂ for a GLMM) and reuses the fit's design
    restricted to the remaining rows (the formula is not evaluated again: ``scale()`` and
    ``poly()`` keep the full data's coefficients, where R would recompute them).
    """
    from ..optimize import glmerControl, lmerControl
    maxfun = _MAXFUN("maxfun", maxfun, "influence")
    progress = LOGICAL("progress", progress, "influence")
    key, labels, unit_rows = _units(fit, groups, data)
    n = fit.design.n
    keeps = [np.setdiff1d(np.arange(n), r) for r in unit_rows]
    control = fit.call.get("control")
    if control is None:
        control = glmerControl() if _is_glmm(fit) else lmerControl()
    control = _with_maxfun(control, maxfun)
    fixed = fit.fixef()
    names = list(fixed.index)
    res = parallel_map(_deletion_refit, keeps, shared=(fit, control, names), n_jobs=n_jobs,
                       progress=progress, desc="influence", unit="refit", caller="influence")
    vc_names = var_cov_names(fit)
    k = len(vc_names)
    idx = pd.Index(labels)
    F = pd.DataFrame(np.array([r[0] for r in res]).reshape(len(res), len(names)), index=idx,
                     columns=names)
    V = pd.DataFrame(np.array([r[1] if r[1] is not None and r[1].shape[0] == k
                               else np.full(k, np.nan) for r in res]).reshape(len(res), k),
                     index=idx, columns=vc_names)
    vcov_d = {u: pd.DataFrame(r[2], index=names, columns=names) for u, r in zip(labels, res)}
    errors = {u: r[5] for u, r in zip(labels, res) if r[5] is not None}
    if errors:
        warn(f"influence: {len(errors)} of {len(res)} refits failed (their rows are NaN); "
             f"first: {next(iter(errors.values()))}", InferenceWarning)
    return Influence(fit, key, labels, fixed, F, pd.Series(var_cov_values(fit), index=vc_names),
                     V, fit.vcov(), vcov_d,
                     pd.Series([r[3] for r in res], index=idx, name="converged"),
                     pd.Series([r[4] for r in res], index=idx, name="function.evals"),
                     errors)
