"""lmer on Dask DataFrames (lmerpy.dask, issue 15 step 1) on a real distributed.LocalCluster.

Every partition is generated inside the workers (``dd.from_map`` with a seeded generator per
partition); the in-memory fits for comparison are made from the same partitions computed
locally. Criterion, β, θ and σ must equal the in-memory fit to 1e-8 relative.
"""
import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import lmerpy  # noqa: E402
from lmerpy.errors import DataError, DataNotHereError, UnknownColumnError  # noqa: E402
from lmerpy.models.lmm import LinearMixedModel  # noqa: E402

FORMULA = "y ~ x + (x | g1) + (1 | g2)"
RTOL = 1e-8


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def crossed(i, n=50_000, n1=300, n2=200, seed=1, strings=True):
    """Partition i of a crossed (x | g1) + (1 | g2) data set (the same effects everywhere)."""
    rng = np.random.default_rng([seed, i])
    g1 = rng.integers(0, n1, n)
    g2 = rng.integers(0, n2, n)
    x = rng.normal(size=n)
    b1 = np.random.default_rng([seed, 99]).normal(size=(n1, 2)) * [0.8, 0.3]
    b2 = np.random.default_rng([seed, 98]).normal(size=n2) * 0.5
    y = 1.0 + 0.5 * x + b1[g1, 0] + b1[g1, 1] * x + b2[g2] + rng.normal(size=n)
    if strings:
        return pd.DataFrame({"y": y, "x": x, "g1": np.char.add("u", g1.astype(str)),
                             "g2": np.char.add("c", g2.astype(str))})
    return pd.DataFrame({"y": y, "x": x, "g1": g1, "g2": g2})


def small(i, kind="plain"):
    """Small partitions for the bad-input cases."""
    df = crossed(i, n=3000, n1=60, n2=12, seed=7)
    if kind == "extra_level" and i == 1:
        df.loc[:99, "g1"] = "only_here"                  # a level of partition 1 only
    if kind == "int_float":
        df["x"] = np.round(df["x"] * 10)
        df["x"] = df["x"].astype(int if i % 2 == 0 else float)
    if kind == "categories":                            # each partition its own categories
        df["g2"] = pd.Categorical(df["g2"])
    if kind == "object_numeric" and i == 2:
        df["x"] = df["x"].astype(str)
    if kind == "empty" and i == 1:
        df = df.iloc[:0]
    if kind == "all_missing" and i == 2:
        df["y"] = np.nan
    if kind == "some_missing":
        df.loc[df.index[::17], "x"] = np.nan
        df.loc[df.index[::23], "g2"] = None
    return df


def close(a, b, what):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=0, err_msg=what)


def assert_same_fit(fit, ref):
    assert isinstance(fit, LinearMixedModel)
    crit = fit.REMLcrit() if fit.REML else fit.deviance(REML=False)
    rcrit = ref.REMLcrit() if ref.REML else ref.deviance(REML=False)
    close(crit, rcrit, "criterion")
    close(fit.fixef().to_numpy(), ref.fixef().to_numpy(), "beta")
    assert list(fit.fixef().index) == list(ref.fixef().index)
    # θ: diagonal entries relative to themselves, the whole vector relative to its size
    th, rth = fit.theta, ref.theta
    assert np.max(np.abs(th - rth)) <= RTOL * np.max(np.abs(rth)), (th, rth)
    close(fit.sigma(), ref.sigma(), "sigma")
    assert fit.nobs() == ref.nobs()
    assert dict(fit.ngrps()) == dict(ref.ngrps())


def assert_same_deviance(fit, ref):
    """The deviance function from the reduced blocks equals the in-memory one: at the
    in-memory optimum, the criterion, β̂(θ), σ̂(θ), the conditional modes and the gradient."""
    par = ref.par
    close(fit.devfun(par), ref.devfun(par), "criterion at the same theta")
    a, b = fit.devfun.solve(par), ref.devfun.solve(par)
    close(a.beta, b.beta, "beta at the same theta")
    close(a.sigma, b.sigma, "sigma at the same theta")
    close(a.ldL2, b.ldL2, "log|L|^2 at the same theta")
    np.testing.assert_allclose(a.b, b.b, rtol=0, atol=RTOL * np.max(np.abs(b.b)))
    g, rg = fit.devfun.gradient(par), ref.devfun.gradient(par)
    # the gradient is ~0 at the optimum: compare on the scale of the criterion's curvature
    H = ref.devfun.information(par)
    assert np.max(np.abs(np.linalg.solve(H, g - rg))) <= RTOL * np.max(np.abs(par))


