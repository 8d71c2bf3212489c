"""Split leads into train / validation / holdout without leaking the future into fitting."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from leadscore.features.config import LeadscoreConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Train fits the heads, validation early-stops and calibrates them, holdout only reports."""

    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame
    by_time: bool

    def sizes(self) -> dict[str, int]:
        """Row counts, for logging."""
        return {"train_rows": len(self.train), "valid_rows": len(self.valid), "holdout_rows": len(self.holdout)}


def split_leads(frame: pd.DataFrame, config: LeadscoreConfig) -> Split:
    """By `created_at` when configured (holdout = most recent leads), else stratified random with a warning."""
    t = config.training
    data = config.data
    n = len(frame)
    n_hold = round(n * t.holdout_fraction)
    n_valid = round(n * t.validation_fraction)
    if data.created_at:
        ordered = frame.sort_values(data.created_at, kind="stable")
        train_end = n - n_hold - n_valid
        return Split(ordered.iloc[:train_end], ordered.iloc[train_end : n - n_hold], ordered.iloc[n - n_hold :], True)
    log.warning("no created_at configured: splitting at random, so the holdout does not test the future")
    strata = _strata(frame, config)
    rest, holdout = train_test_split(frame, test_size=n_hold, stratify=strata, random_state=t.seed)
    train, valid = train_test_split(rest, test_size=n_valid, stratify=strata.loc[rest.index], random_state=t.seed)
    return Split(train, valid, holdout, False)


def _strata(frame: pd.DataFrame, config: LeadscoreConfig) -> pd.Series:
    """Stratify on the rarest configured binary outcome so every part has positives."""
    data = config.data
    col = data.won or data.accepted
    if col:
        return frame[col].astype(int)
    return pd.Series(np.asarray(frame[data.revenue] > 0, dtype=int), index=frame.index)
