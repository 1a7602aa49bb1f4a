"""Estimated marginal means and their contrasts (R: ``emmeans::emmeans`` 1.8, ``pairs``,
``contrast``, ``confint``; pbkrtest's Kenward–Roger df, emmeans' default for ``lmer`` fits;
asymptotic z for ``glmer`` fits, on the link scale or, with ``type="response"``,
back-transformed).

The reference grid crosses every level of each factor of the fixed part and holds each numeric
variable at its mean over the fitted rows, or at the values ``at`` gives (``at`` may also
restrict a factor to some levels). A marginal mean averages the grid's predictions with equal
weights over the factors not named; its linear function L gives the estimate Lβ̂, the standard
error from Var(β̂) (Kenward–Roger's adjusted Φ_A for ``lmer_df="kenward-roger"``) and the
degrees of freedom of L (Kenward–Roger, Satterthwaite, or ∞ for ``"asymptotic"``).

``contrast`` forms emmeans' contrast families within each ``by`` group: ``"pairwise"``
(``A - B`` for each earlier A and later B; :func:`pairs`), ``"revpairwise"``,
``"trt.vs.ctrl"`` (each level against ``ref``), ``"poly"`` (integer orthogonal polynomials),
``"eff"`` (each level against the grand mean), ``"consec"`` or a dict of coefficient vectors;
each with emmeans' default multiplicity adjustment (Tukey for pairwise, Dunnett's
approximation ``dunnettx`` for treatment-versus-control, FDR for effects, none for polynomials
and custom contrasts) or the one asked for. On the response scale of a log or logit link,
differences become ratios (``odds.ratio``, ``ratio``), tested on the link scale.

Contrasts of levels that read as numbers are labelled with the factor's name, as emmeans does
(``period1 - period2``). Every table is a DataFrame with emmeans' columns that prints as
emmeans prints it (its own digits rule and annotations); ``.round()`` or any other DataFrame
operation gives a plain DataFrame back.
"""
from __future__ import annotations

