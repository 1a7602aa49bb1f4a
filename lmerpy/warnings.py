"""The warnings lmerpy issues: one category per kind, and the helper that issues them.

Every warning lmerpy raises is a subclass of :class:`LmerpyWarning` (itself a
:class:`UserWarning`), so a program can show, silence or turn into errors exactly the kinds
it cares about with Python's :mod:`warnings` filters:

    import warnings
    import lmerpy

    warnings.filterwarnings("ignore", category=lmerpy.warnings.SingularFitWarning)
    warnings.filterwarnings("error", category=lmerpy.warnings.ConvergenceWarning)

The categories:

    LmerpyWarning(UserWarning)
    ├── ConvergenceWarning          the optimizer or lme4's convergence checks
    │   ├── SingularFitWarning      boundary (singular) fit
    │   └── DdfWarning              Satterthwaite: the variance parameters' Hessian
    ├── LmerpyMessage               lme4's informational messages (R's message())
    │   ├── RankDeficiencyWarning   rank-deficient fixed effects: columns dropped
    │   └── RefitWarning            refitting model(s) with ML (instead of REML)
    ├── DesignWarning               lme4's design checks and R's model-frame warnings
    │   └── ScaleWarning            predictors on very different scales
    ├── FamilyWarning               a response that does not suit its family
    ├── InferenceWarning            anova, type III hypotheses
    │   ├── BootstrapWarning        bootMer, bootstrap intervals
    │   └── ProfileWarning          profiles and profile intervals
    └── LmerpyDeprecationWarning    deprecated usage (also a FutureWarning)

Each warning points at the line of the caller's code that called into lmerpy (see
:func:`warn`), so Python's default filter shows it once per call site — every fit in a
script that deserves it, not only the first one.

What triggers each warning and what to do about it: ``docs/errors.md``.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings as _pywarnings

__all__ = [
    "LmerpyWarning", "ConvergenceWarning", "SingularFitWarning", "DdfWarning", "LmerpyMessage",
    "RankDeficiencyWarning", "RefitWarning", "DesignWarning", "ScaleWarning", "FamilyWarning",
    "InferenceWarning", "BootstrapWarning", "ProfileWarning", "GroupFitWarning",
    "LmerpyDeprecationWarning", "warn",
    "caller_frame",
]


class LmerpyWarning(UserWarning):
    """Base class of every warning lmerpy issues.

    ``warnings.filterwarnings("ignore", category=lmerpy.warnings.LmerpyWarning)`` silences
    them all; filter a subclass to silence one kind.
    """


class ConvergenceWarning(LmerpyWarning):
    """The fit may not be at the optimum: lme4's post-fit convergence checks and the
    optimizer's own failures.

    Raised for a scaled gradient above tolerance (``Model failed to converge with max|grad| =
    ...``), a Hessian that is not positive definite or nearly so (``Model is nearly
    unidentifiable: ...``), an optimizer that stopped abnormally (``convergence code 5 from
    nloptwrap: ...``), glmer's Hessian-based ``vcov`` falling back to the one from RX, and a
    negative binomial θ at its upper limit. The texts are lme4's; ``lmerControl(check_conv_*=
    ...)`` sets which checks run and whether they warn or stop (``FitError``).
    """


class SingularFitWarning(ConvergenceWarning):
    """``boundary (singular) fit``: some variance is estimated as zero, or some correlation
    as ±1 (:func:`lmerpy.isSingular` is true).

    A subclass of :class:`ConvergenceWarning` because lme4 reports it through the same
    convergence checks (``check.conv.singular``): filtering ``ConvergenceWarning`` silences it
    too; filter ``SingularFitWarning`` to silence only it. lme4 prints it with ``message()``.
    """


class DdfWarning(ConvergenceWarning):
    """Satterthwaite degrees of freedom (lmerTest's checks): the Hessian of the deviance in
    the variance parameters has negative or near-zero eigenvalues (``Model failed to converge
    with 1 negative eigenvalue: ...``, ``Model may not have converged with 1 eigenvalue close
    to zero: ...``), so the denominator degrees of freedom are uncertain. A subclass of
    :class:`ConvergenceWarning`: it is a convergence check of the fit, made by ``ddf``.
    """


class LmerpyMessage(LmerpyWarning):
    """lme4's informational messages (R's ``message()``): nothing is wrong, lmerpy tells what
    it does (``Computing profile confidence intervals ...``). Its subclasses are the
    messages about the model that was fitted: :class:`RankDeficiencyWarning`,
    :class:`RefitWarning`.
    """


class RankDeficiencyWarning(LmerpyMessage):
    """The fixed-effects model matrix is rank deficient and lmerpy dropped columns, as lme4
    (``fixed-effect model matrix is rank deficient so dropping 1 column / coefficient``).
    ``lmerControl(check_rankX=...)`` sets the action (``"stop.deficient"`` makes it an error,
    ``"silent.drop.cols"`` silent)."""


class RefitWarning(LmerpyMessage):
    """A REML fit was refitted by maximum likelihood to compare models
    (``refitting model(s) with ML (instead of REML)``, ``anova(..., refit=True)``)."""


class DesignWarning(LmerpyWarning):
    """lme4's design checks when set to ``"warning"`` or ``"message"`` (levels against
    observations, ``check.nlev.gtreq.5``...) and R's model-frame warnings (the response on
    the right-hand side dropped, a contrast for an absent variable ignored)."""


class ScaleWarning(DesignWarning):
    """lme4's ``check.scaleX``: ``Some predictor variables are on very different scales:
    consider rescaling``. Centre and scale the continuous predictors."""


class FamilyWarning(LmerpyWarning):
    """The response does not suit the GLMM family: non-integer counts in a binomial or
    Poisson response (``non-integer counts in a binomial glm!``, ``non-integer x = ...``)."""


class InferenceWarning(LmerpyWarning):
    """Tests and intervals: models compared with a mix of REML and ML fits, type III
    hypotheses with missing cells. Base of :class:`BootstrapWarning` and
    :class:`ProfileWarning`."""


class BootstrapWarning(InferenceWarning):
    """``bootMer`` and bootstrap intervals: failed bootstrap refits, extreme order statistics
    used as interval endpoints (too few simulations), semiparametric bootstrap of a GLMM."""


class ProfileWarning(InferenceWarning):
    """Likelihood profiles: a profile that is bad, non-monotonic or poorly fitted by its
    spline (the interval for that parameter is NA or linearly interpolated)."""


class GroupFitWarning(LmerpyWarning):
    """``lmList``: the fit failed in some groups (lme4's ``Fitting failed for 2 group(s),
    probably because a factor only had one level``); their coefficients are NA."""


class LmerpyDeprecationWarning(LmerpyWarning, FutureWarning):
    """Deprecated usage that lme4 also deprecates (``deviance()`` of a REML fit,
    ``glmer(family=gaussian)``). Also a :class:`FutureWarning`, so it is shown by default."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_PASS_THROUGH = {os.path.abspath(str(m.__file__)) for m in (functools, contextlib)}


