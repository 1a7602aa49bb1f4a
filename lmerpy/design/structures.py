"""What the design stage hands to the numerical core: :class:`ReTerm` and :class:`Design`.

This module is the contract between ``lmerpy.design`` (which builds these from a Formula and a
DataFrame) and ``lmerpy.pls`` / ``lmerpy.models`` (which only read them).

R equivalents: :class:`Design` is what ``lme4::lFormula()`` returns (``fr``, ``X``, ``reTrms``)
flattened; :class:`ReTerm` is one term of ``reTrms`` (``Ztlist[[i]]``, ``cnms[[i]]``,
``flist``/``assign``, ``Lambdat`` block).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DesignError
from .covariance import Covariance, CovarianceLayout, Unstructured

T = TypeVar("T")


def lazy(build: Callable[[], T]) -> T:
    """``build`` passed for a lazy field (:func:`lazy_fields`) typed as its value: the field
    holds the callable until first read, and reading it always gives the value."""
    return build  # type: ignore[return-value]


def lazy_fields(cls, *names):
    """Let dataclass fields ``names`` of ``cls`` take a zero-argument callable that builds the
    value on first access (pandas frames that a fit itself never reads, e.g. ``fr``).

    The constructor and attribute assignment accept either the value or the callable; reading
    the attribute always gives the value. Pickling and copying see the built value.
    """
    for name in names:
        key = "_lazy_" + name

        def get(self, key=key):
            v = self.__dict__[key]
            if callable(v) and not isinstance(v, (pd.DataFrame, pd.Series)):
                v = v()
                self.__dict__[key] = v
            return v

        def put(self, value, key=key):
            self.__dict__[key] = value

        setattr(cls, name, property(get, put))

    def __getstate__(self, names=names):
        for name in names:
            getattr(self, name)
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)

    cls.__getstate__ = __getstate__
    cls.__setstate__ = __setstate__
    return cls


@dataclass
class ReTerm:
    """One random-effects term after lme4's ordering.

    Attributes
    ----------
    group_name : str
        Grouping factor name as lme4 prints it (``"Subject"``, ``"cask:batch"``).
    cnms : list of str
        Column names of the term's raw model matrix (``["(Intercept)", "Days"]``).
    levels : list of str
        Levels of the grouping factor that occur in the data, in R's order.
    codes : ndarray of int64, shape (n,)
        0-based level index of each observation.
    X : ndarray, shape (n, p_i)
        The raw model matrix of the bar's left side (R's ``mmList[[i]]``).
    theta_offset : int
        Position of this term's first θ in the full θ vector.
    row_offset : int
        Position of this term's first row in Zt (lme4's ``Gp[i]``).
    term_label : str
        lme4's term name (``names(getME(fit, "Ztlist"))``), e.g. ``"Days | Subject"``.
    group_exprs : tuple
        The grouping factor's expression nodes (several for ``a:b``), for new data.
    lhs_spec : lmerpy.design.model_matrix.MatrixSpec or None
        How the raw model matrix ``X`` was coded, for new data.
    double_bar : bool
        The term came from expanding ``||``.
    covariance : lmerpy.design.covariance.Covariance
        The term's covariance structure (lme4 2.x's ``us()``, ``diag()``, ``cs()``,
        ``ar1()``); ``Unstructured(n_columns)`` (lme4's default) when not given.
    par_offset : int
        Position of this term's first parameter in the full ``par`` vector (the optimizer's
        parameters; the same as ``theta_offset`` when every term is unstructured).
    """

    group_name: str
    cnms: List[str]
    levels: List[str]
    codes: np.ndarray
    X: np.ndarray
    theta_offset: int = 0
    row_offset: int = 0
    term_label: str = ""
    group_exprs: tuple = ()
    lhs_spec: Any = None
    double_bar: bool = False
    #: filled with ``Unstructured(n_columns)`` by ``__post_init__`` when not given
    covariance: Covariance = None  # type: ignore[assignment]
    par_offset: int = 0

    def __post_init__(self):
        k = len(self.cnms)
        if self.covariance is None:
            self.covariance = Unstructured(k) if k else None
        elif self.covariance.k != k:
            raise DesignError(f"term ({self.term_label or self.group_name}) has {k} columns "
                             f"but its covariance {self.covariance!r} has {self.covariance.k}")

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_columns(self) -> int:
        """p_i, the number of columns of the raw model matrix."""
        return len(self.cnms)

    @property
    def n_theta(self) -> int:
        """Length of the term's θ (the values of Λᵢ's structural nonzeros)."""
        if self.covariance is None:
            return 0
        return self.covariance.n_theta

    @property
    def n_par(self) -> int:
        """Length of the term's ``par`` (what the optimizer moves)."""
        if self.covariance is None:
            return 0
        return self.covariance.n_par

    @property
    def n_rows(self) -> int:
        """q_i = levels x columns: this term's rows in Zt."""
        return self.n_levels * self.n_columns


