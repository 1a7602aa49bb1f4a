"""R's model-term algebra: from a right-hand side to ordered terms (R's ``terms.formula``).

This is R's own algorithm (``termsform`` in R's ``src/library/stats/src/model.c``) over our
expression nodes, so every corner case comes out as R has it:

1. *Variables* (``ExtractVars``): the response first, then each distinct variable of the right
   side in order of first appearance. A variable is anything that is not a formula operator:
   a name, a call (``log(x)``, ``offset(t)``), a comparison. ``0``/``1`` are intercept markers.
2. *Terms* (``EncodeVars``): every term is a set of variables (a bit pattern); ``a + b``
   concatenates, ``a:b`` forms all products, ``a*b`` = ``a + b + a:b``, ``a/b`` = ``a + a:b``
   (the left side's variables joined to each right term), ``b %in% a`` joins all of the right
   side's variables to each left term, ``(..)^n`` forms products up to order n, ``-`` removes
   terms (and ``- 1`` the intercept, tracking R's "parity" for nested minuses). Duplicates are
   dropped keeping the first; ``x:x`` is ``x``.
3. Terms holding an ``offset()`` variable are dropped (the offsets are kept aside), and the
   rest are sorted by order (number of variables), stably.
4. A term's variables print in variable order, joined by ``:`` (the term label).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Generator, List, Optional, Sequence, Tuple

from ..errors import FormulaError
from .deparse import deparse
from .terms import COVARIANCE_CALLS, BinOp, Call, Constant, ModelTerms, Name, Number, Term, UnaryOp
from .walk import sum_operands, trampoline, walk_nodes

__all__ = ["FORMULA_OPS", "strip_parens", "is_dot", "as_variable", "compute_terms", "extract_variables",
           "power_exponent", "is_covariance_call"]

#: Binary operators that are formula operators at the top level of a right-hand side.
FORMULA_OPS = frozenset({"+", "-", "*", "/", ":", "^", "%in%"})


def strip_parens(e):
    """The node without the parentheses written around it (``(x)`` -> ``x``)."""
    return replace(e, parens=0) if getattr(e, "parens", 0) else e


def is_dot(e) -> bool:
    return isinstance(e, Name) and e.name == "."


def as_variable(e):
    """A term variable as R sees it: ``T``/``F`` at the formula level are names (columns may
    be called T), not the constants they are inside a call."""
    if isinstance(e, Constant) and e.text in ("T", "F") and not e.parens:
        return Name(e.text)
    return e


def _is_zero_one(e) -> Optional[int]:
    if isinstance(e, Number) and not e.parens and e.value in (0.0, 1.0):
        return int(e.value)
    return None


def power_exponent(e: BinOp) -> int:
    """R's exponent of ``(..)^n`` in a formula: a number, truncated to an integer, >= 2."""
    right = e.right
    if not isinstance(right, Number) or right.parens:
        raise FormulaError(f"invalid power in formula: the exponent of '{deparse(e)}' must be "
                           "a number (R: 'invalid power in formula')")
    ip = int(right.value) if abs(right.value) < 2 ** 31 else None
    if ip is None or ip <= 1:
        raise FormulaError(f"invalid power in formula: '{deparse(e)}' (the exponent must be an "
                           "integer >= 2)")
    return ip


