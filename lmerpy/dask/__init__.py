"""Fits on Dask DataFrames: the data stay on the cluster, only cross-products come back.

The only n-long work of a linear mixed model is forming the cross-products of [Z X y]; every
deviance evaluation after that is independent of n. On a ``dask.dataframe.DataFrame`` that is
a map-reduce over the partitions, and the fit runs on the reduced blocks with the same
:class:`~lmerpy.pls.LmmDeviance` and optimizer as in memory.

Contract (what each pass does, and what it may not do)
-------------------------------------------------------
1. **Levels pass** (:mod:`.levels`): one pass over the partitions returns, per partition and
   per used column, its kind (numeric, factor, logical) and, on the complete rows (no missing
   value in a used column: R's ``na.omit``), the distinct values of every factor and grouping
   column (the distinct combinations for an interaction ``a:b`` of grouping columns) and a few
   sample rows. The client unites them: a level seen in only some partitions is a level; a
   categorical with different categories per partition gets the union in order of
   appearance (R's ``rbind`` of factors); strings get R's order from lmerpy's own design code;
   int in one partition and float in another is numeric; any other change of kind is a
   :class:`~lmerpy.errors.DataError` naming the column and the partitions. A small in-memory
   *skeleton* frame holding every level is then given to :func:`lmerpy.design.build_design`:
   the resulting *template* Design fixes the levels (R's order), contrasts, column names and
   Z's row layout for every partition.
2. **Products pass** (:mod:`.products`): per partition, the model frame (rows with a missing
   value dropped, as R does), X, y, Z with the template's levels
   (:func:`lmerpy.design.model_matrices_for`), offset and weights; then Z'WZ (sparse),
   Z'WX, X'WX, X'X, the response's products about the partition's own weighted least-squares
   fit (no cancellation in ỹ'Wỹ), n, Σ log w and a few maxima for the scale checks. Empty
   partitions and partitions whose rows all have a missing value contribute nothing.
3. **Tree reduction** on the cluster (``dask.delayed`` pairs summed level by level); only the
   reduced blocks (size q² sparse, q·p, p²) reach the client, never the data.
4. **Fit** (:mod:`.fit`): rank-deficient fixed-effects columns dropped from X'X (lme4's
   criterion), :meth:`lmerpy.pls.LmmDeviance.from_products` and the in-memory optimizer;
   the result is a :class:`lmerpy.models.LinearMixedModel` whose design is a
   :class:`.design.ReducedDesign` (no n-long data).

GLMMs (:mod:`.glmm`): the levels pass, a design pass that keeps each partition's X, Z and
response on its worker, then one pass per PIRLS iteration, whose q-level algebra runs on the
client (:mod:`lmerpy.pls.glmm.reduced`). Every pass is logged with its time on the fit
(``fit.dask_log``, :func:`print_passes`) and counted by a progress bar (:mod:`.passes`).

After the fit: ``fitted``/``residuals``/``predict`` (also on a Dask ``newdata``) and
``simulate`` are lazy Dask objects (:mod:`.lazy`, :mod:`.simulate`); ``summary`` (also
lmerTest's Satterthwaite), ``anova`` (LRTs with ML refits from the reduced blocks; types I/II
from the reduced X'X; type III with factors costs one pass, :mod:`.gram`), Wald and profile
intervals need no pass for an LMM (a GLMM's profile runs PIRLS passes); an LMM's ``bootMer``
costs one pass per
:data:`.simulate.BATCH` simulations, its refits run on the client; a GLMM's ``bootMer``
draws each response on the workers and refits there (:func:`.glmm.refit_simulated`).

Not here yet: data-dependent transforms (``poly``, ``scale``), ``na_action="exclude"``,
Kenward-Roger (it needs the model matrices).

Dask is imported only when a fit on a Dask DataFrame is asked for (``pip install
lmerpy[dask]``); ``import lmerpy`` never imports it.
"""
from __future__ import annotations

__all__ = ["glmer_dask", "is_dask_dataframe", "is_parquet_source", "read_parquet", "lmer_dask", "lazy_fitted", "lazy_residuals",
           "lazy_predict", "lazy_simulate", "bootstrap_responses", "refit_on_cluster", "gram_pass", "on_cluster",
           "pass_summary", "print_passes"]


def is_dask_dataframe(data) -> bool:
    """True for a ``dask.dataframe.DataFrame`` (checked without importing dask)."""
    mod = type(data).__module__ or ""
    if not (mod == "dask" or mod.startswith("dask.") or mod.startswith("dask_expr")):
        return False
    return hasattr(data, "npartitions") and hasattr(data, "to_delayed")


