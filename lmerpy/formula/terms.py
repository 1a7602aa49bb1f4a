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

from dataclasses import dataclass, field, fields
from typing import Any, Optional, Tuple, Union

# --------------------------------------------------------------------------- expressions

_DEPARSE = None


def _deparse(node) -> str:
    global _DEPARSE
    if _DEPARSE is None:            # deparse imports this module: bound on first use
        from .deparse import deparse
        _DEPARSE = deparse
    return _DEPARSE(node)


_MEMO_KEYS = ("_hash", "_label")


def _remember_hash(cls):
    """Let a frozen dataclass compute its (recursive, field-wise) hash once: nodes and terms
    are dictionary keys all through the design stage. The remembered hash is left out of the
    pickled state (string hashes differ between processes)."""
    field_hash = cls.__hash__

    def __hash__(self):
        h = self.__dict__.get("_hash")
        if h is None:
            h = field_hash(self)
            object.__setattr__(self, "_hash", h)
        return h

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in _MEMO_KEYS}

    cls.__hash__ = __hash__
    cls.__getstate__ = __getstate__
    return cls


# Expression trees can be thousands of nodes deep (``y ~ x1 + x2 + ... + x5000`` is a left-deep
# chain of ``+``): hashing, comparing, printing and pickling them walk the tree with an
# explicit stack, never by Python recursion (see also lmerpy.formula.walk).


def _expression(cls):
    """Give an expression-node dataclass iterative ``__hash__``, ``__eq__``, ``__repr__`` and
    pickling (the generated ones recurse once per level of the tree)."""
    field_hash = cls.__hash__

    def __hash__(self):
        h = self.__dict__.get("_hash")
        if h is None:
            _hash_subtree(self)
            h = self.__dict__["_hash"]
        return h

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _same_tree(self, other)

    def __repr__(self):
        return _tree_repr(self)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in _MEMO_KEYS}

    cls._field_hash = field_hash
    cls.__hash__ = __hash__
    cls.__eq__ = __eq__
    cls.__repr__ = __repr__
    cls.__getstate__ = __getstate__
    return cls


def _composite(cls):
    """Pickle (and deep-copy) a node with sub-expressions as a flat post-order list of its
    nodes (:func:`_rebuild_expr`), so that the pickler does not recurse down the tree."""
    def __reduce__(self):
        return (_rebuild_expr, (_postfix(self),))

    cls.__reduce__ = __reduce__
    return cls


@_expression
@dataclass(frozen=True)
class Name:
    """A column reference (backquotes stripped: `` `my var` `` -> ``Name("my var")``)."""

    name: str
    parens: int = 0

    def deparse(self) -> str:
        return _deparse(self)


@_expression
@dataclass(frozen=True)
class Number:
    """A numeric literal; ``text`` is how R deparses it (R prints ``2``, not ``2.0``; ``1e5`` as
    ``1e+05``; an integer literal keeps its ``L``: ``2L``)."""

    value: float
    text: str
    parens: int = 0

    def deparse(self) -> str:
        return _deparse(self)


@_expression
@dataclass(frozen=True)
class Constant:
    """``TRUE``, ``FALSE`` (and ``T``/``F``), ``NULL``, ``NA``, ``Inf``; or a string literal."""

    value: Union[bool, None, float, str]
    text: str
    parens: int = 0

    def deparse(self) -> str:
        return _deparse(self)


@_composite
@_expression
@dataclass(frozen=True)
class Call:
    """A function call ``func(args..., key = value...)``: ``log(x + 1)``, ``poly(x, 2, raw = TRUE)``."""

    func: str
    args: Tuple["Expr", ...] = ()
    kwargs: Tuple[Tuple[str, "Expr"], ...] = ()
    parens: int = 0
    #: Where each keyword argument stood in the written argument list, when keyword arguments
    #: came before positional ones (``f(a = 1, b)`` -> ``(0,)``); empty means "after them all".
    kwarg_positions: Tuple[int, ...] = ()

    def deparse(self) -> str:
        return _deparse(self)


