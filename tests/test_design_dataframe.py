"""Data as Python users have it: pandas, polars, pyarrow, Arrow PyCapsule and interchange
objects, dicts of columns; column kinds as R sees them; dates; duplicates; empty data.

``lmerpy.design.dataframe.as_data_frame`` converts every input at the entry of lmer, glmer,
glmer_nb, lFormula/glFormula, predict/simulate ``newdata`` and update; a fit from any input kind
must be the pandas fit, bit for bit, and the caller's data must come back unmodified.
"""
import copy
import datetime as dt
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import lmerpy
from lmerpy.design import lFormula
from lmerpy.design.dataframe import as_data_frame
from lmerpy.errors import DataError, FormulaError

from _compare import strip_data_line

SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


# ----------------------------------------------------------------------------- input kinds


class InterchangeOnly:
    """An object that offers nothing but the dataframe interchange protocol."""

    def __init__(self, df):
        self._df = df

    def __dataframe__(self, nan_as_null=False, allow_copy=True):
        with warnings.catch_warnings():        # pandas 3 deprecates its producer
            warnings.simplefilter("ignore")
            return self._df.__dataframe__(nan_as_null=nan_as_null, allow_copy=allow_copy)


class CapsuleOnly:
    """An object that offers nothing but the Arrow PyCapsule stream interface."""

    def __init__(self, table):
        self._table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._table.__arrow_c_stream__(requested_schema)


def to_polars(df):
    """polars with each pandas Categorical as an Enum of the same categories (the polars type
    that keeps a level order; a polars Categorical is a character column to lmerpy)."""
    out = pl.from_pandas(df)
    enums = [pl.col(c).cast(pl.String).cast(pl.Enum(df[c].cat.categories.tolist()))
             for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    return out.with_columns(enums) if enums else out


CONVERT = {
    "pandas": lambda df: df,
    "pandas_arrow_dtypes": lambda df: pa.Table.from_pandas(df).to_pandas(
        types_mapper=pd.ArrowDtype),
    "polars": to_polars,
    "pyarrow": lambda df: pa.Table.from_pandas(df, preserve_index=False),
    "record_batch": lambda df: pa.RecordBatch.from_pandas(df, preserve_index=False),
    "capsule": lambda df: CapsuleOnly(pa.Table.from_pandas(df, preserve_index=False)),
    "interchange": lambda df: InterchangeOnly(df),
    "dict": lambda df: {c: df[c].array for c in df.columns},
    "dict_of_numpy": lambda df: {c: df[c].to_numpy() for c in df.columns},
    "dict_of_lists": lambda df: {c: df[c].tolist() for c in df.columns},
    "dict_of_polars_series": lambda df: {c: s for c, s in to_polars(df).to_dict().items()},
    "dict_of_arrow_arrays": lambda df: {c: pa.Table.from_pandas(df).column(c)
                                        for c in df.columns},
}
#: kinds whose factor columns keep the pandas categories' order (the others are character
#: columns, their levels sorted as R sorts strings)
KEEP_LEVELS = ["pandas", "pandas_arrow_dtypes", "polars", "pyarrow", "record_batch", "capsule", "interchange", "dict"]


def assert_same_fit(got, want):
    """Bit-for-bit the same fit: θ, β, σ, log-likelihood, conditional modes, fitted values and
    the printed summary (but for its ``Data:`` line)."""
    assert np.array_equal(np.asarray(got.theta), np.asarray(want.theta))
    pd.testing.assert_series_equal(got.fixef(), want.fixef(), check_exact=True)
    assert got.sigma() == want.sigma()
    assert float(got.logLik()) == float(want.logLik())
    rg, rw = got.ranef(), want.ranef()
    assert list(rg) == list(rw)
    for name in rw:
        pd.testing.assert_frame_equal(rg[name], rw[name], check_exact=True)
    assert np.array_equal(got.fitted().to_numpy(), want.fitted().to_numpy())
    assert strip_data_line(str(got.summary())) == strip_data_line(str(want.summary()))


@pytest.mark.parametrize("kind", list(CONVERT))
def test_lmer_sleepstudy_from_every_input_kind(kind, sleep, fm1):
    # Subject's levels (308, 309, ...) sort the same as text: every kind gives the same fit
    assert_same_fit(lmerpy.lmer(SLEEP, CONVERT[kind](sleep)), fm1)


@pytest.mark.parametrize("kind", KEEP_LEVELS + ["dict_of_polars_series", "dict_of_arrow_arrays"])
def test_glmer_cbpp_from_every_input_kind(kind, cbpp, gm1):
    assert_same_fit(lmerpy.glmer(CBPP, CONVERT[kind](cbpp), family="binomial"), gm1)


def test_glmer_nb_from_polars():
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(20), 8)
    x = rng.normal(size=160)
    mu = np.exp(1.0 + 0.4 * x + rng.normal(scale=0.4, size=20)[g])
    df = pd.DataFrame({"y": rng.negative_binomial(2, 2 / (2 + mu)), "x": x,
                       "g": [f"g{i:02d}" for i in g]})
    want = lmerpy.glmer_nb("y ~ x + (1 | g)", df)
    got = lmerpy.glmer_nb("y ~ x + (1 | g)", pl.from_pandas(df))
    assert got.getME("glmer.nb.theta") == want.getME("glmer.nb.theta")
    assert_same_fit(got, want)


