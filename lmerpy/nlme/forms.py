"""The ``form`` of nlme's variance functions and correlation structures.

R equivalent: the one-sided formulas of nlme's ``varFunc``/``corStruct`` objects, read by
``getCovariateFormula`` and ``getGroupsFormula``: ``~ covariate | groups``.

* the covariate is ``1`` (none: a correlation structure then uses the position within the
  group), an expression over the data's columns (``~ age``, ``~ log(dose)``), or nlme's
  ``fitted(.)`` (variance functions: the fitted values of the current fit);
* the groups are one or more variables separated by ``/`` for a correlation structure (nested:
  ``~ 1 | school/class`` groups by class within school) or by ``*`` for the strata of a
  variance function (``~ 1 | Sex * age``: one stratum per combination).

The text is split at its ``|`` here and each side parsed by lmerpy's formula grammar; nothing is
ever evaluated as code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import ArgumentError, FormulaError
from ..formula import Call, Name, parse_formula

__all__ = ["StructureForm", "parse_form"]


@dataclass(frozen=True)
class StructureForm:
    """A parsed ``form``.

    Attributes
    ----------
    text : str
        As given.
    covariate : expression node or None
        ``I(<covariate>)`` ready for the design stage's evaluator; None when the covariate
        is ``1`` or ``fitted(.)``.
    covariate_text : str
        The covariate as R deparses it (``"age"``, ``"1"``, ``"fitted(.)"``).
    groups : tuple of expression nodes
        The grouping variables, outermost first (empty: no grouping).
    group_texts : tuple of str
    sep : str
        ``"/"`` (nested groups of a correlation structure) or ``"*"`` (variance strata).
    fitted : bool
        The covariate is ``fitted(.)``.
    deparsed : str
        nlme's ``deparse(formula(x))``: ``"~1 | Mare"``, ``"~pressure | QB"``, ``"~fitted(.)"``.
    """

    text: str
    covariate: Optional[object]
    covariate_text: str
    groups: Tuple[object, ...]
    group_texts: Tuple[str, ...]
    sep: str
    fitted: bool
    deparsed: str

    @property
    def has_covariate(self) -> bool:
        return self.fitted or self.covariate is not None

    @property
    def has_groups(self) -> bool:
        return bool(self.groups)


def _top_level_splits(text: str, char: str):
    """Positions of ``char`` outside parentheses, brackets, quotes and backticks."""
    out, depth, quote = [], 0, None
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "'\"`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == char and depth == 0:
            out.append(i)
        i += 1
    return out


def _deparse_rhs(text: str, what: str) -> str:
    f = parse_formula("~ " + text)
    return f.deparse()[1:]


def _one_variable(text: str, what: str, role: str):
    f = parse_formula("~ " + text)
    variables = f.fixed.variables
    if len(variables) != 1 or len(f.fixed.terms) != 1 or f.random or not f.fixed.intercept:
        raise FormulaError(f"{what}: invalid formula for groups: '{text.strip()}' must be one "
                           f"variable ({role})")
    return variables[0]


def parse_form(form, what: str, sep: str) -> StructureForm:
    """Parse a structure's ``form`` string.

    Parameters
    ----------
    form : str
        ``"~ 1 | Subject"``, ``"~ age | Subject"``, ``"~ fitted(.)"``, ``"~ x"``, ...
    what : str
        The structure's call for messages, e.g. ``"corAR1(form = ~ t | g)"``.
    sep : {"/", "*"}
        The separator of several grouping variables.
    """
    if not isinstance(form, str):
        raise ArgumentError(f"{what}: 'form' must be a one-sided formula string such as "
                            f"'~ 1 | g', not {type(form).__name__}")
    text = form.strip()
    if not text.startswith("~"):
        raise ArgumentError(f"{what}: 'form' must be a one-sided formula starting with '~', "
                            f"got {form!r}")
    body = text[1:]
    if _top_level_splits(body, "~"):
        raise ArgumentError(f"{what}: 'form' must be one-sided, got {form!r}")
    bars = _top_level_splits(body, "|")
    if len(bars) > 1:
        raise FormulaError(f"{what}: 'form' may have one '|' (covariate | groups), got {form!r}")
    lhs = body[:bars[0]] if bars else body
    rhs = body[bars[0] + 1:] if bars else ""
    if not lhs.strip():
        raise FormulaError(f"{what}: 'form' has no covariate before '|' (use 1 for none), "
                           f"got {form!r}")
    if bars and not rhs.strip():
        raise FormulaError(f"{what}: 'form' has no grouping variable after '|', got {form!r}")
    covariate_text = _deparse_rhs(lhs, what)
    covariate = None
    fitted = False
    if covariate_text != "1":
        parsed = parse_formula("~ " + lhs)
        v = parsed.fixed.variables
        if (len(v) == 1 and isinstance(v[0], Call) and v[0].func == "fitted"
                and len(v[0].args) == 1 and isinstance(v[0].args[0], Name)
                and v[0].args[0].name == "." and not v[0].kwargs):
            fitted = True
        else:
            if "." in parsed.all_vars():
                raise FormulaError(f"{what}: '.' is only allowed as fitted(.) in 'form'")
            covariate = parse_formula(f"~ I({lhs})").fixed.variables[0]
    groups: Tuple[object, ...] = ()
    group_texts: Tuple[str, ...] = ()
    deparsed = "~" + covariate_text
    if bars:
        other = "*" if sep == "/" else "/"
        if _top_level_splits(rhs, other):
            raise FormulaError(f"{what}: invalid formula for groups: '{rhs.strip()}' "
                               f"(separate grouping variables with '{sep}')")
        cuts = [-1] + _top_level_splits(rhs, sep) + [len(rhs)]
        pieces = [rhs[a + 1:b] for a, b in zip(cuts[:-1], cuts[1:])]
        if any(not p.strip() for p in pieces):
            raise FormulaError(f"{what}: invalid formula for groups: '{rhs.strip()}'")
        groups = tuple(_one_variable(p, what, "a grouping factor") for p in pieces)
        group_texts = tuple(_deparse_rhs(p, what) for p in pieces)
        deparsed += " | " + _deparse_rhs(rhs, what)
    return StructureForm(text=form, covariate=covariate, covariate_text=covariate_text,
                         groups=groups, group_texts=group_texts, sep=sep, fitted=fitted,
                         deparsed=deparsed)