@_composite
@_expression
@dataclass(frozen=True)
class BinOp:
    """Arithmetic inside a call or ``I()``: op is one of ``+ - * / ^ %% %/%``; also ``:`` and
    ``%in%`` when they appear inside a call's argument (e.g. ``interaction``). Comparisons and
    logic (``== != < > <= >= & && | ||``) and other ``%op%`` operators are BinOps too; a
    comparison may also stand as a model variable by itself (``y ~ x > 2``, as in R)."""

    op: str
    left: "Expr"
    right: "Expr"
    parens: int = 0

    def deparse(self) -> str:
        return _deparse(self)


@_composite
@_expression
@dataclass(frozen=True)
class UnaryOp:
    """Unary ``-x`` or ``+x`` inside a call; also logical ``!x``."""

    op: str
    operand: "Expr"
    parens: int = 0

    def deparse(self) -> str:
        return _deparse(self)


Expr = Union[Name, Number, Constant, Call, BinOp, UnaryOp]


def expr_children(e) -> tuple:
    """The sub-expressions of an expression node in written order: a call's positional
    arguments, then its keyword arguments' values; ``()`` for a leaf (or anything else)."""
    cls = e.__class__
    if cls is BinOp:
        return (e.left, e.right)
    if cls is UnaryOp:
        return (e.operand,)
    if cls is Call:
        if e.kwargs:
            return tuple(e.args) + tuple(v for _, v in e.kwargs)
        return tuple(e.args)
    return ()


_EXPR_CLASSES = frozenset({Name, Number, Constant, Call, BinOp, UnaryOp})


def _scalars(e) -> tuple:
    """Everything of a node but its sub-expressions (what equality compares at each node)."""
    cls = e.__class__
    if cls is BinOp or cls is UnaryOp:
        return (e.op, e.parens)
    if cls is Call:
        return (e.func, len(e.args), tuple(k for k, _ in e.kwargs), e.parens, e.kwarg_positions)
    if cls is Name:
        return (e.name, e.parens)
    return (e.value, e.text, e.parens)


def _hash_subtree(root):
    """Remember the hash of every node under ``root`` (children before parents), so that each
    node's field-wise hash only looks one level down."""
    order, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.__class__ in _EXPR_CLASSES and "_hash" not in node.__dict__:
            order.append(node)
            stack.extend(expr_children(node))
    for node in reversed(order):
        if "_hash" not in node.__dict__:
            object.__setattr__(node, "_hash", node._field_hash())


