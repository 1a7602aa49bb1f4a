"""Names of model variables: R's ``deparse`` of an expression node.

A model-frame variable is named by the deparse of its expression (``log(x + 1)``,
``poly(x, 2)``, `` `my var` ``), and model-matrix columns are built from those names. The
formula package owns R's deparser (:func:`lmerpy.formula.deparse.deparse`, the flavour
``terms()`` uses for labels); this module is the design stage's single door to it.
"""
from __future__ import annotations

from functools import lru_cache

from ..formula.deparse import deparse

__all__ = ["deparse", "var_name"]


@lru_cache(maxsize=4096)
def _deparse_cached(node) -> str:
    return deparse(node)


def var_name(node) -> str:
    """The model-frame name of a variable expression (R: ``deparse`` of the variable, as in
    ``attr(terms, "variables")``): ``Days``, ``log(z + 1)``, `` `my var` ``.

    Expression nodes are immutable and hashable, so names are remembered (a fit names the
    same few variables many times)."""
    try:
        return _deparse_cached(node)
    except TypeError:           # an unhashable node: deparse it every time
        return deparse(node)
