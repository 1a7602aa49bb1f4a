"""lme4's post-fit convergence checks (R: ``lme4:::checkConv`` and ``lme4:::checkHess``).

The messages are lme4 1.1-31's, character for character, with one correction: the gradient
message names the component with the largest (scaled) gradient, where lme4 always says
``component 1`` (it takes ``which.max`` of the scalar maximum). They are kept as lme4 words
them in ``OptSummary.conv_messages`` (and so in printed summaries); the Python warning for a
singular fit names Python's help instead of R's (:data:`SINGULAR_WARNING`).
"""
from __future__ import annotations

import numpy as np

from ..errors import FitError
from ..warnings import ConvergenceWarning, SingularFitWarning, warn
from .coords import to_optimizer_coordinates

__all__ = ["check_conv", "check_hess", "emit", "gradient_message", "near_bound", "warning_text",
           "SINGULAR_MESSAGE", "SINGULAR_WARNING"]

#: lme4's text (``OptSummary.conv_messages``, the printed summary's trailer)
SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"
#: the same as a Python warning: R's ``help('isSingular')`` names nothing in Python
SINGULAR_WARNING = "boundary (singular) fit: see help(lmerpy.isSingular) and docs/errors.md"


def warning_text(message):
    """The Python warning's text for one of lme4's convergence messages: lme4's, except that
    the singular fit's names Python's help (:data:`SINGULAR_WARNING`)."""
    return SINGULAR_WARNING if message == SINGULAR_MESSAGE else message


def emit(message, action):
    """Act on a failed check (lme4's ``message``): "message"/"warning" warn
    (:class:`SingularFitWarning` for the singular fit, :class:`ConvergenceWarning` for the
    others) with :func:`warning_text`, "stop" raises :class:`lmerpy.errors.FitError` with the
    same text, "ignore" does nothing."""
    text = warning_text(message)
    if action in ("message", "warning"):
        warn(text, SingularFitWarning if message == SINGULAR_MESSAGE else ConvergenceWarning)
    elif action == "stop":
        raise FitError(text)


def near_bound(coefs, lower, upper=None, tol=1e-4):
    """lme4 2.x's singular-fit test inside ``checkConv``: some parameter closer than ``tol``
    to a bound, min(coefs − lower, upper − coefs) < tol (bounds shorter than ``coefs`` — the
    covariance parameters of glmer's (θ, β) — leave the rest unbounded). For lme4 1.1's θ
    (lower bounds 0 and −∞, no upper bounds) this is its test: a θ with lower bound 0 below
    ``tol``."""
    x = np.asarray(coefs, dtype=float).ravel().tolist()
    n = len(x)
    tol = float(tol)
    # a few parameters: plain floats (the same IEEE comparisons as NumPy's, without its
    # per-call cost); a NaN bound is no bound
    lo = [] if lower is None else np.asarray(lower, dtype=float).ravel()[:n].tolist()
    hi = [] if upper is None else np.asarray(upper, dtype=float).ravel()[:n].tolist()
    for xi, b in zip(x, lo):
        if b == b and xi - b < tol:
            return True
    for xi, b in zip(x, hi):
        if b == b and b - xi < tol:
            return True
    return False


def _chol_upper(H):
    """R's ``chol(H)`` (upper triangular R with H = R'R), or None when H is not PD."""
    try:
        return np.linalg.cholesky(H).T
    except np.linalg.LinAlgError:
        return None


