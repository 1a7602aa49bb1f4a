"""Conditional modes of the random effects: lme4's ``ranef()`` and ``coef()``.

R equivalents: ``ranef(fit, condVar = TRUE)`` (a list of data frames, one per grouping factor,
with a ``postVar`` attribute) and ``as.data.frame(ranef(fit))`` (grpvar, term, grp, condval,
condsd); ``coef(fit)``.
"""
from __future__ import annotations

from typing import Any, Dict, ItemsView, Iterator, KeysView, List, Optional, Union, ValuesView

import numpy as np
import pandas as pd


def group_key(frames: Dict[str, pd.DataFrame], key: Any, caller: str) -> Any:
    """The grouping-factor name ``key`` stands for: an integer is a position (negative ones
    count from the end; R's ``x[[1]]``), anything else is the key itself (a bool is not a
    position)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        names = list(frames)
        if not -len(names) <= key < len(names):
            from ..errors import ArgumentError
            raise ArgumentError(f"{caller}: position {key} is out of range; the fit has "
                                f"{len(names)} grouping factor(s): {', '.join(names)}")
        return names[key]
    return str(key) if isinstance(key, bool) else key


class Coef(Dict[str, pd.DataFrame]):
    """What ``coef(fit)`` returns: a dict of DataFrames keyed by grouping-factor name, also
    indexable by position (``coef(fit)[0]``, R's ``coef(fit)[[1]]``)."""

    def __getitem__(self, key: Union[str, int]) -> pd.DataFrame:
        return super().__getitem__(group_key(self, key, "coef"))


class RanEf:
    """Conditional modes per grouping factor (R: ``ranef(fit, condVar = TRUE)``).

    Behaves like a dict of DataFrames keyed by grouping-factor name (levels × terms). Terms that
    share a grouping factor (from ``||`` or repeated bars) are joined into one frame, as lme4
    does. ``postvar[name]`` holds the conditional variances: an array (levels, k, k) when the
    factor has one term; for several terms on one factor a list of per-term arrays (lme4's
    ``condVar`` list), with ``condsd`` always available per column.
    """

    def __init__(self, frames: Dict[str, pd.DataFrame],
                 postvar: Optional[Dict[str, list]] = None) -> None:
        self.frames = frames
        self.postvar = postvar or {}

    def __getitem__(self, key: Union[str, int]) -> pd.DataFrame:
        """By grouping-factor name, ``ranef(fit)["Subject"]``, or by position,
        ``ranef(fit)[0]`` (R's ``ranef(fit)[[1]]``; negative positions count from the end)."""
        return self.frames[group_key(self.frames, key, "ranef")]

    def __iter__(self) -> Iterator[str]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def keys(self) -> KeysView[str]:
        return self.frames.keys()

    def items(self) -> ItemsView[str, pd.DataFrame]:
        return self.frames.items()

    def values(self) -> ValuesView[pd.DataFrame]:
        return self.frames.values()

    def condsd(self, name: str) -> pd.DataFrame:
        """Conditional standard deviations (levels × columns) for one grouping factor."""
        blocks = self.postvar[name]
        cols = [np.sqrt(np.clip(np.einsum("kii->ki", v), 0.0, None)) for v in blocks]
        return pd.DataFrame(np.hstack(cols), index=self.frames[name].index,
                            columns=self.frames[name].columns)

    def as_dataframe(self) -> pd.DataFrame:
        """R: ``as.data.frame(ranef(fit))``: grpvar, term, grp, condval, condsd (long format)."""
        parts = []
        for name, frame in self.frames.items():
            sd = self.condsd(name) if name in self.postvar else None
            for col in frame.columns:
                parts.append(pd.DataFrame({
                    "grpvar": name, "term": col,
                    "grp": pd.Categorical(frame.index, categories=list(frame.index)),
                    "condval": frame[col].to_numpy(),
                    "condsd": sd[col].to_numpy() if sd is not None else np.nan,
                }))
        return pd.concat(parts, ignore_index=True)

    def __repr__(self) -> str:
        return "\n".join(f"${k}\n{v}\n" for k, v in self.frames.items())


def build_ranef(design: Any, b: np.ndarray, cond_var: Any = None) -> RanEf:
    """Arrange b (lme4's order: term, level, column) into one frame per grouping factor.

    Parameters
    ----------
    design : Design
    b : ndarray (q,)
        Conditional modes on the b scale (b = Λu).
    cond_var : callable or None
        ``cond_var(term_index) -> (levels, p_i, p_i)``: the conditional covariance blocks.
    """
    frames: Dict[str, pd.DataFrame] = {}
    postvar: Dict[str, List[np.ndarray]] = {}
    fnames = list(design.flist.columns)
    for i, t in enumerate(design.reterms):
        name = fnames[design.assign[i]]
        block = b[t.row_offset:t.row_offset + t.n_rows].reshape(t.n_levels, t.n_columns)
        df = pd.DataFrame(block, index=pd.Index(t.levels, name=None), columns=list(t.cnms))
        if name in frames:
            frames[name] = pd.concat([frames[name], df], axis=1)
        else:
            frames[name] = df
        if cond_var is not None:
            postvar.setdefault(name, []).append(np.asarray(cond_var(i)))
    return RanEf(frames, postvar if cond_var is not None else None)


def build_coef(fixef: pd.Series, ranef: RanEf) -> Coef:
    """R: ``coef(fit)``: fixed effects plus the conditional modes, per grouping factor."""
    from ..errors import LmerpyError
    out = Coef()
    for name, frame in ranef.items():
        val = pd.DataFrame(np.tile(fixef.to_numpy(), (len(frame), 1)), index=frame.index,
                           columns=list(fixef.index))
        for col in frame.columns:
            if col not in val.columns:
                raise LmerpyError("unable to align random and fixed effects "
                                  f"(random-effect column {col!r} has no fixed effect)")
            val[col] = val[col] + frame[col].to_numpy()
        out[name] = val
    return out
