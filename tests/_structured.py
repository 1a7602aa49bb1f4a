"""Structured-covariance formulas for the tests.

lme4 2.x writes a term's covariance structure as a call around the bar: ``cs(Days | Subject)``,
``ar1(0 + f | g, hom = FALSE)``; the parser tags each random term with ``structure`` ("us",
"diag", "cs", "ar1") and ``hom`` (True, False or None), which the design reads.
:func:`structured_formula` parses such a formula; :func:`tag_terms` sets the two attributes on
copies of a parsed formula's terms directly (for values the parser would refuse, to test the
design's own checks; the parser's cached Formula is never modified).
"""
import copy
import dataclasses

from lmerpy.formula import parse_formula

__all__ = ["structured_formula", "tag_terms"]


def tag_terms(formula, tags):
    """A copy of ``formula`` whose random terms carry ``structure``/``hom``: ``tags`` maps a
    term's deparse (``"(Days | Subject)"``) to (structure, hom)."""
    new = []
    for r in formula.random:
        r2 = copy.copy(r)
        kind, hom = tags.get(r.deparse(), ("us", None))
        object.__setattr__(r2, "structure", kind)
        object.__setattr__(r2, "hom", hom)
        new.append(r2)
    return dataclasses.replace(formula, random=tuple(new))


def structured_formula(text):
    """The parsed Formula of an lme4 2.x formula with ``us()``/``diag()``/``cs()``/``ar1()``."""
    f = parse_formula(text)
    assert all(hasattr(r, "structure") and hasattr(r, "hom") for r in f.random)
    return f
