"""Which leads have an outcome yet: one definition for validation, training and every report.

A lead is *open* while its final outcome is unknown: its `won` cell is empty (its `revenue` cell when only
revenue is configured, its `accepted` cell when neither is), unless sales already rejected it (`accepted`
= 0 is a decided loss). Open leads are the pipeline still to come: never a loss, never zero revenue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.coerce import normalize_text, to_boolean, to_datetime, to_number
from leadscore.features.config import DataConfig, LeadscoreConfig


def is_open(outcomes: pd.DataFrame) -> pd.Series:
    """True where the final outcome is not known yet. `outcomes` has role columns (`accepted`, `won`,
    `revenue`, any subset) as floats with NaN for an empty cell; no role column at all means all open."""
    final = next((role for role in ("won", "revenue", "accepted") if role in outcomes), None)
    if final is None:
        return pd.Series(True, index=outcomes.index)
    pending = outcomes[final].isna()
    if final != "accepted" and "accepted" in outcomes:
        pending &= outcomes["accepted"] != 0
    return pending


def read_outcomes(frame: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """The configured outcome columns `frame` has, by role, as floats; an empty or unreadable cell is NaN.

    Lenient on purpose: for counting open leads in files that are scored, not trained on (validation and
    `marketing.insights.outcome_frame` report unreadable cells)."""
    out = pd.DataFrame(index=frame.index)
    for role, column in data.outcome_columns.items():
        if column in frame.columns:
            parse = to_number if role == "revenue" else to_boolean
            out[role] = parse(normalize_text(frame[column], data.missing_values))[0].to_numpy(float)
    return out


WINDOW_QUANTILE = 0.9
"""The estimated outcome window: this share of the wins that record a decision time were decided within it."""
MIN_TIMED_WINS = 20
"""Wins with a decision time needed to estimate the window."""


@dataclass(frozen=True)
class OutcomeWindow:
    """How long outcomes take to be known, and the leads too young for theirs: *maturing*.

    Every lead created less than `days` before `as_of` (the newest time in the file) is maturing, whatever
    its outcome so far: keeping a young cohort's quick wins while leaving out its pending leads would inflate
    the recent win rate. Maturing leads count as open in training and in rates."""

    days: float | None
    as_of: pd.Timestamp | None = None
    estimated_from: int = 0
    """Wins the window was estimated from (0: configured, or no window)."""

    def maturing(self, created: pd.Series) -> pd.Series:
        """True for leads created inside the window (`created`: parsed UTC creation times)."""
        if self.days is None or self.as_of is None:
            return pd.Series(False, index=created.index)
        return (created > self.as_of - pd.Timedelta(days=self.days)).fillna(False).astype(bool)

    def describe(self, maturing: int) -> str:
        """One line for `validate` and `train`."""
        if self.days is None or self.as_of is None:
            return ""
        how = (
            f"estimated: {WINDOW_QUANTILE:.0%} of {self.estimated_from:,} wins with a decision time were decided "
            "within it; [training].outcome_window_days sets it"
            if self.estimated_from
            else "[training].outcome_window_days"
        )
        since = (self.as_of - pd.Timedelta(days=self.days)).strftime("%Y-%m-%d")
        return (
            f"outcome window {self.days:.0f} days ({how}): {maturing:,} leads created after {since} are still "
            "maturing and count as open"
        )


def outcome_window(
    created: pd.Series, won: pd.Series | None, decided: pd.Series | None, configured_days: float | None
) -> OutcomeWindow:
    """The configured window, else one estimated from `decided` (UTC decision times) as the `WINDOW_QUANTILE`
    of created -> decided among wins (`won` == 1), else none. `as_of` is the newest creation or decision."""
    newest = [s.max() for s in (created, decided) if s is not None and s.notna().any()]
    as_of = max(newest) if newest else None
    if configured_days is not None:
        return OutcomeWindow(configured_days, as_of)
    if decided is None or won is None:
        return OutcomeWindow(None, as_of)
    days = (decided - created)[(won == 1).to_numpy(bool)].dropna().dt.total_seconds() / 86400
    if len(days) < MIN_TIMED_WINS:
        return OutcomeWindow(None, as_of)
    return OutcomeWindow(max(float(np.quantile(days.clip(lower=0), WINDOW_QUANTILE)), 1.0), as_of, len(days))


def without_maturing(frame: pd.DataFrame, config: LeadscoreConfig) -> tuple[pd.DataFrame, int, OutcomeWindow]:
    """`frame` (raw cells) with the outcome cells of its maturing leads emptied, so reports and audits count
    them as open like training does; with the number of maturing leads that had an outcome, and the window.
    Unchanged (same object) when no window applies."""
    data = config.data
    if not data.created_at or data.created_at not in frame.columns:
        return frame, 0, OutcomeWindow(None)
    created = to_datetime(normalize_text(frame[data.created_at], data.missing_values))[0]
    decided = None
    if data.decided_at and data.decided_at in frame.columns:
        decided = to_datetime(normalize_text(frame[data.decided_at], data.missing_values))[0]
    won = read_outcomes(frame, data).get("won")
    window = outcome_window(created, won, decided, config.training.outcome_window_days)
    young = window.maturing(created).to_numpy(bool)
    if not young.any():
        return frame, 0, window
    columns = [c for c in data.outcome_columns.values() if c in frame.columns]
    out = frame.copy()
    for column in columns:
        out[column] = out[column].mask(young)
    maturing = young & ~is_open(read_outcomes(frame, data)).to_numpy(bool)  # open ones were open already
    return out, int(maturing.sum()), window
