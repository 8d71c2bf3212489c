"""Feature kinds inferred from data and recorded in the model, plus the value coercions both sides share.

Training infers a `FeatureSchema` once; the model stores it and serving validates requests against it,
so a column means the same thing at fit time and at score time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from leadscore.features.coerce import normalize_text, to_boolean, to_datetime, to_number
from leadscore.features.config import DataConfig

Kind = Literal["numeric", "boolean", "categorical", "datetime"]

OTHER = "__other__"
"""The bucket for rare training categories and for categories never seen in training."""

_PARSE_SHARE = 0.98
"""Share of non-missing values that must parse before a text column is read as numbers or dates."""
RARE_LISTED = 2000
"""Rare training categories a column records by name; bounds the schema of a column with a long tail."""
_ID_LIKE_ROWS = 1000
_ID_LIKE_SHARE = 0.5
"""A text column with at least `_ID_LIKE_ROWS` values, more than this share of them distinct, is an identifier
(hash ids, emails, free text): it cannot generalise, and reasons would show raw ids to sales."""


@dataclass(frozen=True)
class FeatureSpec:
    """One input column: its kind and what training saw of it."""

    name: str
    kind: Kind
    categories: tuple[str, ...] = ()
    non_negative: bool = False
    missing_share: float = 0.0
    rare_categories: tuple[str, ...] = ()
    """Categories training saw but rarer than the rare share (most frequent first, at most `RARE_LISTED`):
    scored in the `__other__` bucket like unseen ones, but reasons say "rare in training", not "not seen"."""
    rare_complete: bool = False
    """True when every training category is in `categories` or `rare_categories`, so a value in neither was
    truly never seen. False for truncated lists and for models saved before rare categories were recorded."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form for artifacts and `GET /model`."""
        return asdict(self)


@dataclass(frozen=True)
class FeatureSchema:
    """The ordered input columns of a model; order here is the column order the model sees."""

    features: tuple[FeatureSpec, ...]
    id_column: str
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Feature names in model order."""
        return [f.name for f in self.features]

    def __getitem__(self, name: str) -> FeatureSpec:
        for spec in self.features:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form for artifacts and `GET /model`."""
        return {
            "id_column": self.id_column,
            "features": [f.to_dict() for f in self.features],
            "dropped": dict(self.dropped),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FeatureSchema:
        """Inverse of `to_dict`."""
        specs = tuple(
            FeatureSpec(**{**f, **{key: tuple(f.get(key, ())) for key in ("categories", "rare_categories")}})
            for f in raw["features"]
        )
        return cls(features=specs, id_column=raw["id_column"], dropped=dict(raw.get("dropped", {})))


_TRACKED_VALUES = 10_000
"""Distinct values a column summary keeps, most frequent first: far more than any kept category needs
(a category needs a share of at least `rare_share`), and it bounds a summary of near-unique text."""
_DATE_LIKE = r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}"

Storage = Literal["boolean", "datetime", "numeric", "text"]


@dataclass(frozen=True)
class ColumnStats:
    """What schema inference reads of one column, as counts that add up over row partitions.

    Why: one inference then serves a whole frame and the merged partition summaries of a distributed frame,
    and text is parsed once per distinct value instead of once per row.
    """

    name: str
    storage: Storage
    rows: int
    missing: int
    counts: pd.Series
    """Present value -> rows, most frequent first (text as str, numbers as float), at most `_TRACKED_VALUES`."""
    untracked: int = 0
    """Present rows whose value did not fit in `counts`."""
    minimum: float = math.nan
    """Smallest number (numeric columns, and text read as numbers)."""
    readable: dict[str, int] = field(default_factory=dict)
    """Text only: present rows readable as `boolean`, `number`, `date_like` (looks like one) and `datetime`."""

    @property
    def present(self) -> int:
        """Rows with a value."""
        return self.rows - self.missing

    @property
    def distinct_at_least(self) -> int:
        """Distinct present values: exact when all are tracked, else a lower bound (an untracked value is at
        most as frequent as the least frequent tracked one)."""
        if not self.untracked:
            return len(self.counts)
        return len(self.counts) + math.ceil(self.untracked / int(self.counts.min()))

    @property
    def kind(self) -> Kind:
        """Numeric, boolean, datetime or categorical, decided from the non-missing values."""
        if self.storage != "text":  # numbers stay numbers, even when training saw only 0 and 1: a count
            # of 2 at scoring time is a count, not an invalid boolean
            return self.storage
        if not self.present:
            return "categorical"
        need = _PARSE_SHARE * self.present
        if self.readable["boolean"] == self.present and self.readable["number"] < self.present:
            return "boolean"  # words (yes/no, true/false); text that is all 0/1 digits is numbers
        if self.readable["number"] >= need:
            return "numeric"
        if self.readable["date_like"] >= need and self.readable["datetime"] >= need:
            return "datetime"
        return "categorical"

    def merge(self, other: ColumnStats) -> ColumnStats:
        """Stats of both row sets together."""
        if self.storage != other.storage and self.present and other.present:
            raise ValueError(
                f"column '{self.name}' holds {self.storage} values in some rows and {other.storage} in others"
            )
        storage = self.storage if self.present else other.storage
        counts = pd.concat([self.counts, other.counts]).groupby(level=0, sort=False).sum()
        counts = counts.sort_values(ascending=False, kind="stable")
        readable = {k: self.readable.get(k, 0) + other.readable.get(k, 0) for k in {*self.readable, *other.readable}}
        return ColumnStats(
            name=self.name,
            storage=storage,
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            counts=counts.iloc[:_TRACKED_VALUES],
            untracked=self.untracked + other.untracked + int(counts.iloc[_TRACKED_VALUES:].sum()),
            minimum=float(np.fmin(self.minimum, other.minimum)),
            readable=readable,
        )


