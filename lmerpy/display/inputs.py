"""Plain inputs of the lme4 printers: everything ``print(summary(fit))`` shows, as data.

The printers depend on nothing but these dataclasses, so they can be tested against lme4's
own numbers and any model class can feed them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["VarCorrBlock", "SummaryInput"]


@dataclass
class VarCorrBlock:
    """One random-effects term of ``VarCorr(fit)`` (R: one element of the ``VarCorr.merMod``
    list, with its ``stddev`` and ``correlation`` attributes).

    Attributes
    ----------
    group : str
        The grouping factor's name as printed (``"Subject"``, ``"cask:batch"``). Repeated
        names (from ``||``) are made unique as lme4 does (``Subject``, ``Subject.1``) by the
        printers if the caller has not done so.
    names : list of str
        Column names of the term (``["(Intercept)", "Days"]``).
    stddev : numpy.ndarray
        Standard deviations, one per name.
    corr : numpy.ndarray or None
        Correlation matrix (len(names) x len(names)); None for a one-column term. Σ's own
        correlations (NaN where an SD is 0), as lme4's ``attr(, "correlation")``.
    vcmat_class : str or None
        lme4 2.x's class of the term's matrix without ``vcmat_``: ``"us"``, ``"diag"``,
        ``"cs"``, ``"homcs"``, ``"ar1"`` (homogeneous) or ``"hetar1"``
        (``Covariance.vcmat_class``). When any block of a table has one, the table is printed
        as lme4 2.x prints it (reformulas' ``formatVC``); when all are None, as lme4 1.1 does
        (lmerpy's models without a covariance call in their formula).
    corr_label : str or None
        The tag of the single printed correlation (``"cs"``, ``"ar1"``: ``0.07 (cs)``), or
        None when the correlation matrix (``us``) or nothing (``diag``) is printed
        (``Covariance.corr_label``).
    n_stddev_printed : int or None
        Rows of standard deviations printed (reformulas' ``get_sd``): 1 for ``homcs`` and
        ``ar1``; None for all of them (``Covariance.n_stddev_printed``).
    """

    group: str
    names: List[str]
    stddev: np.ndarray
    corr: Optional[np.ndarray] = None
    vcmat_class: Optional[str] = None
    corr_label: Optional[str] = None
    n_stddev_printed: Optional[int] = None


@dataclass
class SummaryInput:
    """What ``print(summary(fit))`` and ``print(fit)`` need (R: a ``summary.merMod`` object).

    Attributes
    ----------
    kind : str
        ``"lmer"`` or ``"glmer"`` (picks the title and the class ``lmerMod``/``glmerMod``).
    REML : bool
        Fit by REML (then ``criteria`` is ``{"REML": value}``).
    family, link : str or None
        GLMM family and link (``"binomial"``, ``"logit"``); None for an LMM.
    nAGQ : int
        Adaptive Gauss-Hermite points of a GLMM (1 = Laplace).
    formula : str or list of str
        The formula as R deparses it (``"Reaction ~ Days + (Days | Subject)"``). A long
        one-line string is split into lines as R's ``deparse()`` does (width cutoff 60); a
        list is taken as the lines of ``deparse()``.
    data_name : str or None
        Printed on the ``   Data:`` line (no line when None).
    weights_name, offset_name, subset_name : str or None
        The ``weights =``, ``offset =`` and ``subset =`` arguments as written in the call;
        lme4 prints ``Weights:``, `` Offset:`` and `` Subset:`` lines for them.
    control_text : str or None
        The deparsed ``control =`` argument; ``summary()`` prints a ``Control:`` line unless
        it is ``lmerControl()``.
    criteria : dict
        REML fits: ``{"REML": REMLcrit}``. ML and GLMM fits: ``{"AIC", "BIC", "logLik",
        "deviance", "df.resid"}`` in that order (R's ``llikAIC(fit)$AICtab``); lme4 2.x names
        the deviance ``"-2*log(L)"``. The keys are printed as given.
    scaled_residuals : numpy.ndarray or None
        ``residuals(fit, "pearson", scaled = TRUE)`` (NaN/None for missing are dropped);
        None when the fit does not hold its data (Dask): no residual quantiles are printed.
    varcorr : list of VarCorrBlock
    sigma : float or None
        Residual standard deviation; None when the family has no scale parameter.
    use_sc : bool
        The model has a scale parameter (LMMs, Gamma...): adds the ``Residual`` row and makes
        the statistic a ``t value``.
    nobs : int
    ngrps : list of (str, int)
        Grouping factors (unique, as ``ngrps(fit)``) and their numbers of levels.
    coef_names : list of str
    estimate, std_error : numpy.ndarray
    statistic_name : str
        ``"t value"`` or ``"z value"``.
    p_values : numpy.ndarray or None
        Shown as a ``Pr(>|z|)`` column (named by ``p_value_name``) when given.
    vcov : numpy.ndarray
        Covariance matrix of the fixed effects (its correlations are printed).
    optimizer : str
        ``"nloptwrap"``, ``"bobyqa"``, ``"Nelder_Mead"``...
    conv_code : int
        The optimizer's convergence code (0 = OK).
    conv_messages : list of str
        lme4's convergence messages (``boundary (singular) fit: see help('isSingular')``).
    correlation : bool or None
        Print the correlation of fixed effects (None: when p <= 12, as lme4).
    optimizer_message : str or None
        The optimizer's own message, shown in parentheses when ``conv_code != 0``.
    optimizer_warnings : list of str
        Warnings the optimizer itself raised (printed after ``conv_messages``).
    fit_messages : list of str
        Messages about the fit set up (``fixed-effect model matrix is rank deficient so
        dropping 1 column / coefficient``): printed under ``fit warnings:``.
    p_value_name : str
        Header of the p-value column.
    title, class_name : str or None
        Override the method title and the class (e.g. lmerTest's).
    extra_columns : list of (name, values)
        Extra coefficient-table columns placed before the statistic (lmerTest's ``df``).
    """

    kind: str
    REML: bool
    family: Optional[str]
    link: Optional[str]
    nAGQ: int
    formula: Union[str, List[str]]
    data_name: Optional[str]
    criteria: Dict[str, float]
    scaled_residuals: Optional[np.ndarray]
    varcorr: List[VarCorrBlock]
    sigma: Optional[float]
    use_sc: bool
    nobs: int
    ngrps: List[Tuple[str, int]]
    coef_names: List[str]
    estimate: np.ndarray
    std_error: np.ndarray
    statistic_name: str
    p_values: Optional[np.ndarray]
    vcov: np.ndarray
    optimizer: str = "nloptwrap"
    conv_code: int = 0
    conv_messages: List[str] = field(default_factory=list)
    correlation: Optional[bool] = None
    weights_name: Optional[str] = None
    offset_name: Optional[str] = None
    subset_name: Optional[str] = None
    control_text: Optional[str] = None
    optimizer_message: Optional[str] = None
    optimizer_warnings: List[str] = field(default_factory=list)
    fit_messages: List[str] = field(default_factory=list)
    p_value_name: str = "Pr(>|z|)"
    title: Optional[str] = None
    class_name: Optional[str] = None
    extra_columns: List[Tuple[str, Sequence[float]]] = field(default_factory=list)
