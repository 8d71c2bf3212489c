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

Two entry points, one encoder: `transform` reads a pandas frame (training, files); `encode_values` reads
plain Python values column by column (the service's decoded JSON) through a lookup table per column that
maps a raw value to what `_encode` makes of it. The table starts from the fitted categories and learns each
new value by running `_encode` on it, so both entry points give the same numbers by construction; only
numbers in numeric columns skip it (they are their own float, as `to_number` reads them).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from leadscore.features.coerce import normalize_text, to_boolean, to_datetime, to_number
from leadscore.features.config import DataConfig
from leadscore.features.schema import OTHER, FeatureSchema, FeatureSpec, infer_schema

Status = Literal["ok", "missing", "unseen", "invalid", "rare", "rare_or_unseen"]
STATUSES: tuple[Status, ...] = ("ok", "missing", "unseen", "invalid", "rare", "rare_or_unseen")
"""Status words by code, as `_encode` numbers them."""
MEMO_LIMIT = 10_000
"""Raw values a column's lookup table remembers beyond its fitted entries: free text or timestamps in a
column would otherwise grow it without bound (past the limit it starts again from the fitted entries)."""

Encoded = tuple[tuple[float, ...], int]
"""What `_encode` makes of one raw value: its matrix piece(s) and its status code."""
_NUMBERS = {int, float}


def _key(value: object) -> tuple[type, object]:
    """A lookup table key: the type too (`1`, `1.0` and `True` read differently), and a float by its text
    (-0.0 == 0.0, but "-0.0" is not "0.0")."""
    return (float, repr(value)) if value.__class__ is float else (value.__class__, value)


def _fits(number: object) -> bool:
    """Whether a JSON number converts to a float (an integer of 309 digits does not)."""
    try:
        float(number)  # type: ignore[arg-type]
    except OverflowError:
        return False
    return True


class LookupTable:
    """One column's raw value -> encoding cache: keys map to rows of `pieces` and `codes`, so a batch is
    encoded by one dictionary look-up per value and two array takes. Rows are only ever appended, under a
    lock, and published to `ids` last, so a reader never sees an id its arrays lack."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.ids: dict[tuple[type, object], int] = {}
        self.pieces = np.empty((0, width))
        self.codes = np.empty(0, dtype=np.int8)
        self._lock = threading.Lock()

    def learn(self, keys: Sequence[tuple[type, object]], encoded: Sequence[Encoded]) -> None:
        """Add encodings for keys not yet known."""
        with self._lock:
            new = [(k, e) for k, e in zip(keys, encoded, strict=True) if k not in self.ids]
            if not new:
                return
            first = len(self.codes)
            pieces = np.array([e[0] for _, e in new], dtype=float).reshape(-1, self.width)
            self.pieces = np.vstack([self.pieces, pieces])
            self.codes = np.concatenate([self.codes, np.array([e[1] for _, e in new], dtype=np.int8)])
            self.ids.update({k: first + n for n, (k, _) in enumerate(new)})


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

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the lookup tables: they are a cache, rebuilt on first use."""
        state = dict(super().__getstate__())  # a copy: object.__getstate__ hands out the live __dict__
        state.pop("_tables", None)
        return state

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Output column names in matrix order (scikit-learn's API; a datetime column gives two pieces)."""
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

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
        self.__dict__.pop("_tables", None)
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

    def _reference(self, spec: FeatureSpec, values: Sequence[object]) -> list[Encoded]:
        """`_encode` on raw values as one object column: what a frame of these values gives, value by value."""
        column = self._column(pd.DataFrame({spec.name: pd.Series(list(values), dtype=object)}), spec)
        pieces, status = self._encode(spec, column)
        rows = np.column_stack(pieces).tolist()
        return [(tuple(row), int(code)) for row, code in zip(rows, status.tolist(), strict=True)]

    def lookup_tables(self) -> dict[str, LookupTable]:
        """Per input column, raw value -> encoding, seeded with the fitted categories (in the forms a CRM
        sends them: as fitted, upper and lower case), yes/no tokens and the missing-value tokens."""
        tables = self.__dict__.get("_tables")
        if tables is None:
            tables = {}
            for spec in self.schema_.features:
                seeds: list[object] = [None, *self.data.missing_values]
                if spec.kind == "categorical":
                    fitted = (*spec.categories, *spec.rare_categories)
                    seeds += [form for c in fitted for form in (c, c.lower(), c.upper())]
                if spec.kind == "boolean":
                    seeds += [True, False, "yes", "no", "Yes", "No", "true", "false", "True", "False", 0, 1]
                table = LookupTable(2 if spec.kind == "datetime" else 1)
                keys = list(dict.fromkeys((type(v), v) for v in seeds))  # True == 1, yet they read differently
                table.learn(keys, self._reference(spec, [v for _, v in keys]))
                tables[spec.name] = table
            self.__dict__["_tables"] = tables
        return tables

    def _lookup(self, spec: FeatureSpec, values: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
        """Pieces and status codes of one column's raw values: numbers of numeric columns as floats, the rest
        from the column's table, which learns values it has not seen from one `_encode` call."""
        types = set(map(type, values))
        if spec.kind == "numeric" and types <= _NUMBERS:
            try:
                return np.array(values, dtype=float)[:, None], np.zeros(len(values), dtype=np.int8)
            except OverflowError:  # an integer beyond any float: the reference reads it from its text
                pass
        table = self.lookup_tables()[spec.name]
        if float in types or spec.kind == "numeric":
            keys = [_key(v) for v in values]
        else:
            keys = list(zip(map(type, values), values, strict=True))
        ids = list(map(table.ids.get, keys))
        if None in ids:
            misses = {key: value for key, value, i in zip(keys, values, ids, strict=True) if i is None}
            if spec.kind == "numeric":  # numbers among text: their own float, as `to_number` reads them
                numbers = {k: ((float(v),), 0) for k, v in misses.items() if type(v) in _NUMBERS and _fits(v)}
                text = [k for k in misses if k not in numbers]
                learned = [*numbers.items(), *zip(text, self._reference(spec, [misses[k] for k in text]), strict=True)]
            else:
                learned = list(zip(misses, self._reference(spec, list(misses.values())), strict=True))
            table.learn([k for k, _ in learned], [e for _, e in learned])
            ids = list(map(table.ids.__getitem__, keys))
            if len(table.ids) > MEMO_LIMIT:
                self.__dict__.pop("_tables", None)  # the next batch starts again from the fitted entries
        rows = np.array(ids, dtype=np.intp)
        return table.pieces[rows], table.codes[rows]

    def encode_values(self, columns: Mapping[str, Sequence[object]], rows: int) -> tuple[np.ndarray, np.ndarray]:
        """`transform_with_status` for plain values by column name (absent names are missing columns):
        the float matrix and status codes (indices into `STATUSES`, one column per input column)."""
        matrix = np.empty((rows, len(self.feature_names_out_)))
        codes = np.empty((rows, len(self.schema_.features)), dtype=np.int8)
        start = 0
        for j, spec in enumerate(self.schema_.features):
            width = 2 if spec.kind == "datetime" else 1
            values = columns.get(spec.name)
            if values is None:
                matrix[:, start : start + width] = np.nan
                codes[:, j] = STATUSES.index("missing")
            elif rows:
                matrix[:, start : start + width], codes[:, j] = self._lookup(spec, values)
            start += width
        return matrix, codes

    def transform(self, X: pd.DataFrame, allow_missing: bool = False) -> np.ndarray:
        """Float matrix in `feature_names_out_` order; invalid values become NaN (see `status`)."""
        return self._encode_all(X, allow_missing)[0]

    def transform_with_status(self, X: pd.DataFrame, allow_missing: bool = False) -> tuple[np.ndarray, pd.DataFrame]:
        """Matrix plus, per input column, whether each value was ok, missing, rare, unseen (or, when the model
        cannot tell, rare_or_unseen) or invalid."""
        matrix, codes = self._encode_all(X, allow_missing)
        status = pd.DataFrame(np.array(STATUSES, dtype=object)[codes], index=X.index, columns=self.schema_.names)
        return matrix, status
