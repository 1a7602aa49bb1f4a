"""The abstract :class:`Covariance`: one random-effects term's covariance parameterisation.

A term with k columns has a k × k covariance matrix Σᵢ = σ² Λᵢ Λᵢ' (σ² the residual variance
of an LMM, 1 for a GLMM without a scale), with Λᵢ lower triangular. Three vectors describe it,
named as in lme4 2.x (R/covariance.R):

``par``
    what the optimizer moves, with bounds ``lower``/``upper`` and lme4's ``start``
    (``getME(fit, "par")``). For ``us`` it is θ itself (lme4 1.1's parameterisation); for
    ``diag`` the relative standard deviations; for ``cs`` and ``ar1`` the relative standard
    deviations (one, or one per column) followed by the correlation ρ.
``theta``
    the distinct structurally nonzero values of Λᵢ (``getME(fit, "theta")``): Λᵢ is *linear*
    in θ, Λᵢ[rows[e], cols[e]] = θ[theta_index[e]] for each entry e of the pattern, so the
    numerical core (Λ' template, ``Lind``, gradient, AI matrix) works in θ unchanged. θ is a
    nonlinear function of ``par`` for ``cs`` and ``ar1`` (:meth:`Covariance.par_to_theta`, its
    Jacobian :meth:`Covariance.theta_jacobian` for the chain rule).
``profpar``
    the "sdcor" scale of profiles and confidence intervals: all standard deviations of the
    term (times σ), then its correlations (``getProfPar``).

The pattern is listed in the order of lme4's ``Lambdat`` block (CSC of Λᵢ', that is Λᵢ row by
row, columns increasing): ``pattern()`` gives (rows, cols) of Λᵢ, ``theta_index`` the θ of each.

R equivalent: lme4 2.1's virtual class ``Covariance`` and its generics (``getPar``,
``getTheta``, ``getThetaIndex``, ``setTheta``, ``getLower``, ``getUpper``, ``getLambda``,
``getVC``, ``setVC``, ``getProfPar``, ``setProfPar``, ``getParNames``, ``getThetaNames``,
``getVCNames``, ``isSingular``); MixedModels.jl's ``ReMat.λ``/``setθ!``/``lowerbd``.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import ArgumentError

__all__ = ["Covariance", "ParIsTheta", "SINGULAR_TOL", "PROFILE_SCALES", "lower_triangle",
           "unstructured_pattern", "semidefinite_cholesky"]

#: :meth:`Covariance.theta_groups` per structure (immutable, hashable by kind, k and hom)
_THETA_GROUPS: dict = {}

#: lme4's ``getSingTol()`` (``options(lme4.singular.tolerance = 1e-4)``)
SINGULAR_TOL = 1e-4

#: lme4's ``profscale`` values: standard deviations and correlations, or variances and
#: covariances
PROFILE_SCALES = ("sdcor", "varcov")


def lower_triangle(k: int) -> Tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the k × k lower triangle in column-major order (lme4's θ order for an
    unstructured term: L[0,0], L[1,0], …, L[k-1,0], L[1,1], …)."""
    cols, rows = np.triu_indices(k)
    return rows.astype(np.int64), cols.astype(np.int64)