@dataclass
class Design:
    """Everything the fit needs, with lme4's names (R: the value of ``lFormula()``).

    Attributes
    ----------
    formula : lmerpy.formula.terms.Formula
    fr : pandas.DataFrame
        The model frame: the rows kept after NA removal, the variables used (R's ``fr``).
        Built on first access (the constructor also takes a callable returning it).
    y : ndarray, shape (n,) or (n, 2)
        The response (two columns for ``cbind(successes, failures)``).
    X : ndarray, shape (n, p)
        Fixed-effects model matrix after dropping rank-deficient columns.
    X_colnames : list of str
        R's column names (``"(Intercept)"``, ``"Days"``, ``"Days:Sexmale"``...).
    offset : ndarray, shape (n,)
        Sum of ``offset()`` terms and the ``offset=`` argument (zeros if none).
    weights : ndarray, shape (n,)
        Prior weights (ones if none).
    reterms : list of ReTerm
        In lme4's order (decreasing number of levels, with lme4's reverse-ties quirk).
    Zt : scipy.sparse.csc_matrix, shape (q, n)
        Transposed random-effects model matrix, rows by term, then level, then column.
    Lambdat : scipy.sparse.csc_matrix, shape (q, q)
        Λ' at the starting θ (upper triangular); structural nonzeros as lme4's.
    Lind : ndarray of int64
        1-based θ index of each structural nonzero of ``Lambdat.data`` (CSC order), as lme4.
    theta : ndarray
        Starting θ: θ at the structures' starting ``par`` (for unstructured terms 1 on
        diagonals, 0 off them).
    lower : ndarray
        Lower bounds of ``par``, the optimizer's parameters (lme4 2.x's ``getME(fit,
        "lower")``; for unstructured terms ``par`` is θ: 0 on diagonals, -inf off them).
        The upper bounds are :attr:`upper`, the structures themselves :attr:`layout`.
    theta_names : list of str
        lme4's names of θ (``"Subject.(Intercept)"``, ``"Subject.Days.(Intercept)"``, ...);
        built on first access (the constructor also takes a callable returning them).
    cnms : dict
        group name -> column names, in term order; a repeated group name (from ``||``) keeps
        each term as a separate entry in :attr:`reterms`; the dict view merges nothing: use
        :meth:`cnms_list` for lme4's list with repeated names.
    flist : pandas.DataFrame
        The distinct grouping factors as Categoricals (R's ``flist``), columns named as lme4.
        Built on first access (the constructor also takes a callable returning it).
    assign : list of int
        For each term, the column of ``flist`` holding its grouping factor (R's
        ``attr(flist, "assign")``, 0-based here).
    n_dropped : int
        Rows removed because a used variable was missing (R's ``na.action``).
    dropped_rows : ndarray of int
        Positions (0-based, in the caller's frame) of those rows.
    REML : bool
    info : dict
        Everything ``predict(newdata)`` needs to rebuild X and Z: factor levels, contrast
        matrices, poly coefficients, scale centres (built by the design stage). Keys:
        ``state`` (poly/scale coefficients and column levels, for the evaluator), ``fixed``
        (the X :class:`~lmerpy.design.model_matrix.MatrixSpec`), ``contrasts`` (R's
        ``attr(X, "contrasts")``), ``X_assign`` (R's ``attr(X, "assign")`` after drops),
        ``response`` (its name), ``response_levels`` (factor response, glmer),
        ``offset_terms``, ``variables`` (per model-frame variable: kind and levels),
        ``weights_text``/``offset_text`` (how summary names the arguments: ``Weights: w``),
        ``checks`` (lme4's check levels used), ``glmer``. Use
        :func:`lmerpy.design.model_matrices_for` rather than reading ``state``/``fixed``.
    dropped_columns : list of str
        Fixed-effect columns dropped as rank deficient (lme4's ``attr(X, "col.dropped")``).
    messages : list of str
        lme4's design-stage messages and warnings issued (rank drop, scale, checks).
    na_action : str
        ``"omit"``, ``"exclude"`` (fitted values, residuals, predictions and simulations padded
        with NaN to the data's rows) or ``"fail"``.
    data_index : pandas.Index or None
        The data's full row index when ``na_action="exclude"`` dropped rows (the padded
        accessors' index; R: the ``na.action`` attribute of the model frame); else None.
    """

    formula: Any
    fr: pd.DataFrame
    y: np.ndarray
    X: np.ndarray
    X_colnames: List[str]
    offset: np.ndarray
    weights: np.ndarray
    reterms: List[ReTerm]
    Zt: sp.csc_matrix
    Lambdat: sp.csc_matrix
    Lind: np.ndarray
    theta: np.ndarray
    lower: np.ndarray
    theta_names: List[str]
    flist: pd.DataFrame
    assign: List[int]
    REML: bool = True
    n_dropped: int = 0
    dropped_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    info: Dict[str, Any] = field(default_factory=dict)
    dropped_columns: List[str] = field(default_factory=list)
    messages: List[str] = field(default_factory=list)
    na_action: str = "omit"
    data_index: Any = None

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def q(self) -> int:
        return self.Zt.shape[0]

    def cnms_list(self):
        """lme4's ``cnms``: a list of (group name, column names), one per term, names repeated."""
        return [(t.group_name, list(t.cnms)) for t in self.reterms]

    @property
    def cnms(self) -> Dict[str, List[str]]:
        out: Dict[str, List[str]] = {}
        for name, cols in self.cnms_list():
            key, k = name, 1
            while key in out:  # lme4 prints a repeated factor as Subject, Subject.1
                key = f"{name}.{k}"
                k += 1
            out[key] = cols
        return out

    @property
    def Gp(self) -> np.ndarray:
        """lme4's ``Gp``: cumulative row offsets of the terms in Zt (length terms + 1)."""
        return np.array([0] + list(np.cumsum([t.n_rows for t in self.reterms])), dtype=np.int64)

    @property
    def Zt_rownames(self) -> List[str]:
        """lme4's ``rownames(Zt)``: each term's levels, each repeated once per column."""
        return [lv for t in self.reterms for lv in t.levels for _ in range(t.n_columns)]

    # -- the covariance parameters ------------------------------------------------------------
    @property
    def layout(self) -> CovarianceLayout:
        """The terms' covariance structures together (``par`` ↔ θ, bounds, names; R: the
        ``reCovs`` of lme4 2.x's ``reTrms``)."""
        lay = self.__dict__.get("_layout")
        terms = self.reterms
        if lay is not None and len(lay.covariances) == len(terms) and all(
                c is t.covariance for c, t in zip(lay.covariances, terms)):
            return lay          # the same covariance objects (a fit asks a few times)
        covs = tuple(t.covariance for t in terms)
        if lay is None or lay.covariances != covs:
            lay = CovarianceLayout(covs)
            self.__dict__["_layout"] = lay
        return lay

    @property
    def n_par(self) -> int:
        """Length of ``par`` (lme4 2.x's ``getParLength``)."""
        return self.layout.n_par

    @property
    def par_start(self) -> np.ndarray:
        """``par`` at the structures' start (lme4 2.x: ``mkPar(theta)``; θ for unstructured
        terms)."""
        if self.layout.is_identity:
            return np.asarray(self.theta, dtype=float).copy()
        return self.layout.theta_to_par(self.theta)

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds of ``par`` (∞, and 1 for a correlation; R: ``reTrms$upper``)."""
        return self.layout.upper

    @property
    def par_names(self) -> List[str]:
        """lme4 2.x's names of ``par`` (``getParNames``: ``Subject.(Intercept)``,
        ``Subject.rho``...; θ's names for unstructured terms)."""
        return self.layout.par_names(self.cnms_list())

    def lambdat_at(self, theta) -> sp.csc_matrix:
        """Λ' at a given θ (a copy of the template with ``data = theta[Lind - 1]``)."""
        out = self.Lambdat.copy()
        out.data = np.asarray(theta, dtype=float)[self.Lind - 1]
        return out


# the model frame and flist are pandas objects only accessors read: built on first use
lazy_fields(Design, "fr", "flist", "theta_names")