def test_text_columns_get_levels_in_R_sort_order(cbpp):
    # a polars Categorical, a list of strings and a pandas str column are character columns:
    # herd's levels are 1, 10, 11, ..., 15, 2, 3, ... (R: factor(as.character(herd)))
    as_text = cbpp.assign(herd=cbpp["herd"].astype(str), period=cbpp["period"].astype(str))
    want = lmerpy.glmer(CBPP, as_text, family="binomial")
    assert want.ranef()["herd"].index.tolist()[:4] == ["1", "10", "11", "12"]
    for data in (pl.from_pandas(cbpp), CONVERT["dict_of_lists"](cbpp)):
        assert_same_fit(lmerpy.glmer(CBPP, data, family="binomial"), want)


def test_lformula_and_glformula_take_polars(sleep, cbpp):
    got = lFormula(SLEEP, pl.from_pandas(sleep))
    want = lFormula(SLEEP, sleep)
    assert np.array_equal(got.X, want.X) and got.X_colnames == want.X_colnames
    assert (got.Zt != want.Zt).nnz == 0
    got = lmerpy.glFormula(CBPP, to_polars(cbpp), family="binomial")
    want = lmerpy.glFormula(CBPP, cbpp, family="binomial")
    assert np.array_equal(got.X, want.X) and np.array_equal(got.y, want.y)


def test_update_with_data_of_another_kind(sleep, fm1):
    assert_same_fit(fm1.update(data=pa.Table.from_pandas(sleep, preserve_index=False)), fm1)


# ----------------------------------------------------------------------------- newdata


def test_predict_and_simulate_with_polars_newdata(sleep, fm1, cbpp, gm1):
    nd = sleep.iloc[::7].reset_index(drop=True)
    nd_pl = pl.from_pandas(nd)
    for kw in ({}, {"re_form": lmerpy.NA}, {"re_form": "~(1|Subject)"}):
        got = fm1.predict(nd_pl, **kw)
        want = fm1.predict(nd, **kw)
        assert np.array_equal(got.to_numpy(), want.to_numpy()), kw
    sim_pl = fm1.simulate(nsim=3, seed=11, newdata=nd_pl, use_u=True)
    sim_pd = fm1.simulate(nsim=3, seed=11, newdata=nd, use_u=True)
    assert np.array_equal(sim_pl.to_numpy(), sim_pd.to_numpy())
    nd = cbpp.iloc[::5].reset_index(drop=True)
    got = gm1.predict(to_polars(nd), type="response")
    assert np.array_equal(got.to_numpy(), gm1.predict(nd, type="response").to_numpy())
    # a dict of plain lists works as newdata too
    got = fm1.predict({"Days": [0, 5], "Subject": ["308", "372"]})
    want = fm1.predict(pd.DataFrame({"Days": [0, 5], "Subject": ["308", "372"]}))
    assert np.array_equal(got.to_numpy(), want.to_numpy())


# ----------------------------------------------------------------------------- no mutation


def _snapshot(data):
    if isinstance(data, pd.DataFrame):
        return data.copy(deep=True), dict(data.attrs), data.dtypes.copy()
    if isinstance(data, pl.DataFrame):
        return data.clone(), data.schema
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return copy.deepcopy(data.to_pylist()), data.schema
    if isinstance(data, dict):
        return {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else copy.deepcopy(v))
                for k, v in data.items()}
    return _snapshot(data._df if isinstance(data, InterchangeOnly) else data._table)


