"""Denominator degrees of freedom for t and F tests of fixed effects: Satterthwaite (as
lmerTest) and Kenward–Roger (as pbkrtest).

R equivalents: ``lmerTest::summary(fit, ddf = "Satterthwaite" | "Kenward-Roger")``
(``$coefficients`` with ``df`` and ``Pr(>|t|)``), ``lmerTest::anova(fit, type = 3, ddf = …)``,
``lmerTest::contest1D`` / ``contestMD``, and for Kenward–Roger ``pbkrtest::vcovAdj``,
``pbkrtest::Lb_ddf`` and ``pbkrtest::KRmodcomp``.

Satterthwaite: with varpar = (par, σ) (par is θ for unstructured terms; for ``cs``/``ar1``
lme4 2.x's relative SDs and ρ, θ(par) inside the deviance), A = 2H⁻¹ where H is the Hessian of the unprofiled deviance
D(θ, σ) = log|L_θ|² + r²_θ/σ² + n log(2πσ²) (REML: + log|R_X|² − p log(2πσ²)), and
C(varpar) = σ²(R_X'R_X)⁻¹ = Var(β̂), a contrast l gets ν = 2(l'Cl)² / (g'Ag) with
g_k = l'(∂C/∂varpar_k)l. H is exact in σ and Richardson-extrapolated central differences in θ
(numDeriv's scheme, which lmerTest uses); ∂C/∂θ likewise. Multi-row hypotheses combine the
eigen-directions of LCL' as lmerTest does.
"""
from __future__ import annotations

import math
import weakref

import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import solve_triangular

from ..arguments import Choice
from ..design.scales import coordinate_scale
from ..errors import LmerpyError
from ..warnings import DdfWarning, warn
from .anova_table import AnovaTable, anova_table

__all__ = [
    "DDF_METHODS",
    "anova_ddf",
    "coef_table_ddf",
    "contest1D",
    "contestMD",
    "ddf_method",
    "satterthwaite_pieces",
]

DDF_METHODS = ("Satterthwaite", "Kenward-Roger")
_DDF_ALIASES = {"KR": "Kenward-Roger", "kenward_roger": "Kenward-Roger",
                "kenwardroger": "Kenward-Roger", "kenward roger": "Kenward-Roger"}
#: ``ddf`` of the t and F tests (case ignored, "KR" accepted); summary also takes "lme4"
DDF = Choice(DDF_METHODS, aliases=_DDF_ALIASES, fold_case=True)
SUMMARY_DDF = Choice(DDF_METHODS + ("lme4",), aliases=_DDF_ALIASES, fold_case=True, none=True)
#: ``type`` of the F tests
ANOVA_TYPE = Choice(("I", "II", "III"), fold_case=True,
                    aliases={1: "I", 2: "II", 3: "III", "1": "I", "2": "II", "3": "III"},
                    what="1, 2 or 3 (or 'I', 'II', 'III')")
_LOG2PI = math.log(2.0 * math.pi)
_ZERO_TOL = math.sqrt(np.finfo(float).eps / 7e-7)   # numDeriv's zero.tol
_SQRT_EPS = math.sqrt(np.finfo(float).eps)
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def ddf_method(ddf, caller=None):
    """The method's canonical name (``"Satterthwaite"``, ``"Kenward-Roger"``) from a ``ddf``
    argument (None: Satterthwaite); an ArgumentError for anything else."""
    if ddf is None:
        return "Satterthwaite"
    return DDF("ddf", ddf, caller)


def _check_lmm(fit):
    if getattr(fit, "r_kind", "lmer") != "lmer" or not hasattr(fit, "devfun"):
        raise LmerpyError("denominator degrees of freedom (Satterthwaite, Kenward-Roger) are "
                          "only available for linear mixed models (lmer fits)")


# ---------------------------------------------------------------------------------- Richardson


def _richardson(values):
    """numDeriv's extrapolation of r successive estimates (steps halved each time)."""
    a = [np.asarray(v, dtype=float) for v in values]
    r = len(a)
    for m in range(1, r):
        a = [(a[k + 1] * 4 ** m - a[k]) / (4 ** m - 1) for k in range(r - m)]
    return a[0]


