"""Parametric-bootstrap likelihood-ratio test between nested models (pbkrtest's
``PBmodcomp``).

The observed statistic is the ML likelihood ratio 2(ℓ_large − ℓ_small) (REML fits are refitted
by ML first, as pbkrtest does). Its reference distribution comes from responses simulated
from the small model (ML fit), each refitted under both models; the bootstrap p-value is
(1 + #{ref > obs}) / (1 + #{ref > 0}) over the positive replicates, pbkrtest's rule.
"""
from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Optional, Union

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import LOGICAL, NSIM, SEED, argument_error
from ..errors import DataError, LmerpyError
from ..threads import fit_threads

if TYPE_CHECKING:
    from ..models.base import MixedModel
    from ..types import Seed

__all__ = ["PBmodcomp", "PBModcompResult", "lrt_stat", "pb_reference"]


def _ml(fit):
    if getattr(fit, "family", None) is None and bool(getattr(fit, "REML", False)):
        return fit.refitML()
    return fit


def lrt_stat(large, small):
    """(statistic, df, chi-square p-value) of the ML likelihood-ratio test (pbkrtest:
    ``getLRT``)."""
    ll_l = _ml(large).logLik()
    ll_s = _ml(small).logLik()
    tobs = 2.0 * (float(ll_l) - float(ll_s))
    df = ll_l.df - ll_s.df
    return tobs, df, float(stats.chi2.sf(tobs, df))


class _Pair:
    """Two fits refitted together on one simulated response (picklable, for the workers)."""

    def __init__(self, large, small):
        self.large, self.small = large, small

    def refit(self, y):
        return self.large.refit(y), self.small.refit(y)

    @property
    def batched(self):
        from ..models.refits import batch_ready
        return batch_ready(self.large) and batch_ready(self.small)

    def prepare_batches(self):
        from ..models.refits import prepare_batches
        prepare_batches(self.large)
        prepare_batches(self.small)

    def refit_plan(self, ys):
        """Both models' refit plans (:func:`lmerpy.models.refits.refit_plan`), paired."""
        from ..models.refits import refit_plan
        return [functools.partial(_both, a, b) for a, b in zip(refit_plan(self.large, ys),
                                                              refit_plan(self.small, ys))]


def _both(a, b):
    return a(), b()


def _pair_lrt(pair):
    lg, sm = pair
    return 2.0 * (float(lg.logLik()) - float(sm.logLik()))


def pb_reference(large, small, nsim=1000, seed=None, n_jobs=1, progress=False):
    """The bootstrap reference distribution of the LRT statistic (pbkrtest: ``PBrefdist``):
    responses simulated from the ML-fitted small model, refitted under both ML models.
    Failed refits give NaN."""
    from .bootstrap import refit_all
    from .simulate import simulate_responses
    lg, sm = _ml(large), _ml(small)
    Y, _, _ = simulate_responses(sm, nsim=nsim, seed=seed)
    ys = [Y[..., j] for j in range(Y.shape[-1])]
    res = refit_all(_Pair(lg, sm), _pair_lrt, ys, 1, n_jobs=n_jobs, progress=progress,
                    desc="PBmodcomp")
    return np.array([r[0][0] if r[0] is not None else np.nan for r in res], dtype=float)


