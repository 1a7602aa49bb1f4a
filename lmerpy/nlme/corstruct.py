"""nlme's correlation structures: ``corCompSymm``, ``corAR1``, ``corARMA``, ``corCAR1`` and
``corSymm``.

R equivalent: nlme's ``corStruct`` classes (Pinheiro & Bates 2000, section 5.3). Residuals of
different groups are independent; within a group ``g`` (the ``| g`` of ``form``, nested with
``/``) they have the correlation matrix ``C_g``, a function of the parameters and of the
covariate (the part before ``|``: a time or position; ``1`` means the position 1, 2, ... of
the row within its group, in the data's order):

=====================  ==============================  ==================================
structure              C_g[i, j]                        unconstrained parameter
=====================  ==============================  ==================================
corCompSymm            rho (i != j)                     log((rho - a) / (1 - rho)),
                                                        a = -1 / (max group size - 1)
corAR1                 phi^|i - j| (positions)          log((1 + phi) / (1 - phi))
corCAR1                phi^|t_i - t_j| (times t)        log(phi / (1 - phi))
corARMA(p, q)          ARMA autocorrelation at the      partial autocorrelations r,
                       lag |t_i - t_j| (integers)       log((1 + r) / (1 - r))
corSymm                a free correlation matrix over   spherical angles of its Cholesky
                       the covariate's values 1..M      factor, log(a / (pi - a))
=====================  ==============================  ==================================

As in nlme, ``corAR1`` with a covariate whose steps within a group are not all 1 becomes
``corARMA(p = 1)`` (the correlation then follows the lags of the covariate), and a
covariate must not repeat within a group.

The likelihood whitens each group (:mod:`lmerpy.nlme.blocks`); AR(1), CAR(1) and ARMA(1, 0)
on time-ordered rows have an O(n) closed form (a Markov chain: each row minus ``phi^lag``
times the previous one), compound symmetry another (the symmetric square root), so the
correlation costs no per-group matrix algebra there. Normalized residuals use the Cholesky
factor in the data's order, as nlme does.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from ..arguments import show, unknown_keywords
from ..errors import ArgumentError, DataError
from .arma import arma_acf, arma_natural, arma_unconstrained
from .base import Structure, StructureData, r_call
from .blocks import Blocks, batch_rows, store_batch_rows, whiten_batches
from .forms import StructureForm, parse_form

__all__ = ["CorStruct", "corCompSymm", "corAR1", "corARMA", "corCAR1", "corSymm",
           "CorSummary"]


@dataclass
class CorSummary:
    """What nlme prints for a correlation structure, as plain data: ``struct_name``,
    ``formula`` and the named parameters (``values``, ``names``), or for ``corSymm`` the
    lower triangle of its correlation matrix (``matrix``)."""

    struct_name: str
    formula: str
    values: List[float] = field(default_factory=list)
    names: List[str] = field(default_factory=list)
    matrix: Optional[np.ndarray] = None


def _logical(x, what, arg):
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    raise ArgumentError(f"{what}: '{arg}' must be True or False, got {show(x)}")


def _scalar(x, what, arg):
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{what}: '{arg}' must be a number, got {show(x)}")
    x = float(x)
    if not math.isfinite(x):
        raise ArgumentError(f"{what}: '{arg}' must be finite, got {x}")
    return x


class CorStruct(Structure):
    """Base class of the correlation structures (see the module docstring)."""

    struct_title = ""
    #: the correlation depends on covariate differences only (patterns keyed on them)
    stationary = True
    #: the initial parameters (unconstrained; set by each structure)
    _start: np.ndarray = np.zeros(0)

    def _natural(self, full: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _natural_names(self) -> List[str]:
        raise NotImplementedError

    def __init__(self, form: str = "~ 1", fixed: bool = False) -> None:
        self.form_text = form
        self.form: StructureForm = parse_form(form, self.call_text(), "/")
        self.fixed = _logical(fixed, self.call_text(), "fixed")

    def call_text(self) -> str:
        """The structure as a call, for messages: ``corAR1(form = ~ t | g)``."""
        return r_call(self.r_class, f"form = {getattr(self, 'form_text', '~ 1')}")

    def __repr__(self) -> str:
        return f"{self.r_class}(form = '{self.form.deparsed}')"

    # ---- binding
    def bind(self, data: StructureData) -> "CorStruct":
        """A copy bound to the rows of ``data`` (the caller's object is not changed)."""
        out = copy.copy(self)
        out.bound = True
        return out._bind(data)

    def _bind(self, data):
        what = self.call_text()
        n = data.n
        if self.form.has_groups:
            codes, labels = data.groups(self.form, what)
            codes = np.asarray(codes, dtype=np.int64)
        else:
            codes, labels = np.zeros(n, dtype=np.int64), ["1"]
        self.group_labels = list(labels)
        self.blocks = Blocks(codes)
        if self.form.has_covariate:
            if self.form.fitted:
                raise ArgumentError(f"{what}: fitted(.) is not a covariate of a correlation "
                                    f"structure")
            cov = np.asarray(data.covariate(self.form, what), dtype=float)
            self.position_covariate = False
        else:
            cov = self.blocks.position + 1.0
            self.position_covariate = True
        self.cov = cov
        self._check_covariate(what)
        return self._finish_bind(data)

    def _finish_bind(self, data):
        key = (lambda idx: self.cov[idx] - self.cov[idx][:, :1]) if self.stationary \
            else (lambda idx: self.cov[idx])
        self.blocks.set_patterns(key)
        return self

    def _duplicates(self, what):
        b = self.blocks
        order = np.lexsort((self.cov, b.codes))
        same = (np.diff(b.codes[order]) == 0) & (np.diff(self.cov[order]) == 0)
        if same.any():
            i = order[np.flatnonzero(same)[0]]
            grp = self.group_labels[b.codes[i]] if self.form.has_groups else "(all rows)"
            raise DataError(f"{what}: covariate must have unique values within groups for "
                            f"\"{self.r_class}\" objects (group {grp} has "
                            f"{self.form.covariate_text} = {_num(self.cov[i])} more than "
                            f"once)")

    def _check_covariate(self, what):
        if not self.position_covariate:
            self._duplicates(what)

    # ---- parameters
    @property
    def n_par(self) -> int:
        return 0 if self.fixed else self._n

    @property
    def _n(self) -> int:
        return 1

    def start(self) -> np.ndarray:
        return np.zeros(0) if self.fixed else np.array(self._start, dtype=float)

    def _full(self, par) -> np.ndarray:
        """All parameters (unconstrained), the fixed ones included."""
        return np.array(self._start, dtype=float) if self.fixed else np.asarray(par, dtype=float)

    def natural(self, par: ArrayLike) -> np.ndarray:
        """The parameters on the natural scale -- held fixed ones included, as nlme's
        ``coef(corStruct, unconstrained = FALSE)``."""
        return self._natural(self._full(par))

    def natural_all(self, par: ArrayLike) -> np.ndarray:
        return self._natural(self._full(par))

    def natural_names(self) -> List[str]:
        return self._natural_names()

    def interval_names(self) -> List[str]:
        """Row names of ``intervals(fit)``'s correlation block."""
        return self.natural_names()

    # apVar's parametrization (nlme's ``natural = TRUE``): unconstrained but for corSymm
    def apvar_par(self, par: ArrayLike) -> np.ndarray:
        return np.asarray(par, dtype=float)

    def from_apvar_par(self, x: ArrayLike) -> np.ndarray:
        return np.asarray(x, dtype=float)

    def apvar_to_natural(self, x: ArrayLike) -> np.ndarray:
        return self.natural(self.from_apvar_par(x))

    # ---- whitening
    def whiten(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        """``(L_g^{-1} D_g for every group, sum_g -log|L_g|)`` for the likelihood (any
        square root of C_g^{-1} would do; the fast paths use one)."""
        return self.whiten_exact(D, par)

    def whiten_exact(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        """As :meth:`whiten` with ``L_g`` the Cholesky factor in the rows' order (nlme's
        ``corFactor``: normalized residuals)."""
        full = self._full(par)
        return whiten_batches(self.blocks, D, lambda b: self._matrices(full, b))

    def _matrices(self, full, batch) -> np.ndarray:
        raise NotImplementedError

    def cor_matrix(self, par: ArrayLike, group: int = 0) -> np.ndarray:
        """The correlation matrix of one group (R: ``corMatrix``), rows in model order."""
        b = self.blocks
        for batch in b.batches:
            hit = np.flatnonzero(batch.groups == group)
            if hit.size:
                mats = self._matrices(self._full(par), batch)
                return mats[batch.pattern_of[hit[0]]]
        raise DataError(f"no group {group}")

    # ---- printing
    def struct_name(self) -> str:
        return self.struct_title

    def summary(self, par: ArrayLike) -> CorSummary:
        return CorSummary(self.struct_name(), self.form.deparsed,
                          list(self.natural_all(par)), self._natural_names())


def _num(x) -> str:
    from ..display.rformat import as_character
    return as_character(float(x))


# --------------------------------------------------------------------------- Markov chains


def _markov_whiten(D, m, a):
    """Rows after the first of their group: (D_t - a_t D_prev) / sqrt(1 - a_t^2); ``a`` is 0
    on the first rows. With the rows in time order and groups contiguous (the usual case) the
    previous row is the row above and the update is one vectorised pass."""
    later = m.later
    al = a[later]
    scale = 1.0 / np.sqrt(1.0 - al * al)
    logdet = -0.5 * float(np.sum(np.log1p(-al * al)))
    if m.contiguous:
        out = np.empty_like(D)
        out[0] = D[0]
        a1 = a[1:, None]
        sc = np.ones(D.shape[0] - 1)
        sc[later - 1] = scale
        out[1:] = (D[1:] - a1 * D[:-1]) * sc[:, None]
        return out, logdet
    out = np.array(D, dtype=float, copy=True)
    out[later] = (D[later] - al[:, None] * D[m.prev[later]]) * scale[:, None]
    return out, logdet


class _Markov:
    """Time-ordered rows of each group: previous row and lag (for the closed forms)."""

    def __init__(self, blocks: Blocks, cov: np.ndarray):
        order = np.lexsort((cov, blocks.codes))
        first = np.ones(blocks.n, dtype=bool)
        prev = np.full(blocks.n, -1, dtype=np.int64)
        same = np.diff(blocks.codes[order]) == 0
        later = order[1:][same]
        prev[later] = order[:-1][same]
        first[later] = False
        lag = np.zeros(blocks.n)
        lag[later] = cov[later] - cov[prev[later]]
        self.first, self.prev, self.lag = first, prev, lag
        self.later = np.sort(later)
        # the previous row of every later row is the row above it
        self.contiguous = bool(np.all(prev[self.later] == self.later - 1))
        # the rows' own order is the time order: the closed form is the Cholesky factor too
        self.in_order = bool(np.all(prev[later] == blocks.prev[later]))


# --------------------------------------------------------------------------- corCompSymm


class corCompSymm(CorStruct):
    """Compound symmetry: every pair of rows of a group has correlation ``rho`` (R:
    ``nlme::corCompSymm(value = 0, form = ~ 1, fixed = FALSE)``).

    Parameters
    ----------
    value : float
        Initial ``rho`` (greater than ``-1 / (largest group size - 1)``).
    form : str
        ``"~ 1 | g"`` (the covariate is ignored).
    fixed : bool
        Hold ``rho`` at ``value``.
    """

    r_class = "corCompSymm"
    struct_title = "Compound symmetry"

    def __init__(self, value: float = 0.0, form: str = "~ 1", fixed: bool = False,
                 **kwargs: Any) -> None:
        unknown_keywords("corCompSymm", kwargs, ["value", "form", "fixed"])
        super().__init__(form, fixed)
        self.value = _scalar(value, self.call_text(), "value")
        if abs(self.value) >= 1:
            raise ArgumentError(f"{self.call_text()}: parameter in \"corCompSymm\" structure must "
                                f"be < 1 in absolute value (got {self.value})")

    def _check_covariate(self, what):
        pass

    def _finish_bind(self, data):
        m = self.blocks.max_len
        self.inf = -1.0 / (m - 1) if m > 1 else -math.inf
        if self.value <= self.inf:
            raise DataError(f"{self.call_text()}: initial value in \"corCompSymm\" must be greater "
                            f"than {_num(self.inf)}")
        self._start = np.array([math.log((self.value - self.inf) / (1.0 - self.value))
                                if m > 1 else 0.0])
        self.cov = self.blocks.position + 1.0
        self.blocks.set_patterns(lambda idx: np.zeros(idx.shape))
        sizes = self.blocks.sizes
        self._n_of_row = sizes[self.blocks.codes].astype(float)
        return self

    def _rho(self, full):
        if not math.isfinite(self.inf):
            return 0.0
        e = math.exp(full[0])
        return (e + self.inf) / (e + 1.0)

    def _natural(self, full):
        return np.array([self._rho(full)])

    def _natural_names(self):
        return ["Rho"]

    def _matrices(self, full, batch):
        rho = self._rho(full)
        s = batch.s
        return ((1.0 - rho) * np.eye(s) + rho)[None]

    def whiten(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        """nlme's factor of compound symmetry (``corFactor.corCompSymm``): per group of n
        rows, the first output row is the group total over ``sqrt(n (1 + (n - 1) rho))``, row
        k + 1 the Helmert contrast ``(k x_k - (x_0 + ... + x_(k-1))) / sqrt(k (k + 1)
        (1 - rho))`` -- an orthogonal transform, so the likelihood is that of the Cholesky
        factor; the normalized residuals are nlme's."""
        rho = self._rho(self._full(par))
        b = self.blocks
        if rho <= self.inf or rho >= 1:
            return D, -math.inf
        out = np.empty_like(D)
        logdet = 0.0
        for batch in b.batches:
            s = batch.s
            Db = batch_rows(D, batch)                         # (G, s, k)
            cs = np.cumsum(Db, axis=1)
            k = np.arange(s, dtype=float)[None, :, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                z = (k * Db - (cs - Db)) / np.sqrt(k * (k + 1.0) * (1.0 - rho))
            z[:, 0, :] = cs[:, -1, :] / math.sqrt(s * (1.0 + (s - 1.0) * rho))
            store_batch_rows(out, batch, z)
            logdet -= 0.5 * batch.idx.shape[0] * ((s - 1) * math.log1p(-rho)
                                                  + math.log1p((s - 1) * rho))
        return out, logdet

    def whiten_exact(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        return self.whiten(D, par)


# --------------------------------------------------------------------------- corAR1 / CAR1


class _PowerCorrelation(CorStruct):
    """``Cor(e_i, e_j) = phi^|lag|`` with one parameter ``Phi`` (corAR1, corCAR1): the two
    differ only in ``phi``'s map from the unconstrained scale and in the lags they allow."""

    def _finish_bind(self, data):
        super()._finish_bind(data)
        self.markov = _Markov(self.blocks, self.cov)
        return self

    def _phi(self, full):
        raise NotImplementedError

    def _natural(self, full):
        return np.array([self._phi(full)])

    def _natural_names(self):
        return ["Phi"]

    def _matrices(self, full, batch):
        phi = self._phi(full)
        lag = np.abs(batch.patterns[:, :, None] - batch.patterns[:, None, :])
        return phi ** lag


class corAR1(_PowerCorrelation):
    """First-order autoregressive correlation over the positions (or an integer time
    covariate with steps of 1): ``Cor(e_i, e_j) = phi^|i - j|`` (R: ``nlme::corAR1(value = 0,
    form = ~ 1, fixed = FALSE)``). A time covariate with other steps gives
    ``corARMA(p = 1)`` on its lags, as in nlme.

    Parameters
    ----------
    value : float
        Initial ``phi`` in (-1, 1).
    form : str
        ``"~ 1 | g"`` (positions within group) or ``"~ t | g"`` (integer times).
    fixed : bool
    """

    r_class = "corAR1"
    struct_title = "AR(1)"

    def __init__(self, value: float = 0.0, form: str = "~ 1", fixed: bool = False,
                 **kwargs: Any) -> None:
        unknown_keywords("corAR1", kwargs, ["value", "form", "fixed"])
        super().__init__(form, fixed)
        self.value = _scalar(value, self.call_text(), "value")
        if abs(self.value) >= 1:
            raise ArgumentError(f"{self.call_text()}: parameter in AR(1) structure must be between "
                                f"-1 and 1 (got {self.value})")
        self._start = np.array([math.log((1 + self.value) / (1 - self.value))])

    def _bind(self, data):
        out = super()._bind(data)
        if not out.position_covariate:
            b = out.blocks
            later = b.prev >= 0
            steps = out.cov[later] - out.cov[b.prev[later]]
            if np.any(steps != 1):
                arma = corARMA(value=[self.value], form=self.form_text, p=1, q=0,
                               fixed=self.fixed)
                arma.r_class_given = "corAR1"
                return arma.bind(data)
        return out

    def _phi(self, full):
        return math.tanh(full[0] / 2.0)

    def whiten(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        phi = self._phi(self._full(par))
        m = self.markov
        a = np.zeros(self.blocks.n)
        a[m.later] = phi
        return _markov_whiten(D, m, a)

    def whiten_exact(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        if self.markov.in_order:
            return self.whiten(D, par)
        return super().whiten_exact(D, par)


class corCAR1(_PowerCorrelation):
    """Continuous-time AR(1): ``Cor(e_i, e_j) = phi^|t_i - t_j|`` with ``phi`` in (0, 1)
    (R: ``nlme::corCAR1(value = 0.2, form = ~ 1, fixed = FALSE)``).

    Parameters
    ----------
    value : float
        Initial ``phi`` in (0, 1).
    form : str
        ``"~ t | g"`` (times, distinct within a group) or ``"~ 1 | g"`` (positions).
    fixed : bool
    """

    r_class = "corCAR1"
    struct_title = "Continuous AR(1)"

    def __init__(self, value: float = 0.2, form: str = "~ 1", fixed: bool = False,
                 **kwargs: Any) -> None:
        unknown_keywords("corCAR1", kwargs, ["value", "form", "fixed"])
        super().__init__(form, fixed)
        self.value = _scalar(value, self.call_text(), "value")
        if not 0 < self.value < 1:
            raise ArgumentError(f"{self.call_text()}: parameter in CAR(1) structure must be between "
                                f"0 and 1 (got {self.value})")
        self._start = np.array([math.log(self.value / (1 - self.value))])

    def _phi(self, full):
        return 1.0 / (1.0 + math.exp(-full[0]))

    def whiten(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        phi = self._phi(self._full(par))
        m = self.markov
        with np.errstate(divide="ignore"):
            a = np.where(m.first, 0.0, np.exp(m.lag * math.log(phi)) if phi > 0 else 0.0)
        if np.any(a[m.later] >= 1.0):
            return D, -math.inf
        return _markov_whiten(D, m, a)

    def whiten_exact(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        if self.markov.in_order:
            return self.whiten(D, par)
        return super().whiten_exact(D, par)


# --------------------------------------------------------------------------- corARMA


class corARMA(CorStruct):
    """Autoregressive moving-average correlation of orders ``p`` and ``q`` over the positions
    or an integer time covariate (R: ``nlme::corARMA(value, form = ~ 1, p = 0, q = 0,
    fixed = FALSE)``); the process is ``x_t = sum phi_i x_(t-i) + e_t + sum theta_j
    e_(t-j)``.

    Parameters
    ----------
    value : sequence of float, optional
        Initial ``(phi_1..phi_p, theta_1..theta_q)`` (default zeros), stationary and
        invertible.
    form : str
        ``"~ 1 | g"`` or ``"~ t | g"`` (integer times, distinct within a group).
    p, q : int
        The orders (``p + q > 0``).
    fixed : bool
    """

    r_class = "corARMA"

    def __init__(self, value: Any = None, form: str = "~ 1", p: int = 0, q: int = 0,
                 fixed: bool = False, **kwargs: Any) -> None:
        unknown_keywords("corARMA", kwargs, ["value", "form", "p", "q", "fixed"])
        super().__init__(form, fixed)
        what = self.call_text()
        for nm, v in (("p", p), ("q", q)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or v < 0 or v != int(v):
                kind = "autoregressive" if nm == "p" else "moving average"
                raise ArgumentError(f"{what}: {kind} order must be a non-negative integer "
                                    f"(got {nm} = {show(v)})")
        self.p, self.q = int(p), int(q)
        if self.p + self.q == 0:
            raise ArgumentError(f"{what}: p + q must be positive (p = 0 and q = 0 is no "
                                f"correlation: leave 'correlation' out)")
        if value is None:
            value = np.zeros(self.p + self.q)
        value = np.atleast_1d(np.asarray(value, dtype=float))
        if value.size != self.p + self.q:
            raise ArgumentError(f"{what}: initial value for parameter of wrong length (got "
                                f"{value.size}, need p + q = {self.p + self.q})")
        if np.max(np.abs(value)) >= 1:
            raise ArgumentError(f"{what}: parameters in ARMA structure must be < 1 in absolute "
                                f"value")
        try:
            self._start = arma_unconstrained(value, self.p, self.q)
        except ValueError:
            raise ArgumentError(f"{what}: the initial values are not stationary (AR part) or "
                                f"invertible (MA part)") from None
        self.value = value
        self.r_class_given = "corARMA"

    def call_text(self) -> str:
        return r_call(getattr(self, "r_class_given", "corARMA"),
                      f"form = {getattr(self, 'form_text', '~ 1')}")

    @property
    def _n(self) -> int:
        return self.p + self.q

    def _check_covariate(self, what):
        if self.position_covariate:
            return
        if np.any(self.cov != np.round(self.cov)):
            raise DataError(f"{what}: the covariate '{self.form.covariate_text}' of an ARMA "
                            f"correlation must be integer-valued (times 1, 2, 3, ...)")
        self._duplicates(what)

    def _finish_bind(self, data):
        super()._finish_bind(data)
        lags = [np.ptp(b.patterns) for b in self.blocks.batches if b.patterns.size]
        self.max_lag = int(max(lags)) if lags else 0
        self.markov = _Markov(self.blocks, self.cov) if (self.p, self.q) == (1, 0) else None
        return self

    def _natural(self, full):
        return arma_natural(full, self.p, self.q)

    def _natural_names(self):
        return [f"Phi{i + 1}" for i in range(self.p)] + [f"Theta{i + 1}" for i in range(self.q)]

    def _matrices(self, full, batch):
        nat = arma_natural(full, self.p, self.q)
        acf = arma_acf(nat[:self.p], nat[self.p:], self.max_lag)
        lag = np.abs(batch.patterns[:, :, None] - batch.patterns[:, None, :]).astype(np.int64)
        return acf[lag]

    def whiten(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        if self.markov is None:
            return self.whiten_exact(D, par)
        phi = float(arma_natural(self._full(par), 1, 0)[0])
        m = self.markov
        a = np.where(m.first, 0.0, phi ** m.lag)
        return _markov_whiten(D, m, a)

    def whiten_exact(self, D: np.ndarray, par: ArrayLike) -> Tuple[np.ndarray, float]:
        if self.markov is not None and self.markov.in_order:
            return self.whiten(D, par)
        return super().whiten_exact(D, par)

    def struct_name(self) -> str:
        return f"ARMA({self.p},{self.q})"


# --------------------------------------------------------------------------- corSymm


def _symm_from_unconstrained(u, M):
    """Spherical parametrization: the columns of the upper Cholesky factor of the M x M
    correlation matrix in polar angles a = pi exp(u) / (1 + exp(u)); parameters column by
    column (columns 2..M, rows 1..col-1)."""
    U = np.zeros((M, M))
    U[0, 0] = 1.0
    k = 0
    for i in range(1, M):
        ang = math.pi / (1.0 + np.exp(-np.asarray(u[k:k + i], dtype=float)))
        k += i
        s = 1.0
        for j in range(i):
            U[j, i] = s * math.cos(ang[j])
            s *= math.sin(ang[j])
        U[i, i] = s
    C = U.T @ U
    np.fill_diagonal(C, 1.0)
    return C


def _symm_to_unconstrained(C):
    M = C.shape[0]
    U = np.linalg.cholesky(C).T
    out = []
    for i in range(1, M):
        col = U[:i + 1, i]
        tail = np.sqrt(np.cumsum(col[::-1] ** 2)[::-1])
        ang = np.arccos(np.clip(col[:i] / tail[:i], -1.0, 1.0))
        out.extend(np.log(ang / (math.pi - ang)))
    return np.array(out)


class corSymm(CorStruct):
    """A general correlation matrix over the values 1..M of the covariate (R:
    ``nlme::corSymm(value, form = ~ 1, fixed = FALSE)``): ``M(M-1)/2`` correlations,
    estimated on a spherical parametrization of the Cholesky factor.

    Parameters
    ----------
    value : sequence of float, optional
        Initial correlations, lower triangle by columns (``cor(1,2), cor(1,3), ...``); they
        must give a positive-definite matrix. Default: independence.
    form : str
        ``"~ 1 | g"`` (positions) or ``"~ t | g"`` with ``t`` in 1..M.
    fixed : bool
    """

    r_class = "corSymm"
    struct_title = "General correlation"
    stationary = False

    def __init__(self, value: Any = None, form: str = "~ 1", fixed: bool = False,
                 **kwargs: Any) -> None:
        unknown_keywords("corSymm", kwargs, ["value", "form", "fixed"])
        super().__init__(form, fixed)
        self.value = None if value is None else np.atleast_1d(np.asarray(value, dtype=float))
        if self.value is not None and np.max(np.abs(self.value)) >= 1:
            raise ArgumentError(f"{self.call_text()}: initial values for \"corSymm\" must be "
                                f"between -1 and 1")

    def _check_covariate(self, what):
        if not self.position_covariate:
            self._duplicates(what)
        uniq = np.unique(self.cov)
        if np.any(uniq != np.round(uniq)) or uniq[0] != 1 or uniq.size != uniq[-1]:
            raise DataError(f"{what}: unique values of the covariate for \"corSymm\" objects "
                            f"must be a sequence of consecutive integers (1, 2, ..., M); got "
                            f"{', '.join(_num(u) for u in uniq[:8])}"
                            f"{', ...' if uniq.size > 8 else ''}")
        self.M = int(uniq[-1])

    def _finish_bind(self, data):
        super()._finish_bind(data)
        M = self.M
        npar = M * (M - 1) // 2
        if self.value is None:
            self._start = np.zeros(npar)
        else:
            if self.value.size != npar:
                raise DataError(f"{self.call_text()}: initial value for \"corSymm\" parameters of "
                                f"wrong dimension (got {self.value.size}, need {npar})")
            C = np.eye(M)
            rows, cols = self._lower_order()
            C[rows, cols] = self.value
            C[cols, rows] = self.value
            if np.any(np.linalg.eigvalsh(C) <= 0):
                raise DataError(f"{self.call_text()}: initial values for \"corSymm\" do not define a "
                                f"positive-definite correlation structure")
            self._start = _symm_to_unconstrained(C)
        return self

    @property
    def _n(self) -> int:
        return self.M * (self.M - 1) // 2

    def full_matrix(self, par: ArrayLike) -> np.ndarray:
        return _symm_from_unconstrained(self._full(par), self.M)

    def _natural(self, full):
        C = _symm_from_unconstrained(full, self.M)
        rows, cols = self._lower_order()
        return C[rows, cols]

    def _natural_names(self):
        return [""] * self._n            # nlme's coef(corSymm) is an unnamed vector

    def interval_names(self) -> List[str]:
        rows, cols = self._lower_order()
        return [f"cor({c + 1},{r + 1})" for r, c in zip(rows, cols)]

    def _lower_order(self):
        # the lower triangle by columns: (2,1), (3,1), ..., (M,1), (3,2), ...
        cols, rows = np.triu_indices(self.M, 1)
        return rows, cols

    def _matrices(self, full, batch):
        C = _symm_from_unconstrained(full, self.M)
        k = batch.patterns.astype(np.int64) - 1
        return C[k[:, :, None], k[:, None, :]]

    # apVar on nlme's corNatural scale: log((1 + r) / (1 - r)) of each correlation
    def apvar_par(self, par: ArrayLike) -> np.ndarray:
        r = self._natural(self._full(par))
        return np.log((1 + r) / (1 - r))

    def from_apvar_par(self, x: ArrayLike) -> np.ndarray:
        r = np.tanh(np.asarray(x, dtype=float) / 2.0)
        C = np.eye(self.M)
        rows, cols = self._lower_order()
        C[rows, cols] = r
        C[cols, rows] = r
        try:
            return _symm_to_unconstrained(C)
        except np.linalg.LinAlgError:
            return np.full(r.size, np.nan)

    def summary(self, par: ArrayLike) -> CorSummary:
        C = _symm_from_unconstrained(self._full(par), self.M)
        return CorSummary("General", self.form.deparsed, matrix=C)
