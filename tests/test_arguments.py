"""lmerpy.arguments as units: each validator against a corpus of bad values (an
ArgumentError naming the argument and the value received) and the good values it accepts (R's
logical strings, integral floats, aliases), the ``start=`` list and new responses (DataError
with lme4's "response must be numeric").

The public functions that use these validators are tested in test_arguments_api.py.
"""
import numpy as np
import pandas as pd
import pytest

from lmerpy.arguments import (LEVEL, LOGICAL, LOGICAL_OR_NONE, NA_ACTION, NAGQ, NSIM, SEED,
                              VERBOSE, Choice, Integer, Number, new_response, numeric_vector,
                              show, start_values, unknown_keywords)
from lmerpy.errors import ArgumentError, DataError, LmerpyError


class _Odd:
    def __repr__(self):
        return "<odd>"


def _raises(validator, name, value, caller=None):
    with pytest.raises(ArgumentError) as info:
        validator(name, value, caller)
    msg = str(info.value)
    assert name in msg
    assert show(value) in msg, (msg, show(value))
    if caller:
        assert msg.startswith(f"{caller}: ")
    return msg


# ---------------------------------------------------------------------------- logicals


BAD_LOGICALS = ["yes", "no", "", "1", "0", "TRUE ", "tRUE", "t", "f", "NA", b"TRUE", 2, -1, 0.5,
                np.float64(0.25), np.nan, float("inf"), 1j, [True], (False,), {"a": 1},
                np.array([True, False]), _Odd(), pd.NA]


@pytest.mark.parametrize("value", BAD_LOGICALS, ids=repr)
def test_logical_rejects(value):
    msg = _raises(LOGICAL, "REML", value, "lmer")
    assert msg.startswith("lmer: REML must be True or False, not ")


def test_logical_none_is_refused_unless_allowed():
    assert "REML must be True or False, not None" in _raises(LOGICAL, "REML", None)
    assert LOGICAL_OR_NONE("REML", None) is None
    for value in ("maybe", 2, np.nan):
        _raises(LOGICAL_OR_NONE, "REML", value)


def test_not_interpretable_is_R_s_words():
    with pytest.raises(ArgumentError, match="argument is not interpretable as logical"):
        LOGICAL("REML", "yes")


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), (np.True_, True), (np.False_, False), (1, True), (0, False),
    (1.0, True), (0.0, False), (np.int64(1), True), (np.array(False), False),
    (np.array([True]), True),
    ("TRUE", True), ("true", True), ("True", True), ("T", True),
    ("FALSE", False), ("false", False), ("False", False), ("F", False),
])
def test_logical_accepts_what_R_reads_as_logical(value, expected):
    out = LOGICAL("REML", value)
    assert out is expected


def test_argument_error_is_a_value_error_and_an_lmerpy_error():
    with pytest.raises(ValueError):
        LOGICAL("REML", "yes")
    with pytest.raises(LmerpyError):
        LOGICAL("REML", "yes")


# ---------------------------------------------------------------------------- integers


BAD_COUNTS = [0, -1, 2.5, np.float64(1.5), "2", "ten", True, False, None, np.nan,
              float("inf"), -float("inf"), [1], (3,), 1j, _Odd()]


@pytest.mark.parametrize("value", BAD_COUNTS, ids=repr)
def test_nsim_rejects(value):
    msg = _raises(NSIM, "nsim", value, "simulate")
    assert "nsim must be a positive integer" in msg


@pytest.mark.parametrize("value", [-1, 101, 2.5, True, "1", None, np.nan, 1e300], ids=repr)
def test_nagq_rejects(value):
    msg = _raises(NAGQ, "nAGQ", value, "glmer")
    assert "nAGQ must be an integer from 0 to 100" in msg


@pytest.mark.parametrize("value, expected", [(1, 1), (2.0, 2), (np.int64(7), 7),
                                             (np.float32(3.0), 3), (np.array(5), 5),
                                             (100, 100)])
def test_integers_accept_integral_numbers(value, expected):
    out = NAGQ("nAGQ", value)
    assert out == expected and type(out) is int


def test_integer_bounds_and_none():
    v = Integer(lower=-2, upper=2, none=True)
    assert v("k", None) is None and v("k", -2) == -2 and v("k", 2.0) == 2
    for bad in (-3, 3, 0.5):
        msg = _raises(v, "k", bad)
        assert "an integer from -2 to 2 (or None)" in msg
    assert "an integer <= 4" in _raises(Integer(upper=4), "k", 5)
    assert "must be an integer, not 'x'" in _raises(Integer(), "k", "x")


