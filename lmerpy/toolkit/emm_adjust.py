"""Multiplicity adjustments of emmeans' tests and intervals (emmeans 1.8's ``.adj.p.value``
and ``.adj.critval``): Tukey (studentized range, one family of pairwise comparisons), Šidák,
Bonferroni, Dunnett's approximation ``dunnettx``, and R's ``p.adjust`` methods (Holm,
Hochberg, Hommel is not here, Benjamini–Hochberg ``fdr``/``BH``, Benjamini–Yekutieli ``BY``).
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
from scipy import stats

from ..display.rformat import zapsmall

__all__ = ["ADJUST_METHODS", "resolve_adjust", "adjust_p", "adjust_message", "critical_values",
           "conf_method", "conf_adjust_message"]

P_ADJUST = ("holm", "hochberg", "BH", "BY", "fdr", "bonferroni", "none")
ADJUST_METHODS = ("tukey", "sidak", "dunnettx") + P_ADJUST


def resolve_adjust(adjust: str, n_contr: int, pairwise_family: bool) -> Tuple[str, Optional[str]]:
    """The method emmeans uses and, when it changes the user's, its note: one contrast is
    never adjusted; Tukey needs one family of pairwise comparisons (else Šidák)."""
    if n_contr == 1:
        return "none", None
    if adjust == "tukey" and not pairwise_family:
        return "sidak", ('Note: adjust = "tukey" was changed to "sidak"\nbecause "tukey" is only '
                         'appropriate for one set of pairwise comparisons')
    return adjust, None


def _tukey_sf(q: np.ndarray, k: float, df: np.ndarray) -> np.ndarray:
    return np.array([stats.studentized_range.sf(qi, k, d if np.isfinite(d) else np.inf)
                     for qi, d in zip(q, df)])


def _pdunnx(x: np.ndarray, k: int, df: np.ndarray) -> np.ndarray:
    """emmeans' ``.pdunnx``: Dunnett's distribution approximated by a blend of the studentized
    range and Šidák's bound (weights (k-1)/k and 1/k)."""
    twt = (k - 1) / k
    m = (1 + math.sqrt(1 + 8 * k)) / 2
    tukey = 1 - _tukey_sf(math.sqrt(2) * x, m, df)
    sidak = np.array([stats.f.cdf(xi ** 2, 1, d) if np.isfinite(d) else stats.chi2.cdf(xi ** 2, 1)
                      for xi, d in zip(x, df)]) ** k
    return twt * tukey + (1 - twt) * sidak


def _p_adjust(p: np.ndarray, method: str) -> np.ndarray:
    """R's ``p.adjust(p, method)`` (n = length(p))."""
    n = p.size
    if method == "none" or n <= 1:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, n * p)
    if method == "holm":
        o = np.argsort(p, kind="stable")
        adj = np.minimum(1.0, np.maximum.accumulate((n - np.arange(n)) * p[o]))
        out = np.empty(n)
        out[o] = adj
        return out
    o = np.argsort(-p, kind="stable")          # decreasing, as R's order(p, decreasing=TRUE)
    i = np.arange(n, 0, -1)
    if method == "hochberg":
        adj = np.minimum(1.0, np.minimum.accumulate((n - i + 1) * p[o]))
    elif method in ("BH", "fdr"):
        adj = np.minimum(1.0, np.minimum.accumulate(n / i * p[o]))
    elif method == "BY":
        q = float(np.sum(1.0 / np.arange(1, n + 1)))
        adj = np.minimum(1.0, np.minimum.accumulate(q * n / i * p[o]))
    else:                                        # pragma: no cover - checked by the caller
        raise ValueError(method)
    out = np.empty(n)
    out[o] = adj
    return out


def adjust_p(t: np.ndarray, df: np.ndarray, method: str, fam_size: int) -> np.ndarray:
    """Adjusted two-sided p-values of one family of tests (one ``by`` group)."""
    df = np.where(np.isnan(df), np.inf, df)
    raw = np.where(np.isfinite(df), 2 * stats.t.sf(np.abs(t), np.where(np.isfinite(df), df, 1)),
                   2 * stats.norm.sf(np.abs(t)))
    n = t.size
    if method in P_ADJUST:
        return _p_adjust(raw, method)
    if method == "sidak":
        return 1 - (1 - raw) ** n
    if method == "tukey":
        return _tukey_sf(math.sqrt(2) * np.abs(t), fam_size, zapsmall(df))
    if method == "dunnettx":
        return 1 - _pdunnx(np.abs(t), n, df)
    raise ValueError(method)                     # pragma: no cover


def _adjust_line(label: str, unit: str, method: str, n_contr: int,
                 fam_size: float) -> Optional[str]:
    if method == "none" or (method == "tukey" and fam_size < 3):
        return None
    extra = (f"for comparing a family of {_count(fam_size)} estimates" if method == "tukey"
             else f"for {n_contr} {unit}")
    return f"{label}: {method} method {extra}"


def adjust_message(method: str, n_contr: int, fam_size: float) -> Optional[str]:
    """emmeans' ``P value adjustment: ...`` line (none for no adjustment, nor for Tukey with
    fewer than three means)."""
    return _adjust_line("P value adjustment", "tests", method, n_contr, fam_size)


def conf_method(adjust: str) -> str:
    """The interval adjustment emmeans uses for a test adjustment (``p.adjust`` methods
    other than Bonferroni have no interval version: Bonferroni's is used)."""
    return adjust if adjust in ("none", "tukey", "sidak", "dunnettx", "bonferroni") \
        else "bonferroni"


def conf_adjust_message(method: str, n_contr: int, fam_size: float) -> Optional[str]:
    """emmeans' ``Conf-level adjustment: ...`` line (its intervals count "estimates")."""
    return _adjust_line("Conf-level adjustment", "estimates", method, n_contr, fam_size)


def _count(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def critical_values(level: float, df: np.ndarray, method: str, n_contr: int,
                    fam_size: int) -> np.ndarray:
    """emmeans' ``.adj.critval``: the multiplier of the SE for adjusted intervals."""
    df = np.where(np.isnan(df), np.inf, df)
    a = 1 - level
    out: List[float] = []
    for d in df:
        if method == "tukey":
            out.append(stats.studentized_range.ppf(level, fam_size, d) / math.sqrt(2))
        elif method == "sidak":
            out.append(stats.t.ppf(0.5 + 0.5 * (1 - a) ** (1 / n_contr), d))
        elif method == "bonferroni":
            out.append(stats.t.ppf(1 - a / (2 * n_contr), d))
        elif method == "dunnettx":
            from scipy.optimize import brentq
            dd = np.array([d])
            out.append(brentq(lambda x: float(_pdunnx(np.array([x]), n_contr, dd)[0]) - level,
                              0.0, 50.0, xtol=1e-12))
        else:
            out.append(stats.t.ppf(1 - a / 2, d))
    return np.asarray(out)