def _assert_unchanged(data, snap):
    if isinstance(data, pd.DataFrame):
        pd.testing.assert_frame_equal(data, snap[0], check_exact=True)
        assert data.attrs == snap[1]
        pd.testing.assert_series_equal(data.dtypes, snap[2])
    elif isinstance(data, pl.DataFrame):
        assert data.equals(snap[0], null_equal=True) and data.schema == snap[1]
    elif isinstance(data, (pa.Table, pa.RecordBatch)):
        assert data.to_pylist() == snap[0] and data.schema.equals(snap[1])
    elif isinstance(data, dict):
        assert list(data) == list(snap)
        for k, v in data.items():
            if isinstance(v, np.ndarray):
                assert v.dtype == snap[k].dtype and pd.Series(v).equals(pd.Series(snap[k]))
            elif isinstance(v, pd.api.extensions.ExtensionArray):
                pd.testing.assert_extension_array_equal(v, snap[k])
            else:
                assert v == snap[k]
    else:
        _assert_unchanged(data._df if isinstance(data, InterchangeOnly) else data._table, snap)


def _awkward(sleep):
    """sleepstudy with missing values, nullable dtypes, unused categories and a custom index."""
    df = sleep.copy()
    df.index = np.arange(1000, 1000 + len(df))
    df["Days"] = pd.array(df["Days"], dtype="Int64")
    df.loc[df.index[3], "Days"] = pd.NA
    df["Reaction"] = df["Reaction"].astype("Float64")
    df.loc[df.index[10], "Reaction"] = pd.NA
    df["Subject"] = df["Subject"].cat.add_categories(["999"])
    df["late"] = pd.array(sleep["Days"].to_numpy() > 4, dtype="boolean")
    df.loc[df.index[20], "late"] = pd.NA
    df.attrs["name"] = "awkward"
    return df


@pytest.mark.parametrize("kind", KEEP_LEVELS + ["dict_of_numpy"])
def test_caller_data_are_never_modified(kind, sleep):
    data = CONVERT[kind](_awkward(sleep))
    snap = _snapshot(data)
    fit = lmerpy.lmer("Reaction ~ Days + late + (Days | Subject)", data,
                      na_action="exclude")
    fit.predict(data)
    fit.simulate(nsim=1, seed=1, newdata=data)
    fit.update(data=data)
    _assert_unchanged(data, snap)
    assert fit.nobs() == 177


# ----------------------------------------------------------------------------- column kinds


def _nullable(sleep, kind):
    """sleepstudy with missing values at rows 3 (Days), 10 (Reaction), 20 (Subject) and 30
    (late, a logical), in each library's nullable types."""
    days = sleep["Days"].tolist()
    reaction = sleep["Reaction"].tolist()
    subject = sleep["Subject"].astype(str).tolist()
    late = [d > 4 for d in days]
    days[3] = reaction[10] = subject[20] = late[30] = None
    cols = {"Reaction": reaction, "Days": days, "Subject": subject, "late": late}
    if kind == "pandas":
        return pd.DataFrame({"Reaction": pd.array(reaction, dtype="Float64"),
                             "Days": pd.array(days, dtype="Int64"),
                             "Subject": pd.array(subject, dtype="string"),
                             "late": pd.array(late, dtype="boolean")})
    if kind == "pandas_pyarrow":
        return pd.DataFrame({"Reaction": pd.array(reaction, dtype="float64[pyarrow]"),
                             "Days": pd.array(days, dtype="int64[pyarrow]"),
                             "Subject": pd.array(subject, dtype="string[pyarrow]"),
                             "late": pd.array(late, dtype="bool[pyarrow]")})
    if kind == "polars":
        return pl.DataFrame(cols, schema={"Reaction": pl.Float64, "Days": pl.Int32,
                                          "Subject": pl.Categorical, "late": pl.Boolean})
    if kind == "pyarrow":
        return pa.table(cols)
    return cols                                          # a dict of lists with None


