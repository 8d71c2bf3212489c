"""Which leads have an outcome yet: one definition for validation, training and every report.

A lead is *open* while its final outcome is unknown: its `won` cell is empty (its `revenue` cell when only
revenue is configured, its `accepted` cell when neither is), unless sales already rejected it (`accepted`
= 0 is a decided loss). Open leads are the pipeline still to come: never a loss, never zero revenue.
"""

from __future__ import annotations

import pandas as pd

from leadscore.features.coerce import normalize_text, to_boolean, to_number
from leadscore.features.config import DataConfig


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
