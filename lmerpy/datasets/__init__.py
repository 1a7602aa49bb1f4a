"""The data sets of lme4's examples, as pandas DataFrames with R's factors.

R equivalent: ``data(sleepstudy, package = "lme4")`` and friends. Factors come back as
:class:`pandas.Categorical` with R's level order (which decides treatment-contrast baselines)
and R's ordered-ness (ordered factors get polynomial contrasts, as in R).
"""
from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, List

from ..errors import ArgumentError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load", "list_datasets"]


def _data_dir():
    return resources.files(__name__) / "data"


def list_datasets() -> List[str]:
    """Names of the bundled data sets, sorted (R: ``data(package = "lme4")``)."""
    names = [p.name[: -len(".csv.gz")] for p in _data_dir().iterdir() if p.name.endswith(".csv.gz")]
    return sorted(names, key=str.lower)


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets` (case-insensitive), e.g. ``"sleepstudy"``.

    Returns
    -------
    pandas.DataFrame
        A fresh frame; factors are Categoricals with R's levels and ordered-ness.
    """
    names = {n.lower(): n for n in list_datasets()}
    key = names.get(str(name).lower())
    if key is None:
        raise ArgumentError(f"no data set named {name!r}; available: {', '.join(list_datasets())}")
    import pandas as pd  # here, so that ``import lmerpy`` does not pay for pandas (~0.2 s)

    d = _data_dir()
    with resources.as_file(d / f"{key}.csv.gz") as path:
        df = pd.read_csv(path, keep_default_na=True)
    meta = json.loads((d / f"{key}.levels.json").read_text())
    ordered = set(meta.get("ordered") or [])
    for col, levels in (meta.get("levels") or {}).items():
        if isinstance(levels, str):
            levels = [levels]
        df[col] = pd.Categorical(df[col].astype(str), categories=[str(x) for x in levels],
                                 ordered=col in ordered)
    df.attrs["name"] = key  # printed as "Data: sleepstudy" by summary()
    return df