@pytest.mark.parametrize("kind", ["pandas", "pandas_pyarrow", "polars", "pyarrow", "dict"])
def test_missing_values_of_nullable_types_are_NA(kind, sleep):
    # pd.NA / null in any column: the row is dropped (na.omit), as R drops NA rows; the
    # logical column is R's logical (its coefficient is 'lateTRUE'); Days stays numeric
    data = _nullable(sleep, kind)
    complete = sleep.drop(index=[3, 10, 20, 30]).assign(
        Subject=lambda d: d["Subject"].astype(str), late=lambda d: d["Days"] > 4)
    formula = "Reaction ~ Days + late + (1 | Subject)"
    got = lmerpy.lmer(formula, data)
    want = lmerpy.lmer(formula, complete)
    assert got.nobs() == 176
    assert got.fixef().index.tolist() == ["(Intercept)", "Days", "lateTRUE"]
    assert np.array_equal(np.asarray(got.design.dropped_rows), [3, 10, 20, 30])
    assert np.array_equal(got.fixef().to_numpy(), want.fixef().to_numpy())
    assert np.array_equal(np.asarray(got.theta), np.asarray(want.theta))
    with pytest.raises(DataError, match="missing values in object .*Days"):
        lmerpy.lmer(formula, data, na_action="fail")


def test_logical_predictor_is_a_0_1_column_named_xTRUE(sleep):
    # R: lmer(Reaction ~ late + (1|Subject), transform(sleepstudy, late = Days > 4)):
    # the column 'lateTRUE' is 1 where late, 0 elsewhere
    for data in (sleep.assign(late=sleep["Days"] > 4),
                 pl.from_pandas(sleep).with_columns(late=pl.col("Days") > 4)):
        d = lFormula("Reaction ~ late + (1 | Subject)", data)
        assert d.X_colnames == ["(Intercept)", "lateTRUE"]
        assert np.array_equal(d.X[:, 1], (sleep["Days"].to_numpy() > 4).astype(float))


def test_level_order_of_categoricals_enums_and_dictionaries():
    y = [1.0, 2.0, 4.0, 3.0, 5.0, 7.0, 6.0, 9.0, 8.0]
    g = ["g1", "g2", "g3"] * 3
    f = ["b", "c", "a", "c", "a", "b", "a", "b", "c"]
    formula = "y ~ f + (1 | g)"

    def colnames(data):
        return lFormula(formula, data, control={"check.nobs.vs.nlev": "ignore",
                                                "check.nlev.gtr.1": "ignore"}).X_colnames

    # pandas Categorical: its categories' order; an unused category is dropped (R's
    # model.frame(drop.unused.levels = TRUE)), so the baseline is the first *used* one
    cat = pd.Categorical(f, categories=["z", "c", "a", "b"])
    assert colnames({"y": y, "g": g, "f": cat}) == ["(Intercept)", "fa", "fb"]
    # ordered: polynomial contrasts (R's ordered factor)
    ordc = pd.Categorical(f, categories=["c", "a", "b"], ordered=True)
    assert colnames({"y": y, "g": g, "f": ordc}) == ["(Intercept)", "f.L", "f.Q"]
    # pyarrow dictionary: the dictionary's order and its ordered flag
    dic = pa.DictionaryArray.from_arrays(pa.array([{"b": 1, "c": 0, "a": 2}[x] for x in f],
                                                  pa.int8()), pa.array(["c", "b", "a"]))
    assert colnames(pa.table({"y": y, "g": g, "f": dic})) == ["(Intercept)", "fb", "fa"]
    dic_ord = pa.DictionaryArray.from_arrays(dic.indices, dic.dictionary, ordered=True)
    assert colnames(pa.table({"y": y, "g": g, "f": dic_ord})) == ["(Intercept)", "f.L", "f.Q"]
    # polars Enum: its categories' order; polars Categorical / String: text, sorted as R does
    enum = pl.Series(f, dtype=pl.Enum(["b", "a", "c"]))
    assert colnames(pl.DataFrame({"y": y, "g": g, "f": enum})) == ["(Intercept)", "fa", "fc"]
    pcat = pl.Series(f, dtype=pl.Categorical)
    assert colnames(pl.DataFrame({"y": y, "g": g, "f": pcat})) == ["(Intercept)", "fb", "fc"]
    # an interchange-only object keeps the categories' order and the ordered flag
    frame = pd.DataFrame({"y": y, "g": g, "f": ordc})
    assert colnames(InterchangeOnly(frame)) == ["(Intercept)", "f.L", "f.Q"]


