"""nlme's random-effects specifications: ``random = "~ age | Subject"``, ``"~ 1 | A/B"``, and the
``pdMat`` classes ``pdSymm``, ``pdDiag``, ``pdIdent``, ``pdCompSymm``.

R equivalent: the ``random`` argument of ``nlme::lme`` (a one-sided formula with groups, or a
named list of formulas / ``pdMat`` objects, outermost level first) and nlme's ``pdMat``
classes (Pinheiro & Bates 2000, section 4.2).

Each level of grouping becomes one random-effects term of lmerpy's PLS core, with the same
covariance structures as lme4 2.x's terms:

===============  ==========================  ====================================
nlme             lme4 formula term            lmerpy Covariance
===============  ==========================  ====================================
pdSymm(~ x)      ``(x | g)``                  Unstructured
pdDiag(~ x)      ``diag(x | g)``              Diagonal
pdIdent(~ x)     ``diag(x | g, hom = TRUE)``  Diagonal(hom=True)
pdCompSymm(~ x)  ``cs(x | g, hom = TRUE)``    CompoundSymmetry(hom=True)
===============  ==========================  ====================================

A level below the first groups by the combination of its factor with the levels above it
(``~ 1 | A/B``: ``B`` within ``A``), which is lme4's ``(1 | A:B)``. Formulas are parsed by the
grammar (:mod:`lmerpy.nlme.forms`), never evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Tuple

from ..arguments import show
from ..errors import ArgumentError, FormulaError
from ..formula import parse_formula
from .forms import parse_form

__all__ = ["PdMat", "pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "RandomLevel",
           "parse_random"]


class PdMat:
    """Base of nlme's positive-definite matrix classes (a specification: a one-sided formula
    for the random effects' model matrix, no data)."""

    r_class = "pdSymm"
    #: lme4's covariance call around the bar ("" for a plain bar) and its ``hom``
    lme4_call = ""
    hom = False
    #: nlme's ``Structure:`` line in ``summary`` ("" when nlme prints none)
    structure_title = ""

    def __init__(self, form: str = "~ 1") -> None:
        if not isinstance(form, str):
            raise ArgumentError(f"{self.r_class}: the formula must be a one-sided formula "
                                f"string such as '~ age', not {show(form)}")
        text = form.strip()
        if not text.startswith("~"):
            raise ArgumentError(f"{self.r_class}: the formula must start with '~', got "
                                f"{form!r}")
        if "|" in text:
            raise FormulaError(f"{self.r_class}({form!r}): the grouping goes in lme's random "
                               f"argument as a dict key, not in the pdMat formula")
        f = parse_formula(text)
        if f.random or f.response is not None:
            raise FormulaError(f"{self.r_class}({form!r}): expected a one-sided formula of the "
                               f"random effects' covariates")
        self.form = text
        #: the formula's right-hand side as R deparses it ("age", "1", "Variety - 1")
        self.rhs = f.deparse().lstrip("~").strip()

    def __repr__(self) -> str:
        return f"{self.r_class}('{self.form}')"

    def lme4_term(self, group: str) -> str:
        bar = f"{self.rhs} | {group}"
        if not self.lme4_call:
            return f"({bar})"
        hom = ", hom = TRUE" if self.hom else ""
        return f"{self.lme4_call}({bar}{hom})"


class pdSymm(PdMat):
    """A general positive-definite covariance matrix (nlme's default, ``pdLogChol``):
    lme4's ``(x | g)``."""

    r_class = "pdLogChol"
    structure_title = "General positive-definite, Log-Cholesky parametrization"


class pdDiag(PdMat):
    """Independent random effects with their own variances: lme4's ``diag(x | g)``."""

    r_class = "pdDiag"
    lme4_call = "diag"
    structure_title = "Diagonal"


class pdIdent(PdMat):
    """Independent random effects with one shared variance: lme4's ``diag(x | g, hom =
    TRUE)``."""

    r_class = "pdIdent"
    lme4_call = "diag"
    hom = True
    structure_title = "Multiple of an Identity"


class pdCompSymm(PdMat):
    """One variance and one correlation for every pair: lme4's ``cs(x | g, hom = TRUE)``."""

    r_class = "pdCompSymm"
    lme4_call = "cs"
    hom = True
    structure_title = "Compound Symmetry"


@dataclass(frozen=True)
class RandomLevel:
    """One level of grouping of ``random``, outermost first.

    ``group`` is the level's own grouping variable (``"Variety"``); ``path`` the variables of
    this level and the ones above (``("Block", "Variety")``): the groups are their
    combinations. ``pd`` the covariance class with its formula.
    """

    group: str
    path: Tuple[str, ...]
    pd: PdMat

    @property
    def lme4_group(self) -> str:
        """The grouping factor as an lme4 term writes it: ``Block:Variety``."""
        return ":".join(self.path)


def _as_pd(value: Any, where: str) -> PdMat:
    if isinstance(value, PdMat):
        return value
    if isinstance(value, str):
        return pdSymm(value)
    raise ArgumentError(f"lme: random[{where!r}] must be a formula string or a pdMat "
                        f"(pdSymm, pdDiag, pdIdent, pdCompSymm), not {show(value)}")


def _group_name(text: str, what: str) -> str:
    f = parse_formula("~ " + text)
    v = f.fixed.variables
    if len(v) != 1 or len(f.fixed.terms) != 1 or f.random:
        raise FormulaError(f"lme: invalid grouping '{text.strip()}' in {what}: one variable "
                           f"per level, levels separated by '/'")
    return f.deparse().lstrip("~").strip()


def parse_random(random: Any) -> List[RandomLevel]:
    """The levels of lme's ``random`` argument, outermost first.

    ``"~ x | g"`` (one level), ``"~ x | g1/g2"`` (the same formula at every level), a dict
    ``{"g1": "~ x", "g2": pdDiag("~ 1")}`` (one entry per level, outermost first) or a
    ``pdMat`` whose formula holds no groups is an error (lme needs the groups: lmerpy's data
    frames carry no grouping structure).
    """
    if isinstance(random, PdMat):
        raise ArgumentError(f"lme: random = {random!r} has no grouping: give it as a dict "
                            f"{{'g': {random!r}}}")
    if isinstance(random, str):
        form = parse_form(random, f"lme(random = {random})", "/")
        if not form.has_groups:
            raise FormulaError(f"lme: random = {random!r} has no grouping factor: write "
                               f"'~ x | g'")
        body = random.strip()[1:]
        bar = body.rfind("|")
        lhs = "~" + body[:bar]
        if form.fitted:
            raise FormulaError("lme: fitted(.) is not allowed in random")
        groups = list(form.group_texts)
        return [RandomLevel(g, tuple(groups[:i + 1]), pdSymm(lhs)) for i, g in enumerate(groups)]
    if isinstance(random, dict):
        if not random:
            raise ArgumentError("lme: random is an empty dict")
        out: List[RandomLevel] = []
        path: List[str] = []
        for key, value in random.items():
            if not isinstance(key, str):
                raise ArgumentError(f"lme: the keys of random must be grouping column names, "
                                    f"got {show(key)}")
            g = _group_name(key, "random")
            path.append(g)
            out.append(RandomLevel(g, tuple(path), _as_pd(value, key)))
        return out
    raise ArgumentError(f"lme: random must be a formula string such as '~ 1 | Subject' or a "
                        f"dict {{'Subject': pdDiag('~ age')}}, not {show(random)}")