def test_crossed_fit_equals_in_memory(client):
    ddf = dd.from_map(crossed, list(range(4)))
    fit = lmerpy.lmer(FORMULA, ddf)
    ref = lmerpy.lmer(FORMULA, pd.concat([crossed(i) for i in range(4)], ignore_index=True))
    assert_same_fit(fit, ref)
    assert fit.nobs() == 200_000
    # accessors from the reduced blocks
    close(fit.vcov().to_numpy(), ref.vcov().to_numpy(), "vcov")
    re, rre = fit.ranef(), ref.ranef()
    np.testing.assert_allclose(re["g1"].to_numpy(), rre["g1"].to_numpy(), rtol=1e-6, atol=1e-9)
    assert list(re["g1"].index) == list(rre["g1"].index)
    vc = fit.VarCorr()
    assert vc is not None
    text = str(fit.summary())
    assert "Number of obs: 200000, groups:  g1, 300; g2, 200" in text
    assert "Scaled residuals" not in text           # they need the data
    assert [p["pass"] for p in fit.dask_log] == ["levels", "cross-products", "fit"]
    with pytest.raises(DataNotHereError, match="design.y is not available"):
        fit.design.y
    lazy = fit.fitted()                              # n-long results: lazy, per partition
    assert isinstance(lazy, dd.Series) and lazy.npartitions == 4
    close(lazy.compute().to_numpy(), ref.fitted().to_numpy(), "fitted")
    np.testing.assert_allclose(fit.residuals().compute().to_numpy(),
                               ref.residuals().to_numpy(), rtol=0, atol=1e-8)
    # statsmodels' resid: on a cluster the method (called, the lazy Series), not the rows
    assert isinstance(fit.resid(), dd.Series)
    assert_same_deviance(fit, ref)


def _ml_fits():
    ddf = dd.from_map(crossed, list(range(4)))
    pdf = pd.concat([crossed(i) for i in range(4)], ignore_index=True)
    return lmerpy.lmer(FORMULA, ddf, REML=False), lmerpy.lmer(FORMULA, pdf, REML=False)


def test_crossed_ml_deviance_equals_in_memory(client):
    fit, ref = _ml_fits()
    assert_same_deviance(fit, ref)
    close(fit.deviance(REML=False), ref.deviance(REML=False), "ML deviance at the optima")


def test_crossed_ml_fit_equals_in_memory(client):
    # the default optimizer (newton_ai) ends at the optimum on both sides
    fit, ref = _ml_fits()
    assert_same_fit(fit, ref)


def test_a_million_rows_per_partition(client):
    """2 partitions of 1M rows each, generated on the workers; the same fit in memory."""
    def part(i):
        return crossed(i, n=1_000_000, n1=2000, n2=50, seed=3, strings=False)

    ddf = dd.from_map(part, [0, 1])
    fit = lmerpy.lmer(FORMULA, ddf)
    ref = lmerpy.lmer(FORMULA, pd.concat([part(0), part(1)], ignore_index=True))
    assert fit.nobs() == 2_000_000
    assert_same_fit(fit, ref)


def _both(kind, n_parts=4, **kw):
    ddf = dd.from_map(small, list(range(n_parts)), kind=kind)
    fit = lmerpy.lmer(FORMULA, ddf, **kw)
    ref = lmerpy.lmer(FORMULA, pd.concat([small(i, kind) for i in range(n_parts)],
                                         ignore_index=True), **kw)
    return fit, ref


@pytest.mark.parametrize("kind", ["plain", "extra_level", "int_float", "empty", "all_missing",
                                  "some_missing"])
