"""Estimated marginal means and their pairwise comparisons (R: ``emmeans::emmeans`` 1.8 and
``pairs``; pbkrtest's Kenward–Roger df, emmeans' default for ``lmer`` fits; asymptotic z for
``glmer`` fits, on the link scale or, with ``type="response"``, back-transformed).

The reference grid crosses every level of each factor of the fixed part and holds each numeric
variable at its mean over the fitted rows. A marginal mean averages the grid's predictions
with equal weights over the factors not named; its linear function L gives the estimate Lβ̂,
the standard error from Var(β̂) (Kenward–Roger's adjusted Φ_A for ``lmer_df="kenward-roger"``)
and the degrees of freedom of L (Kenward–Roger, Satterthwaite, or ∞ for ``"asymptotic"``).

``pairs`` compares the means two by two within each ``by`` group (``A - B`` for each earlier
A and later B), with the family-wise p-value adjustment: Tukey's studentized range (emmeans'
default for pairwise comparisons), Bonferroni, Šidák, Holm, or none.

Contrasts of levels that read as numbers are labelled with the factor's name, as emmeans does
(``period1 - period2``). For GLMMs, ``type="response"`` gives the inverse link of each mean
(column ``prob`` for binomial, ``rate`` for Poisson, ``response`` otherwise), its standard
error by the delta method and the back-transformed limits of the link-scale interval.

Not here yet (issue 16): pairs on the response scale (odds and rate ratios), ``contrast()``
methods other than pairwise, confidence intervals of contrasts, reference grids at given
covariate values, and emmeans' printed text.
"""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Union

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import Choice, Number
from ..errors import ArgumentError, LmerpyError, UnknownColumnError
from ..threads import fit_threads

if TYPE_CHECKING:
    from ..models.base import MixedModel

_DF = Choice(("kenward-roger", "satterthwaite", "asymptotic"))
_TYPE = Choice(("link", "response"))
_ADJUST = Choice(("tukey", "bonferroni", "sidak", "holm", "none"))
_LEVEL = Number(lower=0, upper=1)


def _names(arg: str, value: Union[str, Sequence[str], None], caller: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ArgumentError(f"{caller}: '{arg}' must be a variable name or a list of names; got "
                        f"{value!r}")


def _fixed_variables(fit: MixedModel) -> List[str]:
    """The variables of the fixed part (R: ``all.vars(nobars(formula))`` less the response)."""
    from ..formula import parse_formula
    from ..formula.parser import nobars
    f = fit.design.formula
    used = list(nobars(f).all_vars())
    resp = set(parse_formula(f"~ {f.response.deparse()}").all_vars()) if f.response else set()
    return [v for v in used if v not in resp]


def _grid_values(fit: MixedModel, var: str):
    """Levels of a factor (in R's order), or the mean of a numeric variable, over the fitted
    rows. Returns (values, is_factor)."""
    fr = fit.design.fr
    if var in fr.columns:
        col = fr[var]
    else:
        data = fit.data
        if data is None or var not in getattr(data, "columns", []):
            raise LmerpyError(f"emmeans: cannot find the values of '{var}' (the fit holds no "
                              "data with that column)")
        col = pd.DataFrame(data)[var].loc[fr.index]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [str(c) for c in col.cat.categories], True, col.dtype
    if col.dtype == object or col.dtype == bool:
        return sorted(pd.unique(col.astype(str))), True, None
    return [float(np.mean(col.to_numpy(dtype=float)))], False, None


class EMMeans:
    """Estimated marginal means (R: an ``emmGrid`` of ``emmeans(fit, specs, by)``).

    Attributes
    ----------
    table : DataFrame
        emmeans' summary: the ``specs`` and ``by`` columns, ``emmean``, ``SE``, ``df``,
        ``lower.CL``, ``upper.CL`` (``asymp.LCL``, ``asymp.UCL`` for ``"asymptotic"``).
    L : ndarray
        One row per mean: the linear function of β̂ it is.
    """

    def __init__(self, fit: MixedModel, specs: List[str], by: List[str], lmer_df: str,
                 level: float, labels: pd.DataFrame, L: np.ndarray, vcov: np.ndarray,
                 kr: Any, type: str = "link", numeric_levels: Any = ()) -> None:
        self.fit, self.specs, self.by, self.lmer_df, self.level = fit, specs, by, lmer_df, level
        self.labels, self.L, self._vcov, self._kr = labels, L, vcov, kr
        self.type = type
        self.numeric_levels = set(numeric_levels)
        est, se, df = self.estimate(L)
        tab = labels.copy()
        lo, hi = _limits(est, se, df, level)
        name = "emmean"
        if type == "response":
            fam = getattr(fit, "family")
            name = {"binomial": "prob", "poisson": "rate"}.get(fam.family, "response")
            se = se * np.abs(fam.mu_eta(est))
            est, lo, hi = fam.linkinv(est), fam.linkinv(lo), fam.linkinv(hi)
        tab[name], tab["SE"], tab["df"] = est, se, df
        names = ("asymp.LCL", "asymp.UCL") if lmer_df == "asymptotic" else ("lower.CL", "upper.CL")
        tab[names[0]], tab[names[1]] = lo, hi
        self.table = tab

    def estimate(self, L: np.ndarray):
        """(estimates, standard errors, df) of the rows of L."""
        beta = self.fit.fixef().to_numpy()
        est = L @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, self._vcov, L))
        if self.lmer_df == "asymptotic":
            df = np.full(L.shape[0], np.inf)
        elif self.lmer_df == "kenward-roger":
            df = np.array([self._kr.ddf(row[None, :]) for row in L])
        else:
            from ..inference.ddf import satterthwaite_pieces
            sp = satterthwaite_pieces(self.fit)
            df = np.array([sp.ddf(row)[0] for row in L])
        return est, se, df

    def __str__(self) -> str:
        return self.table.to_string(index=False)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False)