def test_text_levels_follow_R_not_python_sort():
    # R (ICU collation): sort(c("b", "B", "a", "A")) is "a" "A" "b" "B"; Python's sorted()
    # (and pandas' astype("category")) give "A" "B" "a" "b"
    f = ["b", "B", "a", "A"] * 3
    data = {"y": np.arange(12.0) ** 1.5, "f": f, "g": ["u", "v", "w"] * 4}
    d = lFormula("y ~ f + (1 | g)", data)
    assert d.X_colnames == ["(Intercept)", "fA", "fb", "fB"]
    d = lFormula("y ~ f + (1 | g)", pd.DataFrame(data).astype({"f": "category"}))
    assert d.X_colnames == ["(Intercept)", "fB", "fa", "fb"]


# ----------------------------------------------------------------------------- dates


def _with_dates(sleep):
    """sleepstudy plus date/time columns in one-to-one correspondence with Subject, in the
    order of its levels."""
    codes = sleep["Subject"].cat.codes.to_numpy().astype(np.int64)
    start = pd.Timestamp("2024-03-01")
    return sleep.assign(
        day=start + pd.to_timedelta(codes * 40, unit="D"),           # crosses months/years
        stamp=start + pd.to_timedelta(codes * 7.5, unit="h"),        # non-midnight times
        zoned=(start + pd.to_timedelta(codes, unit="D")).tz_localize("Europe/Paris"),
        wait=pd.to_timedelta(codes + 1, unit="D"),                   # 1 day ... 18 days
    )


@pytest.mark.parametrize("column,first_levels", [
    ("day", ["2024-03-01", "2024-04-10", "2024-05-20"]),
    ("stamp", ["2024-03-01 00:00:00", "2024-03-01 07:30:00", "2024-03-01 15:00:00"]),
    ("zoned", ["2024-03-01", "2024-03-02", "2024-03-03"]),
    # durations in time order (as text "10 days" would sort before "2 days")
    ("wait", ["1 days 00:00:00", "2 days 00:00:00", "3 days 00:00:00"]),
])
def test_date_columns_are_grouping_factors_with_levels_in_time_order(column, first_levels,
                                                                     sleep, fm1):
    data = _with_dates(sleep)
    fit = lmerpy.lmer(f"Reaction ~ Days + (Days | {column})", data)
    labels = fit.ranef()[column].index.tolist()
    assert labels[:3] == first_levels and len(labels) == 18
    assert np.array_equal(np.asarray(fit.theta), np.asarray(fm1.theta))
    assert np.array_equal(fit.fixef().to_numpy(), fm1.fixef().to_numpy())
    assert np.array_equal(fit.ranef()[column].to_numpy(), fm1.ranef()["Subject"].to_numpy())
    # new data get the fit's labels: rows 0 and 160 (Subjects 308 and 372) have midnight
    # stamps, which alone would print as dates; the fit printed 'stamp' with times
    nd = data.iloc[[0, 160]]
    assert np.array_equal(fit.predict(nd).to_numpy(), fm1.predict(nd).to_numpy())


@pytest.mark.parametrize("kind", ["polars", "pyarrow", "dict_of_dates", "pandas_date32"])
def test_dates_from_other_libraries(kind, sleep, fm1):
    codes = sleep["Subject"].cat.codes.to_numpy().astype(np.int64)
    days = [dt.date(2024, 3, 1) + dt.timedelta(days=int(c)) for c in codes]
    cols = {"Reaction": sleep["Reaction"].to_numpy(), "Days": sleep["Days"].to_numpy(),
            "day": days}
    data = {"polars": pl.DataFrame(cols), "pyarrow": pa.table(cols), "dict_of_dates": cols,
            "pandas_date32": pa.table(cols).to_pandas(types_mapper=pd.ArrowDtype)}[kind]
    fit = lmerpy.lmer("Reaction ~ Days + (Days | day)", data)
    assert fit.ranef()["day"].index.tolist()[:2] == ["2024-03-01", "2024-03-02"]
    assert np.array_equal(fit.fixef().to_numpy(), fm1.fixef().to_numpy())
    assert np.array_equal(np.asarray(fit.theta), np.asarray(fm1.theta))


def test_nat_is_a_missing_grouping_value(sleep):
    data = _with_dates(sleep)
    data.loc[[5, 6], "day"] = pd.NaT
    fit = lmerpy.lmer("Reaction ~ Days + (1 | day)", data)
    assert fit.nobs() == 178 and np.array_equal(np.asarray(fit.design.dropped_rows), [5, 6])