def test_partition_cases_equal_in_memory(client, kind):
    # (int_float: the two BOBYQA paths of lme4's optimizer differ, 479 vs 189 evaluations;
    # the default optimizer ends at the optimum on both sides)
    fit, ref = _both(kind)
    assert_same_fit(fit, ref)
    if kind == "extra_level":
        assert "only_here" in fit.ranef()["g1"].index
        assert list(fit.ranef()["g1"].index) == list(ref.ranef()["g1"].index)
    if kind in ("all_missing", "some_missing"):
        assert fit.design.n_dropped == ref.design.n_dropped > 0


@pytest.mark.parametrize("kind", ["extra_level", "int_float", "empty", "all_missing",
                                  "some_missing", "categories"])
def test_partition_cases_deviance_equals_in_memory(client, kind):
    fit, ref = _both(kind)
    assert_same_deviance(fit, ref)


def test_categoricals_with_different_categories_are_united(client):
    fit, ref = _both("categories")
    assert_same_fit(fit, ref)
    # the union in order of appearance (R's rbind of factors): partition 0's levels first
    first = list(pd.Categorical(small(0, "categories")["g2"]).categories)
    assert list(fit.ranef()["g2"].index)[:len(first)] == first


def test_object_versus_numeric_names_column_and_partition(client):
    ddf = dd.from_map(small, list(range(4)), kind="object_numeric")
    with pytest.raises(DataError, match=r"column 'x' changes type across partitions: numeric "
                                        r"\(float64\) in partition 0 but factor .* partition 2"):
        lmerpy.lmer(FORMULA, ddf)


def test_unknown_column_and_weights_offset_columns(client):
    ddf = dd.from_map(small, list(range(3)))
    with pytest.raises(UnknownColumnError, match="column 'zz' is not in the data"):
        lmerpy.lmer("y ~ zz + (1 | g1)", ddf)

    def weighted(i):
        df = small(i)
        rng = np.random.default_rng([5, i])
        df["w"] = rng.uniform(0.5, 2.0, len(df))
        df["o"] = rng.normal(size=len(df))
        return df

    ddf = dd.from_map(weighted, list(range(3)))
    fit = lmerpy.lmer(FORMULA, ddf, weights="w", offset="o")
    pdf = pd.concat([weighted(i) for i in range(3)], ignore_index=True)
    ref = lmerpy.lmer(FORMULA, pdf, weights="w", offset="o")
    assert_same_fit(fit, ref)
    with pytest.raises(lmerpy.LmerpyError, match="weights= on a Dask DataFrame must name a "
                                                  "column"):
        lmerpy.lmer(FORMULA, ddf, weights=np.ones(9000))


def test_rank_deficient_column_dropped_as_in_memory(client):
    def dup(i):
        df = small(i)
        df["x2"] = 2.0 * df["x"]
        return df

    ddf = dd.from_map(dup, list(range(3)))
    f = "y ~ x + x2 + (1 | g1)"
    with pytest.warns(lmerpy.warnings.RankDeficiencyWarning):
        fit = lmerpy.lmer(f, ddf)
    with pytest.warns(lmerpy.warnings.RankDeficiencyWarning):
        ref = lmerpy.lmer(f, pd.concat([dup(i) for i in range(3)], ignore_index=True))
    assert fit.design.dropped_columns == ref.design.dropped_columns == ["x2"]
    assert_same_fit(fit, ref)


def test_scalar_intercepts_start_as_in_memory(client):
    """All-scalar-intercept models start from lme4's data-based θ (from reduced sums)."""
    f = "y ~ x + (1 | g1) + (1 | g2)"
    ddf = dd.from_map(small, list(range(3)))
    fit = lmerpy.lmer(f, ddf)
    ref = lmerpy.lmer(f, pd.concat([small(i) for i in range(3)], ignore_index=True))
    start = ref.optsum.theta_start
    assert np.all(start != 1.0)           # lme4's data-based start, not the default 1s
    close(fit.optsum.theta_start, start, "start")
    assert_same_fit(fit, ref)


