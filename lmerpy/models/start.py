"""The ``start=`` argument of lmer and glmer on the optimizer's scale (lme4's ``getStart``).

The covariance parameters the optimizer moves are lme4 2.x's ``par``: θ itself when every
term is unstructured (or ``diag``), else the terms' standard deviations and correlations
(:mod:`lmerpy.design.covariance`). A numeric start and ``start["par"]`` are ``par``;
``start["theta"]`` is θ, mapped to ``par`` (for unstructured models the same vector).
"""
from __future__ import annotations

from ..arguments import start_values

__all__ = ["start_parts"]


def start_parts(start, design, caller=None, fixef_used=True):
    """(``par`` start or None, β start or None) from ``start`` for ``design``, checked
    against the names and bounds of ``par`` (see :func:`lmerpy.arguments.start_values`)."""
    if start is None:        # (without reading the names, which the design builds lazily)
        return None, None
    layout = design.layout
    if layout.is_identity:
        return start_values(start, design.theta_names, design.lower, design.X_colnames,
                            caller=caller, fixef_used=fixef_used)
    return start_values(start, design.par_names, design.lower, design.X_colnames,
                        caller=caller, fixef_used=fixef_used, theta_upper=layout.upper,
                        from_theta=(list(design.theta_names), layout.theta_to_par))