def unstructured_pattern(k: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The full lower-triangular pattern of Λᵢ in ``Lambdat`` order (row by row of Λᵢ) with
    each entry's position in the column-major lower triangle: (rows, cols, index).

    Row r, column s ≤ r sits at s·k − s(s−1)/2 + (r − s) (0-based) of the column-major order,
    as in ``lmerpy.design.reterms.theta_layout`` and lme4's ``getThetaIndex.us``.
    """
    rows, cols, idx = [], [], []
    for r in range(k):
        for s in range(r + 1):
            rows.append(r)
            cols.append(s)
            idx.append(s * k - s * (s - 1) // 2 + (r - s))
    return (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64),
            np.array(idx, dtype=np.int64))


def semidefinite_cholesky(S: np.ndarray) -> np.ndarray:
    """Lower-triangular L with LL' = S for a positive semi-definite S; where a pivot vanishes
    (a zero standard deviation, a correlation of ±1) its column is zero. Diagonals are ≥ 0.

    R's ``lme4:::semichol`` takes an eigen/QR route for the semi-definite case, whose factor can
    have negative diagonals (outside the bounds of ``us``); here the pivots stay ≥ 0.
    """
    try:
        return np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        pass
    p = S.shape[0]
    L = np.zeros_like(S, dtype=float)
    tol = 1e-14 * max(1.0, float(np.max(np.abs(np.diag(S))))) if p else 0.0
    for j in range(p):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if d <= tol:
            continue
        L[j, j] = math.sqrt(d)
        L[j + 1:, j] = (S[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def _as_vector(value, n: int, what: str, owner) -> np.ndarray:
    v = np.array(value, dtype=float).reshape(-1)
    if v.shape[0] != n:
        raise ArgumentError(f"{what} has length {v.shape[0]}, expected {n} for {owner!r}")
    return v


class Covariance(ABC):
    """One term's covariance structure with k columns (abstract; see the module docstring).

    Parameters
    ----------
    k : int
        Number of columns of the term (``nc`` in lme4), at least 1.
    hom : bool, optional
        Homogeneous variances (one standard deviation shared by all columns); the default is
        lme4's for the structure (``diag``: False, ``cs``: False, ``ar1``: True). ``us`` has no
        ``hom``.

    Instances are immutable values: equal (and hashing equal) when kind, k and hom agree.
    """

    #: lme4's name of the structure (``Covariance.<kind>``; the call in a formula)
    kind: ClassVar[str] = ""
    #: lme4's default ``hom`` (None: the structure has no ``hom``)
    default_hom: ClassVar[Optional[bool]] = None

    __slots__ = ("_k", "_hom")
    _k: int                  # (slots: annotations only, for type checkers)
    _hom: Optional[bool]

    def __init__(self, k: int, hom: Optional[bool] = None):
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ArgumentError(f"{self.kind}(): the number of columns k must be an integer "
                                f">= 1; got {k!r}")
        if self.default_hom is None:
            if hom is not None:
                raise ArgumentError(f"{self.kind}() has no argument 'hom'; got hom={hom!r}")
        elif hom is None:
            hom = self.default_hom
        elif not isinstance(hom, (bool, np.bool_)):
            raise ArgumentError(f"'hom' is not TRUE or FALSE in {self.kind}(); got {hom!r}")
        object.__setattr__(self, "_k", int(k))
        object.__setattr__(self, "_hom", None if hom is None else bool(hom))

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other):
        return (type(other) is type(self) and other._k == self._k
                and other._hom == self._hom)

    def __hash__(self):
        return hash((type(self).__name__, self._k, self._hom))

    def __reduce__(self):
        return (type(self), (self._k,) if self._hom is None else (self._k, self._hom))

    def __repr__(self):
        hom = "" if self._hom is None else f", hom={self._hom}"
        return f"{type(self).__name__}(k={self._k}{hom})"

    # -- identity -------------------------------------------------------------------------
    @property
    def k(self) -> int:
        """Number of columns (lme4's ``nc``)."""
        return self._k

    @property
    def hom(self) -> Optional[bool]:
        """Homogeneous variances (None for ``us``)."""
        return self._hom

    @property
    def is_identity(self) -> bool:
        """θ and ``par`` are the same vector (``us``, ``diag``): no chain rule needed."""
        return False

    # -- sizes ----------------------------------------------------------------------------
    @property
    @abstractmethod
    def n_par(self) -> int:
        """Length of ``par`` (``getParLength``)."""

    @property
    @abstractmethod
    def n_theta(self) -> int:
        """Length of θ (``getThetaLength``)."""

    @property
    def n_sd(self) -> int:
        """Number of standard deviations in ``par`` (1 when ``hom``, else k)."""
        return 1 if self._hom else self._k

    # -- Λᵢ's pattern ---------------------------------------------------------------------
    @abstractmethod
    def pattern(self) -> Tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of Λᵢ's structural nonzeros (lower triangle) in ``Lambdat`` order:
        row by row of Λᵢ, columns increasing (R: ``getLambdat.dp``/``getLambdat.i``)."""

    @property
    @abstractmethod
    def theta_index(self) -> np.ndarray:
        """0-based θ index of each pattern entry (R: ``getThetaIndex`` − 1)."""

    def lambdat_counts(self) -> np.ndarray:
        """Entries per column of Λᵢ' (R: ``getLambdat.dp``)."""
        rows = self.pattern()[0]
        return np.bincount(rows, minlength=self._k).astype(np.int64)

    def theta_groups(self) -> List[np.ndarray]:
        """θ indices grouped so that each group's θ appear only in its own columns of Λᵢ
        (connected components of "column uses θ"): Λᵢ Λᵢ' is a sum of one homogeneous
        quadratic per group, which the Euler term of ``newton_ai`` needs. For ``us`` these are
        the columns of the template (``lmerpy.pls.lmm.information.template_columns``).
        Computed once per structure (the object is immutable); new arrays each call."""
        cached = _THETA_GROUPS.get(self)
        if cached is None:
            cached = _THETA_GROUPS[self] = self._theta_groups()
        return [g.copy() for g in cached]

    def _theta_groups(self) -> List[np.ndarray]:
        rows, cols = self.pattern()
        tidx = self.theta_index
        parent = list(range(self.n_theta))

        def find(a):
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a
        for c in range(self._k):
            ts = tidx[cols == c]
            for t in ts[1:]:
                ra, rb = find(int(ts[0])), find(int(t))
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        groups: dict = {}
        for t in range(self.n_theta):
            groups.setdefault(find(t), []).append(t)
        return [np.array(g, dtype=np.int64) for _, g in sorted(groups.items())]

    def par_groups(self) -> List[np.ndarray]:
        """``par`` indices in each of which Σᵢ is a homogeneous quadratic with the other
        parameters fixed and which no other group's quadratic involves (the Euler term of
        ``newton_ai`` on the ``par`` scale): the θ groups for ``us``, the standard deviations
        for the others (a correlation ρ belongs to no group)."""
        return [np.arange(self.n_sd, dtype=np.int64)]

    # -- parameters -----------------------------------------------------------------------
    @property
    @abstractmethod
    def start(self) -> np.ndarray:
        """lme4 2.1's starting ``par`` (``new("Covariance.<kind>", nc = k)``): standard
        deviations 1, correlations 0 (``us``: θ = 1 on the diagonal, 0 off it)."""

    @property
    @abstractmethod
    def lower(self) -> np.ndarray:
        """Lower bounds of ``par`` (``getLower``)."""

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds of ``par`` (``getUpper``): ∞, and 1 for a correlation."""
        return np.full(self.n_par, np.inf)

    def check_par(self, par) -> np.ndarray:
        """``par`` as a float vector of the right length (ArgumentError otherwise)."""
        return _as_vector(par, self.n_par, "par", self)

    def check_theta(self, theta) -> np.ndarray:
        """θ as a float vector of the right length (ArgumentError otherwise)."""
        return _as_vector(theta, self.n_theta, "theta", self)

    @abstractmethod
    def par_to_theta(self, par) -> np.ndarray:
        """θ from ``par`` (R: ``getTheta(setPar(object, par))``)."""

    @abstractmethod
    def theta_to_par(self, theta) -> np.ndarray:
        """``par`` from θ (R: ``getPar(setTheta(object, theta))``)."""

    @abstractmethod
    def theta_jacobian(self, par) -> np.ndarray:
        """∂θ/∂par (n_theta × n_par) at ``par``: the chain rule from the gradient in θ to the
        gradient in ``par`` (g_par = J'g_θ; the AI matrix J'H_θJ)."""

    # -- Λᵢ and Σᵢ ------------------------------------------------------------------------
    def lambda_from_theta(self, theta) -> np.ndarray:
        """Λᵢ (k × k, lower triangular) with θ at its pattern."""
        th = self.check_theta(theta)
        rows, cols = self.pattern()
        L = np.zeros((self._k, self._k))
        L[rows, cols] = th[self.theta_index]
        return L

    def lambda_(self, par) -> np.ndarray:
        """Λᵢ at ``par`` (R: ``getLambda``)."""
        return self.lambda_from_theta(self.par_to_theta(par))

    def lambda_jacobian(self, par) -> np.ndarray:
        """∂Λᵢ/∂par_m (n_par × k × k) at ``par``: the template of each θ weighted by ∂θ/∂par_m
        (for ``us`` and ``diag`` the constant 0/1 templates)."""
        J = self.theta_jacobian(par)
        rows, cols = self.pattern()
        out = np.zeros((self.n_par, self._k, self._k))
        out[:, rows, cols] = J[self.theta_index].T
        return out

    def covariance(self, par) -> np.ndarray:
        """Σᵢ/σ² = ΛᵢΛᵢ' (k × k) at ``par``."""
        L = self.lambda_(par)
        return L @ L.T

    # -- standard deviations and correlations ---------------------------------------------
    @abstractmethod
    def vc(self, par) -> Tuple[np.ndarray, np.ndarray]:
        """(relative standard deviations, correlations) of the parameterisation (R:
        ``getVC``): ``us`` all k SDs and the k(k−1)/2 correlations of the lower triangle in
        column-major order; ``diag`` its SDs and none; ``cs``/``ar1`` the SDs of ``par`` (one
        when ``hom``) and ρ."""

    @abstractmethod
    def from_vc(self, vcomp, ccomp) -> np.ndarray:
        """``par`` from :meth:`vc`'s values (R: ``setVC``)."""

    def profpar(self, par, sigma: Optional[float] = None, scale: str = "sdcor") -> np.ndarray:
        """The profile scale (R: ``getProfPar(object, profscale, sc = sigma)``): the SDs times
        σ, then the correlations; ``scale="varcov"`` gives variances and covariances instead
        (``us`` and ``diag`` only, as in lme4)."""
        scale = self._check_scale(scale)
        vcomp, ccomp = self.vc(par)
        if sigma is not None:
            vcomp = vcomp * sigma
        if scale == "varcov":
            ccomp = self._cov_from_cor(vcomp, ccomp)
            vcomp = vcomp * vcomp
        return np.concatenate([vcomp, ccomp])

    def from_profpar(self, value, sigma: Optional[float] = None,
                     scale: str = "sdcor") -> np.ndarray:
        """``par`` from :meth:`profpar`'s values (R: ``setProfPar``; here ``sigma`` is the
        residual SD for both scales, where lme4's ``setProfPar`` takes σ² on "varcov")."""
        scale = self._check_scale(scale)
        v = _as_vector(value, self.n_par, "value", self)
        nv = self.n_sd
        vcomp, ccomp = v[:nv], v[nv:]
        if scale == "varcov":
            vcomp = np.sqrt(vcomp)
            ccomp = self._cor_from_cov(vcomp, ccomp)
        if sigma is not None:
            vcomp = vcomp / sigma
        return self.from_vc(vcomp, ccomp)

    def prof_lower(self, scale: str = "sdcor") -> np.ndarray:
        """Lower bounds on the profile scale (R: ``getProfLower``)."""
        self._check_scale(scale)
        return self.lower

    def prof_upper(self, scale: str = "sdcor") -> np.ndarray:
        """Upper bounds on the profile scale (R: ``getProfUpper``)."""
        self._check_scale(scale)
        return self.upper

    def _check_scale(self, scale):
        if scale not in PROFILE_SCALES:
            raise ArgumentError(f"profscale must be one of {', '.join(PROFILE_SCALES)}; "
                                f"got {scale!r}")
        if scale == "varcov" and not self._has_varcov:
            raise ArgumentError(f'profscale="varcov" not implemented for class '
                                f'"Covariance.{self.kind}"')
        return scale

    _has_varcov: ClassVar[bool] = False

    def _cov_from_cor(self, vcomp, ccomp):
        return ccomp

    def _cor_from_cov(self, vcomp, ccomp):
        return ccomp

    # -- names ----------------------------------------------------------------------------
    def _check_names(self, cnms, group):
        cn = [str(c) for c in cnms]
        if len(cn) != self._k:
            raise ArgumentError(f"cnms has {len(cn)} names, expected {self._k} for {self!r}")
        return cn, str(group)

    @staticmethod
    def _name(group, cnm, prefix=None, old=True):
        """lme4's ``paste0(gnm, ".", cnm)`` (old) or ``paste0([prf_], cnm, "|", gnm)``."""
        if old:
            return f"{group}.{cnm}"
        return f"{cnm}|{group}" if prefix is None else f"{prefix}_{cnm}|{group}"

    @abstractmethod
    def par_names(self, cnms: Sequence[str], group: str, prefix=None,
                  old: bool = True) -> List[str]:
        """Names of ``par`` (R: ``getParNames(object, cnm, gnm, prf, old)``): ``old`` gives
        ``g.c``/``g.r.c``; otherwise ``c|g`` (with ``prefix=("sd", "cor")``:
        ``sd_c|g``, ``cor_r.c|g``)."""

    def theta_names(self, cnms: Sequence[str], group: str) -> List[str]:
        """Names of θ (R: ``getThetaNames(object, cnm, gnm)``; lme4 1.1's ``tnames`` for
        ``us``)."""
        cn, g = self._check_names(cnms, group)
        rows, cols, idx = unstructured_pattern(self._k)
        out = [""] * len(idx)
        for r, c, i in zip(rows.tolist(), cols.tolist(), idx.tolist()):
            out[i] = f"{g}.{cn[r]}" if r == c else f"{g}.{cn[r]}.{cn[c]}"
        return out

    def vc_names(self, cnms: Sequence[str], group: str, prefix=("sd", "cor"),
                 old: bool = False) -> Tuple[List[str], List[str]]:
        """Names of :meth:`vc`'s two parts (R: ``getVCNames``); their concatenation names
        :meth:`profpar` (lme4's ``profnames(signames = FALSE)``)."""
        names = self.par_names(cnms, group, prefix=prefix, old=old)
        nv = self.n_sd
        return names[:nv], names[nv:]

    # -- display and checks ---------------------------------------------------------------
    @property
    def vcmat_class(self) -> str:
        """lme4's class of the term's ``VarCorr`` matrix without ``vcmat_``: ``us``, ``diag``,
        ``cs``, ``homcs``, ``ar1`` (homogeneous) or ``hetar1``."""
        return self.kind

    @property
    def corr_label(self) -> Optional[str]:
        """The tag after the single correlation in the printed ``Corr`` column (``"cs"``,
        ``"ar1"``: ``0.07 (cs)``), or None when the correlation matrix is printed (``us``) or
        there is none (``diag``)."""
        return None

    @property
    def n_stddev_printed(self) -> int:
        """Rows of standard deviations printed for the term (reformulas' ``get_sd``): 1 for
        ``homcs`` and ``ar1``, else k (``diag`` with ``hom`` prints its k equal SDs)."""
        return self._k

    @abstractmethod
    def is_singular(self, par, tol: float = SINGULAR_TOL) -> bool:
        """R: ``isSingular(object, tol)`` for this term: a standard deviation (``us``: a
        diagonal θ) below ``tol``, or a correlation within ``tol`` of its bound."""


class ParIsTheta(Covariance):
    """A structure whose ``par`` is θ itself (``us``, ``diag``): θ ↔ ``par`` is the identity,
    its Jacobian the unit matrix, and the ``par`` groups of ``newton_ai`` are the θ groups
    (abstract: a subclass gives the sizes, the pattern, bounds, start, ``vc`` and names)."""

    __slots__ = ()

    @property
    def is_identity(self) -> bool:
        return True

    @property
    def n_theta(self) -> int:
        return self.n_par

    def par_groups(self) -> List[np.ndarray]:
        return self.theta_groups()

    def par_to_theta(self, par) -> np.ndarray:
        return self.check_par(par)

    def theta_to_par(self, theta) -> np.ndarray:
        return self.check_theta(theta)

    def theta_jacobian(self, par) -> np.ndarray:
        self.check_par(par)
        return np.eye(self.n_theta)
