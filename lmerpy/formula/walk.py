"""Walking expression trees without Python recursion.

A formula written by code can be a chain of thousands of terms, ``y ~ x1 + x2 + ... + x5000``,
which parses into a left-deep tree as deep as it is long; R fits such formulas. Python's
recursion limit (1000 frames by default) would stop a recursive walk long before, so every walk
over a formula tree uses an explicit stack: :func:`walk_nodes` for a plain visit, and
:func:`trampoline` for the algorithms that are naturally recursive (R's ``termsform``,
``deparse``, lme4's ``nobars``): they are written as generators that ``yield`` the generator of
each sub-problem and receive its result, and :func:`trampoline` runs them on a stack.
"""
from __future__ import annotations

from typing import Generator, Iterator

from .terms import BinOp, expr_children

__all__ = ["walk_nodes", "trampoline", "sum_operands", "expr_children"]


def walk_nodes(e) -> Iterator:
    """Every node of the expression ``e``, ``e`` first, depth-first in written order (a
    call's positional arguments, then its keyword arguments' values)."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        kids = expr_children(node)
        if kids:
            stack.extend(reversed(kids))


def trampoline(gen: Generator):
    """Run a recursive computation written as generators, on an explicit stack.

    Where a recursive function would call itself, its generator version yields the generator
    of the sub-problem and receives its value: ``left = yield self.encode(e.left)``. What a
    generator returns is its value. Exceptions propagate as they would through recursion.
    """
    stack = [gen]
    value = None
    while stack:
        try:
            sub = stack[-1].send(value)
        except StopIteration as stop:
            stack.pop()
            value = stop.value
        else:
            stack.append(sub)
            value = None
    return value


def sum_operands(e, op: str = "+") -> list:
    """The operands of a chain of one binary operator, in written order: ``a + b + c`` ->
    ``[a, b, c]``. Parentheses around inner links are looked through (``(a + b) + c`` too);
    ``e`` itself is the only operand when it is not such an operator."""
    out, stack = [], [e]
    while stack:
        node = stack.pop()
        if isinstance(node, BinOp) and node.op == op:
            stack.append(node.right)
            stack.append(node.left)
        else:
            out.append(node)
    return out