def _steps(x, d, eps=1e-4, limit=None):
    """numDeriv's first steps; ``limit`` (optional) caps them per coordinate (half the
    distance to a bound the deviance is undefined beyond: a correlation's ±1)."""
    h = np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL)
    if limit is not None:
        h = np.where(limit > 0, np.minimum(h, limit), h)
    return h


def _hessian_richardson(F, x, d=0.1, r=4, limit=None):
    """Gradient and Hessian of every component of a vector function F by numDeriv's ``genD``
    scheme (central differences, steps h0 = |d·x| (eps near 0; at most ``limit``) halved r
    times, Richardson).

    Returns (f0, grad (k × n), hess (k × n × n)).
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    f0 = np.asarray(F(x), dtype=float)
    h0 = _steps(x, d, limit=limit)
    grad = np.zeros((f0.size, n))
    hess = np.zeros((f0.size, n, n))
    for i in range(n):
        da, ha = [], []
        h = h0.copy()
        for _ in range(r):
            e = np.zeros(n)
            e[i] = h[i]
            f1, f2 = np.asarray(F(x + e)), np.asarray(F(x - e))
            da.append((f1 - f2) / (2 * h[i]))
            ha.append((f1 - 2 * f0 + f2) / h[i] ** 2)
            h = h / 2
        grad[:, i] = _richardson(da)
        hess[:, i, i] = _richardson(ha)
    for i in range(n):
        for j in range(i):
            da = []
            h = h0.copy()
            for _ in range(r):
                e = np.zeros(n)
                e[i], e[j] = h[i], h[j]
                f1, f2 = np.asarray(F(x + e)), np.asarray(F(x - e))
                da.append((f1 - 2 * f0 + f2 - hess[:, i, i] * h[i] ** 2
                           - hess[:, j, j] * h[j] ** 2) / (2 * h[i] * h[j]))
                h = h / 2
            hess[:, i, j] = hess[:, j, i] = _richardson(da)
    return f0, grad, hess


def _jacobian_richardson(F, x, d=1e-4, r=4, limit=None):
    """numDeriv's Richardson ``jacobian``: a list of dF/dx_i (same shape as F(x))."""
    x = np.asarray(x, dtype=float)
    h0 = _steps(x, d, limit=limit)
    out = []
    for i in range(x.size):
        h = h0.copy()
        a = []
        for _ in range(r):
            e = np.zeros(x.size)
            e[i] = h[i]
            a.append((np.asarray(F(x + e)) - np.asarray(F(x - e))) / (2 * h[i]))
            h = h / 2
        out.append(_richardson(a))
    return out


# ---------------------------------------------------------------------------------- Satterthwaite