class PBModcompResult:
    """The value of :func:`PBmodcomp` (R: class ``PBmodcomp``).

    Attributes
    ----------
    test : pandas.DataFrame
        Rows ``LRT`` and ``PBtest``, columns ``stat``, ``df``, ``p.value``.
    ref : ndarray
        The simulated LRT statistics (NaN for failed refits).
    n_extreme : int
        Positive replicates above the observed statistic.
    samples : dict
        ``nsim`` and ``npos`` (positive replicates used).
    ctime : float
        Seconds spent on the reference distribution.
    formula_large, formula_small : str
    """

    def __init__(self, tobs: float, df: float, p_chi: float, ref: np.ndarray, ctime: float,
                 formula_large: str, formula_small: str) -> None:
        self.LRTstat = {"tobs": tobs, "df": df, "p.value": p_chi}
        self.ref = np.asarray(ref, dtype=float)
        refpos = self.ref[self.ref > 0]
        self.samples = {"nsim": int(self.ref.shape[0]), "npos": int(refpos.shape[0])}
        self.n_extreme = int(np.sum(tobs < refpos))
        p_pb = (1.0 + self.n_extreme) / (1.0 + refpos.shape[0])
        self.test = pd.DataFrame({"stat": [tobs, tobs], "df": [float(df), np.nan],
                                  "p.value": [p_chi, p_pb]}, index=["LRT", "PBtest"])
        self.ctime = ctime
        self.formula_large = formula_large
        self.formula_small = formula_small

    @property
    def p_value(self) -> float:
        """The parametric-bootstrap p-value."""
        return float(self.test.loc["PBtest", "p.value"])

    def summary(self) -> pd.DataFrame:
        """pbkrtest's ``summary(PBmodcomp)`` table: LRT, PBtest, Gamma, Bartlett and F rows
        (columns ``stat``, ``df``, ``ddf``, ``p.value``); its text via ``summary_text()``."""
        tobs, ndf = self.LRTstat["tobs"], float(self.LRTstat["df"])
        refpos = self.ref[self.ref > 0]
        EE = float(np.mean(refpos)) if refpos.size else np.nan
        VV = float(np.var(refpos, ddof=1)) if refpos.size > 1 else np.nan
        p_pb = float(self.test.loc["PBtest", "p.value"])
        bc = ndf * tobs / EE
        p_bc = float(stats.chi2.sf(bc, ndf))
        scale, shape = VV / EE, EE ** 2 / VV
        p_ga = float(stats.gamma.sf(tobs, shape, scale=scale))
        ddf = 2.0 * EE / (EE - 1.0)
        fobs = tobs / ndf
        p_ff = float(stats.f.sf(fobs, ndf, ddf)) if ddf > 0 else np.nan
        rows = [[tobs, ndf, np.nan, self.LRTstat["p.value"]], [tobs, np.nan, np.nan, p_pb],
                [tobs, np.nan, np.nan, p_ga], [bc, ndf, np.nan, p_bc], [fobs, ndf, ddf, p_ff]]
        return pd.DataFrame(rows, index=["LRT", "PBtest", "Gamma", "Bartlett", "F"],
                            columns=["stat", "df", "ddf", "p.value"])

    def _common(self) -> str:
        s = f"Bootstrap test; time: {self.ctime:.2f} sec; samples: {self.samples['nsim']}; " \
            f"extremes: {self.n_extreme};\n"
        if self.samples["npos"] < self.samples["nsim"]:
            s += (f"Requested samples: {self.samples['nsim']} Used samples: "
                  f"{self.samples['npos']} Extremes: {self.n_extreme}\n")
        # pbkrtest prints the small model's formula without its "small : " label
        return s + f"large : {self.formula_large}\n{self.formula_small}\n"

    def _table_text(self, tab: pd.DataFrame, cs) -> str:
        from ..display.rprint import format_coef_table
        vals = [[None if np.isnan(v) else float(v) for v in row] for row in tab.to_numpy()]
        return format_coef_table(vals, list(tab.index), list(tab.columns), cs_ind=cs,
                                 tst_ind=[0], na_print="", has_Pvalue=True)

    def summary_text(self) -> str:
        """R's ``print(summary(pb))``."""
        return self._common() + self._table_text(self.summary(), [0, 1]) + "\n"

    def __str__(self):
        return self._common() + self._table_text(self.test, [0])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from ..display.html import pre_html
        return pre_html(str(self))


@fit_threads
def PBmodcomp(large: MixedModel, small: Union[MixedModel, str], nsim: int = 1000,
              seed: Seed = None, ref: Optional[np.ndarray] = None, n_jobs: int = 1,
              progress: bool = True) -> PBModcompResult:
    """Parametric-bootstrap LRT of a small model nested in a large one (R: pbkrtest's
    ``PBmodcomp(largeModel, smallModel, nsim, ref, seed)``).

    Parameters
    ----------
    large, small : fitted models
        ``small`` may also be a formula string, fitted with ``large.update(formula=small)``.
    nsim : int
        Bootstrap samples of the reference distribution.
    seed : None, int or numpy.random.Generator
    ref : array-like, optional
        A reference distribution computed before (``.ref`` of an earlier result).
    n_jobs, progress :
        As :func:`~lmerpy.inference.bootstrap.bootMer` (a bar appears when the refits take
        more than a couple of seconds; ``progress=False`` never shows one).

    Returns
    -------
    PBModcompResult
        ``.test`` (rows ``LRT``, ``PBtest``; columns ``stat``, ``df``, ``p.value``);
        ``str()`` prints as pbkrtest.
    """
    from .anova import is_fit, same_response
    from .bootstrap import N_JOBS
    nsim = NSIM("nsim", nsim, "PBmodcomp")
    seed = SEED("seed", seed, "PBmodcomp")
    n_jobs = N_JOBS("n_jobs", n_jobs, "PBmodcomp")
    progress = LOGICAL("progress", progress, "PBmodcomp")
    if ref is not None:
        try:    # NaN entries are failed refits of an earlier reference distribution
            ref = np.asarray(ref, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise argument_error("ref", ref, "a numeric vector (an earlier result's .ref)",
                                 "PBmodcomp") from None
    if isinstance(small, str):
        small = large.update(formula=small)
    if not (is_fit(large) and is_fit(small)):
        raise LmerpyError("PBmodcomp: large and small must be fitted models")
    if large.nobs() != small.nobs() or not same_response(large, small):
        raise DataError("PBmodcomp: the models were not fitted to the same data")
    tobs, df, p_chi = lrt_stat(large, small)
    if df <= 0:
        raise LmerpyError(f"PBmodcomp: the large model must have more parameters than the "
                          f"small one (difference {df})")
    t0 = time.perf_counter()
    if ref is None:
        ref = pb_reference(large, small, nsim=nsim, seed=seed, n_jobs=n_jobs,
                           progress=progress)
    ctime = time.perf_counter() - t0
    return PBModcompResult(tobs, df, p_chi, ref, ctime,
                           "\n".join(large.design.formula.deparse_lines()),
                           "\n".join(small.design.formula.deparse_lines()))
