"""The profiled REML criterion / ML deviance's derivatives (lmer).

* :mod:`.gradient` — the analytic gradient in θ (and the post-fit batch of gradients);
* :mod:`.information` — the average-information approximation of its Hessian;
* :mod:`.logdet_gradient` — ∂ log|A| / ∂θ from per-term sums of A⁻¹'s diagonal blocks.

:class:`lmerpy.pls.LmmDeviance` (``lmerpy/pls/lmm/deviance.py``, this room) joins them to the factor.
"""
