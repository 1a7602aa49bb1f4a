"""nlme's models in lmerpy: ``gls`` and ``lme`` with nlme's variance functions and correlation
structures.

R equivalent: the ``nlme`` package (Pinheiro & Bates 2000): ``gls()``, the variance functions
``varFixed``, ``varIdent``, ``varPower``, ``varExp``, ``varConstPower``, ``varComb`` and the
correlation structures ``corCompSymm``, ``corAR1``, ``corARMA``, ``corCAR1``, ``corSymm``,
with nlme's numbers and printed output (``print``, ``summary``, ``anova``, ``intervals``).

The residual structures are built to serve ``lme`` as well (:mod:`lmerpy.nlme.base`): they
bind to the rows of a model and whiten or weight them group by group.
"""
from .corstruct import CorStruct, corAR1, corARMA, corCAR1, corCompSymm, corSymm
from .gls import GlsModel, GlsSummary, gls, glsControl
from .lme import LmeModel, LmeSummary, lme, lmeControl
from .lme_df import FixedDF, fixed_df
from .pdmat import PdMat, pdCompSymm, pdDiag, pdIdent, pdSymm
from .pql import PqlFit, glmmPQL
from .inference import GlsAnova, GlsIntervals, anova, intervals
from .varfunc import VarFunc, varComb, varConstPower, varExp, varFixed, varIdent, varPower

__all__ = ["lme", "lmeControl", "LmeModel", "LmeSummary", "FixedDF", "fixed_df", "PdMat",
           "pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "gls", "glsControl", "GlsModel", "GlsSummary", "GlsAnova", "GlsIntervals", "anova",
           "intervals", "VarFunc", "varFixed", "varIdent", "varPower", "varExp",
           "varConstPower", "varComb", "CorStruct", "corCompSymm", "corAR1", "corARMA",
           "corCAR1", "corSymm", "glmmPQL", "PqlFit"]