# ---------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1, "0.95", True, np.nan, float("inf"), None,
                                   [0.95], 1j], ids=repr)
def test_level_rejects(value):
    msg = _raises(LEVEL, "level", value, "confint")
    assert "level must be a number between 0 and 1 (exclusive)" in msg


def test_numbers():
    assert LEVEL("level", 0.9) == 0.9 and LEVEL("level", np.float32(0.5)) == 0.5
    tol = Number(lower=0)
    assert tol("tol", 0) == 0.0 and type(tol("tol", 1)) is float
    assert "a finite number >= 0" in _raises(tol, "tol", -1e-9)
    pos = Number(lower=0, open_lower=True, none=True)
    assert pos("theta", None) is None
    assert "a finite number > 0 (or None)" in _raises(pos, "theta", 0)
    anything = Number(finite=False)
    assert anything("x", float("inf")) == float("inf")
    assert "must be a number, not nan" in _raises(anything, "x", float("nan"))
    assert "< 1" in _raises(Number(upper=1, open_upper=True), "x", 1)


# ---------------------------------------------------------------------------- choices


TYPE = Choice(("link", "response"))


@pytest.mark.parametrize("value", ["Link", "resp", "", "links", 1, 0, None, True, ["link"],
                                   {"link": 1}, np.nan, _Odd()], ids=repr)
def test_choice_rejects(value):
    msg = _raises(TYPE, "type", value, "predict")
    assert "type must be one of 'link', 'response'" in msg


def test_choice_suggests_the_closest_and_keeps_aliases():
    assert "did you mean 'response'?" in _raises(TYPE, "type", "respons")
    assert NA_ACTION("na_action", "na.omit") == "omit"
    assert NA_ACTION("na_action", "exclude") == "exclude"
    assert "one of 'omit', 'exclude', 'fail'" in _raises(NA_ACTION, "na_action", "drop")
    folded = Choice(("Wald", "boot"), fold_case=True)
    assert folded("method", "wald") == "Wald" and folded("method", "BOOT") == "boot"
    assert "did you mean 'Wald'?" in _raises(folded, "method", "wlad")
    roman = Choice(("I", "II"), aliases={1: "I", 2: "II"}, what="1 or 2")
    assert roman("type", 2) == "II" and roman("type", np.int64(1)) == "I"
    assert roman("type", 2.0) == "II"
    assert "type must be 1 or 2, not True" in _raises(roman, "type", True)


# ---------------------------------------------------------------------------- verbose, seed


@pytest.mark.parametrize("value", ["loud", -1, 1.5, None, [1], np.nan], ids=repr)
def test_verbose_rejects(value):
    msg = _raises(VERBOSE, "verbose", value)
    assert "verbose must be True, False or an integer >= 0" in msg


@pytest.mark.parametrize("value, expected", [(0, 0), (3, 3), (True, 1), (False, 0),
                                             ("TRUE", 1), ("F", 0), (2.0, 2)])
def test_verbose_accepts(value, expected):
    assert VERBOSE("verbose", value) == expected


@pytest.mark.parametrize("value", [-1, 1.5, "abc", True, np.nan, [1, -2], [], {"seed": 1}],
                         ids=repr)
def test_seed_rejects(value):
    msg = _raises(SEED, "seed", value, "simulate")
    assert "seed must be None, an integer >= 0" in msg


def test_seed_accepts_what_numpy_takes():
    g = np.random.default_rng(1)
    assert SEED("seed", g) is g
    ss = np.random.SeedSequence(4)
    assert SEED("seed", ss) is ss
    assert SEED("seed", None) is None and SEED("seed", 3.0) == 3 and SEED("seed", [1, 2]) == [1, 2]
    assert SEED("seed", np.uint32(9)) == 9


# ---------------------------------------------------------------------------- vectors, start


def test_numeric_vector():
    np.testing.assert_array_equal(numeric_vector("x", [1, 2]), [1.0, 2.0])
    np.testing.assert_array_equal(numeric_vector("x", pd.Series([1.5])), [1.5])
    np.testing.assert_array_equal(numeric_vector("x", np.ones((1, 3))), np.ones(3))
    np.testing.assert_array_equal(numeric_vector("x", 2), [2.0])
    for bad in ("1", ["a", "b"], [True, False], {"x": 1}, [[1, 2], [3, 4]], [1, None]):
        with pytest.raises(ArgumentError, match="x must be a numeric vector"):
            numeric_vector("x", bad)
    with pytest.raises(ArgumentError, match=r"x has non-finite values: inf at position 1 \(b\)"):
        numeric_vector("x", [1, np.inf], names=["a", "b"])


