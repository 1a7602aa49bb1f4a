"""Names of model variables: R's ``deparse`` of an expression node.

A model-frame variable is named by the deparse of its expression (``log(x + 1)``,
``poly(x, 2)``, `` `my var` ``), and model-matrix columns are built from those names. The
parser (``lmerpy.formula``) owns the canonical deparse; this module uses it when it is
installed and otherwise falls back to an equivalent implementation of R's rules (spacing around
``+ - * ==``, none around ``/ ^ : %%``, parentheses only where precedence needs them,
numbers with 15 significant digits, backquotes around non-syntactic names).
"""
from __future__ import annotations

from ..formula.terms import BinOp, Call, Constant, Name, Number, UnaryOp
from .rformat import backquote, format_number

__all__ = ["deparse", "var_name"]

# R's operator precedence (higher binds tighter) and associativity.
_PREC = {
    "^": 14, "unary": 13, ":": 12, "%": 11, "*": 10, "/": 10, "+": 9, "-": 9,
    "==": 8, "!=": 8, "<": 8, ">": 8, "<=": 8, ">=": 8, "!": 7, "&": 6, "&&": 6, "|": 5, "||": 5,
    "~": 4,
}
_RIGHT_ASSOC = {"^"}
_NO_SPACE = {"/", "^", ":", "%%", "%/%"}


def _prec(op: str) -> int:
    if op.startswith("%") and op.endswith("%"):
        return _PREC["%"]
    return _PREC.get(op, 0)


def _number(node: Number) -> str:
    text = (node.text or "").strip()
    if text.endswith("L") and text[:-1].replace(".", "", 1).isdigit():
        return text
    return format_number(node.value)


def _constant(node: Constant) -> str:
    v = node.value
    if isinstance(v, str) and node.text not in ("TRUE", "FALSE", "T", "F", "NULL", "NA", "Inf"):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if node.text in ("T", "F"):
        return node.text
    if v is True:
        return "TRUE"
    if v is False:
        return "FALSE"
    if v is None:
        return "NULL" if node.text == "NULL" else "NA"
    return node.text or str(v)


def _fallback(node) -> str:
    if isinstance(node, Name):
        return backquote(node.name)
    if isinstance(node, Number):
        return _number(node)
    if isinstance(node, Constant):
        return _constant(node)
    if isinstance(node, Call):
        parts = [_fallback(a) for a in node.args]
        parts += [f"{backquote(k)} = {_fallback(v)}" for k, v in node.kwargs]
        return f"{backquote(node.func)}({', '.join(parts)})"
    if isinstance(node, UnaryOp):
        inner = node.operand
        s = _fallback(inner)
        if isinstance(inner, BinOp) and _prec(inner.op) < _PREC["unary"]:
            s = f"({s})"
        return f"{node.op}{s}"
    if isinstance(node, BinOp):
        p = _prec(node.op)
        left, right = _fallback(node.left), _fallback(node.right)
        if isinstance(node.left, BinOp):
            lp = _prec(node.left.op)
            if lp < p or (lp == p and node.op in _RIGHT_ASSOC):
                left = f"({left})"
        elif isinstance(node.left, UnaryOp) and p > _PREC["unary"]:
            left = f"({left})"
        if isinstance(node.right, BinOp):
            rp = _prec(node.right.op)
            if rp < p or (rp == p and node.op not in _RIGHT_ASSOC):
                right = f"({right})"
        if node.op in _NO_SPACE:
            return f"{left}{node.op}{right}"
        return f"{left} {node.op} {right}"
    raise TypeError(f"cannot deparse {node!r}")


def deparse(node) -> str:
    """R's ``deparse`` of an expression node (``Call("log", (BinOp("+", x, 1),))`` ->
    ``"log(x + 1)"``)."""
    try:
        return node.deparse()
    except (ImportError, AttributeError):
        return _fallback(node)


def var_name(node) -> str:
    """The model-frame name of a variable expression (R: ``deparse2`` of the variable)."""
    return deparse(node)