def _same_tree(a, b) -> bool:
    """Structural equality of two expression trees (what the dataclass ``__eq__`` computes),
    with an explicit stack."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is y:
            continue
        if x.__class__ is not y.__class__:
            return False
        if x.__class__ not in _EXPR_CLASSES:
            if not x == y:
                return False
            continue
        hx, hy = x.__dict__.get("_hash"), y.__dict__.get("_hash")
        if hx is not None and hy is not None and hx != hy:
            return False
        if not _scalars(x) == _scalars(y):
            return False
        stack.extend(zip(expr_children(x), expr_children(y)))
    return True


def _tree_repr(root) -> str:
    """The dataclass ``repr`` of an expression tree (``BinOp(op='+', left=Name(name='a',
    parens=0), ...)``), built with an explicit stack."""
    out = []
    stack = [(False, root)]
    while stack:
        is_text, item = stack.pop()
        if is_text:
            out.append(item)
        elif item.__class__ in _EXPR_CLASSES:
            parts = [(True, item.__class__.__qualname__ + "(")]
            for i, f in enumerate(fields(item)):  # type: ignore[arg-type]  # a dataclass
                parts.append((True, (", " if i else "") + f.name + "="))
                parts.append((False, getattr(item, f.name)))
            parts.append((True, ")"))
            stack.extend(reversed(parts))
        elif isinstance(item, tuple) and item.__class__ is tuple:
            parts = [(True, "(")]
            for i, x in enumerate(item):
                if i:
                    parts.append((True, ", "))
                parts.append((False, x))
            parts.append((True, ",)" if len(item) == 1 else ")"))
            stack.extend(reversed(parts))
        else:
            out.append(repr(item))
    return "".join(out)


def _postfix(root) -> list:
    """``root`` as a flat post-order list: leaves as themselves, inner nodes as tuples
    (:func:`_rebuild_expr` reads it back)."""
    pre, stack = [], [root]
    while stack:
        node = stack.pop()
        pre.append(node)
        stack.extend(expr_children(node))
    out: list = []
    for node in reversed(pre):  # children before parents, left to right
        cls = node.__class__
        if cls is BinOp:
            out.append(("B", node.op, node.parens))
        elif cls is UnaryOp:
            out.append(("U", node.op, node.parens))
        elif cls is Call:
            out.append(("C", node.func, len(node.args), tuple(k for k, _ in node.kwargs),
                        node.parens, node.kwarg_positions))
        else:
            out.append(node)
    return out


def _rebuild_expr(items):
    """Inverse of :func:`_postfix` (the unpickler calls it)."""
    stack = []
    for item in items:
        if item.__class__ is not tuple:
            stack.append(item)
        elif item[0] == "B":
            right = stack.pop()
            stack[-1] = BinOp(item[1], stack[-1], right, item[2])
        elif item[0] == "U":
            stack[-1] = UnaryOp(item[1], stack[-1], item[2])
        else:
            _, func, nargs, keys, parens, positions = item
            n = nargs + len(keys)
            values = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            stack.append(Call(func, tuple(values[:nargs]), tuple(zip(keys, values[nargs:])),
                              parens, positions))
    return stack[0]


# ``parens`` (every node): how many pairs of parentheses were written around the node, as R
# keeps them (R's ``(`` calls): ``I((x + 1)^2)`` has ``BinOp("+", ..., parens=1)``, which is how
# ``deparse`` gives back ``(x + 1)^2``. Evaluation ignores it; it is part of equality because R
# treats ``log((x))`` and ``log(x)`` as different variables. A term factor, a response or a
# grouping variable never carries the formula-level parentheses around it (``y ~ (x)`` is x).

# --------------------------------------------------------------------------- terms


@_remember_hash
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
        lab = self.__dict__.get("_label")
        if lab is None:
            lab = ":".join(f.deparse() for f in self.factors)
            object.__setattr__(self, "_label", lab)
        return lab

    @property
    def order(self) -> int:
        """R's ``attr(terms, "order")``: the number of variables in the interaction."""
        return len(self.factors)


@_remember_hash
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
        R's ``attr(terms, "variables")`` without the response and without the ``offset()``
        variables (their arguments are in ``offsets``): each distinct variable in order of
        first appearance, including variables of removed terms (``a*b - a`` keeps ``a``).
        Term factors are ordered by this.
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


