"""Penalized least squares core for linear mixed models (lme4's ``mkLmerDevfun``).

:class:`LmmDeviance` is the profiled REML criterion / ML deviance as a function of θ, with an
analytic gradient; :class:`PlsSolution` is the full state at one θ. Two factorisation
backends: ``"cholmod"`` (scikit-sparse, as lme4) and ``"scipy"`` (blocked, SciPy only).
"""
from .factor.chooser import available_backends
from .deviance import LmmDeviance
from .solution import PlsSolution

__all__ = ["LmmDeviance", "PlsSolution", "available_backends"]
