"""Response events (a form fill, a webinar, a download, a click) and the point-in-time features built from them.

A lead is a person whose responses together earn sales' attention, so its behaviour is read from the
responses it made *before* a moment, its as-of time: `created_at` plus `[responses].decision_window_days`
in training (what sales could know when they decided), "now" when scoring. Training and serving both call
`response_features` with the `ResponseSpec` stored in the model, so a feature means the same at both ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from leadscore.features.contract import Strict

EVENT, LEAD, TIME, CAMPAIGN, TYPE, CHANNEL = "event_id", "lead_id", "timestamp", "campaign", "response_type", "channel"
"""Canonical column names of a validated responses frame (`ResponsesConfig` maps the file's names onto them)."""
PREFIX = "responses_"
"""Every behavioural feature column starts with this, so reasons can speak of them together."""
MAX_TYPES = 8
"""Response types counted on their own when `[responses].types` is unset (most frequent first; the rest
count only in the totals)."""


class ResponsesConfig(Strict):
    """The optional `[responses]` table: where the response events are and how their features are built."""

    path: str = Field(min_length=1)
    """CSV or Parquet file of events, relative to `leadscore.toml`."""
    lead_id: str = "lead_id"
    timestamp: str = "timestamp"
    campaign: str = "campaign"
    response_type: str = "response_type"
    channel: str | None = None
    event_id: str | None = None
    """Optional unique event id; without one, rows are named by row number in errors."""
    types: tuple[str, ...] | None = None
    """Response types counted separately; unset: the most frequent ones in training (up to 8)."""
    windows_days: tuple[int, ...] = (7, 30, 90)
    half_life_days: float = Field(14.0, gt=0)
    """An engagement point counts half after this many days: scores fall as responses age."""
    decision_window_days: float = Field(14.0, ge=0)
    """Training rows see the responses up to `created_at` plus this many days, when sales decided. An assumption
    (the data have no decision time): `validate` and `train` warn when most responses come after it."""

    @field_validator("windows_days")
    @classmethod
    def _windows(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(w <= 0 for w in value) or len(set(value)) != len(value):
            raise ValueError("windows_days must be distinct positive day counts, e.g. [7, 30, 90]")
        return tuple(sorted(value))

    @property
    def columns(self) -> dict[str, str]:
        """Canonical name -> the file's column name, for the columns configured."""
        named = {
            LEAD: self.lead_id,
            TIME: self.timestamp,
            CAMPAIGN: self.campaign,
            TYPE: self.response_type,
            CHANNEL: self.channel,
            EVENT: self.event_id,
        }
        return {canonical: column for canonical, column in named.items() if column}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_") or "other"


@dataclass(frozen=True)
class ResponseSpec:
    """What the fitted model needs to rebuild its behavioural features: windows, half-life and types."""

    types: tuple[str, ...]
    windows_days: tuple[int, ...]
    half_life_days: float
    decision_window_days: float
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = [f"{PREFIX}{w}d" for w in self.windows_days]
        names += [f"{PREFIX}{_slug(t)}_{w}d" for t in self.types for w in self.windows_days]
        names += [f"{PREFIX}days_since_last", f"{PREFIX}campaigns", f"{PREFIX}engagement"]
        object.__setattr__(self, "columns", tuple(names))

    @classmethod
    def fit(cls, responses: pd.DataFrame, config: ResponsesConfig) -> ResponseSpec:
        """The spec for a validated responses frame: the configured types, else the most frequent ones."""
        if config.types is not None:
            types = tuple(config.types)
        else:
            counts = responses[TYPE].value_counts()
            types = tuple(str(t) for t in counts.index[:MAX_TYPES])
        slugs = [_slug(t) for t in types]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"response types {list(types)} collide once written as column names")
        return cls(types, config.windows_days, config.half_life_days, config.decision_window_days)

    def training_as_of(self, created_at: pd.Series) -> pd.Series:
        """When a training lead's features are taken: its creation plus the decision window."""
        return created_at + pd.Timedelta(days=self.decision_window_days)

    def describe(self, row: Mapping[str, object]) -> str:
        """A lead's responses in plain words, e.g. "3 in the last 30 days, last one 2 days ago"."""
        window = self.windows_days[min(1, len(self.windows_days) - 1)]
        recent = int(row.get(f"{PREFIX}{window}d", 0) or 0)
        last = row.get(f"{PREFIX}days_since_last")
        if last is None or pd.isna(last):
            return "none yet"
        days = float(last)
        ago = "today" if days < 1 else ("1 day ago" if days < 2 else f"{days:.0f} days ago")
        counted = "1 response" if recent == 1 else f"{recent} responses"
        return f"{counted} in the last {window} days, last one {ago}"


def response_features(
    lead_ids: pd.Series, as_of: pd.Series | pd.Timestamp, responses: pd.DataFrame, spec: ResponseSpec
) -> pd.DataFrame:
    """Behavioural features per lead from its responses strictly before its as-of time; index follows
    `lead_ids`. A lead with no earlier response has zero counts and engagement and no `days_since_last`.

    `responses` is validated (`validate_responses`): canonical columns, UTC timestamps, ids as text."""
    ids = lead_ids.astype("string").reset_index(drop=True)
    when = as_of if isinstance(as_of, pd.Series) else pd.Series(as_of, index=lead_ids.index)
    leads = pd.DataFrame({"_row": np.arange(len(ids)), LEAD: ids, "_as_of": when.reset_index(drop=True)})
    events = responses[[LEAD, TIME, CAMPAIGN, TYPE]].merge(leads, on=LEAD, how="inner")
    events = events[events[TIME] < events["_as_of"]]
    age = (events["_as_of"] - events[TIME]).dt.total_seconds().to_numpy() / 86400.0
    rows = events["_row"].to_numpy()
    n = len(ids)
    out: dict[str, np.ndarray] = {}
    known = {t: i for i, t in enumerate(spec.types)}
    type_code = events[TYPE].map(known).fillna(-1).to_numpy(int)
    for w in spec.windows_days:
        inside = age < w
        out[f"{PREFIX}{w}d"] = np.bincount(rows[inside], minlength=n).astype(float)
    for t, code in known.items():
        for w in spec.windows_days:
            hit = (age < w) & (type_code == code)
            out[f"{PREFIX}{_slug(t)}_{w}d"] = np.bincount(rows[hit], minlength=n).astype(float)
    last = np.full(n, np.inf)
    np.minimum.at(last, rows, age)
    out[f"{PREFIX}days_since_last"] = np.where(np.isinf(last), np.nan, np.round(last, 2))
    campaigns = events.drop_duplicates(["_row", CAMPAIGN])["_row"].to_numpy()
    out[f"{PREFIX}campaigns"] = np.bincount(campaigns, minlength=n).astype(float)
    decay = np.power(0.5, age / spec.half_life_days)
    out[f"{PREFIX}engagement"] = np.round(np.bincount(rows, weights=decay, minlength=n), 4)
    return pd.DataFrame(out, index=lead_ids.index)[list(spec.columns)]


def empty_responses() -> pd.DataFrame:
    """A validated responses frame with no events: what scoring uses when a lead has none on record."""
    return pd.DataFrame(
        {
            LEAD: pd.Series(dtype="string"),
            TIME: pd.Series(dtype="datetime64[ns, UTC]"),
            CAMPAIGN: pd.Series(dtype="string"),
            TYPE: pd.Series(dtype="string"),
        }
    )
