"""The bundled data sets: names, shapes, factor levels and ordered-ness as in R."""

import pandas as pd
import pytest

import lmerpy
from lmerpy import datasets


EXPECTED = {  # name: (rows, columns) as R's lme4 data sets
    "sleepstudy": (180, 3), "Penicillin": (144, 3), "Pastes": (60, 4), "Dyestuff": (30, 2),
    "Dyestuff2": (30, 2), "cbpp": (56, 4), "grouseticks": (403, 7), "InstEval": (73421, 7),
    "Orthodont": (108, 4), "VerbAgg": (7584, 9), "Sitka": (395, 4),
}


def test_list_datasets_has_every_reference_data_set():
    assert set(EXPECTED) <= set(datasets.list_datasets())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shape_and_factors(name):
    df = datasets.load(name)
    assert df.shape == EXPECTED[name]
    assert df.attrs["name"] == name


def test_levels_follow_r_order_and_ordered_flag():
    sleep = datasets.load("sleepstudy")
    assert isinstance(sleep["Subject"].dtype, pd.CategoricalDtype)
    assert list(sleep["Subject"].cat.categories[:3]) == ["308", "309", "310"]
    ortho = datasets.load("Orthodont")
    assert list(ortho["Sex"].cat.categories) == ["Male", "Female"]
    assert not ortho["Subject"].cat.ordered   # as in the lme4 reference fits' data
    inst = datasets.load("InstEval")
    assert inst["studage"].cat.ordered and inst["lectage"].cat.ordered   # R: ordered factors
    assert not inst["service"].cat.ordered
    cbpp = datasets.load("cbpp")
    assert list(cbpp["period"].cat.categories) == ["1", "2", "3", "4"]


def test_case_insensitive_and_fresh_copies():
    a = datasets.load("SLEEPSTUDY")
    a.loc[0, "Reaction"] = -1.0
    assert datasets.load("sleepstudy").loc[0, "Reaction"] != -1.0


def test_unknown_name_is_a_clear_error():
    with pytest.raises(lmerpy.LmerpyError, match="no data set named 'nope'"):
        datasets.load("nope")
