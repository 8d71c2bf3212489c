"""Outcome rates over the whole history, month by month: drift a fit-fold-vs-holdout comparison misses, and
recent months whose outcomes look as if they are still maturing.

`train` prints one line per outcome whose rate moves strongly across months, logs the table and a chart with
the run, and stores the table in the model so `GET /model` shows it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.coerce import to_datetime
from leadscore.features.config import LeadscoreConfig
from leadscore.models.scorer import PROBABILITY_HEADS, targets

MIN_MONTH_LEADS = 50
"""Months with fewer decided leads are shown but never named as a rate's high or low."""
MOVE_RATIO, MOVE_Z = 1.5, 3.0
"""A rate "moves strongly" when its highest and lowest months differ by this ratio and this many standard errors."""
RECENT_MONTHS = 3
"""How far back a rate that falls at the end of history is looked for (maturing outcomes)."""


def monthly_rates(frame: pd.DataFrame, config: LeadscoreConfig) -> pd.DataFrame:
    """Per month of `created_at` (YYYY-MM): decided leads and each outcome's rate (`<head>_rate`); empty
    without `created_at`. `frame` holds validated, decided leads."""
    data = config.data
    if not data.created_at or frame.empty:
        return pd.DataFrame(columns=["month", "leads"])
    month = to_datetime(frame[data.created_at])[0].dt.strftime("%Y-%m").to_numpy()
    y = targets(frame, data)
    rates = pd.DataFrame({f"{h}_rate": y[h] for h in PROBABILITY_HEADS if h in y}).assign(month=month)
    grouped = rates.groupby("month", sort=True)
    return grouped.mean().assign(leads=grouped.size()).reset_index()[["month", "leads", *rates.columns[:-1]]]


def _z(k1: float, n1: float, k2: float, n2: float) -> float:
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(abs(k1 / n1 - k2 / n2) / se) if se > 0 else 0.0


def rate_moves(table: pd.DataFrame) -> list[str]:
    """One line per outcome whose rate moves strongly between months (`MOVE_RATIO` and `MOVE_Z`)."""
    lines = []
    big = table[table["leads"] >= MIN_MONTH_LEADS]
    for column in (c for c in table.columns if c.endswith("_rate")):
        if len(big) < 2:
            break
        lo, hi = big.loc[big[column].idxmin()], big.loc[big[column].idxmax()]
        ratio = hi[column] / max(lo[column], 1e-9)
        z = _z(hi[column] * hi["leads"], hi["leads"], lo[column] * lo["leads"], lo["leads"])
        if ratio >= MOVE_RATIO and z >= MOVE_Z:
            head = column.removesuffix("_rate")
            lines.append(
                f"the {head} rate moves across history's months from {lo[column]:.1%} ({lo['month']}) to "
                f"{hi[column]:.1%} ({hi['month']}); by month: "
                + ", ".join(f"{m} {r:.1%}" for m, r in zip(table["month"], table[column], strict=True))
            )
    return lines


def maturing_warning(table: pd.DataFrame, config: LeadscoreConfig) -> list[str]:
    """Without an outcome window: the latest months whose rate falls well below the months before them
    (`MOVE_RATIO`, `MOVE_Z` pooled), named, since their outcomes may not have had time to happen yet."""
    if config.data.decided_at or config.training.outcome_window_days or len(table) <= RECENT_MONTHS:
        return []
    lines = []
    for column in (c for c in table.columns if c.endswith("_rate")):
        earlier = table.iloc[:-RECENT_MONTHS]
        before = float((earlier[column] * earlier["leads"]).sum() / earlier["leads"].sum())
        late = []
        for _, row in table.iloc[::-1].head(RECENT_MONTHS).iterrows():
            if row[column] * MOVE_RATIO > before:
                break
            late.insert(0, row)
        if not late:
            continue
        recent = pd.DataFrame(late)
        n, k = float(recent["leads"].sum()), float((recent[column] * recent["leads"]).sum())
        if _z(k, n, before * earlier["leads"].sum(), float(earlier["leads"].sum())) >= MOVE_Z:
            head = column.removesuffix("_rate")
            lines.append(
                f"the {head} rate of the latest months ({', '.join(recent['month'])}) is {k / n:.1%} against "
                f"{before:.1%} before: their outcomes may still be maturing. Name when sales decided "
                "([data].decided_at) or set [training].outcome_window_days, so young leads count as open"
            )
    return lines


def history_records(table: pd.DataFrame) -> list[dict[str, float | int | str]]:
    """The table as JSON-ready rows, for the model's manifest and `GET /model`."""
    return [
        {k: (v if isinstance(v, str) else int(v) if k == "leads" else round(float(v), 6)) for k, v in row.items()}
        for row in table.to_dict("records")
    ]
