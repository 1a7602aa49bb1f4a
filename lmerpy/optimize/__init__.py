"""The optimizer stage: θ -> θ̂ with lme4's optimizers, restarts and convergence checks.

R equivalents: ``lmerControl``, ``glmerControl``, ``optimizeLmer``, ``optimizeGlmer``,
``checkConv``, ``fit@optinfo``. See ``docs/convergence.md`` for how the checks are computed.

Public API
----------
lmerControl, glmerControl -> Control
optimize_lmer(devfun, theta0, lower, control=None, verbose=0) -> OptSummary
optimize_glmer(devfun, x0, lower, control=None, verbose=0, *, stage, nAGQ, n_theta, beta_sd)
check_conv(devfun, optsum, lower, control) -> list of lme4's messages
warning_text(message) -> the Python warning's text for one of them
lme4_start_theta(design) -> lme4's starting θ (all-intercept models start from the data)
lmer_optimizer(devfun, control) -> the optimizer lmer runs ("newton_ai" by default)
minimize_bounded(fun, x0, lower, upper=None, method="bobyqa", ...) -> MinimizeResult
trust_newton(fun, derivatives, x0, ...) -> NewtonResult (the "newton_ai" method)
lmm_information(devfun, theta) -> the average-information matrix of an LMM's criterion
"""
from .checks import SINGULAR_MESSAGE, SINGULAR_WARNING, check_conv, check_hess, warning_text
from .control import (CHECK_ACTIONS, OPTIMIZERS, Control, ControlError, ConvCheck,
                      as_control, glmerControl, lmerControl)
from .derivs import compute_derivs, deriv12, derivs_analytic
from .lmer import (lme4_start, lme4_start_theta, lmer_optimizer, optimize_glmer,
                   optimize_lmer, optimizer_settings)
from .minimize import MinimizeResult, OptimizerError, minimize_bounded
from .newton import NewtonResult, lmm_information, trust_newton
from .optsum import OptSummary

__all__ = [
    "lmerControl", "glmerControl", "Control", "ConvCheck", "ControlError", "OPTIMIZERS",
    "as_control",
    "CHECK_ACTIONS", "optimize_lmer", "optimize_glmer", "optimizer_settings", "check_conv",
    "check_hess", "SINGULAR_MESSAGE", "SINGULAR_WARNING", "OptSummary", "minimize_bounded",
    "MinimizeResult", "OptimizerError", "compute_derivs", "deriv12", "derivs_analytic",
    "lme4_start", "lme4_start_theta", "lmer_optimizer", "trust_newton", "NewtonResult",
    "lmm_information", "warning_text",
]
