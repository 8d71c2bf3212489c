"""The one transformer training and serving share: raw lead columns in, a fixed-order float matrix out.

Encoding policy (recorded in the fitted object so explanations can say what happened):
- numeric: parsed as float (text such as "1,234" accepted); missing stays NaN for LightGBM to route.
- boolean: yes/no, true/false, 1/0 -> 1.0/0.0; missing stays NaN.
- categorical: each kept training category gets a stable integer code; categories rarer than
  `rare_share` in training and categories never seen in training share the `__other__` code;
  missing stays NaN. Codes are fed to LightGBM as native categoricals, one column per input column.
  The status tells the two apart: "rare" (seen in training, rarely), "unseen" (never), or
  "rare_or_unseen" when the schema could not list every rare training category (see `FeatureSpec`).
- datetime: two derived columns, days since 1970 and day of week.
Columns are selected by name, so reordered or extra input columns never change the output.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from leadscore.features.coerce import normalize_text, to_boolean, to_datetime, to_number
from leadscore.features.config import DataConfig
from leadscore.features.schema import OTHER, FeatureSchema, FeatureSpec, infer_schema

Status = Literal["ok", "missing", "unseen", "invalid", "rare", "rare_or_unseen"]
STATUSES: tuple[Status, ...] = ("ok", "missing", "unseen", "invalid", "rare", "rare_or_unseen")
"""Status words by code, as `_encode` numbers them."""


class MissingColumnsError(ValueError):
    """Scoring input lacks feature columns the model was trained on."""

    def __init__(self, columns: list[str], context: str = "") -> None:
        self.columns = columns
        super().__init__(f"input is missing feature column(s) {columns} that the model was trained on{context}")

    def within(self, context: str) -> MissingColumnsError:
        """The same error with what the caller knows added: which model, and the options it has."""
        return MissingColumnsError(self.columns, context)


class LeadTransformer(TransformerMixin, BaseEstimator):
    """Learns the feature schema and category codes from training leads; transforms any lead frame."""

    def __init__(self, data: DataConfig, rare_share: float = 0.005) -> None:
        self.data = data
        self.rare_share = rare_share

    def fit(self, X: pd.DataFrame, y: object = None) -> LeadTransformer:
        """Infer the schema; no outcome column is read, so nothing leaks from targets."""
        return self.fit_schema(infer_schema(X, self.data, self.rare_share))

    def fit_schema(self, schema: FeatureSchema) -> LeadTransformer:
        """Fit from a schema inferred elsewhere (e.g. merged partition stats of a distributed frame)."""
        self.schema_ = schema
        names: list[str] = []
        sources: list[str] = []
        categorical: list[int] = []
        for spec in self.schema_.features:
            pieces = [f"{spec.name}__epoch_days", f"{spec.name}__dow"] if spec.kind == "datetime" else [spec.name]
            if spec.kind == "categorical":
                categorical.append(len(names))
            names.extend(pieces)
            sources.extend([spec.name] * len(pieces))
        self.feature_names_out_ = names
        self.sources_ = sources
        self.categorical_indices_ = categorical
        self.codes_ = {
            s.name: {c: i for i, c in enumerate((*s.categories, OTHER))}
            for s in self.schema_.features
            if s.kind == "categorical"
        }
        return self

    @property
    def feature_names_in_(self) -> list[str]:
        """Original input columns the model uses, in model order."""
        return self.schema_.names

    def missing_columns(self, X: pd.DataFrame) -> list[str]:
        """Feature columns absent from `X`."""
        return [n for n in self.schema_.names if n not in X.columns]

    def _column(self, X: pd.DataFrame, spec: FeatureSpec) -> pd.Series:
        if spec.name not in X.columns:
            return pd.Series(pd.NA, index=X.index, dtype="object")
        return normalize_text(X[spec.name], self.data.missing_values)

    def _encode(self, spec: FeatureSpec, values: pd.Series) -> tuple[list[np.ndarray], np.ndarray]:
        """Encoded column(s) and a status code per row, an index into `STATUSES`."""
        missing = values.isna().to_numpy(bool)
        status = np.where(missing, 1, 0)
        if spec.kind == "categorical":
            codes = self.codes_[spec.name]
            text = values.astype("string")
            known = text.isin(list(codes)).fillna(False).to_numpy(bool)
            mapped = text.map(codes).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            out = np.where(missing, np.nan, np.where(known, mapped, codes[OTHER]))
            rare = text.isin(spec.rare_categories).fillna(False).to_numpy(bool)
            other = ~missing & ~known
            status = np.where(other & rare, 4, np.where(other, 2 if spec.rare_complete else 5, status))
            return [out.astype(float)], status
        if spec.kind == "datetime":
            parsed, invalid = to_datetime(values)
            epoch_days = (parsed - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds() / 86400.0
            pieces = [epoch_days.to_numpy(float, na_value=np.nan), parsed.dt.dayofweek.to_numpy(float, na_value=np.nan)]
            return pieces, np.where(invalid.to_numpy(bool), 3, status)
        parse = to_boolean if spec.kind == "boolean" else to_number
        parsed, invalid = parse(values)
        return [parsed.to_numpy(float, na_value=np.nan)], np.where(invalid.to_numpy(bool), 3, status)

    def _encode_all(self, X: pd.DataFrame, allow_missing: bool) -> tuple[np.ndarray, np.ndarray]:
        absent = self.missing_columns(X)
        if absent and not allow_missing:
            raise MissingColumnsError(absent)
        columns: list[np.ndarray] = []
        statuses: list[np.ndarray] = []
        for spec in self.schema_.features:
            pieces, status = self._encode(spec, self._column(X, spec))
            columns.extend(pieces)
            statuses.append(status)
        matrix = np.column_stack(columns) if columns else np.empty((len(X), 0))
        status = np.column_stack(statuses) if statuses else np.empty((len(X), 0), dtype=int)
        return matrix, status

    def transform(self, X: pd.DataFrame, allow_missing: bool = False) -> np.ndarray:
        """Float matrix in `feature_names_out_` order; invalid values become NaN (see `status`)."""
        return self._encode_all(X, allow_missing)[0]

    def transform_with_status(self, X: pd.DataFrame, allow_missing: bool = False) -> tuple[np.ndarray, pd.DataFrame]:
        """Matrix plus, per input column, whether each value was ok, missing, rare, unseen (or, when the model
        cannot tell, rare_or_unseen) or invalid."""
        matrix, codes = self._encode_all(X, allow_missing)
        status = pd.DataFrame(np.array(STATUSES, dtype=object)[codes], index=X.index, columns=self.schema_.names)
        return matrix, status