def test_other_entries_refuse_a_dask_frame_clearly(client):
    ddf = dd.from_map(small, list(range(2)))
    with pytest.raises(DataError, match=r"data: a Dask DataFrame is fitted where it lives by "
                                        r"lmer\(\) and glmer\(\) only"):
        lmerpy.glmer_nb("y ~ x + (1 | g1)", ddf)
    with pytest.raises(DataError, match="a Dask DataFrame is fitted where it lives"):
        lmerpy.lFormula(FORMULA, ddf)


def test_progress_bar_and_pass_log(client, capsys):
    import lmerpy.dask
    ddf = dd.from_map(small, list(range(3)))
    fit = lmerpy.lmer(FORMULA, ddf, progress=True)
    err = capsys.readouterr().err
    assert "lmerpy passes" in err and "2pass" in err.replace(" ", "")
    assert [e["pass"] for e in fit.dask_log] == ["levels", "cross-products", "fit"]
    tab = lmerpy.dask.pass_summary(fit)
    assert tab["count"].tolist() == [1, 1, 1]
    with pytest.raises(lmerpy.errors.ArgumentError, match="progress"):
        lmerpy.lmer(FORMULA, ddf, progress="yes")


def test_anova_refits_by_ml_from_the_reduced_blocks(client):
    ddf = dd.from_map(small, list(range(3)))
    pdf = pd.concat([small(i) for i in range(3)], ignore_index=True)
    small_f = "y ~ x + (1 | g1) + (1 | g2)"
    fits = [lmerpy.lmer(f, ddf) for f in (small_f, FORMULA)]
    refs = [lmerpy.lmer(f, pdf) for f in (small_f, FORMULA)]
    ml = fits[1].refitML()
    assert not ml.REML and ml.dask_log == fits[1].dask_log     # no pass over the data
    close(ml.deviance(), refs[1].refitML().deviance(), "ML deviance")
    tab, ref = fits[0].anova(fits[1]), refs[0].anova(refs[1])
    for col in ("npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Pr(>Chisq)"):
        a = pd.to_numeric(tab[col], errors="coerce").to_numpy()
        b = pd.to_numeric(ref[col], errors="coerce").to_numpy()
        np.testing.assert_allclose(a, b, rtol=1e-7, err_msg=col)


def test_inference_from_the_reduced_blocks_equals_in_memory(client):
    """lmerTest's Satterthwaite summary and anova (types I-III), profile intervals: from the
    reduced blocks, no pass over the data."""
    ddf = dd.from_map(small, list(range(3)))
    pdf = pd.concat([small(i) for i in range(3)], ignore_index=True)
    f = "y ~ x + z + x:z + (1 | g1) + (1 | g2)"
    add_z = lambda d: d.assign(z=np.cos(d["x"] * 3.0))          # noqa: E731
    fit, ref = lmerpy.lmer(f, add_z(ddf)), lmerpy.lmer(f, add_z(pdf))
    log = list(fit.dask_log)
    a = fit.summary(ddf="Satterthwaite").coefficients
    b = ref.summary(ddf="Satterthwaite").coefficients
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-7, atol=1e-300)
    for type in (1, 2, 3):
        a, b = fit.anova(type=type), ref.anova(type=type)
        np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-7,
                                   atol=1e-300, err_msg=f"type {type}")
    a, b = fit.confint(method="profile"), ref.confint(method="profile")
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-7)
    assert fit.dask_log == log


@pytest.mark.parametrize("contrasts", [None, {"f": "contr.sum"}])
def test_type3_with_factors_by_one_pass_equals_in_memory(client, contrasts):
    def with_factor(i):
        df = small(i)
        df["f"] = np.where(df["x"] > 0.5, "hi", np.where(df["x"] < -0.5, "lo", "mid"))
        return df

    f = "y ~ x * f + (1 | g1)"
    fit = lmerpy.lmer(f, dd.from_map(with_factor, list(range(3))), contrasts=contrasts)
    ref = lmerpy.lmer(f, pd.concat([with_factor(i) for i in range(3)], ignore_index=True),
                      contrasts=contrasts)
    n_log = len(fit.dask_log)
    for type in (3, 2, 1):
        a, b = fit.anova(type=type), ref.anova(type=type)
        assert list(a.index) == list(b.index) == ["x", "f", "x:f"]
        np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float),
                                   rtol=1e-7, err_msg=f"type {type}")
    assert [e["pass"] for e in fit.dask_log[n_log:]] == ["cross-products"]   # type III only
    with pytest.raises(DataNotHereError, match="design.X is not available"):
        fit.summary(ddf="Kenward-Roger")