def check_hess(H, tol, hesstype="", *, chol=None):
    """Eigenvalue checks of a Hessian (R: ``lme4:::checkHess``).

    Parameters
    ----------
    H : ndarray (k, k)
    tol : float
    hesstype : str
        ``""`` for the full Hessian, ``"fixed-effect"`` for the β block.
    chol : ndarray, optional
        H's upper Cholesky factor when already computed (:func:`gradient_message`'s).

    Returns
    -------
    codes : list of int
        0 when fine; -6 non-finite; -3 negative eigenvalues; -4 numerically singular;
        2 very large eigenvalue; 3 large eigenvalue ratio.
    messages : list of str
    """
    H = np.atleast_2d(np.asarray(H, dtype=float))
    if not np.all(np.isfinite(H)):
        return [-6], ["Problem with Hessian check (infinite or missing values?)"]
    try:
        evd = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        return [-6], ["Problem with Hessian check (infinite or missing values?)"]
    codes, messages = [], []
    negative = int(np.sum(evd < -tol))
    if negative:
        return [-3], [" ".join(["Model failed to converge:", "degenerate", hesstype,
                                f"Hessian with {negative} negative eigenvalues"])]
    zero = int(np.sum(np.abs(evd) < tol))
    if zero or (chol if chol is not None else _chol_upper(H)) is None:
        return [-4], [" ".join([hesstype, "Hessian is numerically singular: parameters are not "
                                "uniquely determined"])]
    emax, emin = float(np.max(evd)), float(np.min(evd))
    if emax * tol > 1:
        codes.append(2)
        messages.append("Model is nearly unidentifiable: very large eigenvalue"
                        "\n - Rescale variables?")
    if emin / emax < tol:
        codes.append(3)
        messages.append("Model is nearly unidentifiable: large eigenvalue ratio"
                        "\n - Rescale variables?")
    return (codes or [0]), messages


def gradient_message(derivs, coefs, cc, *, factor=None):
    """Scaled-gradient check; returns (code, message or None). ``factor``: a list that
    receives the Hessian's upper Cholesky factor (None when not positive definite) for
    :func:`check_hess`."""
    g = np.asarray(derivs["gradient"], dtype=float).ravel()
    H = np.atleast_2d(np.asarray(derivs.get("Hessian"), dtype=float))
    scgrad = None
    if H.shape == (g.size, g.size) and np.all(np.isfinite(H)):
        R = _chol_upper(H)
        if factor is not None:
            factor.append(R)
        if R is not None:
            from scipy.linalg import lapack
            scgrad = lapack.dtrtrs(R, g, lower=0)[0]
    if scgrad is None or np.any(np.isnan(scgrad)):
        return -1, "unable to evaluate scaled gradient"
    mingrad = np.minimum(np.abs(scgrad), np.abs(g))
    k = int(np.argmax(mingrad))
    maxmingrad = float(mingrad[k])
    if maxmingrad > cc.tol:
        return -1, ("Model failed to converge with max|grad| = %g (tol = %g, component %d)"
                    % (maxmingrad, cc.tol, k + 1))
    return 0, None