def _limits(est, se, df, level):
    q = np.array([stats.norm.ppf(0.5 + level / 2) if not np.isfinite(d)
                  else stats.t.ppf(0.5 + level / 2, d) for d in np.atleast_1d(df)])
    return est - q * se, est + q * se


@fit_threads
def emmeans(fit: MixedModel, specs: Union[str, Sequence[str]],
            by: Union[str, Sequence[str], None] = None, lmer_df: Optional[str] = None,
            level: float = 0.95, type: str = "link") -> EMMeans:
    """R: ``emmeans(fit, specs, by = NULL, lmer.df, level = 0.95, type)``: the marginal mean of
    each level (combination) of the ``specs`` factors, within each level of ``by``.

    ``lmer_df`` (linear mixed models) is ``"kenward-roger"`` (the default; REML fits),
    ``"satterthwaite"`` or ``"asymptotic"``; GLMMs use asymptotic z (emmeans' default for
    ``glmer``). ``type="response"`` (GLMMs) back-transforms the means. See the module's
    documentation."""
    glmm = getattr(fit, "r_kind", "lmer") != "lmer"
    type = _TYPE("type", type, "emmeans")
    if lmer_df is None:
        lmer_df = "asymptotic" if glmm else "kenward-roger"
    lmer_df = _DF("lmer_df", lmer_df, "emmeans")
    if glmm and lmer_df != "asymptotic":
        raise ArgumentError(f"emmeans: lmer_df={lmer_df!r} is for linear mixed models; a "
                            f"{getattr(fit, 'r_class', 'glmerMod')} fit uses asymptotic z")
    specs_l = _names("specs", specs, "emmeans")
    by_l = _names("by", by, "emmeans")
    if not specs_l:
        raise ArgumentError("emmeans: 'specs' names no variable")
    level = _LEVEL("level", level, "emmeans")
    if not 0 < level < 1:
        raise ArgumentError(f"emmeans: 'level' must be strictly between 0 and 1; got {level!r}")
    variables = _fixed_variables(fit)
    for v in specs_l + by_l:
        if v not in variables:
            raise UnknownColumnError(f"emmeans: '{v}' is not a variable of the fixed part "
                                     f"({', '.join(variables) or 'none'})")
    values = {v: _grid_values(fit, v) for v in variables}
    for v in specs_l + by_l:
        if not values[v][1]:
            raise ArgumentError(f"emmeans: '{v}' is numeric; specs and by must be factors "
                                "(reference grids over given covariate values are not "
                                "supported yet)")
    # the reference grid, first variable varying fastest (R's expand.grid)
    order = variables[::-1]
    combos = list(itertools.product(*[values[v][0] for v in order]))
    grid = pd.DataFrame([dict(zip(order, c)) for c in combos], columns=order)[variables]
    for v in variables:
        if values[v][2] is not None:
            grid[v] = pd.Categorical(grid[v], categories=values[v][2].categories,
                                     ordered=values[v][2].ordered)
    from ..design.newdata import model_matrices_for
    Xg = np.asarray(model_matrices_for(fit.design, grid, fixed=True, random=False).X)
    keys = specs_l + by_l
    out_combos = list(itertools.product(*[values[v][0] for v in keys[::-1]]))
    rows, labels = [], []
    key_values = grid[keys].astype(str)
    for c in out_combos:
        want = dict(zip(keys[::-1], c))
        mask = np.all([key_values[k].to_numpy() == want[k] for k in keys], axis=0)
        rows.append(Xg[mask].mean(axis=0))
        labels.append({k: want[k] for k in keys})
    L = np.vstack(rows)
    lab = pd.DataFrame(labels, columns=keys)
    # emmeans orders by the by groups, then the specs within each
    kr = None
    if lmer_df == "kenward-roger":
        if not getattr(fit, "REML", False):
            raise LmerpyError("emmeans: Kenward-Roger's df need a REML fit; use "
                              "lmer_df='satterthwaite' for an ML fit")
        from ..inference.kenward_roger import kr_pieces
        kr = kr_pieces(fit)
        vcov = kr.vcov_adj
    else:
        vcov = fit.vcov().to_numpy()
    numeric = [v for v in specs_l if all(_is_number(x) for x in values[v][0])]
    return EMMeans(fit, specs_l, by_l, lmer_df, level, lab, L, np.asarray(vcov), kr,
                   type=type if glmm else "link", numeric_levels=numeric)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _adjust(p: np.ndarray, t: np.ndarray, df: np.ndarray, k: int, method: str) -> np.ndarray:
    m = p.shape[0]
    if method == "none":
        return p
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    if method == "sidak":
        return 1.0 - (1.0 - p) ** m
    if method == "holm":
        order = np.argsort(p)
        adj = np.empty(m)
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p[i]))
            adj[i] = running
        return adj
    # Tukey: the studentized range of k means
    return np.array([stats.studentized_range.sf(abs(ti) * math.sqrt(2.0), k, d)
                     for ti, d in zip(t, df)])