def is_parquet_source(data) -> bool:
    """True for parquet files named by a path or glob ending in ``.parquet`` (a ``str`` or
    ``os.PathLike``), or a list or tuple of them: ``lmer``/``glmer`` open them with
    ``dask.dataframe.read_parquet`` and fit where the data live."""
    import os
    items = list(data) if isinstance(data, (list, tuple)) and data else [data]
    return all(isinstance(x, (str, os.PathLike)) and os.fspath(x).endswith(".parquet")
               for x in items)


def read_parquet(data):
    """``dask.dataframe.read_parquet`` of a path, glob or list of parquet files."""
    try:
        import dask.dataframe as dd
    except ImportError:     # pragma: no cover - dask is the extra's dependency
        from ..errors import DataError
        raise DataError("data: parquet files are read with Dask: pip install lmerpy[dask]") \
            from None
    import os
    if isinstance(data, (list, tuple)):
        return dd.read_parquet([os.fspath(x) for x in data])
    return dd.read_parquet(os.fspath(data))


def lmer_dask(*args, **kwargs):
    """:func:`lmerpy.lmer` on a Dask DataFrame (see :func:`.fit.lmer_dask`)."""
    from .fit import lmer_dask as run
    return run(*args, **kwargs)


def glmer_dask(*args, **kwargs):
    """:func:`lmerpy.glmer` on a Dask DataFrame (see :func:`.glmm.glmer_dask`)."""
    from .glmm import glmer_dask as run
    return run(*args, **kwargs)


def pass_summary(fit):
    """Per kind of pass of a fit on a Dask DataFrame: count and seconds (see
    :func:`.passes.pass_summary`)."""
    from .passes import pass_summary as run
    return run(fit)


def print_passes(fit):
    """Print :func:`pass_summary` (see :func:`.passes.print_passes`)."""
    from .passes import print_passes as run
    run(fit)


def on_cluster(fit) -> bool:
    """True for a fit made on a Dask DataFrame (its n-long results are lazy Dask Series)."""
    return getattr(fit, "dask_log", None) is not None


def lazy_fitted(fit):
    """``fit.fitted()`` of a fit on a Dask DataFrame, lazily (see :mod:`.lazy`)."""
    from .lazy import fitted
    return fitted(fit)


def lazy_residuals(fit, type, scaled=False):
    """``fit.residuals(type, scaled)`` of a fit on a Dask DataFrame, lazily."""
    from .lazy import residuals
    return residuals(fit, type, scaled)


def lazy_predict(fit, newdata=None, re_form=None, allow_new_levels=False, type="link"):
    """``fit.predict(...)`` on the fit's Dask data or a Dask ``newdata``, lazily."""
    from .lazy import predict
    return predict(fit, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels,
                   type=type)


def lazy_simulate(fit, nsim=1, seed=None, use_u=False, re_form=None):
    """``fit.simulate(...)`` of a fit on a Dask DataFrame, lazily (see :mod:`.simulate`)."""
    from .simulate import simulate
    return simulate(fit, nsim=nsim, seed=seed, use_u=use_u, re_form=re_form)


def bootstrap_responses(fit, nsim, seed, use_u=False, re_form=None, progress=None):
    """``bootMer``'s simulated responses of an LMM on a Dask DataFrame, reduced on the
    cluster (see :func:`.simulate.bootstrap_responses`)."""
    from .simulate import bootstrap_responses as run
    return run(fit, nsim, seed, use_u=use_u, re_form=re_form, progress=progress)


def refit_on_cluster(fit, newresp):
    """``fit.refit(newresp)`` of a GLMM on a Dask DataFrame: ``newresp`` a response simulated
    on the workers (as ``bootMer`` makes); a fresh distributed fit."""
    from ..errors import DataError
    from .glmm import refit_simulated
    from .simulate import SimulatedResponse
    if not isinstance(newresp, SimulatedResponse):
        raise DataError("refit() of a GLMM on a Dask DataFrame takes a response simulated on "
                        "the cluster (as bootMer makes), not "
                        f"{type(newresp).__name__}: the rows are not on the client")
    return refit_simulated(fit, newresp)


def gram_pass(fit, designs):
    """One pass: the cross-products of X and recoded fixed-effects matrices over a fit's Dask
    data (see :func:`.gram.gram_pass`)."""
    from .gram import gram_pass as run
    return run(fit, designs)
