"""Names of model variables: R's ``deparse`` of an expression node.

A model-frame variable is named by the deparse of its expression (``log(x + 1)``,
``poly(x, 2)``, `` `my var` ``), and model-matrix columns are built from those names. The
formula package owns R's deparser (:func:`lmerpy.formula.deparse.deparse`, the flavour
``terms()`` uses for labels); this module is the design stage's single door to it.
"""
from __future__ import annotations

from ..formula.deparse import deparse

__all__ = ["deparse", "var_name"]


def var_name(node) -> str:
    """The model-frame name of a variable expression (R: ``deparse`` of the variable, as in
    ``attr(terms, "variables")``): ``Days``, ``log(z + 1)``, `` `my var` ``."""
    return deparse(node)
