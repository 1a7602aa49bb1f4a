"""Seeded synthetic data for the benchmark suite (never committed as data).

``crossed(n_rows, n_g1, n_g2, seed)`` builds the crossed design of the performance issue,
``y ~ x + (x | g1) + (1 | g2)``: a correlated random intercept and slope per level of ``g1``
and a random intercept per level of ``g2``, with every level of both factors present and the
two factors crossed at random.

R equivalent: none (the R side of the benchmark reads the CSV that ``cases.write_csv`` writes
from this frame, so both fit identical numbers).
"""
import numpy as np
import pandas as pd

#: True parameters of the generated model (documented in docs/performance.md).
TRUTH = {
    "beta": (1.0, 0.5),            # (Intercept), x
    "sd_g1": (1.0, 0.5),           # g1: intercept and slope SDs
    "cor_g1": 0.3,                 # their correlation
    "sd_g2": 0.7,                  # g2: intercept SD
    "sigma": 1.0,                  # residual SD
}

#: Decimal places of the generated x and y: short CSV text that parses back to the same doubles.
DECIMALS = 6


def _labels(prefix, n):
    width = len(str(max(n - 1, 0)))
    return [f"{prefix}{i:0{width}d}" for i in range(n)]


def _balanced_codes(rng, n_rows, n_levels):
    """Every level used ⌊n_rows/n_levels⌋ or one more times, in random order."""
    return rng.permutation(np.arange(n_rows, dtype=np.int64) % n_levels)


def crossed(n_rows=200_000, n_g1=2_000, n_g2=300, seed=20240501):
    """A crossed-random-effects data set for ``y ~ x + (x | g1) + (1 | g2)``.

    Parameters
    ----------
    n_rows : int
        Number of observations.
    n_g1, n_g2 : int
        Levels of the two grouping factors (each must be ≤ ``n_rows``: every level is used).
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same arguments give the same frame.

    Returns
    -------
    pandas.DataFrame
        Columns ``y`` and ``x`` (float, rounded to :data:`DECIMALS` places) and ``g1``, ``g2``
        (Categoricals with zero-padded labels ``a0000``…, ``b000``…, levels in label order).
    """
    n_rows, n_g1, n_g2 = int(n_rows), int(n_g1), int(n_g2)
    if not (1 <= n_g1 <= n_rows and 1 <= n_g2 <= n_rows):
        raise ValueError(f"need 1 <= n_g1, n_g2 <= n_rows, got {n_rows=}, {n_g1=}, {n_g2=}")
    rng = np.random.default_rng(seed)
    g1 = _balanced_codes(rng, n_rows, n_g1)
    g2 = _balanced_codes(rng, n_rows, n_g2)
    x = rng.standard_normal(n_rows)
    s0, s1 = TRUTH["sd_g1"]
    rho = TRUTH["cor_g1"]
    cov = np.array([[s0 * s0, rho * s0 * s1], [rho * s0 * s1, s1 * s1]])
    b1 = rng.standard_normal((n_g1, 2)) @ np.linalg.cholesky(cov).T
    b2 = TRUTH["sd_g2"] * rng.standard_normal(n_g2)
    b0, bx = TRUTH["beta"]
    y = (b0 + b1[g1, 0]) + (bx + b1[g1, 1]) * x + b2[g2] \
        + TRUTH["sigma"] * rng.standard_normal(n_rows)
    return pd.DataFrame({
        "y": np.round(y, DECIMALS),
        "x": np.round(x, DECIMALS),
        "g1": pd.Categorical.from_codes(g1, categories=_labels("a", n_g1)),
        "g2": pd.Categorical.from_codes(g2, categories=_labels("b", n_g2)),
    })


def gls_ar1(groups=1000, size=100, seed=1, phi=0.6):
    """Grouped series for nlme's ``gls``: ``groups`` series of ``size`` rows each, AR(1) errors
    within a series (``phi``), a larger error SD (1.5 vs 1) in treatment arm ``b``:
    ``y = 1 + 0.5 x + 0.02 t + 0.3 [arm b] + e``.

    Returns
    -------
    pandas.DataFrame
        ``y``, ``x`` (rounded to :data:`DECIMALS`), ``t`` (1..size), ``g`` (Categorical
        ``s00000``…) and ``trt`` (Categorical ``a``/``b``), sorted by series and time.
    """
    rng = np.random.default_rng(seed)
    n = groups * size
    g = np.repeat(np.arange(groups), size)
    t = np.tile(np.arange(1, size + 1), groups)
    z = rng.normal(size=(groups, size))
    e = np.empty_like(z)
    e[:, 0] = z[:, 0]
    for j in range(1, size):
        e[:, j] = phi * e[:, j - 1] + np.sqrt(1 - phi * phi) * z[:, j]
    arm = rng.integers(0, 2, groups)[g]
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + 0.02 * t + 0.3 * arm + e.ravel() * np.where(arm == 1, 1.5, 1.0)
    return pd.DataFrame({
        "y": np.round(y, DECIMALS), "x": np.round(x, DECIMALS), "t": t,
        "g": pd.Categorical.from_codes(g, categories=[f"s{k:05d}" for k in range(groups)]),
        "trt": pd.Categorical.from_codes(arm, categories=["a", "b"]),
    })
