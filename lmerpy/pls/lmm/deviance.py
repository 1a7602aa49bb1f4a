"""The profiled deviance of a linear mixed model as a function of θ (lme4's ``devfun``).

R equivalent: the function ``lme4::mkLmerDevfun()`` returns, and the ``merPredD`` /
``lmerResp`` objects behind it (``pwrssUpdate``, ``Laplace``).

Per θ nothing of size n is touched: A = Λ'Z'WZΛ + I comes from a constant map of θ⊗θ
(:class:`~.crossprod.ScalingMap`), it is refactorised numerically over a fixed symbolic
analysis, and r² comes from the cross-products::

    [R_ZX | c_u] = L⁻¹ P Λ' Z'W [X | ỹ]
    R_X'R_X = X'WX − R_ZX'R_ZX                   (dense Cholesky; else FitError)
    c_β = R_X'⁻¹ (X'Wỹ − R_ZX'c_u),  β̂ = R_X⁻¹ c_β
    r² = ỹ'Wỹ − ‖c_u‖² − ‖c_β‖²
    ML:   log|L|² + n[1 + log(2π r²/n)] − Σ log w
    REML: log|L|² + log|R_X|² + (n−p)[1 + log(2π r²/(n−p))] − Σ log w

Small models (q ≤ 100: all of A dense) take ``_evaluate_dense``: the same operations
inlined, bit for bit (tests/test_fastpath.py checks equality on every reference case).
Bit-for-bit matters: lme4's BOBYQA settings stop within 1e-4 of the optimum and the path
reacts to the last bit of the deviance, so any other summation order (tried: one dense
Cholesky of the augmented [Z X ỹ] cross-product, MixedModels.jl's formulation, twice as fast
per evaluation) moves some fits (vector3) by two units in lme4's printed digits. The gradient
and the post-fit Hessian's batch of gradients have no such constraint and use dense formulas.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg import lapack

from ...errors import DataError, FitError
from ...threads import call_threads
from ..factor.blocked import DENSE_Q, BlockedFactor
from ..factor.chooser import (BACKENDS, available_backends, backend_key, choose_factor,
                             scipy_candidate)
from ..crossprod import CrossProducts, LambdaOps, ScalingMap
from ..factor.inverse import SparseInverse
from .dense_derivatives import dense_derivatives
from .logdet_gradient import TermTemplates
from ..protocol import Components

__all__ = ["LmmDeviance", "available_backends", "BACKENDS"]

_LOG2PI = float(np.log(2.0 * np.pi))
#: how far inside its bound a correlation is moved for derivatives (see ``_jacobian``)
_BOUND_NUDGE = 1e-9


class _State:
    """Everything computed at one θ by a deviance evaluation."""

    __slots__ = ("theta", "ldL2", "RZX", "cu", "RX", "ldRX2", "cbeta", "r2",
                 "crit_ml", "crit_reml", "_u", "_beta_c", "Lz", "LtKB", "grad")

    def __init__(self, theta):
        self.theta = theta
        self._u = None
        self._beta_c = None
        self.Lz = None      # dense lower factor of A (small models' dense path), else None
        self.LtKB = None    # Λ'Z'W[X | ỹ] (the dense path), else None
        self.grad = None    # the gradient, once computed

    @property
    def beta_c(self):
        if self._beta_c is None:
            if self.cbeta.shape[0]:
                self._beta_c = lapack.dtrtrs(self.RX, self.cbeta[:, None])[0][:, 0]
            else:
                self._beta_c = np.zeros(0)
        return self._beta_c


class LmmDeviance:
    """Profiled REML criterion or ML deviance of an LMM as a function of its covariance
    parameters (lme4 2.x's ``par``; θ for unstructured terms).

    R equivalent: ``lme4::mkLmerDevfun(fr, X, reTrms, REML = ...)``. Satisfies the
    :class:`~.protocol.DifferentiableDeviance` and :class:`~.protocol.RefittableDeviance`
    protocols (what ``optimize`` and ``inference`` may ask of it).

    Parameters
    ----------
    design : lmerpy.design.structures.Design
        X, y, Zt, the Λ' template with ``Lind``, weights, offset and the terms.
    REML : bool
        True: ``__call__`` returns lme4's REML criterion; False: the ML deviance (−2 log L).
    backend : {"cholmod", "scipy", None}
        Factorisation of A = Λ'Z'WZΛ + I. ``"cholmod"`` is lme4's sparse Cholesky
        (scikit-sparse); ``"scipy"`` is a blocked Cholesky (the largest term's block-diagonal
        part eliminated first, the rest dense; all of A dense when q ≤ 100) needing only
        SciPy. None picks the faster one for this design: the blocked backend when its dense
        block is small or dense anyway (crossed designs such as InstEval), CHOLMOD when that
        block would be large and sparse (deeply nested designs) or too large to hold.

    The optimizer's parameters are lme4 2.x's ``par`` (:attr:`layout`): ``__call__``,
    :meth:`gradient`, :meth:`information`, :meth:`components` and :meth:`solve` take ``par``;
    the numerical core works in θ = θ(par) (Λ is linear in θ), the gradient is J'∇_θ and the
    AI matrix J'·AI_θ·J with J = ∂θ/∂par. When every term is unstructured (or ``diag``)
    ``par`` is θ and nothing is mapped (:attr:`par_is_theta`).

    Attributes
    ----------
    REML : bool
    backend_name : str
    n_evals : int
        Number of criterion evaluations (``__call__``) so far.
    n, p, q, n_theta, n_par : int
    layout : lmerpy.design.covariance.CovarianceLayout or None
        The terms' covariance structures (None: the design has none, θ is ``par``).
    par_is_theta : bool
    theta0 : ndarray
        Starting θ (from the design).
    par0, lower, upper : ndarray
        Starting ``par`` and its bounds (from the design; ∞ above unless a correlation).

    Notes
    -----
    Not thread-safe: one object holds one factorisation. Use :meth:`with_response` (cheap)
    to get an independent object per thread or per response.
    """

    #: the offset of data given by :meth:`with_data` (None: the design's)
    _offset = None

    def __init__(self, design, REML=True, backend=None, *, _template=None, _y=None,
                 _products=None, _resp=None, _data=None):
        self.design = design
        self.REML = bool(REML)
        if _template is not None:
            self._share(_template)
            if _data is not None:
                self._use_data(*_data)
        elif _products is not None:
            self.cp, self.sum_log_w = _products
            self._build_rest(design, backend)
        else:
            self._build(design, backend)
        if _resp is not None:
            self.resp = _resp
        elif _products is not None:
            self.resp = self.cp.response(None, None)
        else:
            y = design.y if _y is None else _y
            y = np.asarray(y, dtype=float)
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1:
                raise DataError("a linear mixed model needs a single numeric response column")
            off = self._offset if self._offset is not None else getattr(design, "offset", None)
            self.resp = self.cp.response(y, off)
        self._KB = np.column_stack((self.cp.ZtWX, self.resp.ZtWy))
        self._G0 = np.empty((self.p + 1, self.p + 1))
        self._G0[:self.p, :self.p] = self.cp.XtWX
        self._G0[:self.p, self.p] = self._G0[self.p, :self.p] = self.resp.XtWy
        self._G0[self.p, self.p] = self.resp.yWy
        M = self.cp.ZtWZ_dense
        self._lam = LambdaOps(self.smap, self.cp.ZtWZ if M is None else M)
        self._lam_theta = None
        self.n_evals = 0
        self._state = None
        self._fstate = None       # the state whose factorisation self.factor holds
        fac = self.factor
        # small models (all of A dense): the generic arithmetic without its call overhead
        self._dense = isinstance(fac, BlockedFactor) and fac.st.nl == 0 and self._lam.dense

    # -- construction -------------------------------------------------------------------
    def _build(self, design, backend):
        n = design.X.shape[0]
        w = getattr(design, "weights", None)
        w = np.ones(n) if w is None else np.asarray(w, dtype=float).reshape(-1)
        if w.shape[0] != n:
            raise DataError(f"weights have length {w.shape[0]}, expected {n}")
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            raise DataError("prior weights must be finite and non-negative")
        self.cp = CrossProducts(design.Zt, design.X, w)
        with np.errstate(divide="ignore"):
            self.sum_log_w = float(np.sum(np.log(w)))
        self._build_rest(design, backend)

    @classmethod
    def from_products(cls, design, products, sum_log_w, REML=True, backend=None):
        """A deviance function from cross-products formed elsewhere (the scale-out path: summed
        over the partitions of a Dask DataFrame), with the same arithmetic per θ.

        Parameters
        ----------
        design
            Everything of a :class:`~lmerpy.design.structures.Design` but its n-long data: the
            terms (``reterms``), ``Lambdat``, ``Lind``, ``theta``, ``lower``, ``layout``, names.
        products : lmerpy.pls.crossprod.ReducedProducts
        sum_log_w : float
            Σ log wᵢ of the prior weights (0 without weights).

        Results that need the data again (fitted values, residuals) are None in the solution
        (:attr:`~lmerpy.pls.solution.PlsSolution.fitted`).
        """
        return cls(design, REML=REML, backend=backend, _products=(products, float(sum_log_w)))

    def _build_rest(self, design, backend):
        """Everything after the cross-products: the terms' blocks, θ and ``par``, the scaling
        map and the factor."""
        self.blocks = [(int(t.row_offset), int(t.n_levels), int(t.n_columns))
                       for t in design.reterms]
        theta0 = np.asarray(design.theta, dtype=float).reshape(-1)
        self.theta0 = theta0
        self.n_theta = theta0.shape[0]
        layout = getattr(design, "layout", None)
        if layout is not None and layout.n_theta != self.n_theta:
            raise DataError(f"the design's theta has length {self.n_theta} but its covariance "
                            f"structures have {layout.n_theta}")
        self.layout = layout
        self.par_is_theta = layout is None or layout.is_identity
        self.n_par = self.n_theta if layout is None else layout.n_par
        self.par0 = (theta0.copy() if self.par_is_theta else layout.theta_to_par(theta0))
        lower = getattr(design, "lower", None)
        self.lower = (np.full(self.n_par, -np.inf) if lower is None
                      else np.asarray(lower, dtype=float).reshape(-1))
        self.upper = (np.full(self.n_par, np.inf) if layout is None
                      else np.asarray(layout.upper, dtype=float))
        cp = self.cp
        self.smap = ScalingMap(lambda: cp.ZtWZ if cp.ZtWZ_dense is None else cp.ZtWZ_dense,
                               design.Lambdat, design.Lind, self.n_theta,
                               self.blocks)
        if self.smap.Lind0.size and (self.smap.Lind0.min() < 0
                                     or self.smap.Lind0.max() >= self.n_theta):
            raise DataError("Lind refers to a θ index outside 1..length(theta)")
        self._side = None          # the SciPy factor (chooser's candidate) and q₂, on demand
        self._templates = None
        self.factor = self._make_factor(backend)
        self.sparse_inverse = SparseInverse(self.smap)

    def _scipy_candidate(self):
        """(the blocked factor of this pattern or None, q₂); built once (also serves A⁻¹ on
        the side of a CHOLMOD factor)."""
        if self._side is None:
            self._side = scipy_candidate(self.smap, self.blocks, weights_vary=False)
        return self._side

    def _make_factor(self, backend):
        """The factor :func:`~.chooser.choose_factor` picks; the chosen blocked factor is a copy
        of the candidate, which stays free for A⁻¹ on the side."""
        key = backend_key(backend)
        cand = None if key == "cholmod" else self._scipy_candidate()
        fac = choose_factor(self.smap, self.blocks, key, weights_vary=False, candidate=cand)
        return fac.copy() if cand is not None and fac is cand[0] else fac

    def _share(self, other):
        for name in ("cp", "sum_log_w", "blocks", "theta0", "n_theta", "lower", "upper", "smap",
                     "_side", "_templates", "layout", "par_is_theta", "n_par", "par0", "_offset"):
            setattr(self, name, getattr(other, name))
        self.factor = other.factor.copy()
        self.sparse_inverse = other.sparse_inverse.copy()
        if self._side is not None and self._side[0] is not None:
            self._side = (self._side[0].copy(), self._side[1])

    def _use_data(self, cp, smap, offset, structure, sum_log_w=None):
        """New n-long values (or their reduced products) on the shared design
        (:meth:`with_data`, :meth:`with_products`); ``structure``: the blocked factor's layout
        for them (None: a CHOLMOD factor, whose copy made by :meth:`_share` keeps the
        symbolic analysis of A's pattern, the same here)."""
        self.cp = cp
        if sum_log_w is not None:
            self.sum_log_w = float(sum_log_w)
        else:
            with np.errstate(divide="ignore"):
                self.sum_log_w = float(np.sum(np.log(cp.weights)))
        self.smap = smap
        if structure is not None:
            self.factor = BlockedFactor(smap, None, _structure=structure)
        self.sparse_inverse = SparseInverse(smap)
        self._side = None
        self._offset = offset

    def with_data(self, Zt, X, y, weights=None, offset=None):
        """A deviance function for the same design on new n-long values: ``Zt`` with this
        design's pattern (a subset of it), ``X``, ``y``, prior ``weights`` (default 1) and
        ``offset`` (default 0). The θ-structure (Λ template, ``par`` layout, bounds), the
        pattern maps and the symbolic analysis are reused; only the cross-products are formed
        (O(n)) and the θ-map refilled (O(q²)); for larger models the blocked factor's layout
        keeps its structure with Z'WZ's values refilled, and a CHOLMOD factor its symbolic
        analysis (A's pattern is the same). ``n_evals`` starts at 0.

        R equivalent: none (``lme``'s rows whitened by a residual structure: Pinheiro & Bates
        2000, section 5.2). None where the new Z'WZ has a nonzero outside this one's pattern:
        then build a new :class:`LmmDeviance`.
        """
        fac = self.factor
        blocked = isinstance(fac, BlockedFactor)
        if not blocked and getattr(fac, "name", None) != "cholmod":
            return None
        n = self.n
        if weights is None:
            w = np.ones(n)
        else:
            w = np.asarray(weights, dtype=float).reshape(-1)
            if w.shape[0] != n or not (np.isfinite(w).all() and (w >= 0).all()):
                raise DataError(f"weights must be {n} finite non-negative values")
        cp = self.cp.with_data(Zt, X, w) if self.cp.has_data else CrossProducts(Zt, X, w)
        if cp.q != self.q or cp.p != self.p:
            return None
        if self._dense:
            smap = None if cp.ZtWZ_dense is None else self.smap.with_matrix(cp.ZtWZ_dense)
            structure = fac.st if blocked else None
        else:
            smap, structure = self._refilled(
                cp.ZtWZ if cp.ZtWZ_dense is None else cp.ZtWZ_dense) or (None, None)
        if smap is None:
            return None
        off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float).reshape(-1)
        return LmmDeviance(self.design, REML=self.REML, _template=self, _y=y,
                           _data=(cp, smap, off, structure))

    def _refilled(self, ZtWZ):
        """(θ-map, blocked layout or None for CHOLMOD) of a larger model refilled with another
        Z'WZ's values on this one's pattern; None where it has a nonzero outside it."""
        got = self.smap.with_values(ZtWZ)
        if got is None:
            return None
        smap, values = got
        fac = self.factor
        return smap, (fac.st.with_values(smap, values) if isinstance(fac, BlockedFactor)
                      else None)

    def with_products(self, products, sum_log_w):
        """A deviance function for the same design from new cross-products alone
        (:class:`~lmerpy.pls.crossprod.ReducedProducts`, their Z'WZ's nonzeros on this one's
        pattern) and Σ log wᵢ: :meth:`with_data` without the n-long data (results that need
        them are None, as for :meth:`from_products`). Larger models only (not all of A dense);
        None otherwise or where Z'WZ has a nonzero outside this one's pattern.

        R equivalent: none (``lme`` with ``varIdent`` alone: the products are sums of the
        strata's, weighted).
        """
        fac = self.factor
        blocked = isinstance(fac, BlockedFactor)
        if self._dense or (not blocked and getattr(fac, "name", None) != "cholmod"):
            return None
        if products.q != self.q or products.p != self.p:
            return None
        got = self._refilled(products.ZtWZ)
        if got is None:
            return None
        smap, structure = got
        return LmmDeviance(self.design, REML=self.REML, _template=self,
                           _resp=products.response(None, None),
                           _data=(products, smap, None, structure, sum_log_w))

    def with_response(self, y):
        """A deviance function for a new response, reusing Z'WZ, Z'WX, X'WX and the analysis.

        R equivalent: ``refit(fit, newresp)`` (and ``bootMer``'s refits). Weights, offset and
        the REML flag are kept; ``n_evals`` starts at 0.
        """
        return LmmDeviance(self.design, REML=self.REML, _template=self, _y=y)

    def copy(self, REML=None):
        """An independent deviance function (its own factor) for the same response, also
        where the response is held only as reduced cross-products (a fit on a Dask
        DataFrame); ``REML`` switches the criterion (None: keep it)."""
        return LmmDeviance(self.design, REML=self.REML if REML is None else REML,
                           _template=self, _resp=self.resp)

    def with_reduced_response(self, resp):
        """A deviance function for a new response given by its products only
        (:class:`~lmerpy.pls.crossprod.ReducedResponse`: Z'Wỹ, X'Wỹ, ỹ'Wỹ for
        ỹ = y − offset − Xβ₀): a parametric bootstrap whose responses are simulated and
        reduced where the data live."""
        return LmmDeviance(self.design, REML=self.REML, _template=self, _resp=resp)

    # -- sizes, start and names (the Deviance protocol) ---------------------------------
    @property
    def names(self):
        """The parameters' names: lme4 2.x's ``getParNames`` (θ's ``Subject.(Intercept)``,
        ``Subject.Days.(Intercept)``... for unstructured terms; ``Subject.rho``...)."""
        names = getattr(self.design, "par_names", None)
        if names is None:
            names = getattr(self.design, "theta_names", None)
        return list(names) if names is not None else [f"theta{i + 1}"
                                                       for i in range(self.n_par)]

    def start(self):
        """The design's starting parameters (θ: 1 on each template's diagonal, 0 off it;
        ``par``: SDs 1, correlations 0)."""
        return self.par0.copy()

    def par_groups(self):
        """Index arrays of ``par`` in each of which Σ is a homogeneous quadratic (the Euler
        term of ``newton_ai``): θ per column of each term's lower-triangular template,
        diagonal entry first, for unstructured terms; a structured term's SDs (its
        correlation in none). Built once (the design is fixed); new arrays each call."""
        groups = self.__dict__.get("_par_groups")
        if groups is None:
            if self.layout is not None:
                groups = self.layout.par_groups()
            else:
                from .information import template_columns
                groups = template_columns(self.design.reterms)
            self._par_groups = [np.array(c) for c in groups]
        return [c.copy() for c in self._par_groups]

    def theta_of(self, par):
        """θ at ``par`` (lme4 2.x's ``mkTheta(par)``)."""
        return self._theta(par).copy()

    def par_of(self, theta):
        """``par`` at θ (lme4 2.x's ``mkPar(theta)``)."""
        th = self._theta_checked(theta)
        return th if self.par_is_theta else self.layout.theta_to_par(th)

    @property
    def batchable(self):
        """Whether many responses can be evaluated at once (:mod:`.batched`): all of A dense,
        ``par`` = θ, and the data at hand."""
        return bool(self._dense and self.par_is_theta and self.cp.has_data)

    @property
    def backend_name(self):
        return self.factor.name

    @property
    def n(self):
        return self.cp.n

    @property
    def p(self):
        return self.cp.p

    @property
    def q(self):
        return self.cp.q

    # -- par and θ ---------------------------------------------------------------------------
    @staticmethod
    def _vector(values, n, what):
        """``values`` as a new flat float vector of length ``n``, finite (else DataError)."""
        x = np.array(values, dtype=float).reshape(-1)
        if x.shape[0] != n:
            raise DataError(f"{what} has length {x.shape[0]}, expected {n}")
        if not math.isfinite(x.sum()):
            raise DataError(f"{what} contains non-finite values")
        return x

    def _par(self, par):
        return self._vector(par, self.n_par, "theta" if self.par_is_theta else "par")

    def _theta(self, par):
        """θ(par), checked (``par`` itself when :attr:`par_is_theta`)."""
        x = self._par(par)
        return x if self.par_is_theta else self.layout.par_to_theta(x)

    def _theta_checked(self, theta):
        return self._vector(theta, self.n_theta, "theta")

    def _jacobian(self, x):
        """(``par``, J = ∂θ/∂par there). Λ is not differentiable in a correlation on its
        bound (√(1 − ρ²) and the like: an infinite ∂θ/∂ρ times a ∂/∂θ that is 0 there), while
        the deviance is (Σ is smooth in ρ): there the derivatives are taken at ``par`` with
        that correlation moved inside by 1e-9 (the one-sided limit, to about 1e-9)."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            J = self.layout.theta_jacobian(x)
        if np.all(np.isfinite(J)):
            return x, J
        bad = ~np.all(np.isfinite(J), axis=0)
        lo, hi = self.lower, self.upper
        y = x.copy()
        y[bad] = np.where(x[bad] >= hi[bad], hi[bad] - _BOUND_NUDGE,
                          np.where(x[bad] <= lo[bad], lo[bad] + _BOUND_NUDGE, x[bad]))
        return y, self.layout.theta_jacobian(y)

    # -- evaluation -------------------------------------------------------------------------

    def _lambda_ops(self, theta):
        """Λ-products (:class:`~.crossprod.LambdaOps`) set to θ."""
        if self._lam_theta is not theta:
            self._lam.set(theta)
            self._lam_theta = theta
        return self._lam

    def _evaluate(self, theta):
        st = self._state
        if st is not None and st.theta.tobytes() == theta.tobytes():
            return st
        if self._dense:
            return self._evaluate_dense(theta)
        return self._evaluate_generic(theta)

    def _evaluate_dense(self, theta):
        """All of A dense (small models): the operations of :meth:`_evaluate_generic` with the
        blocked backend, inlined (the same arithmetic, bit for bit: lme4's BOBYQA path is
        sensitive to the last bit of the deviance, so a different summation order would move
        the optimum within BOBYQA's tolerance)."""
        st = _State(theta.copy())
        self._state = None
        fst = self.factor.st
        q = self.q
        vals = self.smap.values(st.theta)
        vec = np.zeros(q * q)
        vec[fst.flat22_low] = vals[fst.pos22_low]
        L2, info = lapack.dpotrf(vec.reshape((q, q), order="F"), lower=1, clean=0,
                                 overwrite_a=1)
        if info != 0:
            return self._evaluate_generic(theta)      # reports the failure
        st.Lz = L2
        st.ldL2 = float(0.0 + 2.0 * np.log(L2.diagonal()).sum())
        st.LtKB = self._lambda_ops(st.theta).lt_mul(self._KB)
        R = lapack.dtrtrs(L2, st.LtKB, lower=1)[0]
        return self._finish(st, R)

    def _evaluate_generic(self, theta):
        st = _State(theta.copy())
        self._state = None
        self._fstate = None
        fac = self.factor
        fac.factor(self._values_for(fac, theta), theta)
        self._fstate = st
        st.ldL2 = fac.logdet()
        R = fac.solve_L(self._lambda_ops(st.theta).lt_mul(self._KB))
        return self._finish(st, R)

    def _finish(self, st, R):
        """From [R_ZX | c_u] = L⁻¹PΛ'Z'W[X | ỹ] to R_X, c_β, r² and the criteria (shared by the
        dense and generic evaluations, so both keep the same arithmetic)."""
        p = self.p
        st.RZX = R[:, :p]
        st.cu = R[:, p]
        G = self._G0 - R.T @ R            # [[VtV, X'Wỹ − R_ZX'c_u], [·, ỹ'Wỹ − c_u'c_u]]
        if p:
            RX, info = lapack.dpotrf(G[:p, :p], lower=0, clean=1)
            if info != 0:
                raise FitError("Downdated VtV is not positive definite")
            st.RX = RX
            st.ldRX2 = float(2.0 * np.log(RX.diagonal()).sum())
            st.cbeta = lapack.dtrtrs(RX, G[:p, p:], trans=1)[0][:, 0]
            r2 = G[p, p] - st.cbeta @ st.cbeta
        else:
            st.RX = np.zeros((0, 0))
            st.ldRX2 = 0.0
            st.cbeta = np.zeros(0)
            r2 = G[0, 0]
        self._state = st
        if not r2 > 1e-9 * self.resp.yWy and (self.cp.has_data or not r2 > 0):
            # cancellation: recompute from the residual vector (reduced cross-products keep a
            # positive r², having no residual vector)
            r2 = self._direct_pwrss(st)
        st.r2 = float(r2)
        self._criteria(st)
        return st

    def _criteria(self, st):
        n, nmp = self.n, self.n - self.p
        if not st.r2 > 0:
            st.crit_ml = st.crit_reml = -np.inf
        else:
            lr = math.log(st.r2)
            st.crit_ml = st.ldL2 + n * (1.0 + _LOG2PI + lr - math.log(n)) - self.sum_log_w
            st.crit_reml = (st.ldL2 + st.ldRX2 + nmp * (1.0 + _LOG2PI + lr - math.log(nmp))
                            - self.sum_log_w) if nmp > 0 else np.nan

    def _values_for(self, fac, theta):
        """A(θ)'s values on its pattern for ``fac.factor``; None when the factor computes A's
        pieces from θ itself (blocked layout: A's pattern and θ-map are then never built)."""
        if isinstance(fac, BlockedFactor) and fac.st.theta_path:
            return None
        return self.smap.values(theta)

    def _ensure_factored(self, st):
        """Make ``self.factor`` hold the factorisation of ``st`` (its L, solves, inverse)."""
        if self._fstate is not st:
            if st.Lz is not None:
                self.factor.set_dense(st.Lz, st.ldL2)
            else:
                self.factor.factor(self._values_for(self.factor, st.theta), st.theta)
            self._fstate = st

    def _solve_Lt(self, st, C):
        """P' L'⁻¹ C with the factor of ``st``."""
        if st.Lz is not None:
            C = np.asarray(C, dtype=float)
            if C.shape[0] == 0:
                return C.copy()
            return lapack.dtrtrs(st.Lz, C, lower=1, trans=1)[0]
        self._ensure_factored(st)
        return self.factor.solve_Lt(C)

    def _u(self, st):
        if st._u is None:
            v = st.cu - st.RZX @ st.beta_c if self.p else st.cu
            st._u = self._solve_Lt(st, v)
        return st._u

    def _mirror(self):
        """Fortran-order flat positions of the strict upper triangle of a q×q array and of
        their mirror images below the diagonal."""
        return _mirror_index(self.q)

    def _logdet_gradient(self, st, consume=False):
        """∂ log|A| / ∂θ_k = tr(A⁻¹ ∂A/∂θ_k) = 2 tr(A⁻¹Λ'MΛ_k) for every k.

        ``consume``: the factorisation of ``st`` may be overwritten (S⁻¹ in place of L₂₂;
        the next use of the factor refactorises)."""
        smap = self.smap
        if st.Lz is not None:     # small dense model: A⁻¹ whole, no pattern maps
            Ai = lapack.dpotri(st.Lz, lower=1)[0]        # lower triangle of A⁻¹
            a = Ai.reshape(-1, order="F")
            up, lo = self._mirror()
            a[up] = a[lo]
            lam = self._lambda_ops(st.theta)
            B = Ai @ (lam.Lt @ lam.M)
            v = B[smap.lt_rows, smap.lt_cols]
            return 2.0 * np.bincount(smap.Lind0, weights=v, minlength=self.n_theta)
        g = self._logdet_gradient_traces(st, consume)
        if g is not None:
            return g
        return self._logdet_gradient_pattern(st)

    def _logdet_gradient_pattern(self, st):
        """The same from A⁻¹ on the whole pattern of A (any Λ template, any θ)."""
        return self.smap.trace_gradient(st.theta, self._inverse_on_pattern(st))

    def _logdet_gradient_traces(self, st, consume=False):
        """The same from the per-term sums of A⁻¹'s diagonal blocks (blocked backend, lme4's
        Λ structure, θ away from singular blocks; see :mod:`.logdet_gradient`), else None."""
        if not isinstance(self.factor, BlockedFactor):
            return None
        tt = self._templates
        if tt is None:
            tt = self._templates = TermTemplates(self.smap, self.blocks)
        if not tt.ok:
            return None
        self._ensure_factored(st)
        traces = self.factor.block_traces(self.blocks, overwrite=consume)
        if self.factor.st.q2 and self.factor.L2 is None:     # S⁻¹ took L₂₂'s place
            self._fstate = None
        if traces is None:
            return None
        return tt.gradient(st.theta, traces)

    def _direct_pwrss(self, st):
        if not self.cp.has_data:
            raise FitError("the penalized residual sum of squares is not positive at theta = "
                           f"{st.theta.tolist()} (a near-perfect fit): it cannot be recomputed "
                           "from reduced cross-products without the data")
        u = self._u(st)
        b = self._lambda_ops(st.theta).lam_mul(u)
        yt = self.resp.y - self.resp.offset
        if self.p:
            yt = yt - self.cp.X @ (self.resp.beta0 + st.beta_c)
        r = yt - self.cp.z_mul(b)
        return float(np.sum(self.cp.weights * r * r) + u @ u)

    @call_threads
    def __call__(self, theta):
        """The profiled REML criterion (``REML=True``) or ML deviance at ``par`` (θ when
        :attr:`par_is_theta`).

        Raises
        ------
        FitError
            ``Downdated VtV is not positive definite`` when R_X'R_X is not positive definite.
        """
        th = self._theta(theta)
        self.n_evals += 1
        st = self._evaluate(th)
        return float(st.crit_reml if self.REML else st.crit_ml)

    def _theta_and_jacobian(self, par):
        """(θ at ``par``, J = ∂θ/∂par, or None when ``par`` is θ)."""
        x = self._par(par)
        if self.par_is_theta:
            return x, None
        x, J = self._jacobian(x)
        return self.layout.par_to_theta(x), J

    @call_threads
    def gradient(self, theta):
        """Analytic gradient of the same criterion with respect to ``par`` (θ when
        :attr:`par_is_theta`; else J'∇_θ with J = ∂θ/∂par). Not counted.

        R equivalent: none; lme4 differences the deviance numerically after the fit.
        """
        from .gradient import deviance_gradient
        th, J = self._theta_and_jacobian(theta)
        st = self._evaluate(th)
        if st.grad is None:
            st.grad = deviance_gradient(self, st)
        if J is None:
            return st.grad.copy()
        return J.T @ st.grad

    @call_threads
    def information(self, theta):
        """Average-information approximation of the criterion's Hessian in ``par`` (k × k;
        see :mod:`lmerpy.pls.lmm.information`; J'·AI_θ·J when ``par`` is not θ, exact as the
        AI matrix only uses first derivatives of the marginal covariance). Not counted in
        ``n_evals``. R equivalent: none.
        """
        from .information import average_information
        th, J = self._theta_and_jacobian(theta)
        H = average_information(self, self._evaluate(th))
        if J is None:
            return H
        H = J.T @ H @ J
        return 0.5 * (H + H.T)

    @call_threads
    def derivatives(self, theta):
        """(:meth:`gradient`, :meth:`information`) at ``par`` together; small models (all of A
        dense) share their pieces (:mod:`.dense_derivatives`). Not counted in ``n_evals``."""
        th, J = self._theta_and_jacobian(theta)
        st = self._evaluate(th)
        if st.Lz is not None:
            g, H = dense_derivatives(self, st)
            if st.grad is None:
                st.grad = g
            g = st.grad
        else:
            from .gradient import deviance_gradient
            from .information import average_information
            H = average_information(self, st)   # first: the gradient may consume the factor
            if st.grad is None:
                st.grad = deviance_gradient(self, st)
            g = st.grad
        if J is None:
            return g.copy(), H
        H = J.T @ H @ J
        return J.T @ g, 0.5 * (H + H.T)

    @call_threads
    def gradient_theta(self, theta):
        """The analytic gradient with respect to θ itself (for every layout; not counted)."""
        from .gradient import deviance_gradient
        st = self._evaluate(self._theta_checked(theta))
        if st.grad is None:
            st.grad = deviance_gradient(self, st)
        return st.grad.copy()

    @call_threads
    def information_theta(self, theta):
        """The average-information matrix with respect to θ itself (not counted)."""
        from .information import average_information
        return average_information(self, self._evaluate(self._theta_checked(theta)))

    @call_threads
    def gradients(self, thetas):
        """Gradients at several ``par`` (rows of ``thetas``), as :meth:`gradient` row by row.

        Small models compute them in one batched NumPy pass (the post-fit Hessian differences
        2k gradients); others loop. Not counted in ``n_evals``; the state is left alone.
        """
        th = np.atleast_2d(np.asarray(thetas, dtype=float))
        what = "theta" if self.par_is_theta else "par"
        if th.shape[1] != self.n_par:
            raise DataError(f"{what} has length {th.shape[1]}, expected {self.n_par}")
        if not np.all(np.isfinite(th)):
            raise DataError(f"{what} contains non-finite values")
        if self._dense and th.shape[0] > 1 and self.par_is_theta:
            from .gradient import dense_gradients
            return dense_gradients(self, th)
        prev = self._state
        out = np.stack([self.gradient(t) for t in th])
        if prev is not None:    # the current evaluation stays current (its factor is made
            self._state = prev  # again only if a solve needs it: _ensure_factored)
        return out

    @property
    def rectify_theta(self):
        """:meth:`rectify` when the parameters are θ (:attr:`par_is_theta`), else None (a
        ``cs``/``ar1`` column's sign is not a move of ``par``: nothing to rectify; the
        optimizers keep the bounds on the standard deviations)."""
        return self.rectify if self.par_is_theta else None

    def rectify(self, theta):
        """θ with each template column whose diagonal entry is negative negated.

        Λ_i Λ_i' (hence the deviance) does not change when a column of a term's lower
        triangular template T_i changes sign, so this maps any θ to the equivalent one with
        non-negative diagonal (lme4's bounds). Only for ``par`` = θ (:attr:`par_is_theta`). R
        equivalent: none (MixedModels.jl's ``rectify!``).
        """
        groups = self.__dict__.get("_theta_groups")
        if groups is None:
            groups = self._theta_groups = (self.layout.theta_groups()
                                           if self.layout is not None else self.par_groups())
        th = np.array(theta, dtype=float).reshape(-1)
        for c in groups:   # diagonal entry first
            if th[c[0]] < 0:
                th[c] *= -1.0
        return th

    @call_threads
    def components(self, theta):
        """log|L|², log|R_X|², r², β̂ and R_X at ``par`` (θ when :attr:`par_is_theta`;
        :class:`~.protocol.Components`), from the same arithmetic as :meth:`__call__`; not
        counted in ``n_evals``.

        R equivalent: ``getME(fit, "devcomp")$cmp`` at θ (``ldL2``, ``ldRX2``, ``pwrss``).
        """
        st = self._evaluate(self._theta(theta))
        beta = self.resp.beta0 + st.beta_c if self.p else np.zeros(0)
        return Components(st.ldL2, st.ldRX2, st.r2, beta, st.RX)

    @call_threads
    def solve(self, theta):
        """The full penalized least squares solution at ``par`` (θ when
        :attr:`par_is_theta`) (:class:`PlsSolution`, whose ``theta`` is θ).

        Not counted in ``n_evals``. R equivalent: the state of a fitted ``merMod``.
        """
        from ..solution import PlsSolution
        th = self._theta(theta)
        st = self._evaluate(th)
        return PlsSolution(self, st)

    @call_threads
    def solve_theta(self, theta):
        """:meth:`solve` at θ itself (for consumers that work in θ: profiles, simulation)."""
        from ..solution import PlsSolution
        return PlsSolution(self, self._evaluate(self._theta_checked(theta)))

    # -- A⁻¹ on the pattern (gradient, conditional variances) ------------------------------
    def _inverse_on_pattern(self, st):
        """Values of A(θ)⁻¹ on A's full pattern (the sparse inverse subset), by the one policy
        of :mod:`.inverse`: the blocked factor's own formulas; next to CHOLMOD, the blocked
        factor on the side when all of A is dense, Takahashi's recurrences when cheap (nested
        designs), the blocked factor on the side (crossed designs), q solves (q ≤ 6000)."""
        self._ensure_factored(st)
        blk = None if isinstance(self.factor, BlockedFactor) else self._scipy_candidate()[0]
        if blk is None:
            return self.sparse_inverse.on_pattern(self.factor)

        def side():
            blk.factor(self._values_for(blk, st.theta), st.theta)
            return blk

        return self.sparse_inverse.on_pattern(self.factor, side, side_dense=self.q <= DENSE_Q)


@functools.lru_cache(maxsize=16)
def _mirror_index(q):
    r, c = np.triu_indices(q, 1)
    return c * q + r, r * q + c
