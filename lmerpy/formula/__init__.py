"""The formula language: R's model formulas with lme4's random-effects bars.

``parse_formula(text)`` turns ``"Reaction ~ Days + (Days | Subject)"`` into a
:class:`~lmerpy.formula.terms.Formula`: the response, the fixed-effects terms in R's order
(R's ``terms(nobars(f))``), the random-effects terms after lme4's ``||`` and ``/`` expansions
(lme4's ``findbars``), each with its covariance structure (lme4 2.x's ``us()``, ``diag()``,
``cs()``, ``ar1()`` calls around a bar, with ``hom =``), and the formula as lme4 prints it.
Pure: no data, nothing evaluated.

R equivalents: ``as.formula``, ``terms``, ``lme4::findbars``, ``lme4::nobars``,
``lme4::expandDoubleVerts``, ``deparse``.
"""
from .deparse import deparse
from .parser import all_vars, expand_dot, findbars, frame_variables, nobars, parse_formula
from .terms import (COVARIANCE_CALLS, BinOp, Call, Constant, Expr, Formula, ModelTerms, Name,
                    Number, RandomTerm, Term, UnaryOp)

__all__ = [
    "parse_formula", "findbars", "nobars", "expand_dot", "frame_variables", "all_vars",
    "deparse", "Formula", "ModelTerms", "RandomTerm", "Term", "Expr", "Name", "Number",
    "Constant", "Call", "BinOp", "UnaryOp", "COVARIANCE_CALLS",
]
