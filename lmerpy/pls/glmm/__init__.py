"""glmer's inner loop: PIRLS, the GLM response, and the Laplace / adaptive Gauss–Hermite pieces.

* :mod:`.pirls` — :class:`~lmerpy.pls.glmm.pirls.GlmmStructure` (everything fixed per design,
  the factor included) and :func:`~lmerpy.pls.glmm.pirls.pirls` (lme4's ``pwrssUpdate``);
* :mod:`.pirls_diagonal` — the same for one scalar term (A diagonal, no factor);
* :mod:`.glm_response` — the family's working weights, residuals and ``aic``;
* :mod:`.agq` — adaptive Gauss–Hermite quadrature (one scalar term).

:class:`lmerpy.pls.glmm.deviance.GlmmDeviance` (``lmerpy/pls/glmm/deviance.py``) is the
deviance over them.
"""
