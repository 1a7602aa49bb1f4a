"""lme4 2.x's rules for random-effects terms written with a covariance structure.

* A model with a structured term (``diag()``, ``cs()``, ``ar1()``; lme4's ``.anyStructured``)
  skips ``check.nobs.vs.nRE``: lme4 2.1's ``mkFormula`` sets it to ``"ignore"``, since a
  structured term has fewer variance parameters than random effects per level.
* ``ar1()`` correlates neighbouring columns of its term (ρ^|i−j|), which means a time order
  only when the columns are the levels of one factor, ``ar1(0 + time | subject)``. lme4 2.1
  fits any columns as given (``ar1(1 + Days | Subject)`` too); glmmTMB stops ("ar1() expects a
  single, factor variable as the time component"). lmerpy fits as lme4 does and says so with a
  :class:`~lmerpy.warnings.DesignWarning`.

R equivalents: lme4 2.1's ``mkFormula`` (``.anyStructured``), glmmTMB's ``getReStruc`` check.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

from ..warnings import DesignWarning, warn

__all__ = ["structured_term_checks", "is_levels_of_one_factor"]


def is_levels_of_one_factor(spec: Any) -> bool:
    """Are the columns of a bar's left side the levels of one factor (``0 + f``: one term of
    one factor variable, no intercept)?"""
    if spec.intercept or len(spec.terms) != 1:
        return False
    parts = spec.terms[0].parts
    return len(parts) == 1 and parts[0][2] is not None


def structured_term_checks(terms: Sequence[Tuple[Any, Any]],
                           checks: Dict[str, str]) -> Dict[str, str]:
    """lme4 2.x's rules for structured terms, given each term's ``(RandomTerm, MatrixSpec)``:
    warns for an ``ar1()`` term whose columns are not the levels of one factor, and returns
    ``checks`` with ``check.nobs.vs.nRE`` set to ``"ignore"`` when any term is structured."""
    structured = False
    for rt, spec in terms:
        structure = getattr(rt, "structure", "us")
        structured = structured or structure != "us"
        if structure == "ar1" and not is_levels_of_one_factor(spec):
            cols = ", ".join(f"'{c}'" for c in spec.colnames)
            warn(f"ar1({rt.lhs_text} | {rt.group_label}) correlates neighbouring columns "
                 f"({cols}) as a time series, which has a meaning over the levels of one "
                 "factor only, as in ar1(0 + time | g) with time a factor; fitted as lme4 2.1 "
                 "fits it, over the columns as they are", DesignWarning)
    if structured:
        checks = dict(checks, **{"check.nobs.vs.nRE": "ignore"})
    return checks
