"""The covariance parameters of all random-effects terms of a model together.

Terms are concatenated in lme4's term order: ``par`` (what the optimizer moves) and θ (the
values of Λ's structural nonzeros) are the per-term vectors one after the other, and Λ' is
block diagonal with one copy of the term's pattern per level of its grouping factor.

R equivalents: lme4 2.1's ``upReTrms`` (``Lambdat``, ``Lind``, ``theta``, ``par``, ``lower``,
``upper`` from ``reCovs``), ``mkMkPar``/``mkMkTheta`` (θ ↔ ``par``), ``getProfPar`` and
``isSingular`` of a ``merMod``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from ...errors import ArgumentError
from ..sparse import trusted_csc
from .base import SINGULAR_TOL, Covariance

__all__ = ["CovarianceLayout"]


class CovarianceLayout:
    """The terms' :class:`~.base.Covariance` objects with their offsets in ``par`` and θ.

    Parameters
    ----------
    covariances : sequence of Covariance
        One per random-effects term, in lme4's term order.
    """

    def __init__(self, covariances: Sequence[Covariance]):
        covs = tuple(covariances)
        for c in covs:
            if not isinstance(c, Covariance):
                raise ArgumentError(f"covariances must be Covariance objects; got {c!r}")
        self.covariances = covs
        self.par_offsets = np.concatenate([[0], np.cumsum([c.n_par for c in covs])]
                                          ).astype(np.int64)
        self.theta_offsets = np.concatenate([[0], np.cumsum([c.n_theta for c in covs])]
                                            ).astype(np.int64)

    def __len__(self):
        return len(self.covariances)

    def __repr__(self):
        return f"CovarianceLayout({list(self.covariances)!r})"

    @property
    def n_par(self) -> int:
        return int(self.par_offsets[-1])

    @property
    def n_theta(self) -> int:
        return int(self.theta_offsets[-1])

    @property
    def is_identity(self) -> bool:
        """θ = ``par`` for every term (only ``us`` and ``diag``)."""
        return all(c.is_identity for c in self.covariances)

    def par_slice(self, i: int) -> slice:
        return slice(int(self.par_offsets[i]), int(self.par_offsets[i + 1]))

    def theta_slice(self, i: int) -> slice:
        return slice(int(self.theta_offsets[i]), int(self.theta_offsets[i + 1]))

    def _cat(self, arrays) -> np.ndarray:
        arrays = list(arrays)
        return np.concatenate(arrays) if arrays else np.zeros(0)

    # -- parameters -----------------------------------------------------------------------
    @property
    def start(self) -> np.ndarray:
        return self._cat(c.start for c in self.covariances)

    @property
    def lower(self) -> np.ndarray:
        return self._cat(c.lower for c in self.covariances)

    @property
    def upper(self) -> np.ndarray:
        return self._cat(c.upper for c in self.covariances)

    def _check(self, v, n, what):
        v = np.asarray(v, dtype=float).reshape(-1)
        if v.shape[0] != n:
            raise ArgumentError(f"{what} has length {v.shape[0]}, expected {n}")
        return v

    def par_to_theta(self, par) -> np.ndarray:
        """θ from ``par`` (R: ``mkMkTheta(reCovs)(par)``)."""
        p = self._check(par, self.n_par, "par")
        return self._cat(c.par_to_theta(p[self.par_slice(i)])
                         for i, c in enumerate(self.covariances))

    def theta_to_par(self, theta) -> np.ndarray:
        """``par`` from θ (R: ``mkMkPar(reCovs)(theta)``)."""
        th = self._check(theta, self.n_theta, "theta")
        return self._cat(c.theta_to_par(th[self.theta_slice(i)])
                         for i, c in enumerate(self.covariances))

    def theta_jacobian(self, par) -> np.ndarray:
        """∂θ/∂par (n_theta × n_par, block diagonal by term)."""
        p = self._check(par, self.n_par, "par")
        J = np.zeros((self.n_theta, self.n_par))
        for i, c in enumerate(self.covariances):
            J[self.theta_slice(i), self.par_slice(i)] = c.theta_jacobian(p[self.par_slice(i)])
        return J

    def gradient_to_par(self, par, gradient_theta) -> np.ndarray:
        """The gradient in ``par`` from the gradient in θ (chain rule J'g)."""
        g = self._check(gradient_theta, self.n_theta, "gradient_theta")
        if self.is_identity:
            return g.copy()
        return self.theta_jacobian(par).T @ g

    def theta_groups(self) -> List[np.ndarray]:
        """Every term's :meth:`~.base.Covariance.theta_groups`, as positions in θ."""
        return [g + self.theta_offsets[i] for i, c in enumerate(self.covariances)
                for g in c.theta_groups()]

    def par_groups(self) -> List[np.ndarray]:
        """Every term's :meth:`~.base.Covariance.par_groups`, as positions in ``par``."""
        return [g + self.par_offsets[i] for i, c in enumerate(self.covariances)
                for g in c.par_groups()]

    def is_singular(self, par, tol: float = SINGULAR_TOL) -> bool:
        """R: ``isSingular(fit, tol)``: some term is singular."""
        p = self._check(par, self.n_par, "par")
        return any(c.is_singular(p[self.par_slice(i)], tol)
                   for i, c in enumerate(self.covariances))

    # -- the profile scale ----------------------------------------------------------------
    def profpar(self, par, sigma: Optional[float] = None, scale: str = "sdcor") -> np.ndarray:
        """Each term's SDs (times σ) then correlations (R: ``getProfPar(fit)`` without the
        trailing σ)."""
        p = self._check(par, self.n_par, "par")
        return self._cat(c.profpar(p[self.par_slice(i)], sigma, scale)
                         for i, c in enumerate(self.covariances))

    def from_profpar(self, value, sigma: Optional[float] = None,
                     scale: str = "sdcor") -> np.ndarray:
        """``par`` from :meth:`profpar`'s values (R: ``convProfParToPar``)."""
        v = self._check(value, self.n_par, "value")
        return self._cat(c.from_profpar(v[self.par_slice(i)], sigma, scale)
                         for i, c in enumerate(self.covariances))

    # -- names ----------------------------------------------------------------------------
    def _names(self, cnms_list):
        cl = list(cnms_list)
        if len(cl) != len(self.covariances):
            raise ArgumentError(f"cnms_list has {len(cl)} terms, expected "
                                f"{len(self.covariances)}")
        return cl

    def theta_names(self, cnms_list) -> List[str]:
        """θ's names; ``cnms_list`` holds (group name, column names) per term."""
        return [n for c, (g, cn) in zip(self.covariances, self._names(cnms_list))
                for n in c.theta_names(cn, g)]

    def par_names(self, cnms_list, prefix=None, old=True) -> List[str]:
        return [n for c, (g, cn) in zip(self.covariances, self._names(cnms_list))
                for n in c.par_names(cn, g, prefix=prefix, old=old)]

    def profpar_names(self, cnms_list, prefix=("sd", "cor")) -> List[str]:
        """lme4 2.1's ``profnames(fit, signames = FALSE)`` without ``sigma``."""
        out = []
        for c, (g, cn) in zip(self.covariances, self._names(cnms_list)):
            v, r = c.vc_names(cn, g, prefix=prefix, old=False)
            out += v + r
        return out

    # -- Λ' ---------------------------------------------------------------------------------
    def lambdat_template(self, n_levels: Sequence[int], theta=None
                         ) -> Tuple[sp.csc_matrix, np.ndarray]:
        """Λ' (CSC, q × q) and ``Lind`` (1-based θ index of each stored entry) for terms with
        ``n_levels`` levels each, rows in term, level, column order; values θ[Lind − 1] at
        ``theta`` (default: θ at :attr:`start`). R: ``upReTrms``'s ``Lambdat`` and ``Lind``."""
        nls = [int(n) for n in n_levels]
        if len(nls) != len(self.covariances):
            raise ArgumentError(f"n_levels has {len(nls)} entries, expected "
                                f"{len(self.covariances)}")
        th = self.par_to_theta(self.start) if theta is None else \
            self._check(theta, self.n_theta, "theta")
        rows_out, lind_out, counts_out = [], [], []
        ro = 0
        for i, (c, nl) in enumerate(zip(self.covariances, nls)):
            k = c.k
            prow, pcol = c.pattern()
            tidx = c.theta_index
            base = ro + np.repeat(np.arange(nl, dtype=np.int64) * k, prow.shape[0])
            rows_out.append(base + np.tile(pcol, nl))
            lind_out.append(np.tile(tidx, nl) + self.theta_offsets[i] + 1)
            counts_out.append(np.tile(c.lambdat_counts(), nl))
            ro += nl * k
        rows = self._cat(rows_out).astype(np.int64)
        lind = self._cat(lind_out).astype(np.int64)
        counts = self._cat(counts_out).astype(np.int64)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        lam = trusted_csc(th[lind - 1], rows, indptr, (ro, ro))
        return lam, lind
