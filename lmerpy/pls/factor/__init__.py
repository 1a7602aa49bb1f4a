"""Cholesky factors of A = Λ'Z'WZΛ + I: the contract, the backends, the chooser and A⁻¹.

* :mod:`.protocol` — :class:`~lmerpy.pls.factor.protocol.Factor`, what a backend does;
* :mod:`.base` — the one class hierarchy every factor belongs to (``FactorBase``,
  ``FirstTermFactor``);
* :mod:`.chooser` — :func:`~lmerpy.pls.factor.chooser.choose_factor`, one table for lmer
  (weights fixed) and glmer's PIRLS (weights vary);
* :mod:`.blocked` (with ``blocked_layout``, ``blocked_thetamap``, ``blocked_inverse``,
  ``blocked_bands``) — lmer's SciPy factor: the largest term first, the rest one dense block;
* :mod:`.block_first` — glmer's block-first Schur complement (A's values each iteration);
* :mod:`.dense` — all of A dense (glmer, small q);
* :mod:`.cholmod` — CHOLMOD (scikit-sparse), as lme4, for lmer and glmer (one class);
* :mod:`.inverse` and :mod:`.takahashi` — A⁻¹ on A's pattern and its diagonal blocks (one
  policy for every factor).
"""