@fit_threads
def pairs(em: EMMeans, adjust: str = "tukey") -> pd.DataFrame:
    """R: ``pairs(emmeans(...), adjust = "tukey")``: every pairwise difference of the means
    within each ``by`` group, ``A - B`` for each earlier A and later B: columns ``contrast``,
    the ``by`` variables, ``estimate``, ``SE``, ``df``, ``t.ratio`` (``z.ratio`` for
    asymptotic df), ``p.value`` adjusted within each group (``"tukey"``, ``"bonferroni"``,
    ``"sidak"``, ``"holm"``, ``"none"``)."""
    if not isinstance(em, EMMeans):
        raise ArgumentError(f"pairs: expected the result of emmeans(); got {type(em).__name__}")
    adjust = _ADJUST("adjust", adjust, "pairs")
    if em.type == "response":
        raise ArgumentError("pairs: comparisons on the response scale (odds or rate ratios) are "
                            "not supported yet; use emmeans(..., type='link')")
    lab = em.labels
    groups = [()] if not em.by else list(dict.fromkeys(
        tuple(r) for r in lab[em.by].itertuples(index=False)))
    parts = []
    for g in groups:
        if em.by:
            idx = [i for i, r in enumerate(lab[em.by].itertuples(index=False)) if tuple(r) == g]
        else:
            idx = list(range(len(lab)))
        names = [" ".join((f"{v}{lab.iloc[i][v]}" if v in em.numeric_levels
                           else str(lab.iloc[i][v])) for v in em.specs) for i in idx]
        Ls, contrast = [], []
        for a, b in itertools.combinations(range(len(idx)), 2):
            Ls.append(em.L[idx[a]] - em.L[idx[b]])
            contrast.append(f"{names[a]} - {names[b]}")
        L = np.vstack(Ls)
        est, se, df = em.estimate(L)
        t = est / se
        raw = np.where(np.isfinite(df), 2 * stats.t.sf(np.abs(t), np.where(np.isfinite(df), df, 1)),
                       2 * stats.norm.sf(np.abs(t)))
        part = pd.DataFrame({"contrast": contrast})
        for k, v in zip(em.by, g):
            part[k] = v
        part["estimate"], part["SE"], part["df"] = est, se, df
        part["z.ratio" if em.lmer_df == "asymptotic" else "t.ratio"] = t
        part["p.value"] = _adjust(raw, t, df, len(idx), adjust)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@fit_threads
def contrast(em: EMMeans, method: str = "pairwise", adjust: Optional[str] = None
             ) -> pd.DataFrame:
    """R: ``contrast(em, method = "pairwise")``: only ``"pairwise"`` yet (= :func:`pairs`,
    Tukey-adjusted by default)."""
    if method != "pairwise":
        raise ArgumentError(f"contrast: method {method!r} is not supported yet (only "
                            "'pairwise')")
    return pairs(em, adjust="tukey" if adjust is None else adjust)