def column_stats(name: str, values: pd.Series) -> ColumnStats:
    """Summarise one column of already normalised values (see `normalize_text`)."""
    present = values.dropna()
    minimum = math.nan
    readable: dict[str, int] = {}
    if pd.api.types.is_bool_dtype(values):
        storage: Storage = "boolean"
        counts = present.astype(bool).value_counts()
    elif pd.api.types.is_datetime64_any_dtype(values):
        storage, counts = "datetime", present.value_counts()
    elif pd.api.types.is_numeric_dtype(values):
        storage, counts = "numeric", present.astype(float).value_counts()
        minimum = float(counts.index.min()) if len(counts) else math.nan
    else:
        storage, counts = "text", present.astype("string").value_counts()
        distinct = pd.Series(counts.index, dtype="string")
        weight = counts.to_numpy()
        numbers, not_number = to_number(distinct)
        date_like = distinct.str.contains(_DATE_LIKE).to_numpy(bool)
        readable = {
            "boolean": int(weight[~to_boolean(distinct)[1].to_numpy(bool)].sum()),
            "number": int(weight[~not_number.to_numpy(bool)].sum()),
            "date_like": int(weight[date_like].sum()),
            "datetime": int(weight[date_like][~to_datetime(distinct[date_like])[1].to_numpy(bool)].sum()),
        }
        minimum = float(numbers.min()) if numbers.notna().any() else math.nan
    return ColumnStats(
        name=name,
        storage=storage,
        rows=len(values),
        missing=len(values) - len(present),
        counts=counts.iloc[:_TRACKED_VALUES],
        untracked=int(counts.iloc[_TRACKED_VALUES:].sum()),
        minimum=minimum,
        readable=readable,
    )


def infer_kind(values: pd.Series) -> Kind:
    """Numeric, boolean, datetime or categorical, decided from the non-missing values."""
    return column_stats("", values).kind


def summarize(frame: pd.DataFrame, data: DataConfig) -> dict[str, ColumnStats]:
    """Stats of every feature column (no role, not excluded), in column order."""
    return {
        name: column_stats(name, normalize_text(frame[name], data.missing_values))
        for name in frame.columns
        if name not in data.non_feature_columns
    }


def merge_summaries(left: dict[str, ColumnStats], right: dict[str, ColumnStats]) -> dict[str, ColumnStats]:
    """Summaries of two row partitions with the same columns, combined."""
    return {name: stats.merge(right[name]) for name, stats in left.items()}


def schema_from_stats(stats: dict[str, ColumnStats], data: DataConfig, rare_share: float = 0.005) -> FeatureSchema:
    """The schema `infer_schema` gives for the rows the stats summarise."""
    features: list[FeatureSpec] = []
    dropped: dict[str, str] = {}
    for name, s in stats.items():
        if not s.present:
            dropped[name] = "entirely empty"
            continue
        if len(s.counts) == 1 and not s.untracked:
            dropped[name] = "constant"
            continue
        spec = FeatureSpec(name=name, kind=s.kind, missing_share=round(s.missing / s.rows, 6))
        if spec.kind == "categorical":
            distinct = s.distinct_at_least
            if s.present >= _ID_LIKE_ROWS and distinct > _ID_LIKE_SHARE * s.present:
                dropped[name] = f"identifier-like (at least {distinct / s.present:.0%} of its values are distinct)"
                continue
            shares = s.counts / s.present
            categories = tuple(sorted(str(c) for c in shares[shares >= rare_share].index))
            # most frequent first, ties by name, so a merged partition summary lists the same values
            rare = sorted((str(c) for c in shares[shares < rare_share].index), key=lambda c: (-s.counts[c], c))
            spec = FeatureSpec(
                **{
                    **spec.to_dict(),
                    "categories": categories,
                    "rare_categories": tuple(rare[:RARE_LISTED]),
                    "rare_complete": not s.untracked and len(rare) <= RARE_LISTED,
                }
            )
        elif spec.kind == "numeric":
            spec = FeatureSpec(**{**spec.to_dict(), "non_negative": bool(s.minimum >= 0)})
        features.append(spec)
    return FeatureSchema(features=tuple(features), id_column=data.id, dropped=dropped)


def infer_schema(frame: pd.DataFrame, data: DataConfig, rare_share: float = 0.005) -> FeatureSchema:
    """Every column that has no role and is not excluded becomes a feature; empty, constant or identifier-like
    ones are dropped with the reason recorded, so users see why a column was not used."""
    return schema_from_stats(summarize(frame, data), data, rare_share)