class SatterthwaitePieces:
    """What lmerTest adds to a fit (R: the slots of an ``lmerModLmerTest`` object).

    Attributes
    ----------
    beta : ndarray
    sigma : float
    vcov_beta : ndarray (p, p)
        σ̂²(R_X'R_X)⁻¹.
    hessian : ndarray (k, k)
        Hessian of D(θ, σ) at (θ̂, σ̂), k = length(θ) + 1.
    vcov_varpar : ndarray (k, k)
        2H⁻¹ over H's positive eigenvalues (lmerTest's ``vcov_varpar``).
    jacobian : list of ndarray (p, p)
        ∂Var(β̂)/∂varpar_k (lmerTest's ``Jac_list``).
    warnings : list of str
        lmerTest's messages about negative or near-zero eigenvalues of H.
    """

    def __init__(self, fit, tol=1e-8):
        from .profile import LmmPieces
        _check_lmm(fit)
        pieces = LmmPieces(fit)
        reml = bool(fit.REML)
        n, p = pieces.n, pieces.p
        m = n - p if reml else n
        theta = np.asarray(fit.par, dtype=float).copy()    # θ for unstructured terms
        sigma = float(fit.sigma())
        self.beta = fit.fixef().to_numpy()
        self.sigma = sigma
        self.vcov_beta = np.asarray(fit.vcov(), dtype=float)
        self.REML = reml

        # θ in the coordinates of the rescaled random-effects columns (identity unless a
        # column is on an extreme scale, see lmerpy.optimize.coords): numDeriv's steps and
        # the eigenvalue tolerance are then those of the rescaled problem
        sc = coordinate_scale(fit.design) if fit.design.layout.is_identity else None
        sc = np.ones(theta.size) if sc is None else np.asarray(sc, dtype=float)
        scaled = not np.all(sc == 1.0)
        if scaled:
            theta = theta / sc

        def F(th):
            ld, ldrx, r2, _, _ = pieces(sc * th if scaled else th)
            return np.array([ld + (ldrx if reml else 0.0), r2])

        nth = theta.size
        # a correlation (cs/ar1's ρ) has finite bounds beyond which θ(par) is undefined
        up = np.asarray(getattr(fit.design, "upper", np.full(nth, np.inf)), dtype=float)
        lo = np.asarray(fit.design.lower, dtype=float)
        limit = None
        if np.isfinite(up).any():
            limit = np.where(np.isfinite(up), 0.5 * np.minimum(up - theta, theta - lo), 0.0)
            if np.any(np.isfinite(up) & (limit <= 0)):
                raise LmerpyError("Satterthwaite's method needs the deviance's Hessian at the "
                                  "estimates: a correlation parameter is on its bound "
                                  "(singular fit) in par = "
                                  + ", ".join(f"{v:.6g}" for v in theta))
        (_, r2), grad, hess = _hessian_richardson(F, theta, limit=limit)
        H = np.empty((nth + 1, nth + 1))
        s2 = sigma * sigma
        H[:nth, :nth] = hess[0] + hess[1] / s2
        H[:nth, nth] = H[nth, :nth] = -2.0 * grad[1] / sigma ** 3
        H[nth, nth] = 6.0 * r2 / s2 ** 2 - 2.0 * m / s2
        self.hessian = H
        evals, evecs = np.linalg.eigh(H)
        evals, evecs = evals[::-1], evecs[:, ::-1]          # R's eigen(): decreasing
        self.warnings: list[str] = []
        neg = evals < -tol
        zero = (evals > -tol) & (evals < tol)
        if neg.any():
            k = int(neg.sum())
            self.warnings.append(
                f"Model failed to converge with {k} negative "
                f"{'eigenvalues' if k > 1 else 'eigenvalue'}: "
                + " ".join(f"{v:.1e}" for v in evals[neg]))
        if zero.any():
            k = int(zero.sum())
            self.warnings.append(
                f"Model may not have converged with {k} "
                f"{'eigenvalues' if k > 1 else 'eigenvalue'} close to zero: "
                + " ".join(f"{v:.1e}" for v in evals[zero]))
        pos = evals > tol
        V = evecs[:, pos]
        self.vcov_varpar = 2.0 * (V / evals[pos]) @ V.T

        def cov_beta(th):
            RX = pieces(sc * th if scaled else th)[4]
            Ri = solve_triangular(RX, np.eye(p))
            return Ri @ Ri.T

        jac = [s2 * J for J in _jacobian_richardson(cov_beta, theta, limit=limit)]
        jac.append(2.0 * sigma * cov_beta(theta))
        if scaled:      # back to the model's θ: H/(s s'), 2H⁻¹ → S(2H⁻¹)S, ∂/∂θ = ∂/∂θ_s / s
            full = np.append(sc, 1.0)
            self.hessian = H / np.outer(full, full)
            self.vcov_varpar = self.vcov_varpar * np.outer(full, full)
            jac = [J / f for J, f in zip(jac, full)]
        self.jacobian = jac

    def ddf(self, L):
        """Satterthwaite's ν for the contrast vector L, and L'Var(β̂)L."""
        L = np.asarray(L, dtype=float)
        var_con = float(L @ self.vcov_beta @ L)
        g = np.array([L @ J @ L for J in self.jacobian])
        denom = float(g @ self.vcov_varpar @ g)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2.0 * var_con ** 2 / denom, var_con