class _Encoder:
    """State of one ``termsform`` run: the variable list, the intercept flag and the parity."""

    def __init__(self, response=None, dot_columns: Optional[Sequence[str]] = None):
        self.variables: List = []
        self.index: dict = {}
        self.intercept = True
        self.parity = True
        self.has_dot = False
        self.dot_columns = list(dot_columns) if dot_columns is not None else None
        if response is not None:
            self.install(response)

    def install(self, e) -> int:
        e = as_variable(strip_parens(e))
        i = self.index.get(e)
        if i is None:
            i = self.index[e] = len(self.variables)
            self.variables.append(e)
        return i

    # -- step 1: ExtractVars (an explicit stack: a formula may be thousands of terms deep) --
    def extract(self, e):
        stack = [e]
        while stack:
            e = stack.pop()
            if _is_zero_one(e) is not None:
                continue
            if isinstance(e, Name) and not e.parens and e.name == ".":
                self.has_dot = True
                if self.dot_columns is None:
                    self.install(e)
                else:
                    for c in self.dot_columns:
                        self.install(Name(c))
                continue
            core = strip_parens(e)
            if getattr(e, "parens", 0):
                stack.append(core)
                continue
            if isinstance(core, BinOp) and core.op in FORMULA_OPS:
                if core.op == "^":
                    power_exponent(core)
                    stack.append(core.left)
                else:
                    stack.append(core.right)
                    stack.append(core.left)
                continue
            if isinstance(core, UnaryOp) and core.op in "+-":
                stack.append(core.operand)
                continue
            if isinstance(core, (Number, Constant)) and as_variable(core) is core:
                raise FormulaError(
                    f"invalid model formula: '{deparse(core)}' is not a variable (a formula can "
                    "hold variables and the intercept markers 0 and 1)")
            self.install(core)

    # -- step 2: EncodeVars ---------------------------------------------------------------
    def encode(self, e) -> List[int]:
        """The terms of ``e`` as bit patterns of variables (R's ``EncodeVars``)."""
        return trampoline(self._encode(e))

    # Written as generators run by walk.trampoline: ``yield self._encode(x)`` is the recursive
    # call. A chain ``a + b + c + ...`` is encoded operand by operand and trimmed once (the same
    # terms, in the same order, as trimming after each ``+``), in linear time.
    def _encode(self, e):
        z = _is_zero_one(e)
        if z is not None:
            self.intercept = self.parity if z == 1 else not self.parity
            return []
        if getattr(e, "parens", 0):
            return (yield self._encode(strip_parens(e)))
        if isinstance(e, Name) and e.name == "." and self.dot_columns is not None:
            return [1 << self.install(Name(c)) for c in self.dot_columns]
        if isinstance(e, UnaryOp) and e.op == "+":
            return (yield self._encode(e.operand))
        if isinstance(e, UnaryOp) and e.op == "-":
            return (yield self._delete(None, e.operand))
        if isinstance(e, BinOp) and e.op in FORMULA_OPS:
            op = e.op
            if op == "+":
                terms: List[int] = []
                for operand in sum_operands(e):
                    terms.extend((yield self._encode(operand)))
                return _trim(terms)
            if op == ":":
                left = yield self._encode(e.left)
                right = yield self._encode(e.right)
                return _trim([l | r for l in left for r in right])
            if op == "*":
                left = yield self._encode(e.left)
                right = yield self._encode(e.right)
                return _trim(left + right + [l | r for l in left for r in right])
            if op == "%in%":
                left = yield self._encode(e.left)
                right = yield self._encode(e.right)
                allr = 0
                for r in right:
                    allr |= r
                return _trim([l | allr for l in left])
            if op == "/":
                left = yield self._encode(e.left)
                right = yield self._encode(e.right)
                alll = 0
                for l in left:
                    alll |= l
                return _trim(left + [alll | r for r in right])
            if op == "^":
                ip = power_exponent(e)
                left = yield self._encode(e.left)
                right = left
                for _ in range(1, ip):
                    right = _trim([l | r for l in left for r in right])
                return right
            if op == "-":
                return (yield self._delete(e.left, e.right))
        return [1 << self.install(e)]

    def _delete(self, left, right) -> Generator[Any, Any, List[int]]:
        left_terms = (yield self._encode(left)) if left is not None else []
        self.parity = not self.parity
        right_terms = yield self._encode(right)
        self.parity = not self.parity
        removed = set(right_terms)
        if 0 in removed:
            self.intercept = False
        return [x for x in left_terms if x not in removed]


def _trim(terms: List[int]) -> List[int]:
    """R's ``TrimRepeats``: drop empty terms and repeats, keeping first occurrences."""
    seen, out = set(), []
    for t in terms:
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _popcount(b: int) -> int:
    return bin(b).count("1")


def _bit_indices(b: int) -> List[int]:
    """The positions of the bits set in ``b``, lowest first."""
    out = []
    while b:
        low = b & -b
        out.append(low.bit_length() - 1)
        b ^= low
    return out


