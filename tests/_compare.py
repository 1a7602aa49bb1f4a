"""Comparing lmerpy's results with lme4's goldens: shared checks, each test's tolerances.

Printed text (R's ``print(summary(fit))``): each test states its own tolerance for two printed
numbers that differ (one unit in the last digit, an exact rounding tie, a relative error); the
helpers here do the shared part: line by line, the text must be the same once its numbers are
masked, and every pair of numbers that differ must pass the test's own check.

Fitted values (lmer and glmer goldens): the log-likelihood, ``VarCorr`` and ``ranef`` compared
with the tolerances each test passes in.
"""
import re

import numpy as np
import pandas as pd
import pytest

#: a printed decimal number: ``0.006364``, ``-12.5``, ``2.78e-06``
NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]\d+)?")


def strip_data_line(text):
    """``text`` without its ``   Data:`` line (R prints the data's name there)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("   Data:"))


def differs_only_in_numbers(got, want, numbers_agree, padding=False):
    """True when ``got`` and ``want`` have as many lines, each the same but for printed numbers,
    and ``numbers_agree(a, b)`` holds for every pair that differs (``a`` from ``got``, ``b``
    from ``want``, as printed). With ``padding``, also the blanks between the columns may
    differ (a column printed with another number of decimals is padded differently)."""
    g_lines, w_lines = got.splitlines(), want.splitlines()
    if len(g_lines) != len(w_lines):
        return False
    for g, w in zip(g_lines, w_lines):
        if g == w:
            continue
        mg, mw = NUMBER.sub("#", g), NUMBER.sub("#", w)
        if (mg.split() != mw.split()) if padding else (mg != mw):
            return False
        for a, b in zip(NUMBER.findall(g), NUMBER.findall(w)):
            if a != b and not numbers_agree(a, b):
                return False
    return True


def decimals(text):
    """How many characters follow the decimal point of a printed number (``"0.0064"``: 4)."""
    return len(text.split(".")[1])


def within_last_digit(a, b):
    """``a`` and ``b`` at most one unit apart in ``a``'s last printed decimal (1.5 units, so
    that the decimal rounding of the two texts does not matter)."""
    return abs(float(a) - float(b)) <= 1.5 * 10.0 ** -decimals(a)


def is_rounding_tie(a, b, values):
    """The midpoint of ``a`` and ``b`` is, to 1e-9 relative, one of ``values`` (in absolute
    value): an exact rounding tie, whose printed digit floating-point noise decides (lme4's
    as much as ours)."""
    mid = (float(a) + float(b)) / 2
    return any(abs(abs(v) - abs(mid)) <= 1e-9 * abs(mid) for v in values)


# ------------------------------------------------------------------ fitted values vs a golden


def fit_at_theta(fit, theta, optimizer=None):
    """The same (lmer) model evaluated at a given θ (lme4's θ̂), through the modular steps;
    ``optimizer``: the name its OptSummary (and a convergence trailer) gives the optimizer
    that reached θ (default: the fit's own)."""
    import dataclasses

    import lmerpy
    opt = dataclasses.replace(fit.optsum, theta=np.asarray(theta, dtype=float),
                              optimizer=optimizer or fit.optsum.optimizer)
    return lmerpy.mkMerMod(fit.devfun, opt, fit.design, data=fit._data, call=fit.call)


def fit_at_lme4_theta(fit, theta):
    """The (lmer) model at lme4's θ̂, to compare what is computed from θ̂ with lme4's numbers.

    lmerpy's fit is the optimum itself, lme4's where its BOBYQA stopped, within xtol_rel =
    1e-4 of it (5e-12 to 5.6e-6 above it in the criterion on the goldens), which moves
    quantities that are not stationary at the optimum (standard errors, sums of squares,
    degrees of freedom, predictions) in their 4th to 6th digits. Asserts that lmerpy's
    optimum is at least as good as lme4's θ̂ (to 1e-9) and the same optimum (its criterion
    within 1e-4 of lme4's, the tolerance of the lmer reference tests). Its optimizer is
    lme4's, which stopped there (``nloptwrap``, named by a summary's convergence trailer)."""
    th = np.asarray(theta, dtype=float)
    assert -1e-9 <= float(fit.devfun(th)) - fit.optsum.fmin <= 1e-4
    return fit_at_theta(fit, th, optimizer="nloptwrap")


def is_better_optimum(fit, ref, ll_abs, require_warning=True):
    """True when lmerpy found a strictly higher log-likelihood (by 1e-6) than lme4 where lme4
    itself warned (``r_warnings``; anywhere with ``require_warning=False``); otherwise assert
    that the log-likelihoods agree within ``ll_abs`` and return False."""
    ll = float(fit.logLik())
    if (ref.get("r_warnings") or not require_warning) and ll > ref["logLik"] + 1e-6:
        return True
    assert ll == pytest.approx(ref["logLik"], abs=ll_abs)
    return False


def assert_varcorr_matches(fit, ref, sd_rel, sd_abs, cor_abs):
    """``VarCorr(fit)`` row by row against the golden's ``varcorr`` (R's
    ``as.data.frame(VarCorr(fit))``): the same groups and names; standard deviations within
    ``sd_rel`` relative or ``sd_abs``, correlations within ``cor_abs``."""
    got = fit.VarCorr().as_dataframe()
    want = pd.DataFrame(ref["varcorr"]).replace({"": None})
    assert len(got) == len(want)
    for (_, g), (_, w) in zip(got.iterrows(), want.iterrows()):
        assert g["grp"] == w["grp"]
        assert (g["var1"] or None) == (w["var1"] or None)
        assert (g["var2"] or None) == (w["var2"] or None)
        if w["var2"] is None:   # a standard deviation
            assert g["sdcor"] == pytest.approx(w["sdcor"], rel=sd_rel, abs=sd_abs)
        else:                   # a correlation
            assert g["sdcor"] == pytest.approx(w["sdcor"], abs=cor_abs)


def assert_ranef_matches(fit, ref, mode_tol, sd_floor, condsd_rel, condsd_abs=None):
    """``ranef(fit, condVar = TRUE)`` against the golden's ``ranef``: the same factors, terms
    and levels; each conditional mode within ``mode_tol`` of its conditional SD (the SD taken
    at least ``sd_floor``) plus 1e-8; the conditional SDs within ``condsd_rel`` relative (or
    ``condsd_abs``; None: pytest.approx's default)."""
    re_ = fit.ranef(condVar=True)
    assert list(re_.keys()) == list(ref["ranef"])
    for name, block in ref["ranef"].items():
        frame = re_[name]
        assert list(frame.columns) == list(block["columns"])
        assert [str(x) for x in frame.index] == [str(x) for x in block["levels"]]
        vals = np.asarray(block["values"], dtype=float)
        sd = np.asarray(block["condsd"], dtype=float)
        scale = np.maximum(sd, sd_floor)
        assert np.all(np.abs(frame.to_numpy() - vals) <= mode_tol * scale + 1e-8)
        assert re_.condsd(name).to_numpy() == pytest.approx(sd, rel=condsd_rel, abs=condsd_abs)


def richardson_gradient(f, x, h0=1e-3, size=None):
    """The gradient of ``f`` at ``x`` by central differences at h, h/2, h/4 with two
    Richardson steps (error O(h⁶)); h = h0·max(1, |x_k|), divided by ``size[k]`` if given."""
    x = np.asarray(x, dtype=float)
    g = np.zeros(x.shape[0])
    for k in range(x.shape[0]):
        h = h0 * max(1.0, abs(x[k]))
        if size is not None:
            h /= size[k]
        e = np.zeros_like(x)
        e[k] = 1.0

        def D(s):
            return (f(x + s * e) - f(x - s * e)) / (2 * s)
        d1, d2, d4 = D(h), D(h / 2), D(h / 4)
        r1, r2 = (4 * d2 - d1) / 3, (4 * d4 - d2) / 3
        g[k] = (16 * r2 - r1) / 15
    return g
