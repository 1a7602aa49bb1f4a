"""R's ``deparse()`` of formula expressions, character for character.

Term labels, model-matrix column stems (``I(time^2)``, ``log(x + 1)``, ``poly(x, 2)``) and the
``Formula:`` line of lme4's summary all come from R's deparser, so this module follows R 4.2's
``deparse.c``: the same operator table (precedence, spacing, associativity), the same rule for
adding parentheses (``needsparens``), the same number formatting (15 significant digits, fixed or
scientific notation by width) and the same line breaking (after a spaced binary operator or an
argument comma once the line is longer than ``width.cutoff``, continuation lines indented by 4).

Two flavours, as in R:

* :func:`deparse` -- what ``terms()`` uses for term labels (``deparse1line``, R's "simple"
  options): integer literals lose their ``L`` (``poly(x, 2L)`` is labelled ``poly(x, 2)``).
* :func:`deparse_formula_expr` / :func:`deparse_lines` -- plain ``deparse()`` (R's default
  options, ``keepInteger``): what lme4 prints after ``Formula:``.
"""
from __future__ import annotations

import functools
import math
from typing import List

from .terms import BinOp, Call, Constant, Name, Number, UnaryOp
from .walk import trampoline

__all__ = ["deparse", "deparse_formula_expr", "deparse_lines", "deparse_group_label",
           "format_number", "quote_name", "is_syntactic_name", "RESERVED_WORDS", "BINARY_OPS"]

# R's precedence levels (src/include/Defn.h, PREC_*)
PREC_TILDE, PREC_OR, PREC_AND, PREC_NOT, PREC_COMPARE = 4, 5, 6, 7, 8
PREC_SUM, PREC_PROD, PREC_PERCENT, PREC_COLON, PREC_SIGN, PREC_POWER = 9, 10, 11, 12, 13, 14

#: op -> (spaced, precedence, right associative). Spaced operators (R's PP_BINARY) print as
#: ``a + b`` and allow a line break after them; the others (PP_BINARY2) print as ``a/b``.
BINARY_OPS = {
    "~": (True, PREC_TILDE, False),
    "|": (True, PREC_OR, False), "||": (True, PREC_OR, False),
    "&": (True, PREC_AND, False), "&&": (True, PREC_AND, False),
    "==": (True, PREC_COMPARE, False), "!=": (True, PREC_COMPARE, False),
    "<": (True, PREC_COMPARE, False), ">": (True, PREC_COMPARE, False),
    "<=": (True, PREC_COMPARE, False), ">=": (True, PREC_COMPARE, False),
    "+": (True, PREC_SUM, False), "-": (True, PREC_SUM, False),
    "*": (True, PREC_PROD, False), "/": (False, PREC_PROD, False),
    "%%": (False, PREC_PERCENT, False), "%/%": (False, PREC_PERCENT, False),
    ":": (False, PREC_COLON, False), "^": (False, PREC_POWER, True),
}
_UNARY_PREC = {"-": PREC_SIGN, "+": PREC_SIGN, "!": PREC_NOT, "~": PREC_TILDE}

RESERVED_WORDS = frozenset({
    "if", "else", "repeat", "while", "function", "for", "next", "break", "in", "TRUE", "FALSE",
    "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_"})

MAX_CUTOFF = 10 ** 9


def _binop_info(op):
    """(spaced, precedence, rightassoc) of a binary operator; other ``%op%`` are spaced."""
    info = BINARY_OPS.get(op)
    if info is None:  # user %op% such as %in%: R's isUserBinop
        return (True, PREC_PERCENT, False)
    return info


def is_syntactic_name(name: str) -> bool:
    """R's ``isValidName``: may the name be written without backquotes?"""
    if not name or name in RESERVED_WORDS:
        return False
    if name == "...":
        return True
    first = name[0]
    if first == ".":
        if len(name) > 1 and name[1].isdigit():
            return False
    elif not first.isalpha():
        return False
    return all(c.isalnum() or c in "._" for c in name[1:])