@functools.lru_cache(maxsize=1024)
def _location(filename: str) -> str:
    """"lmerpy" for a file of this package, "pass" for functools and contextlib, else ""."""
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR):
        return "lmerpy"
    return "pass" if path in _PASS_THROUGH else ""


def caller_frame():
    """The frame of the code that called into lmerpy: the caller of the outermost lmerpy
    frame on the stack of the function that calls this one, with functools and contextlib
    frames skipped (a ``functools.cached_property`` between the caller and lmerpy).

    Frames of other packages that lmerpy itself calls (scipy's optimizers calling back a
    deviance, a user's ``FUN`` called by ``bootMer``) sit between lmerpy frames and are
    passed over, so the warning lands on the line that called lmerpy. With no lmerpy frame
    on the stack, the frame of the function that calls this one; with no frame outside
    lmerpy, the outermost one.
    """
    start = sys._getframe(1)
    outermost = None
    frame = start
    while frame is not None:
        if _location(frame.f_code.co_filename) == "lmerpy":
            outermost = frame
        frame = frame.f_back
    if outermost is None:
        return start
    frame = outermost.f_back
    while frame is not None and _location(frame.f_code.co_filename) == "pass":
        frame = frame.f_back
    return frame if frame is not None else outermost


def warn(message: str, category: type = LmerpyWarning) -> None:
    """Issue ``message`` as a warning of ``category`` (an :class:`LmerpyWarning` subclass)
    located at the caller's code: the line that called into lmerpy (:func:`caller_frame`).

    This is what ``warnings.warn(message, category, stacklevel=k)`` does with the right ``k``
    for each call path, computed from the stack instead of counted by hand, so the same
    warning from two lines of a script is shown for each (Python's default filter shows a
    warning once per location) and ``module=`` filters match the caller's module. Every
    warning in lmerpy goes through this function.
    """
    if not (isinstance(category, type) and issubclass(category, LmerpyWarning)):
        raise TypeError(f"lmerpy warnings need an LmerpyWarning category, got {category!r}")
    frame = caller_frame()
    try:
        module_globals = frame.f_globals
        module = module_globals.get("__name__", "<string>")
        registry = module_globals.setdefault("__warningregistry__", {})
        # module_globals only lets linecache ask the module's loader for its source (zip
        # imports); ``python -c`` code's __main__ has the BuiltinImporter as __loader__, which
        # raises ImportError when asked, and ``python -m pkg.mod``'s __main__ has pkg.mod's
        # loader, which refuses the name __main__: pass them only for modules imported by a
        # loader under their own name
        spec = module_globals.get("__spec__")
        loaded = spec is not None and getattr(spec, "name", None) == module
        _pywarnings.warn_explicit(str(message), category, frame.f_code.co_filename,
                                  frame.f_lineno, module, registry,
                                  module_globals if loaded else None)
    finally:
        del frame