NAMES = ["g.(Intercept)", "g.x.(Intercept)", "g.x"]
LOWER = [0.0, -np.inf, 0.0]


def test_start_values_good():
    th, fe = start_values([1, 0, 1], NAMES, LOWER, ["(Intercept)", "x"])
    np.testing.assert_array_equal(th, [1, 0, 1]) and fe is None
    th, fe = start_values({"theta": (1, -0.5, 0.2), "fixef": pd.Series([2.0, 3.0])}, NAMES,
                          LOWER, ["(Intercept)", "x"])
    np.testing.assert_array_equal(fe, [2.0, 3.0])
    th, fe = start_values({"fixef": [2, 3]}, NAMES, LOWER, ["(Intercept)", "x"])
    assert th is None and fe.tolist() == [2.0, 3.0]
    # lmer (no fixef names): a fixef entry is checked and ignored, as β is profiled out
    th, fe = start_values({"theta": [1, 0, 1], "fixef": [1, 2]}, NAMES, LOWER,
                          ["(Intercept)", "x"], fixef_used=False)
    assert fe is None
    with pytest.raises(ArgumentError, match="incorrect number of fixef components"):
        start_values({"fixef": [1]}, NAMES, LOWER, ["(Intercept)", "x"], fixef_used=False)
    assert start_values(None, NAMES, LOWER) == (None, None)


@pytest.mark.parametrize("start, words", [
    ({"beta": [1, 2]}, ["incorrect components in start list: 'beta'", "'theta' and/or 'fixef'"]),
    ({"theta": [1, 0, 1], "sigma": 2}, ["incorrect components in start list: 'sigma'"]),
    ([1, 2], ["incorrect number of theta components in start: expected 3",
              "g.(Intercept), g.x.(Intercept), g.x", "got 2: [1, 2]"]),
    ({"theta": [1, 0, 1, 1]}, ["start['theta']", "expected 3", "got 4"]),
    ({"fixef": [1]}, ["incorrect number of fixef components in start['fixef']: expected 2",
                      "(Intercept), x", "got 1: [1]"]),
    ([1, np.nan, 1], ["start has non-finite values: nan at position 1 (g.x.(Intercept))"]),
    ({"fixef": [1, np.inf]}, ["start['fixef'] has non-finite values: inf at position 1 (x)"]),
    ([-1, 0, 1], ["below their lower bounds: g.(Intercept) = -1 < 0"]),
    ("1 0 1", ["start must be a numeric vector, not '1 0 1'"]),
    ({"theta": ["a", "b", "c"]}, ["start['theta'] must be a numeric vector, not ['a', 'b', 'c']"]),
    ([True, False, True], ["start must be a numeric vector"]),
])
def test_start_values_bad(start, words):
    with pytest.raises(ArgumentError) as info:
        start_values(start, NAMES, LOWER, ["(Intercept)", "x"], caller="glmer")
    msg = str(info.value)
    assert msg.startswith("glmer: ")
    for w in words:
        assert w in msg, (w, msg)


# ---------------------------------------------------------------------------- responses


N = 4


