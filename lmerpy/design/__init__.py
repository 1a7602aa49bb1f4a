"""The design stage: formula + DataFrame -> model frame, X, Zt, Λ' template, θ layout.

R equivalent: ``lme4::lFormula`` (``model.frame``, ``model.matrix``, ``mkReTrms``). The public
entry points are :func:`build_design` / :func:`lFormula`, which return a
:class:`~lmerpy.design.structures.Design`, and :func:`model_matrices_for`, which rebuilds X
and the random-effects model matrices for new data (for ``predict``).
"""
from .structures import Design, ReTerm
from .lformula import build_design, lFormula
from .newdata import NewDesign, model_matrices_for
from .contrasts import contr_helmert, contr_poly, contr_SAS, contr_sum, contr_treatment

__all__ = ["Design", "ReTerm", "build_design", "lFormula", "NewDesign", "model_matrices_for",
           "contr_treatment", "contr_sum", "contr_helmert", "contr_poly", "contr_SAS"]
