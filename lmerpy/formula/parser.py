"""Parse an R/lme4 model formula into :class:`~lmerpy.formula.terms.Formula`.

R equivalents: ``as.formula(text)``, then lme4's ``expandDoubleVerts``, ``findbars`` and
``nobars``, and ``terms()`` of the fixed part and of each bar's left side.

The text goes through the Lark LALR grammar ``lmerpy/grammar/formula.lark`` (loaded once per
process, its tables from the per-user cache of :mod:`lmerpy.formula.parser_cache`) into expression nodes; nothing in a formula is ever evaluated. Syntax errors are
:class:`~lmerpy.errors.FormulaSyntaxError` with a caret under the offending character; a
formula that parses but cannot mean anything is a :class:`~lmerpy.errors.FormulaError`.
"""
from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, List, Optional, Tuple

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import FormulaError, FormulaSyntaxError
from .algebra import compute_terms, extract_variables, is_dot
from .bars import (any_bars, check_bar_positions, expand_double_verts, find_bars,
                   group_variables, lhs_terms, nobars_tree)
from .deparse import RESERVED_WORDS, deparse, deparse_formula_expr, format_number, quote_string
from .parser_cache import cached_lark
from .terms import BinOp, Call, Constant, Formula, Name, Number, RandomTerm, UnaryOp
from .walk import expr_children, walk_nodes

__all__ = ["parse_formula", "findbars", "nobars", "expand_dot", "frame_variables", "all_vars",
           "FormulaTree", "grammar_text", "MAX_CALL_NESTING"]


# --------------------------------------------------------------------------- grammar


def grammar_text() -> str:
    """The text of ``formula.lark`` (package ``lmerpy.grammar``)."""
    try:
        return (importlib.resources.files("lmerpy.grammar") / "formula.lark").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # source checkout without the package map
        return (Path(__file__).resolve().parents[2] / "grammar" / "formula.lark").read_text()


_CONSTANTS = {
    "TRUE": True, "FALSE": False, "T": True, "F": False, "NULL": None,
    "NA": None, "NA_integer_": None, "NA_real_": None, "NA_character_": None,
    "Inf": float("inf"), "NaN": float("nan"),
}


class _ReservedWord(Exception):
    def __init__(self, token):
        super().__init__(str(token))
        self.token = token


def _name_text(tok: Token) -> str:
    if tok.type == "BACKQUOTED":
        return _unescape(tok.value[1:-1])
    if tok.type == "STRING":
        return _unescape(tok.value[1:-1])
    return tok.value


_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a", "b": "\b", "f": "\f",
             "v": "\v"}


