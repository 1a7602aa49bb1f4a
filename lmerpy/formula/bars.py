"""lme4's random-effects bars: where they may stand, ``||``, ``/`` nesting, ``findbars``/``nobars``.

Follows lme4 1.1-31 (``expandDoubleVerts``, ``findbars`` with ``expandSlash`` and
``makeInteraction``, ``nobars_``) over our expression nodes:

* ``(x || g)`` becomes one bar per term label of the left side: ``(1 | g) + (0 + x | g)``; a
  factor stays one correlated block; ``(0 + x || g)`` is ``(0 + x | g)``.
* ``(x | a/b)`` becomes ``(x | b:a)`` and ``(x | a)`` -- in that order, as lme4 returns them;
  ``a/b/c`` gives ``c:(b:a)``, ``b:a``, ``a`` (lme4's grouping-factor names).
* ``nobars`` drops every bar from the right side, with lme4's exact rules (so
  ``y ~ (1 | g) - 1`` keeps its intercept, as in lme4).

lmerpy is stricter than lme4 in one way: a bar may only stand where it means something -- at
the top of the right side, in a chain of ``+`` (or the left of a ``-``), in parentheses. lme4
silently accepts ``x * (1 | g)`` or ``log(1 | g)``; here they are a :class:`FormulaError`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, List, Optional, Set, Tuple

from ..errors import FormulaError
from .algebra import FORMULA_OPS, compute_terms, is_dot, strip_parens
from .deparse import deparse, deparse_formula_expr
from .terms import BinOp, Call, Constant, Name, Number, UnaryOp
from .walk import expr_children, trampoline, walk_nodes

__all__ = ["is_bar", "any_bars", "check_bar_positions", "expand_double_verts", "find_bars",
           "nobars_tree", "group_variables", "lhs_terms"]

BAR_OPS = ("|", "||")


def is_bar(e) -> bool:
    """A bar, with or without parentheses around it."""
    return isinstance(e, BinOp) and e.op in BAR_OPS


def any_bars(e) -> bool:
    """Does the expression hold a bar anywhere?"""
    return any(is_bar(x) for x in walk_nodes(e))


def _bar_holders(root) -> Set[int]:
    """The ``id`` of every node of ``root`` that holds a bar (itself or below)."""
    holders: Set[int] = set()
    for node in reversed(list(walk_nodes(root))):  # children before parents
        if is_bar(node) or any(id(c) in holders for c in expr_children(node)):
            holders.add(id(node))
    return holders


def _context(where) -> str:
    """The words for where a misplaced bar stands (built only when there is an error)."""
    kind, e = where
    if kind == "removal":
        return f"the removal '- {deparse(e.right)}'"
    if kind == "operator":
        return f"'{deparse(strip_parens(e))}' (operator '{e.op}')"
    if kind == "unary":
        return f"'{e.op}' (a unary operator)"
    return f"the call '{e.func}()'"


def check_bar_positions(rhs):
    """Raise :class:`FormulaError` for a bar anywhere but in a ``+`` chain (or parentheses, or
    the left of ``-``) of the right side, and for a bar inside a bar."""
    stack = [(rhs, None)]      # (node, where it stands: None at the top, else (kind, node))
    while stack:
        e, where = stack.pop()
        if is_bar(e):
            if where is not None:
                raise FormulaError(
                    f"random-effects term '({deparse(strip_parens(e))})' inside "
                    f"{_context(where)}: bars must stand at the top level of the formula, "
                    "joined by '+', e.g. y ~ x + (1 | g)")
            for side in (e.left, e.right):
                inner = next((x for x in walk_nodes(side) if is_bar(x)), None)
                if inner is not None:
                    raise FormulaError(
                        f"nested bars: '{deparse(strip_parens(inner))}' inside the random-effects "
                        f"term '({deparse(strip_parens(e))})'")
            continue
        if isinstance(e, BinOp):
            if e.op == "+":
                stack.append((e.right, where))
            elif e.op == "-":
                stack.append((e.right, where or ("removal", e)))
            else:
                where = where or ("operator", e)
                stack.append((e.right, where))
            stack.append((e.left, where))
        elif isinstance(e, UnaryOp):
            stack.append((e.operand, where if e.op == "+" else (where or ("unary", e))))
        elif isinstance(e, Call):
            ctx = where or ("call", e)
            stack.extend((c, ctx) for c in reversed(expr_children(e)))


def lhs_terms(lhs, bar):
    """R's ``terms(~ lhs)`` of a bar's left side (no ``.``, no ``offset()``)."""
    if any(is_dot(x) for x in walk_nodes(lhs)):
        raise FormulaError(f"'.' is not allowed in the random-effects term '({deparse(bar)})'")
    return compute_terms(lhs, allow_offset=False,
                         where=f"in the random-effects term '({deparse(bar)})'")


def expand_double_verts(rhs, reparse: Callable[[str], Any]) -> Tuple[Any, Set[int]]:
    """lme4's ``expandDoubleVerts``: every ``(lhs || g)`` becomes a sum of single bars, one per
    term label of ``lhs`` (``1`` first when ``lhs`` has an intercept), each ``0 + label | g``.

    Returns the new right side and the ``id``s of the bar nodes made from ``||`` (their
    :class:`RandomTerm` gets ``double_bar=True``). ``reparse`` parses a right side from text:
    lme4 builds the new bars by pasting term labels, so do we.
    """
    generated: Set[int] = set()

    def expand(e):
        if is_bar(e) and e.op == "||":
            core = strip_parens(e)
            terms = lhs_terms(core.left, core)
            pieces = (["1"] if terms.intercept else []) + ["0+" + lab for lab in terms.labels]
            if not pieces:
                raise FormulaError(f"the random-effects term '({deparse(core)})' has no terms")
            group = deparse_formula_expr(core.right)
            new = reparse("(" + ")+(".join(f"{p}|{group}" for p in pieces) + ")")
            new = replace(new, parens=new.parens + e.parens)
            generated.update(id(x) for x in walk_nodes(new) if is_bar(x))
            return new
        if isinstance(e, BinOp) and e.op == "+":
            left = yield expand(e.left)
            right = yield expand(e.right)
            return e if left is e.left and right is e.right else replace(e, left=left, right=right)
        if isinstance(e, BinOp) and e.op == "-":
            left = yield expand(e.left)
            return e if left is e.left else replace(e, left=left)
        if isinstance(e, UnaryOp) and e.op == "+":
            operand = yield expand(e.operand)
            return e if operand is e.operand else replace(e, operand=operand)
        return e

    return trampoline(expand(rhs)), generated


def _has_slash(e) -> bool:
    return any(isinstance(x, BinOp) and x.op == "/" for x in walk_nodes(e))


def _slash_terms(e):
    """lme4's ``expandSlash`` nesting of ``a/b/c`` as nested lists ``[[a, b], c]``."""
    def slash(e):
        if not _has_slash(e):
            return e
        if not (isinstance(e, BinOp) and e.op == "/" and not e.parens):
            raise FormulaError(f"unparseable formula for grouping factor: '{deparse(e)}'")
        left = yield slash(e.left)
        right = yield slash(e.right)
        return [left, right]

    return trampoline(slash(e))


