"""Reading raw cell values: text clean-up, booleans, numbers and timestamps written in many ways.

A leaf module (imports no other leadscore module), so the config, the qualification rules and the schema
can all use it without importing each other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRUE_TOKENS = frozenset({"1", "true", "t", "yes", "y"})
FALSE_TOKENS = frozenset({"0", "false", "f", "no", "n"})


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
    """Parse timestamps in mixed formats, and mixed UTC offsets, to UTC; returns (datetimes, invalid mask).
    A timestamp without an offset is read as UTC. Typed columns (Parquet) in another zone are converted, so
    every frame downstream holds UTC and a day or an hour means the same whatever zone the file was in."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values.dt.tz_convert("UTC") if getattr(values.dt, "tz", None) else values.dt.tz_localize("UTC")
        return out, pd.Series(False, index=values.index)
    text = values.astype("string").str.strip()
    out = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    invalid = text.notna() & out.isna()
    return out, invalid.fillna(False).astype(bool)


YEARS = (1900, 2100)
"""Whole numbers in this range read as years: 1988, not 1,988."""


def display_number(number: float) -> str:
    """How a number reads in a sentence: thousands separated, two decimals unless whole, a year as a year."""
    if not float(number).is_integer():
        return f"{number:,.2f}"
    return f"{number:.0f}" if YEARS[0] <= number <= YEARS[1] else f"{number:,.0f}"