@pytest.mark.parametrize("formula,what", [
    ("Reaction ~ day + (1 | Subject)", "a numeric predictor"),
    ("Reaction ~ Days + day + (1 | Subject)", "a numeric predictor"),
    ("Reaction ~ Days + (day | Subject)", "a numeric predictor"),
    ("Reaction ~ log(day) + (1 | Subject)", r"a number \(in 'log'\)"),
    ("Reaction ~ I(day - 1) + (1 | Subject)", r"a number \(in '-'\)"),
    ("day ~ Days + (1 | Subject)", "a response"),
])
def test_a_date_as_a_number_is_an_error(formula, what, sleep):
    data = _with_dates(sleep)
    with pytest.raises(DataError, match=rf"column 'day' is a date-time \(datetime64\[.*\]\) "
                                        rf"and cannot be used as {what}; convert it to a "
                                        rf"number first .*days since the first date"):
        lmerpy.lmer(formula, data)


def test_a_duration_as_a_number_is_an_error(sleep):
    data = _with_dates(sleep)
    with pytest.raises(DataError, match=r"column 'wait' is a duration \(timedelta64.*\) and "
                                        r"cannot be used as a numeric predictor.*total_seconds"):
        lmerpy.lmer("Reaction ~ wait + (1 | Subject)", data)
    with pytest.raises(DataError, match="column 'zoned' is a date-time .*Europe/Paris"):
        lmerpy.lmer("Reaction ~ Days + (1 | Subject)", data, weights="zoned")
    with pytest.raises(DataError, match="column 'day' is a date-time"):
        lmerpy.lmer("Reaction ~ day + (1 | Subject)", pl.from_pandas(data))


def test_factor_of_a_date_is_a_factor_of_its_values(sleep):
    data = _with_dates(sleep).iloc[:30]                     # Subjects 308, 309, 310
    d = lFormula("Reaction ~ factor(day) + (1 | Subject)", data)
    assert d.X_colnames == ["(Intercept)", "factor(day)2024-04-10", "factor(day)2024-05-20"]


# ----------------------------------------------------------------------------- duplicates


def test_duplicate_column_used_by_the_formula_is_an_error(sleep, fm1):
    dup = pd.concat([sleep, sleep[["Days"]]], axis=1)        # two columns named 'Days'
    with pytest.raises(DataError, match="column 'Days' appears 2 times in the data; the "
                                        "formula uses it"):
        lmerpy.lmer(SLEEP, dup)
    dup3 = pd.concat([sleep, sleep[["Subject"]], sleep[["Subject"]]], axis=1)
    with pytest.raises(DataError, match="column 'Subject' appears 3 times"):
        lmerpy.lmer("Reaction ~ Days + (1 | Subject)", dup3)
    with pytest.raises(DataError, match="column 'Reaction' appears 2 times"):
        lmerpy.lmer(SLEEP, pd.concat([sleep, sleep[["Reaction"]]], axis=1))
    with pytest.raises(FormulaError, match="duplicated name 'Days' in data frame using '.'"):
        lmerpy.lmer("Reaction ~ . - Subject + (1 | Subject)", dup)     # R's words
    # a pyarrow table may hold duplicate names too
    table = pa.Table.from_arrays([pa.array(sleep["Reaction"]), pa.array(sleep["Days"]),
                                  pa.array(sleep["Days"]), pa.array(sleep["Subject"].astype(str))],
                                 names=["Reaction", "Days", "Days", "Subject"])
    with pytest.raises(DataError, match="column 'Days' appears 2 times"):
        lmerpy.lmer(SLEEP, table)
    with pytest.raises(DataError, match="column 'Days' appears 2 times"):
        fm1.predict(dup)
    with pytest.raises(DataError, match="column 'Days' appears 2 times"):
        lmerpy.lmer("Reaction ~ 1 + (1 | Subject)", dup, weights="Days")


def test_duplicate_column_the_formula_does_not_use_is_fine(sleep, fm1):
    extra = pd.DataFrame({"note": ["a"] * len(sleep), "note2": ["b"] * len(sleep)})
    extra.columns = ["note", "note"]
    data = pd.concat([sleep, extra], axis=1)
    assert_same_fit(lmerpy.lmer(SLEEP, data), fm1)
    assert np.array_equal(fm1.predict(data).to_numpy(), fm1.predict(sleep).to_numpy())


# ----------------------------------------------------------------------------- empty data