#: lme4 2.x's covariance structures, by the name of the call written around a bar
#: (``cs(1 + x | g)``): the values of :attr:`RandomTerm.structure`.
COVARIANCE_CALLS = ("us", "diag", "cs", "ar1")


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after lme4's expansions.

    ``(x || g)`` becomes ``(1 | g)`` and ``(0 + x | g)`` (one RandomTerm per term label, a
    factor staying one correlated block), each with ``double_bar=True``; ``(1 | a/b)`` becomes
    ``(1 | a)`` and ``(1 | b:a)``. A bar written inside one of lme4 2.x's covariance calls,
    ``cs(1 + x | g, hom = TRUE)``, gives a term with ``structure="cs"``, ``hom=True``,
    ``special=True`` (nesting inside the call expands into terms of the same structure).

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
    structure : str
        The covariance structure, one of :data:`COVARIANCE_CALLS`: ``"us"`` (unstructured,
        lme4's default and the meaning of a plain ``(x | g)``), ``"diag"``, ``"cs"``, ``"ar1"``.
    hom : bool or None
        The call's ``hom = TRUE``/``FALSE`` (``T``/``F`` accepted); None when not given (the
        structure's default: ``diag`` and ``cs`` heterogeneous, ``ar1`` homogeneous; ``us``
        has no ``hom``).
    special : bool
        The bar was written inside a covariance call (``us(x | g)`` too), lme4 2.x's syntax.
    """

    lhs: ModelTerms
    group: Tuple[Expr, ...]
    lhs_text: str
    double_bar: bool = False
    #: The grouping expression as lme4 holds it (``b:a``; ``c:(b:a)`` for ``(1 | a/b/c)``);
    #: ``group`` is this expression flattened into its variables.
    group_expr: Optional[Expr] = field(default=None, compare=False)
    structure: str = "us"
    hom: Optional[bool] = None
    special: bool = False

    @property
    def group_label(self) -> str:
        """lme4's grouping-factor name, e.g. ``"Subject"``, ``"cask:batch"``, ``"c:(b:a)"``
        (R: ``deparse(bar[[3]])``; a lone non-syntactic name is not backquoted there)."""
        if self.group_expr is not None:
            from .deparse import deparse_group_label
            return deparse_group_label(self.group_expr)
        return ":".join(g.deparse() for g in self.group)

    def deparse(self) -> str:
        """``"(0 + Days | Subject)"``; a term written in a covariance call keeps it:
        ``"cs(0 + f | Subject, hom = TRUE)"`` (this text parses back to the same term)."""
        if self.group_expr is not None:
            from .deparse import deparse_formula_expr
            group = deparse_formula_expr(self.group_expr)
        else:
            group = self.group_label
        if not self.special:
            return f"({self.lhs_text} | {group})"
        hom = "" if self.hom is None else f", hom = {'TRUE' if self.hom else 'FALSE'}"
        return f"{self.structure}({self.lhs_text} | {group}{hom})"


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
    #: The parsed formula after ``expandDoubleVerts`` (``lmerpy.formula.parser.FormulaTree``).
    _tree: Any = field(default=None, compare=False, repr=False)

    def deparse(self) -> str:
        """R's ``deparse`` of the formula after ``expandDoubleVerts`` (what lme4's summary prints
        after ``Formula:``), e.g. ``Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))``.

        One line; R splits formulas longer than 60 characters: see :meth:`deparse_lines`."""
        return self._deparsed

    @property
    def has_specials(self) -> bool:
        """Some random-effects term is written in a covariance call (``us()``, ``diag()``,
        ``cs()``, ``ar1()``): lme4 2.x's syntax (reformulas' "specials")."""
        return any(t.special for t in self.random)

    def deparse_lines(self, width_cutoff: int = 60):
        """R's ``deparse(formula, width.cutoff)``: a list of lines, continuation lines indented
        by 4 spaces. lme4's summary prints them with ``cat("Formula:", lines, fill = TRUE)``."""
        from .deparse import deparse_lines
        return deparse_lines(self._tree.formula_node(), width_cutoff)

    @property
    def frame_variables(self) -> Tuple[Expr, ...]:
        """The variables of lme4's model frame ``fr``, in R's order: the response, then each
        distinct variable of ``subbars(formula)`` (fixed part with offsets, random left sides,
        grouping variables). R: ``attr(terms(subbars(formula)), "variables")``."""
        from .parser import frame_variables
        return frame_variables(self)

    def all_vars(self) -> Tuple[str, ...]:
        """Every name the formula reads as a column, in order (R's ``all.vars(formula)``):
        symbols anywhere, function names excluded."""
        from .parser import all_vars
        return all_vars(self)

    def __str__(self) -> str:
        return self.deparse()

    def expand_dot(self, columns) -> "Formula":
        """Return the formula with ``.`` replaced by every column not otherwise used on the left
        side (R's ``terms(formula, data = d)``)."""
        from .parser import expand_dot
        return expand_dot(self, columns)