def _make_interaction(x):
    def make(x):
        if not isinstance(x, list):
            if not (isinstance(x, Name) and not x.parens):
                raise FormulaError(
                    f"unparseable formula for grouping factor: the outermost level of a nested "
                    f"grouping 'a/b' must be a variable name, not '{deparse(x)}' (write the "
                    "interaction out: (1 | a:b) + (1 | c:a:b))")
            return x
        trm1 = yield make(x[0])
        trm11 = trm1[0] if isinstance(trm1, list) else trm1
        return [BinOp(":", x[1], trm11), trm1]

    return trampoline(make(x))


def _flatten(x) -> List:
    out, stack = [], [x]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def find_bars(rhs) -> List[Tuple[Any, Any, int]]:
    """lme4's ``findbars`` (on a right side already through :func:`expand_double_verts`):
    ``(lhs, group_expr, id_of_bar_node)`` per bar, ``/`` nesting expanded as lme4 does."""

    bars, stack = [], [rhs]
    while stack:
        e = stack.pop()
        if is_bar(e):
            bars.append(e)
        else:
            stack.extend(reversed(expr_children(e)))
    result = []
    for node in bars:
        bar = strip_parens(node)
        trms = _slash_terms(bar.right)
        if isinstance(trms, list):
            for g in _flatten(_make_interaction(trms)):
                result.append((bar.left, g, id(node)))
        else:
            result.append((bar.left, bar.right, id(node)))
    return result


def nobars_tree(e):
    """lme4's ``nobars_``: the right side without its bars, or None if nothing is left."""
    holders = _bar_holders(e)

    def has_bars(x):  # x is a node of e, or a copy of one with other parentheses
        return is_bar(x) or any(id(c) in holders for c in expr_children(x))

    def nb(e):
        if not has_bars(e):
            return e
        if is_bar(e) and not e.parens:
            return None
        if e.parens:
            inner = replace(e, parens=e.parens - 1)
            if is_bar(inner) and not inner.parens:
                return None
            out = yield nb(inner)
            return None if out is None else replace(out, parens=out.parens + 1)
        if isinstance(e, UnaryOp):
            out = yield nb(e.operand)
            return None if out is None else replace(e, operand=out)
        if isinstance(e, BinOp):
            nb2 = yield nb(e.left)
            nb3 = yield nb(e.right)
            if nb2 is None:
                return nb3
            if nb3 is None:
                return nb2
            return replace(e, left=nb2, right=nb3)
        return e

    return trampoline(nb(e))


def group_variables(group, bar_text: str) -> Tuple:
    """The variables of a grouping expression: ``b:a`` -> ``(b, a)``; parentheses dropped.
    Only variables (names, calls) and their ``:`` interactions make a grouping factor."""
    out, stack = [], [group]
    while stack:
        g = stack.pop()
        core = strip_parens(g)
        if isinstance(core, BinOp) and core.op == ":":
            stack.append(core.right)
            stack.append(core.left)
            continue
        if isinstance(core, Constant) and core.text in ("T", "F"):
            out.append(Name(core.text))
            continue
        bad = (isinstance(core, (Number, Constant)) or is_dot(core)
               or (isinstance(core, BinOp) and core.op in FORMULA_OPS)
               or (isinstance(core, UnaryOp) and core.op in "+-"))
        if bad:
            raise FormulaError(
                f"invalid grouping factor '{deparse(g)}' in the random-effects term "
                f"'({bar_text})': use a variable, an interaction a:b, or nesting a/b")
        out.append(core)
    return tuple(out)