def satterthwaite_pieces(fit) -> SatterthwaitePieces:
    """The Satterthwaite ingredients of a fit (cached per fit object)."""
    key = ("Satterthwaite",)
    cache = _CACHE.setdefault(fit, {})
    if key not in cache:
        sp = SatterthwaitePieces(fit)
        for w in sp.warnings:
            warn(w, DdfWarning)
        cache[key] = sp
    return cache[key]


def _kr_pieces(fit):
    from .kenward_roger import kr_pieces
    if not getattr(fit, "REML", False):
        raise LmerpyError("Kenward-Roger's method is only available for REML model fits")
    key = ("Kenward-Roger",)
    cache = _CACHE.setdefault(fit, {})
    if key not in cache:
        cache[key] = kr_pieces(fit)
    return cache[key]


# ---------------------------------------------------------------------------------- tests


def contest1D(fit, L, ddf="Satterthwaite", rhs=0.0) -> dict[str, float]:
    """t test of one contrast l'β = rhs (R: ``lmerTest::contest1D``).

    Returns
    -------
    dict
        ``Estimate``, ``Std. Error``, ``df``, ``t value``, ``Pr(>|t|)``.
    """
    _check_lmm(fit)
    method = ddf_method(ddf)
    L = np.asarray(L, dtype=float).reshape(-1)
    beta = fit.fixef().to_numpy()
    if L.size != beta.size:
        raise LmerpyError(f"the contrast has {L.size} entries; the model has {beta.size} "
                          "fixed effects")
    est = float(L @ beta)
    if method == "Kenward-Roger":
        kr = _kr_pieces(fit)
        var_con = float(L @ kr.vcov_adj @ L)
        df = kr.ddf(L[None, :])
    else:
        df, var_con = satterthwaite_pieces(fit).ddf(L)
    se = math.sqrt(var_con)
    t = (est - rhs) / se
    p = 2.0 * stats.t.sf(abs(t), df)
    return {"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p}


def _get_Fstat_ddf(nu, tol=1e-8):
    nu = np.asarray(nu, dtype=float)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2.0 * E / (E - nu.size)


def contestMD(fit, L, ddf="Satterthwaite", eps=_SQRT_EPS):
    """F test of Lβ = 0 (R: ``lmerTest::contestMD``).

    Returns
    -------
    dict or None
        ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``, ``F value``, ``Pr(>F)``; None for an
        empty hypothesis (R gives no row).
    """
    _check_lmm(fit)
    method = ddf_method(ddf)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[0] == 0:
        return None
    sigma = float(fit.sigma())

    def table(F, ndf, ddf_, Fscale=1.0):
        ms = F * sigma ** 2
        Fv = F * Fscale
        return {"Sum Sq": ms * ndf, "Mean Sq": ms, "NumDF": ndf, "DenDF": ddf_, "F value": Fv,
                "Pr(>F)": float(stats.f.sf(Fv, ndf, ddf_))}

    if method == "Kenward-Roger":
        kr = _kr_pieces(fit)
        res = kr.ftest(L, fit.fixef().to_numpy())
        return table(res["FstatU"], res["ndf"], res["ddf"], res["F.scaling"])
    if L.shape[0] == 1:
        r = contest1D(fit, L[0], ddf=method)
        return table(r["t value"] ** 2, 1, r["df"])
    sp = satterthwaite_pieces(fit)
    VL = L @ sp.vcov_beta @ L.T
    d, P = np.linalg.eigh(VL)
    d, P = d[::-1], P[:, ::-1]
    tol = max(eps * d[0], 0.0)
    pos = d > tol
    q = int(pos.sum())
    if q <= 0:
        return None
    PtL = (P.T @ L)[:q]
    if q == 1:
        r = contest1D(fit, PtL[0], ddf=method)
        return table(r["t value"] ** 2, 1, r["df"])
    t2 = (PtL @ sp.beta) ** 2 / d[:q]
    F = float(t2.sum() / q)
    nu = [sp.ddf(PtL[m])[0] for m in range(q)]
    return table(F, q, _get_Fstat_ddf(nu))


# ---------------------------------------------------------------------------------- tables


def coef_table_ddf(fit, ddf="Satterthwaite") -> pd.DataFrame:
    """The coefficient table with degrees of freedom and p-values (R: lmerTest's
    ``summary(fit, ddf = …)$coefficients``).

    Parameters
    ----------
    fit : LinearMixedModel
    ddf : {"Satterthwaite", "Kenward-Roger"}
        Kenward–Roger needs a REML fit; its standard errors are from pbkrtest's bias-adjusted
        covariance matrix (``vcovAdj``).

    Returns
    -------
    DataFrame
        Columns ``Estimate``, ``Std. Error``, ``df``, ``t value``, ``Pr(>|t|)``, one row per
        fixed effect.
    """
    _check_lmm(fit)
    method = ddf_method(ddf)
    names = list(fit.design.X_colnames)
    p = len(names)
    rows = [contest1D(fit, np.eye(p)[i], ddf=method) for i in range(p)]
    cols = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    return pd.DataFrame([[r[c] for c in cols] for r in rows], index=names, columns=cols,
                        dtype=float)


def _hypotheses(fit, type):
    from .hypotheses import contrasts_type1, contrasts_type2, contrasts_type3
    kind = ANOVA_TYPE("type", type, "anova")
    fun = {"I": contrasts_type1, "II": contrasts_type2, "III": contrasts_type3}[kind]
    return kind, fun(fit)


def anova_ddf(fit, type=3, ddf="Satterthwaite"):
    """F tests of the fixed-effect terms with denominator degrees of freedom (R: lmerTest's
    ``anova(fit, type = 3, ddf = "Satterthwaite")``).

    Parameters
    ----------
    fit : LinearMixedModel
    type : {1, 2, 3} or {"I", "II", "III"}
        Sequential, type II (marginal for terms contained in no other) or type III hypotheses,
        built as lmerTest builds them.
    ddf : {"Satterthwaite", "Kenward-Roger"}

    Returns
    -------
    AnovaTable
        Columns ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``, ``F value``, ``Pr(>F)``; its
        ``str()`` prints as lmerTest (``Type III Analysis of Variance Table with
        Satterthwaite's method``).
    """
    method = ddf_method(ddf, "anova")
    _check_lmm(fit)
    kind, Ls = _hypotheses(fit, type)
    cols = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
    rows, names, missing = [], [], []
    for lab, L in Ls.items():
        res = contestMD(fit, L, ddf=method)
        if res is None:
            missing.append(lab)
            continue
        rows.append([res[c] for c in cols])
        names.append(lab)
    for lab in missing:
        rows.append([np.nan] * len(cols))
        names.append(lab)
    what = "Satterthwaite's" if method == "Satterthwaite" else "Kenward-Roger's"
    heading = [f"Type {kind} Analysis of Variance Table with {what} method"]
    values = np.array(rows, dtype=float).reshape(len(rows), len(cols))
    out = anova_table(values, names, cols, heading)
    if not rows:
        out = _EmptyAnova(out)
        out.heading = heading
    return out


def _empty_text(self, *args, **kwargs):
    # R prints a 0-row matrix as its column names after a 5-character row-name field
    head = "".join(h + "\n" for h in (self.heading or []))
    return head + "     " + " ".join(str(c) for c in self.columns)


def _empty_anova_class():
    return type("AnovaTable", (AnovaTable,), {"to_text": _empty_text})


class _EmptyAnovaFactory:
    """An :class:`~lmerpy.inference.anova.AnovaTable` with no rows that prints as R does."""

    _cls = None

    def __call__(self, table):
        if self._cls is None:
            self._cls = _empty_anova_class()
        return self._cls(table)


_EmptyAnova = _EmptyAnovaFactory()