@pytest.mark.parametrize("value, expected", [
    ([1, 2, 3, 4], [1, 2, 3, 4]),
    ((1.5, 2, 3, 4), [1.5, 2, 3, 4]),
    (np.arange(4), [0, 1, 2, 3]),
    (np.arange(4.0).reshape(4, 1), [0, 1, 2, 3]),
    (pd.Series([4, 3, 2, 1], index=list("abcd")), [4, 3, 2, 1]),
    (pd.DataFrame({"y": [1.0, 2, 3, 4]}), [1, 2, 3, 4]),
    (pd.Series([1, 2, 3, 4], dtype="Int64"), [1, 2, 3, 4]),
    (pd.Series([0.5, 2, 3, 4], dtype="Float64"), [0.5, 2, 3, 4]),
    (np.array([True, False, True, True]), [1, 0, 1, 1]),
    (pd.Series([True, False, True, False], dtype="boolean"), [1, 0, 1, 0]),
    (np.array([1, 2.5, 3, 4], dtype=object), [1, 2.5, 3, 4]),
])
def test_new_response_accepts_numbers(value, expected):
    out = new_response(value, N)
    assert out.dtype == float and out.shape == (N,)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("value, words", [
    (["a", "b", "c", "d"], ["response must be numeric", "a list of strings"]),
    (np.array(["a", "b", "c", "d"]), ["response must be numeric", "a numpy array of strings"]),
    (np.array(["a", 1, 2, 3], dtype=object), ["response must be numeric",
                                               "objects holding str values (e.g. 'a')"]),
    (pd.Series(list("abcd")), ["response must be numeric", "a Series of objects holding str"]),
    (pd.Series(list("abcd"), dtype="string"), ["response must be numeric", "holding str"]),
    (pd.Series(list("abab"), dtype="category"), ["response must be numeric", "a factor"]),
    (pd.Categorical(list("abab")), ["response must be numeric", "a factor"]),
    (pd.Series(pd.date_range("2020-01-01", periods=4)), ["response must be numeric",
                                                         "datetimes"]),
    (np.ones(4) + 1j, ["response must be numeric", "complex numbers"]),
    ("abcd", ["response must be numeric", "'abcd' (str)"]),
    (pd.DataFrame({"y": list("abcd")}), ["response must be numeric"]),
    ([1, 2, 3], ["newresp has 3 values; the model has 4 observations"]),
    (np.ones(5), ["newresp has 5 values; the model has 4 observations"]),
    (np.ones((4, 2)), ["newresp has shape (4, 2); expected a vector with 4 rows"]),
    (np.ones((4, 2, 1)), ["newresp has shape (4, 2, 1)"]),
    (pd.DataFrame({"a": [1, 2, 3, 4], "b": [1, 2, 3, 4]}), ["has shape (4, 2)"]),
    ([1, np.nan, 3, 4], ["newresp has missing or infinite values (row 1: nan)"]),
    ([1, 2, np.inf, -np.inf], ["(row 2: inf and 1 more)"]),
    (pd.Series([1, None, 3, 4], dtype="Int64"), ["missing or infinite values (row 1: nan)"]),
    ([1, None, 3, 4], ["response must be numeric", "NoneType"]),
])
def test_new_response_rejects(value, words):
    with pytest.raises(DataError) as info:
        new_response(value, N, caller="refit")
    msg = str(info.value)
    assert msg.startswith("refit: ")
    for w in words:
        assert w in msg, (w, msg)


def test_new_response_two_columns_and_factors_when_allowed():
    counts = pd.DataFrame({"s": [1, 2, 0, 3], "f": [3, 2, 4, 1]})
    out = new_response(counts, N, columns=(1, 2))
    np.testing.assert_array_equal(out, counts.to_numpy(dtype=float))
    f = pd.Categorical(["no", "yes", "yes", "no"], categories=["no", "yes"])
    np.testing.assert_array_equal(new_response(f, N, factor=True), [0, 1, 1, 0])
    np.testing.assert_array_equal(new_response(pd.Series(f), N, factor=True), [0, 1, 1, 0])
    with pytest.raises(DataError, match=r"newresp has missing values \(row 2\)"):
        new_response(pd.Categorical(["no", "yes", None, "no"]), N, factor=True)
    with pytest.raises(DataError, match="newresp has 3 values"):
        new_response(pd.Categorical(["no", "yes", "no"]), N, factor=True)
    with pytest.raises(DataError, match=r"row 1: \[2.0, nan\]"):
        new_response(np.array([[1, 2], [2, np.nan], [1, 1], [0, 0]]), N, columns=(1, 2))


def test_new_response_does_not_modify_its_input():
    s = pd.Series([1, 2, 3, 4], dtype="Int64")
    before = s.copy()
    new_response(s, N)
    pd.testing.assert_series_equal(s, before)


def test_unknown_keywords():
    unknown_keywords("profile", {}, ["a"])
    with pytest.raises(ArgumentError, match=r"profile: unknown argument\(s\) alphmax=0.1 "
                                            r"\(did you mean 'alphamax'\?\)"):
        unknown_keywords("profile", {"alphmax": 0.1}, ["alphamax", "maxpts"])


def test_show_is_short():
    assert show("x" * 100).endswith("...") and len(show("x" * 100)) == 60
    assert show(np.arange(10.0)) == "ndarray of shape (10,), dtype float64: [0.0, 1.0, 2.0, 3.0, ...]"
    assert show(pd.DataFrame({"a": [1]})) == "DataFrame of shape (1, 1): [1]"
