"""Feature kinds inferred from data and recorded in the model, plus the value coercions both sides share.

Training infers a `FeatureSchema` once; the model stores it and serving validates requests against it,
so a column means the same thing at fit time and at score time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.config import DataConfig

Kind = Literal["numeric", "boolean", "categorical", "datetime"]

TRUE_TOKENS = frozenset({"1", "true", "t", "yes", "y"})
FALSE_TOKENS = frozenset({"0", "false", "f", "no", "n"})
OTHER = "__other__"
"""The bucket for rare training categories and for categories never seen in training."""

_PARSE_SHARE = 0.98
"""Share of non-missing values that must parse before a text column is read as numbers or dates."""


@dataclass(frozen=True)
class FeatureSpec:
    """One input column: its kind and what training saw of it."""

    name: str
    kind: Kind
    categories: tuple[str, ...] = ()
    non_negative: bool = False
    missing_share: float = 0.0

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
        specs = tuple(FeatureSpec(**{**f, "categories": tuple(f.get("categories", ()))}) for f in raw["features"])
        return cls(features=specs, id_column=raw["id_column"], dropped=dict(raw.get("dropped", {})))


def normalize_text(values: pd.Series, missing_tokens: tuple[str, ...]) -> pd.Series:
    """Strip text and turn placeholder tokens ("N/A", "-", "Select", …) into missing values."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    text = values.astype("string").str.strip()
    lowered = {t.lower() for t in missing_tokens}
    return text.mask(text.str.lower().isin(lowered))


def to_boolean(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Read yes/no, true/false, 1/0 as 1.0/0.0; returns (floats with NaN for missing, invalid mask)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float), pd.Series(False, index=values.index)
    text = values.astype("string").str.strip().str.lower()
    text = text.str.replace(r"\.0+$", "", regex=True)
    out = pd.Series(np.nan, index=values.index, dtype=float)
    out[text.isin(TRUE_TOKENS).fillna(False).to_numpy(bool)] = 1.0
    out[text.isin(FALSE_TOKENS).fillna(False).to_numpy(bool)] = 0.0
    invalid = text.notna() & out.isna()
    return out, invalid.fillna(False).astype(bool)


def to_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Read numbers, including text such as "1,234" or " 12 "; returns (floats, invalid mask)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float), pd.Series(False, index=values.index)
    if pd.api.types.is_numeric_dtype(values):
        out = pd.to_numeric(values, errors="coerce").astype(float)
        return out, pd.Series(False, index=values.index)
    text = values.astype("string").str.strip().str.replace(r"(?<=\d)[,_ ](?=\d{3}\b)", "", regex=True)
    out = pd.to_numeric(text, errors="coerce").astype(float)
    invalid = text.notna() & out.isna()
    return out, invalid.fillna(False).astype(bool)


def to_datetime(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse timestamps in mixed formats to UTC; returns (datetimes, invalid mask)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values if getattr(values.dt, "tz", None) else values.dt.tz_localize("UTC")
        return out, pd.Series(False, index=values.index)
    text = values.astype("string").str.strip()
    out = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    invalid = text.notna() & out.isna()
    return out, invalid.fillna(False).astype(bool)


def infer_kind(values: pd.Series) -> Kind:
    """Numeric, boolean, datetime or categorical, decided from the non-missing values."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_numeric_dtype(values):
        uniq = set(pd.unique(present))
        return "boolean" if uniq and uniq <= {0, 1} and len(uniq) == 2 else "numeric"
    if present.empty:
        return "categorical"
    if (~to_boolean(present)[1]).mean() == 1.0:
        return "boolean"
    if (~to_number(present)[1]).mean() >= _PARSE_SHARE:
        return "numeric"
    looks_like_date = present.astype("string").str.contains(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}")
    if looks_like_date.mean() >= _PARSE_SHARE and (~to_datetime(present)[1]).mean() >= _PARSE_SHARE:
        return "datetime"
    return "categorical"


def _categories(values: pd.Series, rare_share: float) -> tuple[str, ...]:
    """Categories common enough to keep; rarer ones fold into `OTHER` (sorted for a stable encoding)."""
    shares = values.dropna().astype(str).value_counts(normalize=True)
    return tuple(sorted(shares[shares >= rare_share].index))


def infer_schema(frame: pd.DataFrame, data: DataConfig, rare_share: float = 0.005) -> FeatureSchema:
    """Every column that has no role and is not excluded becomes a feature; empty or constant ones are
    dropped with the reason recorded, so users see why a column was not used."""
    features: list[FeatureSpec] = []
    dropped: dict[str, str] = {}
    for name in frame.columns:
        if name in data.non_feature_columns:
            continue
        values = normalize_text(frame[name], data.missing_values)
        present = values.dropna()
        if present.empty:
            dropped[name] = "entirely empty"
            continue
        if present.astype(str).nunique() == 1:
            dropped[name] = "constant"
            continue
        kind = infer_kind(values)
        spec = FeatureSpec(name=name, kind=kind, missing_share=round(float(values.isna().mean()), 6))
        if kind == "categorical":
            spec = FeatureSpec(**{**spec.to_dict(), "categories": _categories(values, rare_share)})
        elif kind == "numeric":
            spec = FeatureSpec(**{**spec.to_dict(), "non_negative": bool(to_number(values)[0].min() >= 0)})
        features.append(spec)
    return FeatureSchema(features=tuple(features), id_column=data.id, dropped=dropped)