@pytest.mark.parametrize("data,ncol", [
    (pd.DataFrame(), 0),
    (pd.DataFrame({"Reaction": [], "Days": [], "Subject": []}), 3),
    (pl.DataFrame({"Reaction": [], "Days": []}, schema={"Reaction": pl.Float64,
                                                       "Days": pl.Int64}), 2),
    ({"Reaction": [], "Days": [], "Subject": []}, 3),
    ({}, 0),
    (pa.table({"Reaction": pa.array([], pa.float64())}), 1),
])
def test_empty_data_say_they_have_0_rows(data, ncol):
    msg = rf"the data have 0 rows \(and {ncol} columns?\)"
    with pytest.raises(DataError, match=msg):
        lmerpy.lmer(SLEEP, data)
    with pytest.raises(DataError, match=msg):
        lmerpy.glmer("Reaction ~ Days + (1 | Subject)", data, family="poisson")
    with pytest.raises(DataError, match=msg):
        lFormula(SLEEP, data)


# ----------------------------------------------------------------------------- bad input


def test_dict_columns_of_unequal_lengths_are_named(sleep):
    data = {"Reaction": sleep["Reaction"].tolist(), "Days": sleep["Days"].tolist()[:-1],
            "Subject": sleep["Subject"].to_numpy()}
    with pytest.raises(DataError, match=r"data: the columns of a dict must have equal lengths "
                                        r"\('Reaction' has 180, 'Days' has 179, 'Subject' "
                                        r"has 180\)"):
        lmerpy.lmer(SLEEP, data)
    with pytest.raises(DataError, match=r"newdata: the columns of a dict must have equal "
                                        r"lengths \('Days' has 2, 'Subject' has 1\)"):
        lmerpy.lmer(SLEEP, sleep).predict({"Days": [1, 2], "Subject": ["308"]})


@pytest.mark.parametrize("value,msg", [
    (3.0, r"column 'Days' of the dict is a float \(3.0\); each column must be a list or an "
          r"array"),
    ("abc", r"column 'Days' of the dict is a str"),
    (np.zeros((180, 2)), r"column 'Days' of the dict has shape \(180, 2\); each column must "
                         r"be one-dimensional"),
    (pd.DataFrame({"a": range(180)}), r"column 'Days' of the dict is a DataFrame"),
])
def test_dict_columns_must_be_one_dimensional(value, msg, sleep):
    data = {"Reaction": sleep["Reaction"].to_numpy(), "Days": value,
            "Subject": sleep["Subject"].array}
    with pytest.raises(DataError, match=msg):
        lmerpy.lmer(SLEEP, data)


def test_dict_takes_series_by_position(sleep, fm1):
    # a dict's Series are columns by position, not aligned on their indexes
    data = {"Reaction": sleep["Reaction"], "Days": sleep["Days"].set_axis(range(500, 680)),
            "Subject": sleep["Subject"]}
    assert_same_fit(lmerpy.lmer(SLEEP, data), fm1)


@pytest.mark.parametrize("data,name", [
    ([1, 2, 3], "list"),
    (None, "NoneType"),
    ("sleepstudy", "str"),
    (np.zeros((3, 2)), "numpy.ndarray"),
    (pd.Series([1.0, 2.0]), "pandas.Series"),
])
def test_data_that_are_not_a_frame_are_named(data, name):
    with pytest.raises(DataError, match=rf"data must be a data frame \(pandas, polars, pyarrow, "
                                        rf"or anything with __arrow_c_stream__ or "
                                        rf"__dataframe__\) or a dict of equal-length columns, "
                                        rf"not {name}$"):
        lmerpy.lmer(SLEEP, data)


def test_polars_lazy_frame_asks_for_collect(sleep):
    with pytest.raises(DataError, match=r"data is a polars LazyFrame; collect it first "
                                        r"\(data.collect\(\)\)"):
        lmerpy.lmer(SLEEP, pl.from_pandas(sleep).lazy())


def test_as_data_frame_returns_pandas_input_itself(sleep):
    assert as_data_frame(sleep) is sleep


def test_import_and_pandas_fits_do_not_load_polars():
    code = ("import sys, lmerpy; d = lmerpy.datasets.load('sleepstudy'); "
            f"lmerpy.lmer({SLEEP!r}, d); lmerpy.lmer({SLEEP!r}, {{c: d[c] for c in d}}); "
            "print('polars' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
