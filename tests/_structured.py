"""Structured-covariance formulas for the tests, with or without the formula front end.

lme4 2.x writes a term's covariance structure as a special around the bar:
``cs(Days | Subject)``, ``ar1(0 + f | g, hom = FALSE)``. The parser tags each random term with
``structure`` ("us", "diag", "cs", "ar1") and ``hom`` (True, False or None); the design reads
those two attributes. :func:`structured_formula` parses such a formula: with a parser that
knows the specials, directly; otherwise the specials are stripped, the plain formula parsed,
and copies of its random terms tagged (the parser's cached Formula is never modified).
"""
import copy
import dataclasses
import re

from lmerpy.errors import FormulaError
from lmerpy.formula import parse_formula

__all__ = ["structured_formula", "tag_terms"]

_SPECIAL = re.compile(r"\b(us|diag|cs|ar1)\(")
_HOM = re.compile(r",\s*hom\s*=\s*(TRUE|FALSE|T|F)\s*$")


def _specials(text):
    """(plain formula text, [(structure, hom, bar text), ...]) for ``text``."""
    out, specs, i = [], [], 0
    while True:
        m = _SPECIAL.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out), specs
        out.append(text[i:m.start()])
        k, depth = m.end(), 1
        while depth:
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            k += 1
        inner = text[m.end():k - 1]
        hom = None
        mh = _HOM.search(inner)
        if mh:
            hom, inner = mh.group(1).startswith("T"), inner[:mh.start()]
        specs.append((m.group(1), hom, inner.strip()))
        out.append("(" + inner.strip() + ")")
        i = k


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
    plain, specs = _specials(text)
    if not specs:
        return parse_formula(text)
    try:
        f = parse_formula(text)
        if all(hasattr(r, "structure") for r in f.random):
            return f
    except FormulaError:
        pass
    tags = {}
    for kind, hom, inner in specs:
        for r in parse_formula("y ~ (" + inner + ")").random:
            tags[r.deparse()] = (kind, hom)
    return tag_terms(parse_formula(plain), tags)