def _is_offset(e) -> bool:
    return isinstance(e, Call) and e.func == "offset"


def check_offset(e):
    if len(e.args) != 1 or e.kwargs:
        raise FormulaError(f"offset() takes exactly one argument, in '{deparse(e)}'")


def compute_terms(rhs, response=None, dot_columns: Optional[Sequence[str]] = None,
                  allow_offset: bool = True, where: str = "") -> ModelTerms:
    """R's ``terms()`` of a right-hand side (bars already removed).

    Parameters
    ----------
    rhs : Expr or None
        The right side; None stands for ``~ 1``.
    response : Expr, optional
        The response; it is variable 1 (it orders the factors of a term that contains it).
    dot_columns : sequence of str, optional
        The columns ``.`` stands for (R's ``terms(formula, data = d)``); without them ``.``
        stays a variable named ``.`` and ``has_dot`` is set.
    """
    enc = _Encoder(response, dot_columns)
    if rhs is None:
        rhs = Number(1.0, "1")
    enc.extract(rhs)
    bits = enc.encode(rhs)
    n0 = 1 if response is not None else 0
    offset_idx = [i for i, v in enumerate(enc.variables) if i >= n0 and _is_offset(v)]
    for i in offset_idx:
        v = enc.variables[i]
        if not allow_offset:
            raise FormulaError(f"'{deparse(v)}' is not allowed {where}")
        check_offset(v)
    offset_mask = 0
    for i in offset_idx:
        offset_mask |= 1 << i
    bits = [b for b in bits if not b & offset_mask]
    bits.sort(key=_popcount)  # stable: keeps appearance order within order
    terms = tuple(Term(tuple(enc.variables[i] for i in _bit_indices(b))) for b in bits)
    variables = tuple(v for i, v in enumerate(enc.variables) if i >= n0 and i not in offset_idx)
    offsets = tuple(enc.variables[i].args[0] for i in offset_idx)
    return ModelTerms(terms=terms, intercept=enc.intercept, offsets=offsets,
                      variables=variables, has_dot=enc.has_dot)


def is_covariance_call(e) -> bool:
    """A call ``us()``, ``diag()``, ``cs()`` or ``ar1()`` holding a bar (lme4 2.x's specials),
    with or without parentheses around it; ``cs(x)`` without a bar is an ordinary call."""
    return (isinstance(e, Call) and e.func in COVARIANCE_CALLS
            and any(isinstance(x, BinOp) and x.op in ("|", "||") for x in walk_nodes(e)))


def extract_variables(e, response=None, dot_columns: Optional[Sequence[str]] = None) -> Tuple:
    """R's ``attr(terms(~ e), "variables")``: the distinct variables of ``e`` in order (the
    response first when given); bars count as ``+`` (lme4's ``subbars``) and a covariance call
    as its bar (lme4's ``noSpecials``: ``hom = TRUE`` is no variable)."""
    enc = _Encoder(response, dot_columns)

    def walk(x):
        stack = [x]
        while stack:
            x = stack.pop()
            if isinstance(x, BinOp) and x.op in ("|", "||"):
                stack.append(x.right)
                stack.append(x.left)
            elif is_covariance_call(x):   # cs(x | g, hom = TRUE): its bar (lme4's noSpecials)
                stack.append(x.args[0])
            elif getattr(x, "parens", 0):
                stack.append(strip_parens(x))
            elif isinstance(x, BinOp) and x.op in FORMULA_OPS:
                if x.op != "^":
                    stack.append(x.right)
                stack.append(x.left)
            elif isinstance(x, UnaryOp) and x.op in "+-":
                stack.append(x.operand)
            elif is_dot(x) and enc.dot_columns is not None:
                for c in enc.dot_columns:
                    enc.install(Name(c))
            elif _is_zero_one(x) is not None or (isinstance(x, (Number, Constant))
                                                  and as_variable(x) is x):
                continue
            else:
                enc.install(x)

    if e is not None:
        walk(e)
    return tuple(enc.variables)
