"""nlme's variance functions: ``varFixed``, ``varIdent``, ``varPower``, ``varExp``,
``varConstPower`` and ``varComb``.

R equivalent: nlme's ``varFunc`` classes (Pinheiro & Bates 2000, section 5.2). A variance
function gives every row a *weight* ``w_i`` (nlme's ``varWeights``), the reciprocal of the
factor multiplying the residual standard deviation: ``Var(e_i) = sigma^2 / w_i^2``. The fit
scales the rows of ``[X y]`` by ``w`` and adds ``sum(log w)`` to the log-likelihood.

==================  ==========================  =====================  ========================
function            sd multiplier 1/w            unconstrained          natural (printed)
==================  ==========================  =====================  ========================
varFixed(~ v)       sqrt(|v|)                    (none)                 (none)
varIdent(~ 1 | s)   delta_s (1 for the first)    log(delta_s)           delta_s
varPower(~ v | s)   |v|^delta_s                  delta_s                delta_s ("power")
varExp(~ v | s)     exp(delta_s v)               delta_s                delta_s ("expon")
varConstPower       c_s + |v|^delta_s            log(c_s), delta_s      c_s, delta_s
varComb(f, g, ...)  product                      concatenated           concatenated
==================  ==========================  =====================  ========================

The strata ``s`` are the levels met in the data (after the fit's sorting), in order of
appearance; ``varIdent``'s first stratum is the reference. ``fitted(.)`` (the default
covariate of ``varPower``, ``varExp`` and ``varConstPower``) is the fitted values of the
previous iteration: the fit alternates between estimating the parameters and updating it, as
nlme does.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
from numpy.typing import ArrayLike

from ..arguments import show, unknown_keywords
from ..errors import ArgumentError, DataError
from ..warnings import DesignWarning, warn
from .base import Structure, StructureData, r_call, unlist_names
from .forms import StructureForm, parse_form

__all__ = ["VarFunc", "varFixed", "varIdent", "varPower", "varExp", "varConstPower", "varComb",
           "VarSummary", "as_var_func"]


@dataclass
class VarSummary:
    """What nlme prints for a variance function (``print(summary(varFunc))``), as plain data.

    ``kind`` is ``"params"`` (a named vector ``values``/``names``), ``"matrix"``
    (``matrix``, ``row_names``, ``col_names``: varConstPower with strata), ``"fixed"``
    (varFixed: no parameters), ``"none"`` (varIdent with one stratum: prints nothing),
    ``"empty"`` (no parameters: nlme's "with no parameters, or uninitialized" line) or
    ``"comb"`` (``parts``).
    """

    kind: str
    r_class: str = ""
    struct_name: str = ""
    formula: str = ""
    values: List[float] = field(default_factory=list)
    names: List[str] = field(default_factory=list)
    matrix: Optional[np.ndarray] = None
    row_names: List[str] = field(default_factory=list)
    col_names: List[str] = field(default_factory=list)
    parts: List["VarSummary"] = field(default_factory=list)


def _named_values(value, what: str, arg: str, positive: bool = False) -> Optional[Dict[str, float]]:
    """``value``/``fixed`` arguments: None, a number, or a dict stratum -> number."""
    if value is None:
        return None
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[str(k)] = _number(v, what, f"{arg}[{k!r}]", positive)
        return out
    if isinstance(value, (list, tuple, np.ndarray)):
        vals = list(np.asarray(value, dtype=object).ravel())
        if len(vals) != 1:
            raise ArgumentError(f"{what}: {arg} must be one number or a dict of stratum -> "
                                f"number (got {show(value)}); initial values of several strata "
                                f"must be named")
        value = vals[0]
    return {"": _number(value, what, arg, positive)}


def _number(v, what, arg, positive):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{what}: {arg} must be a number, got {show(v)}")
    v = float(v)
    if not math.isfinite(v):
        raise ArgumentError(f"{what}: {arg} must be finite, got {v}")
    if positive and v <= 0:
        raise ArgumentError(f"{what}: {arg} must be > 0, got {v}")
    return v


class VarFunc(Structure):
    """Base class of the variance functions (see the module docstring)."""

    struct_title = ""
    #: the strata of a bound function with strata in ``form`` (None otherwise)
    strata_names: Optional[List[str]] = None

    def __init__(self, form: str, value: Any = None, fixed: Any = None,
                 default_form: str = "~ fitted(.)") -> None:
        self.form_text = form if form is not None else default_form
        self.form: StructureForm = parse_form(self.form_text, self.call_text(), "*")
        self.needs_update = False

    def call_text(self) -> str:
        """The function as a call, for messages: ``varPower(form = ~ x)``."""
        return r_call(self.r_class, f"form = {getattr(self, 'form_text', '')}")

    def __repr__(self) -> str:
        return f"{self.r_class}(form = '{self.form.deparsed}')"

    # ---- binding
    def bind(self, data: StructureData) -> "VarFunc":
        """A copy bound to the rows of ``data`` (the caller's object is not changed)."""
        out = copy.copy(self)
        out.bound = True
        out._bind(data)
        return out

    def _bind(self, data):
        raise NotImplementedError

    def update(self, data: StructureData) -> None:
        """Refresh a ``fitted(.)`` covariate from ``data.fitted()`` (nlme's ``update``)."""

    # ---- values
    def weights(self, par: ArrayLike) -> np.ndarray:
        """nlme's ``varWeights``: 1 / (sd multiplier) per row."""
        raise NotImplementedError

    def summary(self, par: ArrayLike) -> VarSummary:
        raise NotImplementedError

    def struct_name(self) -> str:
        name = self.struct_title
        if self.form.has_groups and self.strata_names is not None \
                and len(self.strata_names) > 1 and self.r_class != "varIdent":
            name += ", different strata"
        return name


# --------------------------------------------------------------------------- helpers


def _strata(data: StructureData, form: StructureForm, what: str):
    """(index per row into names, names in order of appearance) or (None, None)."""
    if not form.has_groups:
        return None, None
    labels = np.asarray(data.strata(form, what), dtype=object)
    uniq, first = np.unique(labels, return_index=True)
    order = np.argsort(first, kind="stable")
    names = [str(uniq[i]) for i in order]
    index = {nm: i for i, nm in enumerate(names)}
    return np.array([index[str(s)] for s in labels], dtype=np.int64), names


def _covariate(self, data: StructureData):
    if self.form.fitted:
        self.needs_update = True
        fv = data.fitted()
        return None if fv is None else np.asarray(fv, dtype=float)
    return np.asarray(data.covariate(self.form, self.call_text()), dtype=float)


def _check_zero(cov, what: str, form: StructureForm, data: StructureData):
    if cov is not None and np.any(cov == 0):
        rows = np.flatnonzero(cov == 0)
        labels = getattr(data, "row_labels", None)
        shown = ", ".join(str(labels[r]) if labels is not None else str(int(r) + 1)
                          for r in rows[:5]) + (", ..." if rows.size > 5 else "")
        raise DataError(f"{what}: the variance covariate '{form.covariate_text}' is 0 in "
                        f"{rows.size} row{'s' if rows.size != 1 else ''} (row "
                        f"{'labels' if rows.size != 1 else 'label'} {shown}): the weights "
                        f"would be infinite (nlme fails here); use a covariate that is never "
                        f"0")


# --------------------------------------------------------------------------- varFixed


class varFixed(VarFunc):
    """Variance proportional to a covariate: ``Var(e_i) = sigma^2 |v_i|`` (R:
    ``nlme::varFixed(value = ~ v)``). No parameters; the weights are ``1/sqrt(|v|)``.

    Parameters
    ----------
    value : str
        A one-sided formula with the covariate, ``"~ v"`` (a grouping part is ignored, with
        nlme's warning).
    """

    r_class = "varFixed"

    def __init__(self, value: str = "~ 1", **kwargs: Any) -> None:
        unknown_keywords("varFixed", kwargs, ["value"])
        if not isinstance(value, str):
            raise ArgumentError(f"varFixed: 'value' must be a one-sided formula string "
                                f"such as '~ age', not {show(value)}")
        self.form_text = value
        form = parse_form(value, r_call("varFixed", value), "*")
        if not form.has_covariate:
            raise ArgumentError(f"varFixed: 'form' must have a covariate, got {value!r}")
        if form.fitted:
            raise ArgumentError("varFixed: the covariate cannot be fitted(.) (use varPower)")
        if form.has_groups:
            warn("ignoring 'group' in \"varFixed\" formula", DesignWarning)
            form = parse_form("~ " + form.covariate_text, r_call("varFixed", value), "*")
        self.form = form
        self.needs_update = False

    def call_text(self) -> str:
        return r_call("varFixed", getattr(self, "form_text", "~ 1"))

    def _bind(self, data):
        cov = np.asarray(data.covariate(self.form, self.call_text()), dtype=float)
        _check_zero(cov, self.call_text(), self.form, data)
        self.w = 1.0 / np.sqrt(np.abs(cov))

    def weights(self, par: ArrayLike) -> np.ndarray:
        return self.w

    def summary(self, par: ArrayLike) -> VarSummary:
        return VarSummary(kind="fixed", r_class=self.r_class, formula=self.form.deparsed)


# --------------------------------------------------------------------------- varIdent


class varIdent(VarFunc):
    """Different variances per stratum: ``Var(e_i) = sigma^2 delta_s^2`` with ``delta = 1`` for
    the first stratum (R: ``nlme::varIdent(value, form = ~ 1 | s, fixed)``).

    Parameters
    ----------
    value : number or dict, optional
        Initial ratios ``delta`` (> 0): one number for every non-reference stratum, or
        ``{stratum: ratio}``.
    form : str
        ``"~ 1 | s"``; several variables with ``*`` (``"~ 1 | Sex * age"``: one stratum per
        combination). Without ``| s``, constant variance.
    fixed : dict, optional
        ``{stratum: ratio}`` held fixed.
    """

    r_class = "varIdent"
    struct_title = "Different standard deviations per stratum"

    def __init__(self, value: Any = None, form: str = "~ 1", fixed: Any = None,
                 **kwargs: Any) -> None:
        unknown_keywords("varIdent", kwargs, ["value", "form", "fixed"])
        self.form_text = form
        super().__init__(form, default_form="~ 1")
        what = self.call_text()
        self.value = _named_values(value, what, "value", positive=True)
        self.fixed = _named_values(fixed, what, "fixed", positive=True)
        if self.fixed is not None and "" in self.fixed:
            raise ArgumentError(f"{what}: fixed parameters must have names in 'varIdent' "
                                f"(a dict stratum -> ratio)")

    def _bind(self, data):
        what = self.call_text()
        self.index, names = _strata(data, self.form, what)
        self.n = data.n
        if names is None or len(names) == 1:
            self.group_names = names or []
            self.constant = True
            self.n_var, self.fixed_log = 0, np.zeros(0)
            self.strata_names = names
            return
        self.constant = False
        fixed = self.fixed or {}
        bad = [k for k in fixed if k not in names]
        if bad:
            raise DataError(f"{what}: fixed parameter names in 'varIdent' must be a subset of "
                            f"group names (not strata: {', '.join(bad)}; strata: "
                            f"{', '.join(names)})")
        var_names = [s for s in names if s not in fixed]
        if not var_names:
            raise DataError(f"{what}: cannot fix variances in all groups")
        group_names = var_names + list(fixed)
        self.strata_names = names
        self.n_var = len(var_names) - 1
        start = np.zeros(self.n_var)
        if self.value:
            if "" in self.value:
                start[:] = math.log(self.value[""])
            else:
                missing = [s for s in var_names if s not in self.value]
                if len(missing) != 1:
                    raise DataError(f"{what}: names of starting value for \"varIdent\" object "
                                    f"must contain all but one of the stratum levels")
                bad = [k for k in self.value if k not in var_names]
                if bad:
                    raise DataError(f"{what}: nonexistent group names for initial values in "
                                    f"'varIdent': {', '.join(bad)}")
                group_names = missing + [k for k in self.value] + list(fixed)
                start = np.log([self.value[k] for k in self.value])
        self.group_names = group_names
        self.fixed_log = np.log([fixed[k] for k in fixed]) if fixed else np.zeros(0)
        self._start = start
        pos = {nm: i for i, nm in enumerate(group_names)}
        self.code = np.array([pos[names[i]] for i in range(len(names))], dtype=np.int64)[self.index]

    @property
    def n_par(self) -> int:
        return self.n_var if self.bound else 0

    def start(self) -> np.ndarray:
        return np.array(self._start) if self.n_par else np.zeros(0)

    def _all_log(self, par):
        return np.concatenate([[0.0], np.asarray(par, dtype=float), self.fixed_log])

    def weights(self, par: ArrayLike) -> np.ndarray:
        if self.constant:
            return np.ones(self.n)
        return np.exp(-self._all_log(par))[self.code]

    def natural(self, par: ArrayLike) -> np.ndarray:
        return np.exp(np.asarray(par, dtype=float))

    def natural_names(self) -> List[str]:
        return list(self.group_names[1:1 + self.n_var]) if not self.constant else []

    def summary(self, par: ArrayLike) -> VarSummary:
        if self.constant:
            return VarSummary(kind="none", r_class=self.r_class)
        return VarSummary(kind="params", r_class=self.r_class, struct_name=self.struct_name(),
                          formula=self.form.deparsed,
                          values=list(np.exp(self._all_log(par))), names=list(self.group_names))


# --------------------------------------------------------------------------- power / exp


class _CovariateStrata(VarFunc):
    """varPower and varExp: one parameter per stratum (or one), a covariate."""

    par_label = ""

    def __init__(self, value: Any = None, form: str = "~ fitted(.)", fixed: Any = None,
                 **kwargs: Any) -> None:
        unknown_keywords(self.r_class, kwargs, ["value", "form", "fixed"])
        self.form_text = form
        super().__init__(form)
        what = self.call_text()
        if not self.form.has_covariate:
            raise ArgumentError(f"{what}: 'form' must have a covariate")
        self.value = _named_values(value, what, "value")
        self.fixed = _named_values(fixed, what, "fixed")
        if self.form.has_groups:
            if self.fixed is not None and "" in self.fixed:
                raise ArgumentError(f"{what}: fixed parameters must have group names in "
                                    f"'{self.r_class}'")
        else:
            for arg, v in (("value", self.value), ("fixed", self.fixed)):
                if v is not None and "" not in v:
                    raise ArgumentError(f"{what}: {arg} must be one number without strata "
                                        f"in 'form'")

    def _bind(self, data):
        what = self.call_text()
        self.n = data.n
        self.cov = _covariate(self, data)
        self._data = data
        self._check_covariate(self.cov)
        index, names = _strata(data, self.form, what)
        if names is not None and len(names) > 1:
            fixed = self.fixed or {}
            bad = [k for k in fixed if k not in names]
            if bad:
                raise DataError(f"{what}: mismatch between group names and fixed values names "
                                f"({', '.join(bad)}; strata: {', '.join(names)})")
            self.strata_names = names
            self.which_fix = np.array([s in fixed for s in names])
            var_names = [s for s in names if s not in fixed]
            start = np.zeros(len(var_names))
            if self.value:
                if "" in self.value:
                    start[:] = self.value[""]
                else:
                    if sorted(self.value) != sorted(var_names):
                        raise DataError(f"{what}: nonexistent group names for initial values "
                                        f"in \"{self.r_class}\"")
                    start = np.array([self.value[s] for s in var_names])
            self.all_fixed = np.array([fixed.get(s, 0.0) for s in names])
            self.index = index
        else:
            self.strata_names = None
            self.index = None
            fixed = self.fixed or {}
            self.which_fix = np.array([bool(fixed)])
            self.all_fixed = np.array([fixed.get("", 0.0)])
            start = np.zeros(0 if fixed else 1)
            if self.value and not fixed:
                start[:] = self.value[""]
        self._start = start

    def _check_covariate(self, cov):
        pass

    def update(self, data: StructureData) -> None:
        if self.needs_update:
            self.cov = np.asarray(data.fitted(), dtype=float)
            self._check_covariate(self.cov)

    @property
    def n_par(self) -> int:
        return int((~self.which_fix).sum()) if self.bound else 0

    def start(self) -> np.ndarray:
        return np.array(self._start, dtype=float)

    def _all(self, par):
        out = np.array(self.all_fixed, dtype=float)
        out[~self.which_fix] = par
        return out

    def _per_row(self, par):
        a = self._all(par)
        return a[self.index] if self.index is not None else a[0]

    def par_names(self) -> List[str]:
        if self.strata_names is None:
            return [self.par_label] * self.n_par
        return [s for s, f in zip(self.strata_names, self.which_fix) if not f]

    def summary(self, par: ArrayLike) -> VarSummary:
        a = self._all(par)
        names = self.strata_names or [self.par_label]
        if not len(a):
            return VarSummary(kind="empty", r_class=self.r_class)
        return VarSummary(kind="params", r_class=self.r_class, struct_name=self.struct_name(),
                          formula=self.form.deparsed, values=list(a), names=list(names))


class varPower(_CovariateStrata):
    """Variance as a power of a covariate: ``sd multiplier = |v|^delta`` (R:
    ``nlme::varPower(value = 0, form = ~ fitted(.), fixed = NULL)``).

    Parameters
    ----------
    value : number or dict, optional
        Initial power(s) (default 0); a dict ``{stratum: power}`` with strata in ``form``.
    form : str
        ``"~ v"``, ``"~ v | s"`` (a power per stratum); default ``"~ fitted(.)"``.
    fixed : number or dict, optional
        Power(s) held fixed.
    """

    r_class = "varPower"
    struct_title = "Power of variance covariate"
    par_label = "power"

    def _check_covariate(self, cov):
        if cov is not None and not self.form.fitted:
            _check_zero(cov, self.call_text(), self.form, self._data)

    def weights(self, par: ArrayLike) -> np.ndarray:
        if self.cov is None:
            return np.ones(self.n)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return np.abs(self.cov) ** (-self._per_row(par))


class varExp(_CovariateStrata):
    """Variance as an exponential of a covariate: ``sd multiplier = exp(delta v)`` (R:
    ``nlme::varExp(value = 0, form = ~ fitted(.), fixed = NULL)``). Arguments as
    :class:`varPower`."""

    r_class = "varExp"
    struct_title = "Exponential of variance covariate"
    par_label = "expon"

    def weights(self, par: ArrayLike) -> np.ndarray:
        if self.cov is None:
            return np.ones(self.n)
        with np.errstate(over="ignore"):
            return np.exp(-self._per_row(par) * self.cov)


# --------------------------------------------------------------------------- varConstPower


class varConstPower(VarFunc):
    """Constant plus power of a covariate: ``sd multiplier = c + |v|^delta`` (R:
    ``nlme::varConstPower(const, power, form = ~ fitted(.), fixed = NULL)``). The constant is
    estimated on the log scale; defaults ``c = 0.1``, ``delta = 0``.

    Parameters
    ----------
    const, power : number or dict, optional
        Initial values (a dict ``{stratum: value}`` with strata in ``form``).
    form : str
        ``"~ v"`` or ``"~ v | s"``; default ``"~ fitted(.)"``.
    fixed : dict, optional
        ``{"const": ..., "power": ...}`` held fixed (each a number, or a dict by stratum).
    """

    r_class = "varConstPower"
    struct_title = "Constant plus power of variance covariate"

    def __init__(self, const: Any = None, power: Any = None, form: str = "~ fitted(.)",
                 fixed: Any = None, **kwargs: Any) -> None:
        unknown_keywords("varConstPower", kwargs, ["const", "power", "form", "fixed"])
        self.form_text = form
        super().__init__(form)
        what = self.call_text()
        if not self.form.has_covariate:
            raise ArgumentError(f"{what}: 'form' must have a covariate")
        self.values = {"const": _named_values(const, what, "const", positive=True),
                       "power": _named_values(power, what, "power")}
        fixed = fixed or {}
        if not isinstance(fixed, dict) or any(k not in ("const", "power") for k in fixed):
            raise ArgumentError(f"{what}: fixed can only have names \"const\" and \"power\" "
                                f"(got {show(fixed)})")
        self.fixed = {k: _named_values(v, what, f"fixed[{k!r}]", positive=(k == "const"))
                      for k, v in fixed.items()}

    def _bind(self, data):
        what = self.call_text()
        self.n = data.n
        self.cov = _covariate(self, data)
        index, names = _strata(data, self.form, what)
        strata = names if names is not None and len(names) > 1 else None
        self.strata_names = strata
        self.index = index if strata else None
        cols = strata or [""]
        default = {"const": math.log(0.1), "power": 0.0}
        self.which_fix = {}
        self.all_fixed = {}
        start = []
        for part in ("const", "power"):
            fx = self.fixed.get(part) or {}
            if strata is None:
                fx = {"": fx[""]} if "" in fx else ({} if not fx else None)
                if fx is None:
                    raise DataError(f"{what}: fixed {part} must be one number without strata")
            wf = np.array([c in fx for c in cols])
            af = np.array([fx.get(c, 0.0) for c in cols], dtype=float)
            if part == "const":
                af = np.where(wf, np.log(np.where(wf, af, 1.0)), 0.0)
            self.which_fix[part], self.all_fixed[part] = wf, af
            val = self.values[part]
            free = [c for c, f in zip(cols, wf) if not f]
            if val is None:
                s = [default[part]] * len(free)
            elif "" in val:
                v = val[""]
                s = [math.log(v) if part == "const" else v] * len(free)
            else:
                if sorted(val) != sorted(free):
                    raise DataError(f"{what}: nonexistent group names for initial values")
                s = [math.log(val[c]) if part == "const" else val[c] for c in free]
            start.extend(s)
        self._start = np.array(start, dtype=float)
        self.n_const = int((~self.which_fix["const"]).sum())

    def update(self, data: StructureData) -> None:
        if self.needs_update:
            self.cov = np.asarray(data.fitted(), dtype=float)

    @property
    def n_par(self) -> int:
        if not self.bound:
            return 0
        return int((~self.which_fix["const"]).sum() + (~self.which_fix["power"]).sum())

    def start(self) -> np.ndarray:
        return np.array(self._start)

    def _all(self, par):
        par = np.asarray(par, dtype=float)
        c = np.array(self.all_fixed["const"])
        c[~self.which_fix["const"]] = par[:self.n_const]
        p = np.array(self.all_fixed["power"])
        p[~self.which_fix["power"]] = par[self.n_const:]
        return c, p

    def weights(self, par: ArrayLike) -> np.ndarray:
        if self.cov is None:
            return np.ones(self.n)
        c, p = self._all(par)
        if self.index is not None:
            c, p = c[self.index], p[self.index]
        else:
            c, p = c[0], p[0]
        with np.errstate(over="ignore", divide="ignore"):
            return 1.0 / (np.exp(c) + np.abs(self.cov) ** p)

    def par_names(self) -> List[str]:
        out = []
        for part in ("const", "power"):
            free = ~self.which_fix[part]
            if self.strata_names is None or free.sum() == 1:
                out += [part] * int(free.sum())
            else:
                out += [f"{part}.{s}" for s, f in zip(self.strata_names, free) if f]
        return out

    def natural(self, par: ArrayLike) -> np.ndarray:
        par = np.array(par, dtype=float)
        par[:self.n_const] = np.exp(par[:self.n_const])
        return par

    def summary(self, par: ArrayLike) -> VarSummary:
        c, p = self._all(par)
        if self.strata_names is None:
            return VarSummary(kind="params", r_class=self.r_class, struct_name=self.struct_name(),
                              formula=self.form.deparsed, values=[math.exp(c[0]), p[0]],
                              names=["const", "power"])
        return VarSummary(kind="matrix", r_class=self.r_class, struct_name=self.struct_name(),
                          formula=self.form.deparsed, matrix=np.vstack([np.exp(c), p]),
                          row_names=["const", "power"], col_names=list(self.strata_names))


# --------------------------------------------------------------------------- varComb


class varComb(VarFunc):
    """A product of variance functions (R: ``nlme::varComb(...)``): the weights multiply and
    the parameters are those of each part, in order (named ``A``, ``B``, ... as nlme does).

    >>> varComb(varIdent(form="~ 1 | QB"), varPower(form="~ pressure"))
    varComb(varIdent(form = '~1 | QB'), varPower(form = '~pressure'))
    """

    r_class = "varComb"
    struct_title = "Combination of variance functions:"

    def __init__(self, *parts: Any, **kwargs: Any) -> None:
        unknown_keywords("varComb", kwargs, [])
        if not parts:
            raise ArgumentError("varComb: give at least one variance function")
        out = []
        for i, p in enumerate(parts):
            if isinstance(p, str):
                p = varFixed(p)
            if isinstance(p, varComb):
                raise ArgumentError("varComb: a part cannot itself be a varComb")
            if not isinstance(p, VarFunc):
                raise ArgumentError(f"varComb: argument {i + 1} must be a variance function "
                                    f"(varIdent(), varPower(), ...), not {show(p)}")
            out.append(p)
        self.parts = out
        self.needs_update = False

    def __repr__(self) -> str:
        return f"varComb({', '.join(repr(p) for p in self.parts)})"

    def call_text(self) -> str:
        return "varComb"

    def _bind(self, data):
        self.parts = [p.bind(data) for p in self.parts]
        self.needs_update = any(p.needs_update for p in self.parts)
        self.n = data.n

    def update(self, data: StructureData) -> None:
        for p in self.parts:
            p.update(data)

    @property
    def n_par(self) -> int:
        return sum(p.n_par for p in self.parts) if self.bound else 0

    def _split(self, par):
        par = np.asarray(par, dtype=float)
        out, k = [], 0
        for p in self.parts:
            out.append(par[k:k + p.n_par])
            k += p.n_par
        return out

    def start(self) -> np.ndarray:
        return np.concatenate([p.start() for p in self.parts]) if self.parts else np.zeros(0)

    def weights(self, par: ArrayLike) -> np.ndarray:
        w = np.ones(self.n)
        for p, q in zip(self.parts, self._split(par)):
            w = w * p.weights(q)
        return w

    def _labels(self):
        return [chr(ord("A") + i) for i in range(len(self.parts))]

    def par_names(self) -> List[str]:
        out = []
        for lab, p in zip(self._labels(), self.parts):
            out += unlist_names(lab, p.par_names())
        return out

    def natural(self, par: ArrayLike) -> np.ndarray:
        return np.concatenate([p.natural(q) for p, q in zip(self.parts, self._split(par))]) \
            if self.parts else np.zeros(0)

    def natural_names(self) -> List[str]:
        out = []
        for lab, p in zip(self._labels(), self.parts):
            out += unlist_names(lab, p.natural_names())
        return out

    def summary(self, par: ArrayLike) -> VarSummary:
        return VarSummary(kind="comb", r_class=self.r_class, struct_name=self.struct_title,
                          parts=[p.summary(q) for p, q in zip(self.parts, self._split(par))])


def as_var_func(weights) -> Optional[VarFunc]:
    """gls's ``weights`` argument: None, a variance function, or a formula string (a
    ``varFixed`` covariate, as nlme reads ``weights = ~ age``)."""
    if weights is None:
        return None
    if isinstance(weights, VarFunc):
        return weights
    if isinstance(weights, str):
        return varFixed(weights)
    raise ArgumentError(f"gls: 'weights' must be a variance function (varIdent(), varPower(), "
                        f"...) or a formula string for varFixed, not {show(weights)}")
