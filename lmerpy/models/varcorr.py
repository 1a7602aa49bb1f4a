"""Estimated variance components: lme4's ``VarCorr()``.

R equivalent: ``VarCorr(fit)`` (class ``VarCorr.merMod``), ``print(VarCorr(fit), comp = ...)``
and ``as.data.frame(VarCorr(fit))``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np
import pandas as pd


def relative_covariance_factor(theta_block, p):
    """The lower-triangular template T_i (p x p) from its θ entries (column-major lower triangle)."""
    T = np.zeros((p, p))
    cols, rows = np.triu_indices(p)  # column-major lower triangle: (r, c) with r >= c, c slowest
    T[rows, cols] = np.asarray(theta_block, dtype=float)
    return T


@dataclass
class VarCorrTerm:
    """One random-effects term: its covariance matrix and derived SDs and correlations.

    ``vcmat_class``, ``corr_label`` and ``n_stddev_printed`` are how lme4 2.x prints the term
    (the term's :class:`~lmerpy.design.covariance.Covariance`); None prints it as lme4 1.1.
    """

    group: str
    names: List[str]
    cov: np.ndarray
    vcmat_class: Optional[str] = None
    corr_label: Optional[str] = None
    n_stddev_printed: Optional[int] = None

    @property
    def stddev(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def corr(self) -> np.ndarray:
        sd = self.stddev
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.cov / np.outer(sd, sd)
        np.fill_diagonal(out, 1.0)
        return out


class VarCorr:
    """Variance components of a fitted mixed model (R: ``VarCorr(fit)``).

    Iterating gives one :class:`VarCorrTerm` per random-effects term, named as lme4 names them
    (a factor repeated by ``||`` appears as ``Subject`` and ``Subject.1``). ``sigma`` is the
    residual standard deviation (``None`` for families without a scale parameter).
    """

    def __init__(self, terms: List[VarCorrTerm], sigma: Optional[float],
                 use_sc: bool = True) -> None:
        self.terms = terms
        self.sigma = sigma
        self.use_sc = use_sc

    @classmethod
    def from_theta(cls, reterms: Sequence[Any], theta: np.ndarray, sigma: float,
                   use_sc: bool = True, lme4_2: bool = False) -> VarCorr:
        """Build from θ and σ: Σ_i = σ² T_i T_i' (T_i T_i' without a scale parameter), T_i
        from the term's covariance structure (``ReTerm.covariance``; unstructured without).

        ``lme4_2``: print as lme4 2.x does (the formula has covariance calls); a model with a
        structured term (``diag``, ``cs``, ``ar1``) always does.
        """
        terms: List[VarCorrTerm] = []
        seen: Dict[str, int] = {}
        scale2 = sigma ** 2 if use_sc else 1.0
        covs = [getattr(t, "covariance", None) for t in reterms]
        lme4_2 = lme4_2 or any(c is not None and c.kind != "us" for c in covs)
        for t, c in zip(reterms, covs):
            p = t.n_columns
            block = theta[t.theta_offset:t.theta_offset + t.n_theta]
            T = relative_covariance_factor(block, p) if c is None else c.lambda_from_theta(block)
            name = t.group_name
            k = seen.get(name, 0)
            seen[name] = k + 1
            label = name if k == 0 else f"{name}.{k}"
            shown: Dict[str, Any] = {}
            if lme4_2:
                shown = ({"vcmat_class": "us"} if c is None else
                         {"vcmat_class": c.vcmat_class, "corr_label": c.corr_label,
                          "n_stddev_printed": c.n_stddev_printed})
            terms.append(VarCorrTerm(label, list(t.cnms), scale2 * T @ T.T, **shown))
        return cls(terms, sigma if use_sc else None, use_sc)

    def __iter__(self) -> Iterator[VarCorrTerm]:
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    def __getitem__(self, key: str) -> pd.DataFrame:
        for t in self.terms:
            if t.group == key:
                return pd.DataFrame(t.cov, index=t.names, columns=t.names)
        raise KeyError(key)

    def as_dataframe(self) -> pd.DataFrame:
        """R: ``as.data.frame(VarCorr(fit))`` with columns grp, var1, var2, vcov, sdcor.

        Variances (and SDs) come first within each term, then covariances (and correlations)
        in lme4's order; the residual row is last. Missing names are ``None``.
        """
        rows: List[tuple] = []
        for t in self.terms:
            sd, corr = t.stddev, t.corr
            p = len(t.names)
            for i in range(p):
                rows.append((t.group, t.names[i], None, t.cov[i, i], sd[i]))
            for c in range(p):
                for r in range(c + 1, p):
                    rows.append((t.group, t.names[c], t.names[r], t.cov[r, c], corr[r, c]))
        if self.use_sc and self.sigma is not None:
            rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        out = pd.DataFrame({
            "grp": pd.Series([r[0] for r in rows], dtype=object),
            "var1": pd.Series([r[1] for r in rows], dtype=object),
            "var2": pd.Series([r[2] for r in rows], dtype=object),
            "vcov": np.array([r[3] for r in rows], dtype=float),
            "sdcor": np.array([r[4] for r in rows], dtype=float),
        })
        return out

    def blocks(self) -> list:
        """The terms as :class:`lmerpy.display.inputs.VarCorrBlock` for the printers."""
        from ..display.inputs import VarCorrBlock
        out = []
        for t in self.terms:
            corr = t.corr if len(t.names) > 1 else None
            out.append(VarCorrBlock(group=t.group, names=list(t.names), stddev=t.stddev, corr=corr,
                                    vcmat_class=t.vcmat_class, corr_label=t.corr_label,
                                    n_stddev_printed=t.n_stddev_printed))
        return out

    def format(self, comp: Sequence[str] = ("Std.Dev.",), digits: Optional[int] = None) -> str:
        """R: ``print(VarCorr(fit), comp = comp)`` as a string."""
        from ..display import format_varcorr
        kw = {} if digits is None else {"digits": digits}
        return format_varcorr(self.blocks(), self.sigma if self.use_sc else None, comp=comp, **kw)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return self.format()

    def _repr_html_(self) -> str:
        from ..display.html import pre_html
        return pre_html(self.format())