def _unescape(s: str) -> str:
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            out.append(_UNESCAPE.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _number(text: str) -> Number:
    integer = text.endswith("L")
    body = text[:-1] if integer else text
    value = float(int(body, 16)) if body[:2].lower() == "0x" else float(body)
    if integer and not (value.is_integer() and abs(value) < 2 ** 31):
        integer = False  # R: "integer literal 1.5L contains decimal; using numeric value"
    return Number(value, format_number(value, integer=integer, keep_integer=True))


class _ToExpr(Transformer):
    """Lark tree -> expression nodes (run inside the LALR parser)."""

    def name(self, c):
        tok = c[0]
        if tok.type == "NAME":
            if tok.value in _CONSTANTS:
                return Constant(_CONSTANTS[tok.value], tok.value)
            if tok.value in RESERVED_WORDS:
                raise _ReservedWord(tok)
        return Name(_name_text(tok))

    def number(self, c):
        return _number(c[0].value)

    def string(self, c):
        value = _name_text(c[0])
        return Constant(value, quote_string(value))

    def paren(self, c):
        e = c[1]
        return replace(e, parens=e.parens + 1)

    def binop(self, c):
        op = "^" if c[1].value == "**" else c[1].value
        return BinOp(op, c[0], c[2])

    def unop(self, c):
        return UnaryOp(c[0].value, c[1])

    def funcname(self, c):
        if len(c) == 3:
            return c[0].value + c[1].value + c[2].value
        tok = c[0]
        if tok.type == "NAME" and (tok.value in RESERVED_WORDS or tok.value in _CONSTANTS):
            raise _ReservedWord(tok)
        return _name_text(tok)

    def call(self, c):
        func, arguments = c[0], c[2]
        items = [] if arguments is None else arguments
        args = tuple(v for k, v in items if k is None)
        kwargs = tuple((k, v) for k, v in items if k is not None)
        positions = tuple(i for i, (k, _) in enumerate(items) if k is not None)
        if positions == tuple(range(len(args), len(items))):
            positions = ()  # keyword arguments after all positional ones: the default layout
        return Call(func, args, kwargs, kwarg_positions=positions)

    def arguments(self, c):
        return [x for x in c if not isinstance(x, Token)]

    def positional(self, c):
        return (None, c[0])

    def keyword(self, c):
        return (c[0], c[2])

    def argname(self, c):
        return _name_text(c[0])

    def one_sided(self, c):
        return (None, c[1])

    def two_sided(self, c):
        return (c[0], c[2])

    def start(self, c):
        return c[0]


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    # the LALR tables come from the per-user cache when a previous process built them
    return cached_lark(grammar_text(), transformer=_ToExpr(), parser="lalr", lexer="basic",
                       maybe_placeholders=True)


# --------------------------------------------------------------------------- syntax errors

_OPERATOR_TYPES = {"TILDE", "OR_OP", "AND_OP", "COMPARE", "BANG", "PLUS", "MINUS", "STAR",
                   "SLASH", "SPECIAL", "COLON", "CARET", "NSOP", "COMMA", "EQUALS"}
_OPERAND_END = {"NAME", "BACKQUOTED", "NUMBER", "STRING", "RPAR"}


def _describe(tok) -> str:
    if tok.type == "NAME":
        return f"name '{tok.value}'"
    if tok.type == "BACKQUOTED":
        return f"name {tok.value}"
    if tok.type == "NUMBER":
        return f"number {tok.value}"
    if tok.type == "STRING":
        return f"string {tok.value}"
    return f"'{tok.value}'"


def _display(text: str) -> str:
    """The formula on one line, same length (so the caret column stays right)."""
    return "".join(" " if c in "\n\r\t\f\v" else c for c in text)


def _syntax_error(text, message, column):
    return FormulaSyntaxError(message, _display(text), column)


def _lex(text) -> List[Token]:
    try:
        return list(_parser().lex(text))
    except UnexpectedCharacters as e:
        pos: Any = e.pos_in_stream
        ch = text[pos]
        if ch == "`":
            msg = ("empty backquoted name ``" if text[pos:pos + 2] == "``"
                   else "unterminated backquoted name: the closing ` is missing")
        elif ch in "\"'":
            msg = f"unterminated string: the closing {ch} is missing"
        elif ch == "$":
            msg = "'$' is not supported in a formula: refer to the column by its name"
        elif ch in "[]":
            msg = "indexing with '[' is not supported in a formula"
        elif ch == "_":
            msg = "a name cannot start with '_': backquote it, as in `_x`"
        elif ch in "{};":
            msg = f"unexpected '{ch}': a formula is a single expression"
        else:
            msg = f"unexpected character '{ch}'"
        raise _syntax_error(text, msg, pos) from None


def _check_structure(text, tokens: List[Token]):
    """Parentheses balance and a single '~', with precise carets, before parsing."""
    stack = []
    for tok in tokens:
        if tok.type == "LPAR":
            stack.append(tok)
        elif tok.type == "RPAR":
            if not stack:
                raise _syntax_error(text, "unbalanced parentheses: this ')' has no matching '('",
                                    tok.start_pos)
            stack.pop()
    if stack:
        tok = stack[-1]
        raise _syntax_error(text, "unbalanced parentheses: this '(' is never closed",
                            tok.start_pos)
    tildes = [t for t in tokens if t.type == "TILDE"]
    if not tildes:
        raise _syntax_error(text, "not a formula: '~' is missing (write e.g. y ~ x)",
                            len(text.rstrip()))
    if len(tildes) > 1:
        raise _syntax_error(text, "a formula has exactly one '~'", tildes[1].start_pos)


def _unexpected_token(text, tokens, e: UnexpectedToken):
    tok = e.token
    prev: Any
    if tok.type == "$END":
        prev = tokens[-1] if tokens else None
        col = len(text.rstrip())
        if prev is not None and prev.type == "TILDE":
            msg = "nothing after '~': the right-hand side is missing"
        elif prev is not None and prev.type == "OR_OP":
            msg = f"'{prev.value}' needs a grouping factor on its right, as in (1 | g)"
        elif prev is not None and prev.type in _OPERATOR_TYPES:
            msg = f"the formula ends after '{prev.value}': a term is missing"
        else:
            msg = "the formula ends unexpectedly"
        return _syntax_error(text, msg, col)
    idx = next((i for i, t in enumerate(tokens) if t.start_pos == tok.start_pos), None)
    prev = tokens[idx - 1] if idx else None
    ptype = prev.type if prev is not None else None
    col = tok.start_pos
    if tok.type == "OR_OP" and (ptype is None or ptype in _OPERATOR_TYPES or ptype == "LPAR"):
        msg = f"'{tok.value}' needs a left-hand side, as in (1 | g)"
    elif tok.type == "RPAR" and ptype == "OR_OP":
        msg = f"'{prev.value}' needs a grouping factor on its right, as in (1 | g)"
    elif tok.type == "RPAR" and ptype == "LPAR":
        msg = "empty parentheses '()'"
    elif tok.type in ("RPAR", "COMMA") and ptype in _OPERATOR_TYPES:
        msg = f"'{prev.value}' needs something on its right"
    elif tok.type == "COMMA":
        msg = "',' outside a function call's arguments"
    elif tok.type == "EQUALS":
        msg = "'=' may only name a function argument, as in poly(x, 2, raw = TRUE)"
    elif tok.type == "TILDE" and ptype is None:
        msg = "unexpected '~'"
    elif tok.type in _OPERATOR_TYPES and (ptype is None or ptype in _OPERATOR_TYPES
                                          or ptype == "LPAR"):
        where = f"after '{prev.value}'" if prev is not None else "at the start"
        msg = f"unexpected '{tok.value}' {where}: '{tok.value}' needs something on its left"
    elif ptype in _OPERAND_END and tok.type in _OPERAND_END | {"LPAR"}:
        msg = f"unexpected {_describe(tok)} (an operator is missing before it?)"
    else:
        msg = f"unexpected {_describe(tok)}"
    return _syntax_error(text, msg, col)


def _parse_sides(text: str):
    """Text -> (response or None, right side), as written (no expansion)."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, not {type(text).__name__}")
    if not text.strip():
        raise _syntax_error(text, "empty formula", 0)
    try:
        return _parser().parse(text)
    except (UnexpectedInput, _ReservedWord) as e:
        error = e
    # The parse failed: find the first fault, with the most helpful message.
    tokens = _lex(text)  # a bad character is reported here
    _check_structure(text, tokens)  # unbalanced parentheses, missing or second '~'
    if isinstance(error, _ReservedWord):
        raise _syntax_error(text, f"unexpected reserved word '{error.token.value}'",
                            error.token.start_pos)
    if isinstance(error, UnexpectedToken):
        raise _unexpected_token(text, tokens, error)
    raise _syntax_error(text, "invalid formula",  # pragma: no cover - other Lark input errors
                        getattr(error, "pos_in_stream", 0) or 0)


def _reparse_rhs(text: str):
    return _parse_sides("~" + text)[1]


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class FormulaTree:
    """The parsed formula kept on :class:`Formula` (``_tree``): the response and the right
    side after ``expandDoubleVerts``, the bar-free right side, and the columns ``.`` stands
    for once :func:`expand_dot` has run."""

    response: object
    rhs: object
    fixed_rhs: object
    dot_columns: Optional[Tuple[str, ...]] = None

    def formula_node(self, rhs=None):
        rhs = self.rhs if rhs is None else rhs
        if self.response is None:
            return UnaryOp("~", rhs)
        return BinOp("~", self.response, rhs)


#: How deeply function calls may nest in a formula (``log(sqrt(abs(x)))`` nests 3). Operators
#: and parentheses may nest to any depth (every walk over a formula uses an explicit stack),
#: but evaluating a call recurses through its function's handler in Python (5 frames a
#: level). R's own parser allows 49 open brackets of any kind ("contextstack overflow").
MAX_CALL_NESTING = 50


def _check_call_nesting(*exprs):
    """Raise :class:`FormulaError` when function calls nest deeper than
    :data:`MAX_CALL_NESTING`, naming the outermost call of the too-deep chain."""
    for e in exprs:
        stack = [(e, 0, None)]          # (node, calls above and at it, outermost call)
        while stack:
            node, depth, outer = stack.pop()
            if isinstance(node, Call):
                depth += 1
                outer = outer or node
                if depth > MAX_CALL_NESTING:
                    text = deparse(outer)
                    if len(text) > 60:
                        text = text[:57] + "..."
                    raise FormulaError(
                        f"function calls nest more than {MAX_CALL_NESTING} deep in '{text}': "
                        f"lmerpy evaluates at most {MAX_CALL_NESTING} nested calls (compute "
                        "the variable in the data instead)")
            stack.extend((c, depth, outer) for c in expr_children(node))


def _tf_name(e):
    if isinstance(e, Constant) and e.text in ("T", "F") and not e.parens:
        return Name(e.text)
    return e


def _build(text: str) -> Formula:
    response, rhs = _parse_sides(text)
    _check_call_nesting(*(x for x in (response, rhs) if x is not None))
    if response is not None:
        if any_bars(response):
            raise FormulaError(f"the response '{deparse(response)}' contains a random-effects "
                               "bar '|'")
        response = _tf_name(response)
        if isinstance(response, (Number, Constant)):
            raise FormulaError(f"the response '{deparse(response)}' is a constant")
        if is_dot(response):
            raise FormulaError("'.' cannot be the response")
    check_bar_positions(rhs)
    rhs, doubles = expand_double_verts(rhs, _reparse_rhs)
    random = []
    for lhs, group, node_id, structure in find_bars(rhs):
        bar_text = f"{deparse_formula_expr(lhs)} | {deparse_formula_expr(group)}"
        if any(is_dot(x) for x in (lhs, group)):
            raise FormulaError(f"'.' is not allowed in the random-effects term '({bar_text})'")
        random.append(RandomTerm(lhs=lhs_terms(lhs, BinOp("|", lhs, group)),
                                 group=group_variables(group, bar_text),
                                 lhs_text=deparse_formula_expr(lhs),
                                 double_bar=node_id in doubles, group_expr=group,
                                 structure=structure.name, hom=structure.hom,
                                 special=structure.special))
    fixed_rhs = nobars_tree(rhs)
    if fixed_rhs is None:
        fixed_rhs = Number(1.0, "1")
    fixed = compute_terms(fixed_rhs, response=response)
    tree = FormulaTree(response, rhs, fixed_rhs)
    return Formula(text=text, response=response, fixed=fixed, random=tuple(random),
                   _deparsed=deparse_formula_expr(tree.formula_node()), _tree=tree)


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Formula:
    return _build(text)


# --------------------------------------------------------------------------- public API


def parse_formula(text: str) -> Formula:
    """Parse an R/lme4 model formula (R: ``as.formula``, then lme4's ``expandDoubleVerts``,
    ``findbars``, ``nobars`` and ``terms``).

    Parameters
    ----------
    text : str or Formula
        E.g. ``"Reaction ~ Days + (Days | Subject)"``; a Formula is returned unchanged.

    Returns
    -------
    Formula
        ``response``, ``fixed`` (R's ``terms(nobars(f))``), ``random`` (one
        :class:`RandomTerm` per bar after the ``||`` and ``/`` expansions, in lme4's
        ``findbars`` order, each with its covariance ``structure`` and ``hom`` from lme4
        2.x's ``us()``/``diag()``/``cs()``/``ar1()`` calls) and ``deparse()`` (what lme4
        prints after ``Formula:``).

    Raises
    ------
    FormulaSyntaxError
        The text does not parse; the message shows the formula with a caret at the fault.
    FormulaError
        It parses but means nothing (a bar inside a function call, ``offset(a, b)``, a
        covariance call that is not one bar with an optional ``hom = TRUE``/``FALSE``, ...),
        or function calls nest more than :data:`MAX_CALL_NESTING` (50) deep. Formulas of any
        length, and operators and parentheses nested to any depth, are fine.
    """
    if isinstance(text, Formula):
        return text
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, not {type(text).__name__}")
    return _parse_cached(text)


def findbars(formula) -> Tuple[RandomTerm, ...]:
    """The random-effects terms (R: ``lme4::findbars``, after ``expandDoubleVerts``):
    ``(1 | a/b)`` gives ``(1 | b:a)`` and ``(1 | a)``, in lme4's order."""
    return parse_formula(formula).random


def nobars(formula) -> Formula:
    """The formula without its random-effects terms (R: ``lme4::nobars``): ``y ~ x + (1 | g)``
    gives ``y ~ x``; ``y ~ (1 | g)`` gives ``y ~ 1``."""
    f = parse_formula(formula)
    tree = f._tree
    new_tree = FormulaTree(tree.response, tree.fixed_rhs, tree.fixed_rhs, tree.dot_columns)
    return replace(f, random=(), _tree=new_tree,
                   _deparsed=deparse_formula_expr(new_tree.formula_node()))


def _symbols(e, functions=False):
    """The symbols of ``e`` in order of appearance, repeats included: names and the constants
    ``T``, ``F``; with ``functions``, the names of the functions called too (R: ``all.names``
    without operators; without ``functions``, ``all.vars``)."""
    for x in walk_nodes(e):
        if isinstance(x, Name):
            yield x.name
        elif isinstance(x, Constant) and x.text in ("T", "F"):
            yield x.text
        elif functions and isinstance(x, Call):
            yield x.func


def _lhs_symbols(e) -> set:
    """Every symbol of the response, function names included (R's ``CheckRHS``)."""
    return set() if e is None else set(_symbols(e, functions=True))


def expand_dot(formula, columns: Iterable) -> Formula:
    """Replace ``.`` in the fixed part by the data's columns (R: ``terms(formula, data = d)``).

    ``.`` stands for every column except those named on the left of ``~``, in the data's
    order; the expansion happens in place, so ``y ~ z + .`` keeps ``z`` first and ``.^2`` forms
    all pairs. The printed formula keeps ``.``, as lme4 prints it.
    """
    f = parse_formula(formula)
    if not f.fixed.has_dot:
        return f
    cols: Iterable[str] = [str(c) for c in columns]
    seen = set()
    for c in cols:
        if c in seen:
            raise FormulaError(f"duplicated name '{c}' in data frame using '.'")
        seen.add(c)
    exclude = _lhs_symbols(f.response)
    cols = tuple(c for c in cols if c not in exclude)
    tree = f._tree
    fixed = compute_terms(tree.fixed_rhs, response=f.response, dot_columns=cols)
    fixed = replace(fixed, has_dot=False)
    return replace(f, fixed=fixed, _tree=replace(tree, dot_columns=cols))


def frame_variables(formula) -> Tuple:
    """The variables of lme4's model frame (R: ``attr(terms(subbars(f)), "variables")``)."""
    f = parse_formula(formula)
    tree = f._tree
    return extract_variables(tree.rhs, response=f.response, dot_columns=tree.dot_columns)


def all_vars(formula) -> Tuple[str, ...]:
    """R's ``all.vars(formula)``: the names read as columns, in order of appearance."""
    f = parse_formula(formula)
    return tuple(dict.fromkeys(_symbols(f._tree.formula_node())))
