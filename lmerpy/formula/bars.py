"""lme4's random-effects bars: where they may stand, ``||``, ``/`` nesting, ``findbars``/``nobars``.

Follows lme4 1.1-31 (``expandDoubleVerts``, ``findbars`` with ``expandSlash`` and
``makeInteraction``, ``nobars_``) over our expression nodes:

* ``(x || g)`` becomes one bar per term label of the left side: ``(1 | g) + (0 + x | g)``; a
  factor stays one correlated block; ``(0 + x || g)`` is ``(0 + x | g)``.
* ``(x | a/b)`` becomes ``(x | b:a)`` and ``(x | a)`` -- in that order, as lme4 returns them;
  ``a/b/c`` gives ``c:(b:a)``, ``b:a``, ``a`` (lme4's grouping-factor names).
* ``nobars`` drops every bar from the right side, with lme4's exact rules (so
  ``y ~ (1 | g) - 1`` keeps its intercept, as in lme4).

lme4 2.x's covariance calls ("specials", reformulas' ``findbars_x``) wrap a bar:
``us(x | g)``, ``diag(x | g)``, ``cs(x | g)``, ``ar1(0 + f | g)``, each with an optional
``hom = TRUE``/``FALSE``. The call stands where a bar may stand; its terms carry the structure
(nesting ``cs(x | a/b)`` gives two ``cs`` terms, as in lme4) and the fixed part drops it
(``noSpecials`` then ``nobars``).

lmerpy is stricter than lme4 where lme4 would silently fit something else than was written:

* a bar may only stand where it means something -- at the top of the right side, in a chain of
  ``+`` (or the left of a ``-``), in parentheses. lme4 silently accepts ``x * (1 | g)`` or
  ``log(1 | g)``; here they are a :class:`FormulaError`.
* a covariance call takes one bar and ``hom`` only: lme4 ignores other arguments
  (``cs(x | g, TRUE)``, ``cs(x | g, foo = 1)``) and reads ``cs((x | g))`` as an unstructured
  term; here they are errors.
* ``||`` inside ``diag()``, ``cs()``, ``ar1()`` (or with ``hom``): lme4 splits the bar before
  reading the call, so the structure is lost (``cs(x || g)`` fits two independent ``us``
  terms; ``diag(f || g)`` with a factor ``f`` an unstructured one). Here that is an error;
  ``us(x || g)``, whose split is what it says, is lme4's split.
* ``hom = T``/``F`` is taken for ``TRUE``/``FALSE`` (lme4 2.1 does not evaluate the symbol
  and stops).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, List, Optional, Set, Tuple

from ..errors import FormulaError
from .algebra import FORMULA_OPS, compute_terms, is_covariance_call, is_dot, strip_parens
from .deparse import deparse, deparse_formula_expr
from .terms import COVARIANCE_CALLS, BinOp, Call, Constant, Name, Number, UnaryOp
from .walk import expr_children, sum_operands, trampoline, walk_nodes

__all__ = ["is_bar", "any_bars", "is_covariance_call", "read_covariance_call", "Structure",
           "check_bar_positions", "expand_double_verts", "find_bars", "nobars_tree",
           "group_variables", "lhs_terms"]

BAR_OPS = ("|", "||")


def is_bar(e) -> bool:
    """A bar, with or without parentheses around it."""
    return isinstance(e, BinOp) and e.op in BAR_OPS


def any_bars(e) -> bool:
    """Does the expression hold a bar anywhere?"""
    return any(is_bar(x) for x in walk_nodes(e))


def _bar_or_special(e) -> bool:
    """What the fixed part drops: a bar or a covariance call, without parentheses."""
    return (is_bar(e) or is_covariance_call(e)) and not e.parens


def _bar_holders(root) -> Set[int]:
    """The ``id`` of every node of ``root`` that holds a bar (itself or below)."""
    holders: Set[int] = set()
    for node in reversed(list(walk_nodes(root))):  # children before parents
        if is_bar(node) or any(id(c) in holders for c in expr_children(node)):
            holders.add(id(node))
    return holders


@dataclass(frozen=True)
class Structure:
    """The covariance call around a bar: its name and ``hom`` (None when not given)."""

    name: str = "us"
    hom: Optional[bool] = None
    special: bool = False


_PLAIN = Structure()

#: The literals ``hom`` may be (lme4 2.1 takes only ``TRUE``/``FALSE``; lmerpy ``T``/``F`` too)
_HOM_LITERALS = {"TRUE": True, "FALSE": False, "T": True, "F": False}


def _call_text(call) -> str:
    text = deparse(strip_parens(call))
    return text if len(text) <= 80 else text[:77] + "..."


def read_covariance_call(call) -> Tuple[object, Structure]:
    """The argument of a covariance call holding its bar(s), and its :class:`Structure`,
    after checking the call.

    ``diag()``, ``cs()`` and ``ar1()`` take one bar ``x | g``. ``us()`` -- lme4's default,
    whatever lme4 makes of its argument is an unstructured term -- also takes ``x || g``, a
    bar in parentheses, or a sum of bars (``us((1 | g) + (0 + x | g))``, how lme4 prints
    ``us(x || g)``).

    Raises
    ------
    FormulaError
        The first argument is not a bar (``cs((x | g))``, ``cs(1 + (x | g))``,
        ``cs(hom = TRUE, x | g)``); another positional argument; an argument other than
        ``hom`` (named); ``hom`` twice, or not the literal ``TRUE``/``FALSE`` (``T``/``F``)
        -- lme4's "'hom' is not TRUE or FALSE in special call"; ``hom`` in ``us()`` (which
        has none); ``||`` inside ``diag()``, ``cs()``, ``ar1()`` or with ``hom`` (lme4 would
        drop the structure).
    """
    core = strip_parens(call)
    name = core.func
    text = _call_text(call)
    usage = (f"{name}() takes a random-effects term and optionally hom = TRUE or FALSE, "
             f"as in {name}(1 + x | g{', hom = TRUE' if name != 'us' else ''})")
    if name == "us":
        usage = "us() takes a random-effects term, as in us(1 + x | g)"
    if not core.args:
        raise FormulaError(f"'{text}' has no random-effects term: {usage}")
    arg = core.args[0]
    if core.kwarg_positions:
        key = core.kwargs[0][0]
        raise FormulaError(f"'{key}' comes before the random-effects term in '{text}': lme4 "
                           f"reads the first argument as the term; write "
                           f"{name}({deparse(arg)}, {key} = ...)")
    if len(core.args) > 1:
        raise FormulaError(f"unexpected argument '{deparse(core.args[1])}' in '{text}': {usage}")
    hom = None
    for key, value in core.kwargs:
        if key != "hom":
            raise FormulaError(f"unknown argument '{key}' in '{text}': {usage}")
        if name == "us":
            raise FormulaError(f"us() has no argument 'hom' (in '{text}'): an unstructured "
                               "covariance has one variance per column; use diag(), cs() or "
                               "ar1() for a homogeneous structure")
        if hom is not None:
            raise FormulaError(f"argument 'hom' given twice in '{text}'")
        if not (isinstance(value, Constant) and not value.parens
                and value.text in _HOM_LITERALS):
            raise FormulaError(f"'hom' is not TRUE or FALSE in special call '{text}' "
                               f"(got hom = {deparse(value)})")
        hom = _HOM_LITERALS[value.text]
    if name == "us":
        if not all(is_bar(x) for x in sum_operands(arg)):
            raise FormulaError(f"the first argument of '{text}' is not a random-effects term "
                               f"'x | g' but '{deparse(arg)}': {usage}")
        return arg, Structure(name, None, True)
    if not is_bar(arg):
        raise FormulaError(f"the first argument of '{text}' is not a random-effects term "
                           f"'x | g' but '{deparse(arg)}': {usage}")
    if arg.parens:
        raise FormulaError(
            f"the random-effects term in '{text}' is in parentheses: lme4 then ignores "
            f"{name}() and fits an unstructured term; write {name}({deparse(strip_parens(arg))}"
            f"{', ...' if core.kwargs else ''})")
    if arg.op == "||":
        raise FormulaError(
            f"'||' inside '{text}': lme4 splits (x || g) into independent terms before it "
            f"reads {name}(), so the structure would be lost; write {name}("
            f"{deparse(arg.left)} | {deparse(arg.right)}{'' if hom is None else ', hom = ...'})"
            " for one structured term, or (x || g) for independent terms")
    return arg, Structure(name, hom, True)


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


def _structures_hint(node, where) -> str:
    """For ``toep(x | g)``: the covariance calls lme4 has."""
    if (where[0] == "call" and where[1].args and where[1].args[0] is node
            and not is_covariance_call(node)):
        return (f" (lme4's covariance structures are "
                f"{', '.join(c + '()' for c in COVARIANCE_CALLS)})")
    return ""


def _check_no_inner_bars(bar, shown: str):
    for side in (bar.left, bar.right):
        inner = next((x for x in walk_nodes(side) if is_bar(x)), None)
        if inner is not None:
            raise FormulaError(
                f"nested bars: '{deparse(strip_parens(inner))}' inside the random-effects "
                f"term '{shown}'")


def check_bar_positions(rhs):
    """Raise :class:`FormulaError` for a bar (or a covariance call around one) anywhere but in
    a ``+`` chain (or parentheses, or the left of ``-``) of the right side, for a bar inside a
    bar, and for a covariance call that is not one bar with an optional ``hom``
    (:func:`read_covariance_call`)."""
    stack = [(rhs, None)]      # (node, where it stands: None at the top, else (kind, node))
    while stack:
        e, where = stack.pop()
        special = is_covariance_call(e)
        if is_bar(e) or special:
            shown = (_call_text(e) if special else f"({deparse(strip_parens(e))})")
            if where is not None:
                raise FormulaError(
                    f"random-effects term '{shown}' inside "
                    f"{_context(where)}{_structures_hint(e, where)}: bars must stand at the "
                    "top level of the formula, joined by '+', e.g. y ~ x + (1 | g)")
            bars = sum_operands(read_covariance_call(e)[0]) if special else [e]
            for bar in bars:
                _check_no_inner_bars(strip_parens(bar), shown)
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

    def split(e):
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

    def expand(e):
        if is_bar(e) and e.op == "||":
            return split(e)
        if is_covariance_call(e):
            # us(x || g): lme4 expands the bar inside the call (read_covariance_call refuses
            # '||' in the other calls); the call keeps the sum of bars as its argument
            arg = e.args[0]
            new = yield expand(arg)
            return e if new is arg else replace(e, args=(new,) + tuple(e.args[1:]))
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


def find_bars(rhs) -> List[Tuple[Any, Any, int, Structure]]:
    """lme4's ``findbars`` (reformulas' ``findbars_x`` with lme4's specials; on a right side
    already through :func:`expand_double_verts`): ``(lhs, group_expr, id_of_bar_node,
    structure)`` per bar in written order, ``/`` nesting expanded as lme4 does (each nested
    term keeps the structure of the call it was written in)."""

    bars, stack = [], [(rhs, _PLAIN)]
    while stack:
        e, structure = stack.pop()
        if is_bar(e):
            bars.append((e, structure))
        elif is_covariance_call(e):
            stack.append(read_covariance_call(e))
        else:
            stack.extend((c, structure) for c in reversed(expr_children(e)))
    result = []
    for node, structure in bars:
        bar = strip_parens(node)
        trms = _slash_terms(bar.right)
        if isinstance(trms, list):
            for g in _flatten(_make_interaction(trms)):
                result.append((bar.left, g, id(node), structure))
        else:
            result.append((bar.left, bar.right, id(node), structure))
    return result



def nobars_tree(e):
    """lme4's ``nobars_``: the right side without its bars, or None if nothing is left."""
    holders = _bar_holders(e)

    def has_bars(x):  # x is a node of e, or a copy of one with other parentheses
        return is_bar(x) or any(id(c) in holders for c in expr_children(x))

    def nb(e):
        if not has_bars(e):
            return e
        if _bar_or_special(e):
            return None
        if e.parens:
            inner = replace(e, parens=e.parens - 1)
            if _bar_or_special(inner):
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
