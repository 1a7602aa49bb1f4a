"""Fixtures shared by the test modules: the bundled data sets most tests start from and the
two fits most API tests start from (sleepstudy's ``lmer``, cbpp's binomial ``glmer``).

- Data frames are loaded once per session and every test gets the same object: a test that
  changes one changes a copy (``df.copy()``, ``df.assign(...)``). At the end of the session
  each frame is compared with a fresh load, so a test (or lmerpy, which must never mutate the
  caller's data) that changed it fails at teardown.
- Fits are built once per module, as each module did before: a fit carries its deviance
  function (profile, refit and bootMer evaluate it elsewhere), so modules do not share one.

A module may still define its own fixture of the same name where it means something else.
"""
import pandas as pd
import pytest

import lmerpy

SLEEP_F = "Reaction ~ Days + (Days | Subject)"
CBPP_F = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _unchanged_frame(name):
    """The data set ``name``, and after the session: the check that it is as loaded."""
    frame = lmerpy.datasets.load(name)
    yield frame
    fresh = lmerpy.datasets.load(name)
    pd.testing.assert_frame_equal(frame, fresh, check_exact=True)
    assert frame.attrs == fresh.attrs, f"{name}'s attrs were changed: {frame.attrs}"


@pytest.fixture(scope="session")
def sleep():
    """lme4's sleepstudy (shared: never change it in place)."""
    yield from _unchanged_frame("sleepstudy")


@pytest.fixture(scope="session")
def cbpp():
    """lme4's cbpp (shared: never change it in place)."""
    yield from _unchanged_frame("cbpp")


@pytest.fixture(scope="module")
def fm1(sleep):
    """lme4's fm1: ``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)`` (REML)."""
    return lmerpy.lmer(SLEEP_F, sleep)


@pytest.fixture(scope="module")
def gm1(cbpp):
    """lme4's gm1: ``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
    binomial)``."""
    return lmerpy.glmer(CBPP_F, cbpp, family=lmerpy.binomial)