import itertools
from typing import (TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import Choice, Number
from ..display.emmeans import format_emm_summary
from ..display.html import pre_html
from ..errors import ArgumentError, LmerpyError, UnknownColumnError
from ..warnings import LmerpyMessage, warn
from .emm_adjust import (ADJUST_METHODS, adjust_message, adjust_p, conf_adjust_message,
                         conf_method, critical_values, resolve_adjust)
from .emm_contrasts import contrast_family
from ..threads import fit_threads

if TYPE_CHECKING:
    from ..models.base import MixedModel

__all__ = ["emmeans", "pairs", "contrast", "EMMeans", "EmmTable"]

_DF = Choice(("kenward-roger", "satterthwaite", "asymptotic"))
_TYPE = Choice(("link", "response"))
_ADJUST = Choice(ADJUST_METHODS)
_LEVEL = Number(lower=0, upper=1)


class EmmTable(pd.DataFrame):
    """A DataFrame of emmeans' summary columns that prints as emmeans does (``print``,
    ``repr``, Jupyter). Operations on it (``round``, selections...) return plain DataFrames.
    ``confint()`` of a contrasts table gives emmeans' ``confint(contrast(...))``."""

    _metadata = ["emm_estimate", "emm_by", "emm_messages", "emm_source"]

    @property
    def _constructor(self):
        return pd.DataFrame

    def _emm_text(self) -> str:
        return format_emm_summary(pd.DataFrame(self), self.emm_estimate, self.emm_by,
                                  self.emm_messages)

    def __str__(self) -> str:
        return self._emm_text()

    def __repr__(self) -> str:
        return self._emm_text()

    def _repr_html_(self) -> str:
        return pre_html(self._emm_text())

    def to_frame(self) -> pd.DataFrame:
        """The table as a plain DataFrame."""
        return pd.DataFrame(self)

    def confint(self, level: Optional[float] = None) -> "EmmTable":
        """emmeans' ``confint()`` of these contrasts: intervals with the family's
        adjustment (Tukey, Šidák, Bonferroni...) instead of tests."""
        src = getattr(self, "emm_source", None)
        if src is None:
            raise LmerpyError("confint: this table was not made by lmerpy.contrast/pairs")
        return src.confint(level)


def _table(frame: pd.DataFrame, estimate: str, by: Sequence[str], messages: Sequence[str],
           source: Any = None) -> EmmTable:
    t = EmmTable(frame)
    t.emm_estimate, t.emm_by, t.emm_messages, t.emm_source = \
        estimate, list(by), list(messages), source
    return t


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


def _grid_values(fit: MixedModel, var: str, at: Mapping[str, Any]
                 ) -> Tuple[List[Any], bool, Any]:
    """Levels of a factor (in R's order, or those ``at`` keeps), or the mean of a numeric
    variable over the fitted rows (or the values ``at`` gives). Returns (values, is_factor,
    categorical dtype or None)."""
    fr = fit.design.fr
    if var in fr.columns:
        col = fr[var]
    else:
        data = fit.data
        if data is None or var not in getattr(data, "columns", []):
            raise LmerpyError(f"emmeans: cannot find the values of '{var}' (the fit holds no "
                              "data with that column)")
        col = pd.DataFrame(data)[var].loc[fr.index]
    levels: List[Any]
    if isinstance(col.dtype, pd.CategoricalDtype):
        levels, factor, dtype = [str(c) for c in col.cat.categories], True, col.dtype
    elif col.dtype == object or col.dtype == bool:
        levels, factor, dtype = sorted(pd.unique(col.astype(str))), True, None
    else:
        levels, factor, dtype = [float(np.mean(col.to_numpy(dtype=float)))], False, None
    levels = list(levels)
    if var in at:
        given = at[var]
        given = list(given) if isinstance(given, (list, tuple, np.ndarray, pd.Series)) else [given]
        if not given:
            raise ArgumentError(f"emmeans: at[{var!r}] gives no values")
        if factor:
            wanted = [str(g) for g in given]
            unknown = [g for g in wanted if g not in levels]
            if unknown:
                raise ArgumentError(f"emmeans: at[{var!r}]: {', '.join(unknown)} "
                                    f"{'is' if len(unknown) == 1 else 'are'} not a level of "
                                    f"'{var}' ({', '.join(levels)})")
            levels = [lv for lv in levels if lv in wanted]
        else:
            try:
                levels = [float(g) for g in given]
            except (TypeError, ValueError):
                raise ArgumentError(f"emmeans: at[{var!r}] must be numbers for the numeric "
                                    f"variable '{var}'; got {given!r}") from None
    return levels, factor, dtype


def _family(fit: MixedModel) -> Any:
    """The GLMM's family (LMMs have none)."""
    return getattr(fit, "family")


def _scale_name(fit: MixedModel, contrasts: bool) -> str:
    link = _family(fit).link
    if contrasts and link == "logit":
        return "log odds ratio"
    return link


class EMMeans:
    """Estimated marginal means (R: an ``emmGrid`` of ``emmeans(fit, specs, by)``).

    Attributes
    ----------
    table : EmmTable
        emmeans' summary: the ``specs`` and ``by`` columns, ``emmean`` (``prob``/``rate``/
        ``response`` on the response scale), ``SE``, ``df``, ``lower.CL``, ``upper.CL``
        (``asymp.LCL``, ``asymp.UCL`` for asymptotic df); prints as emmeans does.
    L : ndarray
        One row per mean: the linear function of β̂ it is.
    """

    def __init__(self, fit: MixedModel, specs: List[str], by: List[str], lmer_df: str,
                 level: float, labels: pd.DataFrame, L: np.ndarray, vcov: np.ndarray,
                 kr: Any, type: str = "link", numeric_levels: Any = (),
                 averaged: Sequence[str] = ()) -> None:
        self.fit, self.specs, self.by, self.lmer_df, self.level = fit, specs, by, lmer_df, level
        self.labels, self.L, self._vcov, self._kr = labels, L, vcov, kr
        self.type = type
        self.numeric_levels = set(numeric_levels)
        self.averaged = list(averaged)
        self.glmm = getattr(fit, "r_kind", "lmer") != "lmer"
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
        self.table = _table(tab, name, by, self._messages(type))

    def head_messages(self, contrasts: bool) -> List[str]:
        out = []
        if self.averaged:
            out.append(f"Results are averaged over the levels of: {', '.join(self.averaged)}")
        if self.glmm:
            if self.type == "link":
                out.append(f"Results are given on the {_scale_name(self.fit, contrasts)} "
                           f"(not the response) scale.")
        else:
            out.append(f"Degrees-of-freedom method: {self.lmer_df}")
        return out

    def _messages(self, type: str) -> List[str]:
        out = self.head_messages(contrasts=False)
        out.append(f"Confidence level used: {_r_number(self.level)}")
        if type == "response":
            out.append(f"Intervals are back-transformed from the {_family(self.fit).link} scale")
        return out

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

    def groups(self) -> List[Tuple[Tuple[str, ...], List[int]]]:
        """The ``by`` groups (in the table's order) and their rows."""
        if not self.by:
            return [((), list(range(len(self.labels))))]
        keys = [tuple(r) for r in self.labels[self.by].itertuples(index=False)]
        return [(g, [i for i, k in enumerate(keys) if k == g]) for g in dict.fromkeys(keys)]

    def level_names(self, rows: Sequence[int]) -> List[str]:
        lab = self.labels
        return [" ".join((f"{v}{_label(lab.iloc[i][v])}" if v in self.numeric_levels
                          else _label(lab.iloc[i][v])) for v in self.specs) for i in rows]

    def __str__(self) -> str:
        return str(self.table)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return pre_html(str(self.table))


def _label(v: Any) -> str:
    if isinstance(v, float):
        return _r_number(v)
    return str(v)


def _r_number(x: float) -> str:
    """R's ``as.character`` of a number (15 significant digits, no trailing zeros)."""
    from ..display.rformat import as_character
    return as_character(float(x))


def _limits(est, se, df, level):
    q = np.array([stats.norm.ppf(0.5 + level / 2) if not np.isfinite(d)
                  else stats.t.ppf(0.5 + level / 2, d) for d in np.atleast_1d(df)])
    return est - q * se, est + q * se


@fit_threads
def emmeans(fit: MixedModel, specs: Union[str, Sequence[str]],
            by: Union[str, Sequence[str], None] = None, lmer_df: Optional[str] = None,
            level: float = 0.95, type: str = "link",
            at: Optional[Mapping[str, Any]] = None) -> EMMeans:
    """R: ``emmeans(fit, specs, by = NULL, lmer.df, level = 0.95, type, at)``: the marginal
    mean of each level (combination) of the ``specs`` variables, within each level of ``by``.

    ``lmer_df`` (linear mixed models) is ``"kenward-roger"`` (the default; REML fits),
    ``"satterthwaite"`` or ``"asymptotic"``; GLMMs use asymptotic z (emmeans' default for
    ``glmer``). ``type="response"`` (GLMMs) back-transforms the means. ``at`` holds numeric
    variables at given values (``{"x": [0, 1]}``: then ``x`` may be a spec or a by variable)
    or keeps some levels of a factor. See the module's documentation."""
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
    at = {} if at is None else at
    if not isinstance(at, Mapping):
        raise ArgumentError(f"emmeans: 'at' must be a dict of variable -> values; got "
                            f"{type(at).__name__}")
    variables = _fixed_variables(fit)
    for v in list(specs_l) + list(by_l) + list(at):
        if v not in variables:
            raise UnknownColumnError(f"emmeans: '{v}' is not a variable of the fixed part "
                                     f"({', '.join(variables) or 'none'})")
    values = {v: _grid_values(fit, v, at) for v in variables}
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
    key_values = {k: grid[k].astype(str).to_numpy() if values[k][1] else
                  grid[k].to_numpy(dtype=float) for k in keys}
    for c in out_combos:
        want = dict(zip(keys[::-1], c))
        mask = np.all([key_values[k] == (want[k] if values[k][1] else float(want[k]))
                       for k in keys], axis=0)
        rows.append(Xg[mask].mean(axis=0))
        labels.append({k: want[k] for k in keys})
    L = np.vstack(rows)
    lab = pd.DataFrame(labels, columns=keys)
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
    numeric = [v for v in specs_l if values[v][1] and all(_is_number(x) for x in values[v][0])]
    averaged = [v for v in variables if values[v][1] and v not in keys and len(values[v][0]) > 1]
    return EMMeans(fit, specs_l, by_l, lmer_df, level, lab, L, np.asarray(vcov), kr,
                   type=type if glmm else "link", numeric_levels=numeric, averaged=averaged)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Contrasts:
    """What a contrasts table was made from, for its tests and its intervals."""

    def __init__(self, em: EMMeans, method: Any, adjust: Optional[str], ref: Any):
        self.em = em
        self.parts: List[Dict[str, Any]] = []
        asked = None if adjust is None else _ADJUST("adjust", adjust, "contrast")
        for g, idx in em.groups():
            fam = contrast_family(method, em.level_names(idx), ref)
            chosen = fam.adjust if asked is None else asked
            if chosen == "mvt":
                raise ArgumentError("contrast: 'consec' contrasts are adjusted by emmeans with the "
                                    "multivariate t distribution (adjust='mvt'), which lmerpy does "
                                    "not compute; give adjust= one of "
                                    f"{', '.join(ADJUST_METHODS)}")
            used, note = resolve_adjust(chosen, len(fam.names), fam.pairwise)
            L = fam.K.T @ em.L[idx]
            self.parts.append({"group": g, "names": fam.names, "L": L, "adjust": used,
                               "note": note, "fam_size": len(idx), "family": fam})
        self.response = em.type == "response"
        if self.response and not all(p["family"].differences for p in self.parts):
            raise ArgumentError("contrast: on the response scale only differences of means "
                                "(pairwise, revpairwise, trt.vs.ctrl, consec) back-transform "
                                "(to ratios); use emmeans(..., type='link')")
        if self.response and _family(em.fit).link not in ("log", "logit"):
            raise ArgumentError(f"contrast: differences on the response scale of a "
                                f"{_family(em.fit).link} link do not back-transform to ratios; "
                                f"use emmeans(..., type='link')")
        for note in dict.fromkeys(p["note"] for p in self.parts if p["note"]):
            warn(note, LmerpyMessage)

    def _frame(self, with_tests: bool, level: float) -> Tuple[pd.DataFrame, str, List[str]]:
        em = self.em
        ratio = None
        if self.response:
            ratio = "odds.ratio" if _family(em.fit).link == "logit" else "ratio"
        frames, msgs_adj = [], []
        for part in self.parts:
            est, se, df = em.estimate(part["L"])
            names = [n.replace(" - ", " / ") for n in part["names"]] if ratio else part["names"]
            f = pd.DataFrame({"contrast": names})
            for k, v in zip(em.by, part["group"]):
                f[k] = v
            stat = "z.ratio" if em.lmer_df == "asymptotic" else "t.ratio"
            n = len(part["names"])
            if with_tests:
                t = est / se
                p = adjust_p(t, df, part["adjust"], part["fam_size"])
                msgs_adj.append(adjust_message(part["adjust"], n, part["fam_size"]))
            else:
                method = conf_method(part["adjust"])
                q = critical_values(level, df, method, n, part["fam_size"])
                lo, hi = est - q * se, est + q * se
                msgs_adj.append(conf_adjust_message(method, n, part["fam_size"]))
            if ratio:
                f[ratio], f["SE"], f["df"] = np.exp(est), np.exp(est) * se, df
            else:
                f["estimate"], f["SE"], f["df"] = est, se, df
            if with_tests:
                if ratio:
                    f["null"] = 1.0
                f[stat], f["p.value"] = t, p
            else:
                names_ci = (("asymp.LCL", "asymp.UCL") if em.lmer_df == "asymptotic"
                            else ("lower.CL", "upper.CL"))
                f[names_ci[0]] = np.exp(lo) if ratio else lo
                f[names_ci[1]] = np.exp(hi) if ratio else hi
            frames.append(f)
        msgs = em.head_messages(contrasts=True)
        if not with_tests:
            msgs.append(f"Confidence level used: {_r_number(level)}")
        msgs += [m for m in dict.fromkeys(msgs_adj) if m]
        if ratio:
            scale = _scale_name(em.fit, contrasts=True)
            msgs.append(f"Tests are performed on the {scale} scale" if with_tests
                        else f"Intervals are back-transformed from the {scale} scale")
        return pd.concat(frames, ignore_index=True), ratio or "estimate", msgs

    def tests(self) -> EmmTable:
        frame, est, msgs = self._frame(True, self.em.level)
        return _table(frame, est, self.em.by, msgs, source=self)

    def confint(self, level: Optional[float] = None) -> EmmTable:
        level = self.em.level if level is None else _LEVEL("level", level, "confint")
        frame, est, msgs = self._frame(False, level)
        return _table(frame, est, self.em.by, msgs, source=self)


@fit_threads
def contrast(em: EMMeans, method: Union[str, Mapping[str, Sequence[float]]] = "eff",
             adjust: Optional[str] = None, ref: Union[int, str] = 1) -> EmmTable:
    """R: ``contrast(em, method, adjust, ref)``: contrasts of the means within each ``by``
    group. ``method`` is ``"pairwise"``, ``"revpairwise"``, ``"trt.vs.ctrl"`` (``ref``: the
    control, a level or R's 1-based position), ``"poly"``, ``"eff"`` (emmeans' default),
    ``"consec"`` or a dict ``{"name": [coefficients, one per mean]}``. ``adjust`` overrides the
    family's default: ``"tukey"``, ``"sidak"``, ``"bonferroni"``, ``"dunnettx"``, ``"holm"``,
    ``"hochberg"``, ``"fdr"``/``"BH"``, ``"BY"``, ``"none"``. Returns the tests as an
    :class:`EmmTable`; its ``confint()`` gives the intervals."""
    if not isinstance(em, EMMeans):
        raise ArgumentError(f"contrast: expected the result of emmeans(); got "
                            f"{type(em).__name__}")
    if not isinstance(method, (str, Mapping)):
        raise ArgumentError(f"contrast: 'method' must be a name or a dict of coefficient "
                            f"vectors; got {type(method).__name__}")
    return _Contrasts(em, method, adjust, ref).tests()


@fit_threads
def pairs(em: EMMeans, adjust: str = "tukey", reverse: bool = False) -> EmmTable:
    """R: ``pairs(emmeans(...), adjust = "tukey", reverse = FALSE)``: every pairwise difference
    of the means within each ``by`` group, ``A - B`` for each earlier A and later B (``B - A``
    ordered as emmeans' ``revpairwise`` with ``reverse=True``): columns ``contrast``, the
    ``by`` variables, ``estimate`` (``odds.ratio``/``ratio`` on the response scale), ``SE``,
    ``df``, ``t.ratio`` (``z.ratio`` for asymptotic df), ``p.value`` adjusted within each
    group."""
    if not isinstance(em, EMMeans):
        raise ArgumentError(f"pairs: expected the result of emmeans(); got {type(em).__name__}")
    adjust = _ADJUST("adjust", adjust, "pairs")
    return _Contrasts(em, "revpairwise" if reverse else "pairwise", adjust, 1).tests()