def test_simulate_is_lazy_and_bootstrap_refits_equal_in_memory(client):
    """simulate() draws on the workers (a lazy Dask DataFrame); bootMer draws the same
    responses, reduces them on the cluster and refits on the client: each refit equals the
    in-memory refit on the simulated response."""
    ddf = dd.from_map(small, list(range(3)))
    pdf = pd.concat([small(i) for i in range(3)], ignore_index=True)
    f = "y ~ x + (1 | g1) + (1 | g2)"
    fit, ref = lmerpy.lmer(f, ddf), lmerpy.lmer(f, pdf)
    sim = fit.simulate(nsim=3, seed=11)
    assert isinstance(sim, dd.DataFrame) and sim.npartitions == 3
    Y = sim.compute()
    assert list(Y.columns) == ["sim_1", "sim_2", "sim_3"] and len(Y) == 9000
    np.testing.assert_array_equal(fit.simulate(nsim=3, seed=11).compute().to_numpy(),
                                  Y.to_numpy())
    # conditioned on the modes: the draws scatter around the fitted values with sd sigma
    e = fit.simulate(nsim=1, seed=3, use_u=True).compute()["sim_1"].to_numpy() \
        - ref.fitted().to_numpy()
    assert abs(e.std() / fit.sigma() - 1) < 0.03 and abs(e.mean()) < 0.05
    n_log = len(fit.dask_log)
    boot = lmerpy.bootMer(fit, lambda m: np.append(m.fixef().to_numpy(), m.sigma()), nsim=3,
                          seed=11, progress=False)
    assert [e["pass"] for e in fit.dask_log[n_log:]] == ["bootstrap"]      # one pass
    for k in range(3):
        r = ref.refit(Y[f"sim_{k + 1}"].to_numpy())
        np.testing.assert_allclose(boot.t.iloc[k].to_numpy(),
                                   np.append(r.fixef().to_numpy(), r.sigma()), rtol=1e-7)
    with pytest.raises(DataError, match="response reduced on the cluster"):
        fit.refit(Y["sim_1"].to_numpy())
    with pytest.raises(lmerpy.errors.ArgumentError, match="re_form conditioning on some"):
        fit.simulate(re_form="~(1 | g1)")


def test_parquet_files_are_opened_by_dask(client, tmp_path):
    """A glob or a list of parquet files: read by the workers, fitted as a Dask DataFrame."""
    for i in range(3):
        small(i).to_parquet(tmp_path / f"part{i}.parquet")
    pdf = pd.concat([small(i) for i in range(3)], ignore_index=True)
    f = "y ~ x + (1 | g1) + (1 | g2)"
    ref = lmerpy.lmer(f, pdf)
    for src in (str(tmp_path / "*.parquet"), [tmp_path / f"part{i}.parquet" for i in range(3)]):
        fit = lmerpy.lmer(f, src)
        assert fit.dask_log is not None and fit.data.npartitions == 3
        assert_same_fit(fit, ref)
    # a path object (os.PathLike) to one file, through glmer too
    one = small(0).assign(yb=lambda d: (d["y"] > d["y"].median()).astype(int))
    one.to_parquet(tmp_path / "binary.parquet")
    gfit = lmerpy.glmer("yb ~ x + (1 | g1)", tmp_path / "binary.parquet", family="binomial")
    gref = lmerpy.glmer("yb ~ x + (1 | g1)", one, family="binomial")
    assert gfit.dask_log is not None
    assert gfit.deviance() == pytest.approx(gref.deviance(), rel=1e-8)