def quote_name(name: str) -> str:
    """A name as R deparses it in a call: backquoted when not syntactic (`` `my var` ``)."""
    if is_syntactic_name(name):
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _quote_func(func: str) -> str:
    if "::" in func:  # pkg::f / pkg:::f
        sep = ":::" if ":::" in func else "::"
        pkg, _, fn = func.partition(sep)
        return quote_name(pkg) + sep + quote_name(fn)
    return quote_name(func)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\a": "\\a",
            "\b": "\\b", "\f": "\\f", "\v": "\\v", "\0": "\\0"}


def quote_string(value: str) -> str:
    """A string literal as R deparses it: double quotes, C-style escapes."""
    out = []
    for c in value:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif not c.isprintable():
            out.append("\\u{%04x}" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def format_number(value: float, integer: bool = False, keep_integer: bool = True) -> str:
    """R's formatting of a numeric constant in ``deparse`` (``formatReal`` with 15 significant
    digits; fixed notation unless scientific is strictly narrower): ``2``, ``0.5``, ``1e+05``,
    ``123456``, ``1e-04``, ``0.00012``; integer literals keep their ``L`` when ``keep_integer``."""
    if integer:
        text = str(int(value))
        return text + "L" if keep_integer else text
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    neg = 1 if value < 0 else 0
    mant, _, exp = ("%.14e" % abs(value)).partition("e")
    e = int(exp)
    digits = mant.replace(".", "").rstrip("0")
    nsig = max(1, len(digits))
    left = e + 1 if e >= 0 else 1
    rgt = max(0, nsig - e - 1)
    width_fixed = neg + left + (rgt + 1 if rgt > 0 else 0)
    width_sci = neg + (nsig + 1 if nsig > 1 else 1) + (4 if abs(e) < 100 else 5)
    if width_fixed <= width_sci:
        return "%.*f" % (rgt, value)
    return "%.*e" % (nsig - 1, value)


def _needsparens(main_prec: int, main_rightassoc: bool, arg, left: bool) -> bool:
    """R's ``needsparens``: does ``arg`` need parentheses as an operand of the main operator?
    Explicit parentheses (``arg.parens``) are printed by the argument itself."""
    if getattr(arg, "parens", 0):
        return False
    if isinstance(arg, BinOp):
        _, prec, _ = _binop_info(arg.op)
    elif isinstance(arg, UnaryOp):
        prec = _UNARY_PREC[arg.op]
        if not left:  # a unary operand on the right is never parenthesised: a^-b, a == !b
            return False
    else:
        return False
    if main_prec == PREC_COMPARE and prec == PREC_COMPARE:
        return True
    return main_prec > prec or (main_prec == prec and left == main_rightassoc)


class _Deparser:
    """R's deparse buffer: accumulates text, breaks lines as ``deparse.c`` does."""

    def __init__(self, cutoff: int, keep_integer: bool):
        self.cutoff = cutoff
        self.keep_integer = keep_integer
        self.lines: List[str] = []
        self.buf: List[str] = []
        self.len = 0
        self.indent = 0
        self.startline = True

    # -- buffer primitives (print2buff, printtab2buff, writeline, linebreak)
    def put(self, text: str):
        if self.startline:
            self.startline = False
            for i in range(1, self.indent + 1):
                self._raw("    " if i <= 4 else "  ")
        self._raw(text)

    def _raw(self, text: str):
        self.buf.append(text)
        self.len += len(text.encode("utf-8"))  # R counts bytes

    def writeline(self):
        self.lines.append("".join(self.buf))
        self.buf = []
        self.len = 0
        self.startline = True

    def linebreak(self, lbreak: bool) -> bool:
        if self.len > self.cutoff:
            if not lbreak:
                lbreak = True
                self.indent += 1
            self.writeline()
        return lbreak

    def finish(self) -> List[str]:
        if self.buf or not self.lines:
            self.writeline()
        return self.lines

    # -- the tree walk (deparse2buff), as generators run by walk.trampoline: a formula can be
    # a chain of thousands of operators, deeper than Python's recursion limit
    def run(self, e) -> List[str]:
        trampoline(self.node(e))
        return self.finish()

    def node(self, e):
        parens = getattr(e, "parens", 0)
        for _ in range(parens):
            self.put("(")
        yield self._node(e)
        for _ in range(parens):
            self.put(")")

    def _operand(self, main_prec, main_rightassoc, arg, left):
        paren = _needsparens(main_prec, main_rightassoc, arg, left)
        if paren:
            self.put("(")
        yield self.node(arg)
        if paren:
            self.put(")")

    def _node(self, e):
        if isinstance(e, Name):
            self.put(quote_name(e.name))
        elif isinstance(e, Number):
            self.put(_number_text(e, self.keep_integer))
        elif isinstance(e, Constant):
            self.put(e.text)
        elif isinstance(e, Call):
            self.put(_quote_func(e.func))
            self.put("(")
            yield self._args(e)
            self.put(")")
        elif isinstance(e, BinOp):
            spaced, prec, rassoc = _binop_info(e.op)
            yield self._operand(prec, rassoc, e.left, True)
            if spaced:
                self.put(" ")
                self.put(e.op)
                self.put(" ")
                lookahead = self.linebreak(False)
                yield self._operand(prec, rassoc, e.right, False)
                if lookahead:
                    self.indent -= 1
            else:
                self.put(e.op)
                yield self._operand(prec, rassoc, e.right, False)
        elif isinstance(e, UnaryOp):
            self.put(e.op)
            yield self._operand(_UNARY_PREC[e.op], False, e.operand, False)
        else:
            raise TypeError(f"cannot deparse {type(e).__name__}")

    def _args(self, call: Call):
        items = _ordered_args(call)
        lbreak = False
        for i, (key, value) in enumerate(items):
            if key is not None:
                self.put(quote_name(key))
                self.put(" = ")
            yield self.node(value)
            if i < len(items) - 1:
                self.put(", ")
                lbreak = self.linebreak(lbreak)
        if lbreak:
            self.indent -= 1


def _ordered_args(call: Call):
    """The call's arguments in written order, as (keyword or None, value)."""
    items: list = [(None, a) for a in call.args]
    if not call.kwarg_positions:
        return items + list(call.kwargs)
    for pos, kw in sorted(zip(call.kwarg_positions, call.kwargs)):
        items.insert(pos, kw)
    return items


def _number_text(e: Number, keep_integer: bool) -> str:
    integer = e.text.endswith("L")
    if integer and keep_integer:
        return e.text
    return format_number(e.value, integer=integer, keep_integer=keep_integer)


def _remembered(fn):
    """Remember a deparse of an expression node: nodes are immutable and hashable, and a fit
    deparses the same few many times (term labels, variable and group names). Unhashable
    input is deparsed every time."""
    cached = functools.lru_cache(maxsize=4096)(fn)

    @functools.wraps(fn)
    def wrapper(expr):
        try:
            hash(expr)
        except TypeError:
            return fn(expr)
        return cached(expr)
    wrapper.cache_clear = cached.cache_clear
    return wrapper


@_remembered
def deparse(expr) -> str:
    """R's one-line deparse of an expression as ``terms()`` labels it (backquoted names, no
    ``L`` on integers): ``I(time^2)``, ``log(x + 1)``, ``poly(x, 2, raw = TRUE)``."""
    return "".join(_Deparser(MAX_CUTOFF, keep_integer=False).run(expr))


@_remembered
def deparse_formula_expr(expr) -> str:
    """R's ``deparse()`` (default options) of an expression on one line."""
    return "".join(_Deparser(MAX_CUTOFF, keep_integer=True).run(expr))


def deparse_lines(expr, width_cutoff: int = 60) -> List[str]:
    """R's ``deparse(expr, width.cutoff)``: the lines R would return."""
    return _Deparser(width_cutoff, keep_integer=True).run(expr)


def deparse_group_label(expr) -> str:
    """lme4's name of a grouping factor, ``deparse(bar[[3]])``: a lone symbol is printed as is
    (R backquotes only inside calls), anything else as R deparses a call."""
    if isinstance(expr, Name) and not expr.parens:
        return expr.name
    return deparse_formula_expr(expr)
