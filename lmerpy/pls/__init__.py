"""Penalized least squares core of lmer and glmer (lme4's ``mkLmerDevfun``, ``merPredD``).

:class:`LmmDeviance` is the profiled REML criterion / ML deviance as a function of θ, with an
analytic gradient; :class:`PlsSolution` is the full state at one θ. Two factorisation
backends: ``"cholmod"`` (scikit-sparse, as lme4) and ``"scipy"`` (blocked, SciPy only). lmer and
glmer take their factor from one chooser (``factor.chooser.choose_factor``; the thresholds
differ by whether the weights vary) and one class family (``factor.base``): the same
``CholmodFactor`` serves both, as lme4's ``merPredD`` does.

Layout (what ``optimize`` and later stages may ask of a deviance is
:class:`lmerpy.pls.protocol.Deviance`):

=========================  ================================================================
``crossprod.py``           Z'WZ, Z'WX, X'WX once; θ → A = Λ'Z'WZΛ + I (``ScalingMap``)
``protocol.py``            the ``Deviance`` contract and its ``Components``
``solution.py``            ``PlsSolution``: the full state at one θ
``factor/``                A's Cholesky: the ``Factor`` contract and class family, one
                           chooser, the blocked, dense, block-first and CHOLMOD factors,
                           A⁻¹ (one policy)
``lmm/``                   ``LmmDeviance`` (lmer) and its gradient, average information and
                           log-determinant gradient
``glmm/``                  ``GlmmDeviance`` (glmer: Laplace / AGQ, both stages), PIRLS, the GLM
                           response and adaptive Gauss–Hermite pieces
=========================  ================================================================
"""
from .lmm.deviance import LmmDeviance
from .factor.chooser import available_backends
from .solution import PlsSolution

__all__ = ["LmmDeviance", "PlsSolution", "available_backends"]
