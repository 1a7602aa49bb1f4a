"""lme4's ``rePCA``: principal components of each grouping factor's random-effects
covariance, to see how many dimensions a maximal random-effects structure really supports.

For each grouping factor the relative covariance factors Λᵢ of its terms (block-diagonal when
several terms share the factor, as ``(1 | g) + (0 + x | g)``) are decomposed by SVD: the
singular values are the standard deviations of the principal components in units of the
residual standard deviation (σ-relative, as lme4's), the left singular vectors their rotation.
A standard deviation near zero is a direction the data do not support.

R equivalent: ``summary(rePCA(fit))``; printed text as R prints the list of ``prcomp`` objects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.linalg as sla

from ..display.html import pre_html
from ..display.prcomp import (IMPORTANCE_ROWS, format_named_list, format_prcomp,
                              format_prcomp_summary, importance_matrix)
from ..threads import fit_threads

if TYPE_CHECKING:
    from ..models.base import MixedModel

__all__ = ["rePCA", "RePCA", "PrincipalComponents"]


@dataclass(frozen=True)
class PrincipalComponents:
    """One grouping factor's components (R's ``prcomp``): ``sdev`` (decreasing) and
    ``rotation`` (columns are the components, rows the factor's random-effect columns)."""

    sdev: np.ndarray
    rotation: np.ndarray
    columns: tuple

    def importance(self) -> pd.DataFrame:
        """``summary(prcomp)$importance`` as a DataFrame (rows as R's, columns PC1, PC2...)."""
        return pd.DataFrame(importance_matrix(self.sdev), index=list(IMPORTANCE_ROWS),
                            columns=[f"PC{i + 1}" for i in range(len(self.sdev))])

    def __str__(self) -> str:
        return format_prcomp(self.sdev, self.rotation)

    __repr__ = __str__


class RePCASummary(Mapping[str, pd.DataFrame]):
    """``summary(rePCA(fit))``: each factor's importance table; prints as R does."""

    def __init__(self, pca: "RePCA"):
        self._pca = pca

    def __getitem__(self, key: str) -> pd.DataFrame:
        return self._pca[key].importance()

    def __iter__(self) -> Iterator[str]:
        return iter(self._pca)

    def __len__(self) -> int:
        return len(self._pca)

    def __str__(self) -> str:
        return format_named_list([(k, format_prcomp_summary(v.sdev))
                                  for k, v in self._pca.items()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return pre_html(str(self))


class RePCA(Mapping[str, PrincipalComponents]):
    """The result of :func:`rePCA`: a mapping grouping factor -> :class:`PrincipalComponents`,
    in lme4's order; ``summary()`` gives the importance tables."""

    def __init__(self, items: Dict[str, PrincipalComponents]):
        self._items = dict(items)

    def __getitem__(self, key: str) -> PrincipalComponents:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def summary(self) -> RePCASummary:
        return RePCASummary(self)

    def __str__(self) -> str:
        return format_named_list([(k, str(v)) for k, v in self._items.items()],
                                 class_name="prcomplist")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return pre_html(str(self))


@fit_threads
def rePCA(fit: "MixedModel") -> RePCA:
    """lme4's ``rePCA(fit)``: principal components of each grouping factor's relative
    random-effects covariance factor (see the module's notes)."""
    from ..models.getme import get_me
    tlist = get_me(fit, "Tlist")
    groups = [t.group_name for t in fit.design.reterms]
    by_group: Dict[str, List[np.ndarray]] = {}
    columns: Dict[str, List[str]] = {}
    for (key, T), group, term in zip(tlist.items(), groups, fit.design.reterms):
        by_group.setdefault(group, []).append(T)
        columns.setdefault(group, []).extend(term.cnms)
    out: Dict[str, PrincipalComponents] = {}
    for group, blocks in by_group.items():
        u, d, _ = np.linalg.svd(sla.block_diag(*blocks))
        out[group] = PrincipalComponents(d, u, tuple(columns[group]))
    return RePCA(out)