def check_conv(devfun, optsum, lower=None, control=None, *, n_theta=None, compute_missing=False):
    """lme4's post-fit convergence checks (R: ``lme4:::checkConv``).

    In order: (1) singular fit — some parameter closer than ``check_conv_singular.tol`` to a
    bound (lme4 2.x: min(par − lower, upper − par) < tol; for θ: some θ with lower bound 0
    below tol) (then nothing else is checked); (2) the gradient: with H = R'R (Cholesky), the scaled
    gradient s = R⁻¹g, fail when max_k min(|s_k|, |g_k|) > tol (and the optional ``relTol``
    check of max|g/θ|); (3) the Hessian's eigenvalues (:func:`check_hess`), first of the β
    block when ``n_theta`` is given and the parameter vector is longer (glmer's second stage).
    lme4 1.1-31 never runs that β-block check for glmer, because its lower bounds there cover
    (θ, β); lmerpy runs it only when asked by ``n_theta``.

    The gradient and Hessian are ``optsum.derivs`` (computed by the optimizer stage with the
    analytic gradient when the deviance has one, see :mod:`lmerpy.optimize.derivs`). Without
    them only the singular-fit check runs, as lme4 (e.g. glmer with nAGQ = 0, whose only stage
    computes no derivatives), unless ``compute_missing=True`` asks to compute them here with
    ``devfun``.

    Parameters
    ----------
    devfun : callable or None
        The deviance (only used when derivatives must be computed).
    optsum : OptSummary
        Updated in place: ``conv_messages``, ``conv_code`` (and ``derivs`` if computed).
    lower : array_like, optional
        Lower bounds (``optsum.lower`` by default); the upper bounds are ``optsum.upper``.
    control : Control, optional
        ``lmerControl()`` by default.
    n_theta : int, optional
        Number of θ in the parameter vector (enables the β-block Hessian check).
    compute_missing : bool
        Compute missing derivatives with ``devfun`` (then left evaluated at the optimum).

    Returns
    -------
    list of str
        lme4's messages; each failed check is also emitted (:func:`emit`) as a
        :class:`lmerpy.warnings.ConvergenceWarning` or, for a singular fit,
        :class:`lmerpy.warnings.SingularFitWarning` (lme4's "message" and "warning" actions), or
        raised as :class:`lmerpy.errors.FitError` ("stop").
    """
    from .control import lmerControl
    from .derivs import compute_derivs
    if control is None:
        control = lmerControl()
    coefs = np.asarray(optsum.theta, dtype=float).ravel()
    lbound = np.asarray(optsum.lower if lower is None else lower, dtype=float).ravel()
    lbound = np.where(np.isnan(lbound), -np.inf, lbound)
    theta_m, lower_m = coefs, lbound
    # a scaled optimization is checked in its own coordinates (those of the rescaled problem)
    coefs, lbound, derivs = to_optimizer_coordinates(optsum, theta_m, lower_m, optsum.derivs)
    messages, code = [], 0

    def finish():
        optsum.conv_messages = list(messages)
        optsum.conv_code = int(code)
        return list(messages)

    cc = control.check_conv_singular
    is_singular = near_bound(coefs, lbound, optsum.upper, cc.tol)
    if cc.action != "ignore" and is_singular:
        messages.append(SINGULAR_MESSAGE)
        emit(SINGULAR_MESSAGE, cc.action)
    if is_singular:
        return finish()

    if derivs is None and compute_missing and devfun is not None:
        derivs = compute_derivs(devfun, theta_m, lower_m, optsum.upper, control.use_gradient,
                                fx=optsum.fmin)
        optsum.derivs = {k: derivs[k] for k in ("gradient", "Hessian", "method")}
        optsum.derivs_evals += int(derivs.get("evals", 0))
        devfun(theta_m)  # leave the deviance's state at the optimum
        coefs, lbound, derivs = to_optimizer_coordinates(optsum, theta_m, lower_m,
                                                         optsum.derivs)
    if derivs is None:
        return finish()

    g = np.asarray(derivs["gradient"], dtype=float)
    cc = control.check_conv_grad
    if np.any(np.isnan(g)):
        code = -5
        messages.append("Gradient contains NAs")
        emit(messages[-1], cc.action)
        return finish()
    factor: list = []        # the Hessian's Cholesky factor, for its check below
    if cc.action != "ignore":
        c, msg = gradient_message(derivs, coefs, cc, factor=factor)
        if msg is not None:
            code = c
            messages.append(msg)
            emit(msg, cc.action)
        if cc.relTol is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = float(np.max(np.abs(g / coefs)))
            if rel > cc.relTol:
                code = -2
                msg = ("Model failed to converge with max|relative grad| = %g (tol = %g)"
                       % (rel, cc.relTol))
                messages.append(msg)
                emit(msg, cc.action)

    cc = control.check_conv_hess
    if cc.action != "ignore":
        H = np.atleast_2d(np.asarray(derivs["Hessian"], dtype=float))
        blocks = []
        if n_theta is not None and coefs.size > n_theta:
            blocks.append((H[n_theta:, n_theta:], "fixed-effect"))
        blocks.append((H, ""))
        for Hb, kind in blocks:
            R = factor[0] if factor and Hb is H and factor[0] is not None else None
            codes, msgs = check_hess(Hb, cc.tol, kind, chol=R)
            if any(c != 0 for c in codes):
                code = codes[0]
                messages.extend(msgs)
                emit(";".join(msgs), cc.action)
    return finish()
