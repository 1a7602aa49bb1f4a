"""The parsed formula: expression nodes, terms and random-effects bars.

This module is the contract between the parser (``lmerpy.formula.parser``, which builds these
objects from the Lark tree) and the design stage (``lmerpy.design``, which evaluates them on a
DataFrame). Everything here is pure data: immutable, hashable, no DataFrame in sight.

R equivalents: an :class:`Expr` is an R call/symbol; a :class:`Term` is one entry of
``attr(terms(f), "term.labels")``; :class:`ModelTerms` is R's ``terms`` object of a right-hand
side; :class:`RandomTerm` is one element of ``lme4::findbars()`` after
``expandDoubleVerts`` and the ``/`` expansion; :class:`Formula` is the whole model formula.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Name:
    """A column reference (backquotes stripped: `` `my var` `` -> ``Name("my var")``)."""

    name: str

    def deparse(self) -> str:
        from .deparse import deparse
        return deparse(self)


@dataclass(frozen=True)
class Number:
    """A numeric literal; ``text`` keeps how it was written (R prints ``2``, not ``2.0``)."""

    value: float
    text: str

    def deparse(self) -> str:
        from .deparse import deparse
        return deparse(self)


@dataclass(frozen=True)
class Constant:
    """``TRUE``, ``FALSE`` (and ``T``/``F``), ``NULL``, ``NA``, ``Inf``; or a string literal."""

    value: Union[bool, None, float, str]
    text: str

    def deparse(self) -> str:
        from .deparse import deparse
        return deparse(self)


@dataclass(frozen=True)
class Call:
    """A function call ``func(args..., key = value...)``: ``log(x + 1)``, ``poly(x, 2, raw = TRUE)``."""

    func: str
    args: Tuple["Expr", ...] = ()
    kwargs: Tuple[Tuple[str, "Expr"], ...] = ()

    def deparse(self) -> str:
        from .deparse import deparse
        return deparse(self)


@dataclass(frozen=True)
class BinOp:
    """Arithmetic inside a call or ``I()``: op is one of ``+ - * / ^ %% %/%``; also ``:`` and
    ``%in%`` when they appear inside a call's argument (e.g. ``interaction``)."""

    op: str
    left: "Expr"
    right: "Expr"

    def deparse(self) -> str:
        from .deparse import deparse
        return deparse(self)


@dataclass(frozen=True)
class UnaryOp:
    """Unary ``-x`` or ``+x`` inside a call."""

    op: str
    operand: "Expr"

    def deparse(self) -> str:
        from .deparse import deparse
        return deparse(self)


Expr = Union[Name, Number, Constant, Call, BinOp, UnaryOp]

# --------------------------------------------------------------------------- terms


@dataclass(frozen=True)
class Term:
    """One model term: an interaction of one or more variables (R's ``a:b``).

    ``factors`` are ordered as R orders them: by the position of each variable in the formula's
    variable list (order of first appearance, response first). The main effect ``a`` is
    ``Term((Name("a"),))``. ``label`` is R's term label, e.g. ``"Days:Sex"``, ``"log(x + 1)"``.
    """

    factors: Tuple[Expr, ...]

    @property
    def label(self) -> str:
        return ":".join(f.deparse() for f in self.factors)

    @property
    def order(self) -> int:
        """R's ``attr(terms, "order")``: the number of variables in the interaction."""
        return len(self.factors)


@dataclass(frozen=True)
class ModelTerms:
    """A right-hand side as R's ``terms()`` sees it (fixed part, or the left side of a bar).

    Attributes
    ----------
    terms : tuple of Term
        In R's order: by ``order`` (main effects, then 2-way, ...), ties in order of appearance;
        duplicates removed; ``-`` removals applied.
    intercept : bool
        R's ``attr(terms, "intercept")``: False after ``0 +``, ``- 1`` or ``+ 0``.
    offsets : tuple of Expr
        The arguments of ``offset(...)`` terms, in order (they are not model terms).
    variables : tuple of Expr
        R's ``attr(terms, "variables")`` without the response: each distinct variable in order
        of first appearance. Term factors are ordered by this.
    has_dot : bool
        The formula used ``.`` (all other columns); expand it with
        :meth:`Formula.expand_dot` once the data's columns are known.
    """

    terms: Tuple[Term, ...] = ()
    intercept: bool = True
    offsets: Tuple[Expr, ...] = ()
    variables: Tuple[Expr, ...] = ()
    has_dot: bool = False

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(t.label for t in self.terms)


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after lme4's expansions.

    ``(x || g)`` becomes ``(1 | g)`` and ``(0 + x | g)`` (one RandomTerm per term label, a
    factor staying one correlated block), each with ``double_bar=True``; ``(1 | a/b)`` becomes
    ``(1 | a)`` and ``(1 | b:a)``.

    Attributes
    ----------
    lhs : ModelTerms
        The bar's left side as a model formula (its intercept flag included).
    group : tuple of Expr
        The grouping factor's variables; several for an interaction ``b:a`` (in that order).
    lhs_text : str
        R's deparse of the left side, as lme4 prints it in the formula (``"0 + Days"``).
    double_bar : bool
        Produced by expanding ``||``.
    """

    lhs: ModelTerms
    group: Tuple[Expr, ...]
    lhs_text: str
    double_bar: bool = False

    @property
    def group_label(self) -> str:
        """lme4's grouping-factor name, e.g. ``"Subject"``, ``"cask:batch"``."""
        return ":".join(g.deparse() for g in self.group)

    def deparse(self) -> str:
        """``"(0 + Days | Subject)"``"""
        return f"({self.lhs_text} | {self.group_label})"


@dataclass(frozen=True)
class Formula:
    """A parsed lme4 model formula.

    Attributes
    ----------
    text : str
        The formula as given.
    response : Expr or None
        The left side (``Name("y")``, ``Call("log", ...)``, ``Call("cbind", ...)``...).
    fixed : ModelTerms
        The fixed-effects part (R's ``nobars(formula)``).
    random : tuple of RandomTerm
        The random-effects terms after expansion, in formula order (the design stage reorders
        them as lme4 does, by number of levels).
    """

    text: str
    response: Optional[Expr]
    fixed: ModelTerms
    random: Tuple[RandomTerm, ...] = ()
    _deparsed: str = field(default="", compare=False, repr=False)

    def deparse(self) -> str:
        """R's ``deparse`` of the formula after ``expandDoubleVerts`` (what lme4's summary prints
        after ``Formula:``), e.g. ``Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))``."""
        return self._deparsed

    def __str__(self) -> str:
        return self.deparse()

    def expand_dot(self, columns) -> "Formula":
        """Return the formula with ``.`` replaced by every column not otherwise used on the left
        side (R's ``terms(formula, data = d)``)."""
        from .parser import expand_dot
        return expand_dot(self, columns)
