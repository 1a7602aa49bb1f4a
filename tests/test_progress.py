"""Feedback on long work (issue 16): every function that refits or re-optimizes a model many
times — ``profile``, ``confint(method="profile"|"boot")``, ``bootMer``, ``PBmodcomp``,
``influence``, ``allFit`` — shows a tqdm bar by default (drawn once the work has run for
lmerpy.progress.DELAY seconds; here 0 so the small models draw it at once), named after the
work and counting its steps; ``progress=False`` never shows one and changes no number.

lmerpy.progress.parallel_map keeps the items' order whatever the number of workers.
"""
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy
import lmerpy.progress
from lmerpy.errors import ArgumentError


@pytest.fixture(scope="module")
def dye():
    return lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("Dyestuff"))


@pytest.fixture(scope="module")
def dye_ml():
    return lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("Dyestuff"), REML=False)


def _fixef(m):
    return m.fixef()


# each entry: the bar's name, its final count, and the call (with or without progress)
CALLS = {
    "profile": ("profile", "3/3", lambda f, g, p: lmerpy.profile(f, progress=p).as_dataframe()),
    "confint_profile": ("profile", "3/3", lambda f, g, p: lmerpy.confint(
        f, method="profile", quiet=True, progress=p)),
    "confint_boot": ("bootMer", "4/4", lambda f, g, p: lmerpy.confint(
        f, method="boot", nsim=4, seed=1, quiet=True, progress=p)),
    "bootMer": ("bootMer", "4/4", lambda f, g, p: pd.DataFrame(lmerpy.bootMer(
        f, _fixef, nsim=4, seed=1, progress=p).t)),
    "PBmodcomp": ("PBmodcomp", "4/4", lambda f, g, p: lmerpy.PBmodcomp(
        g, "Yield ~ 1 + (1 | Batch) - 1", nsim=4, seed=1, progress=p).test),
    "influence": ("influence", "6/6", lambda f, g, p: lmerpy.influence(
        f, groups="Batch", progress=p).fixed_effects_deleted),
    "allFit": ("allFit", None, lambda f, g, p: lmerpy.allFit(
        f, progress=p).summary().llik.to_frame()),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_bar_by_default_and_silenced(name, dye, dye_ml, capsys, monkeypatch):
    desc, count, call = CALLS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet = call(dye, dye_ml, False)
        assert capsys.readouterr().err == ""
        monkeypatch.setattr(lmerpy.progress, "DELAY", 0.0)
        loud = call(dye, dye_ml, True)
    err = capsys.readouterr().err
    assert re.search(rf"(^|\r|\n){desc}: ", err), err
    if count is not None:
        assert count in err, err
    pd.testing.assert_frame_equal(pd.DataFrame(loud), pd.DataFrame(quiet))


def test_bar_waits_for_the_delay(dye, capsys, monkeypatch):
    """Work shorter than the delay draws nothing (a delay far beyond this test's run)."""
    monkeypatch.setattr(lmerpy.progress, "DELAY", 3600.0)
    lmerpy.influence(dye, groups="Batch")
    assert capsys.readouterr().err == ""


def _square(shared, item):
    return shared * item * item


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_parallel_map_keeps_order(n_jobs):
    out = lmerpy.progress.parallel_map(_square, list(range(25)), shared=2, n_jobs=n_jobs,
                                       progress=False)
    np.testing.assert_array_equal(out, 2 * np.arange(25) ** 2)


@pytest.mark.parametrize("bad", [0.5, "two", True])
def test_n_jobs_is_checked(bad, dye):
    with pytest.raises(ArgumentError, match="n_jobs"):
        lmerpy.influence(dye, groups="Batch", n_jobs=bad, progress=False)


@pytest.mark.parametrize("fn", [lmerpy.influence, lmerpy.allFit, lmerpy.profile])
def test_progress_is_checked(fn, dye):
    with pytest.raises(ArgumentError, match="progress"):
        fn(dye, progress="yes")
