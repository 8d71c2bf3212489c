"""Scoring the history a marketer brings: one scored frame shared by the report, the planner and routing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.datasets.files import DataFileError, load_table
from leadscore.features.coerce import normalize_text, to_number
from leadscore.features.config import ConfigError, DataConfig
from leadscore.marketing.insights import (
    group_labels,
    outcome_frame,
)
from leadscore.models.scorer import LeadScorer


@dataclass(frozen=True)
class ScoredLeads:
    """A lead file scored once, with what the report and planner read from it (same index as the file)."""

    scores: pd.DataFrame
    outcomes: pd.DataFrame
    contributions: pd.DataFrame | None


def explained_head(scorer: LeadScorer) -> str:
    """The head whose SHAP values explain campaigns: the win head, else acceptance."""
    return "won" if "won" in scorer.heads_ else "accepted"


def score_leads(scorer: LeadScorer, frame: pd.DataFrame, data: DataConfig, explain: bool = True) -> ScoredLeads:
    """Score every lead; with `explain`, per-column SHAP of `explained_head`."""
    X = scorer.transformer_.transform(frame)
    scores = scorer.predict_matrix(X)
    scores.index = frame.index
    contributions = None
    if explain:
        contributions = scorer.contributions(X, explained_head(scorer))
        contributions.index = frame.index
    return ScoredLeads(scores, outcome_frame(frame, data), contributions)


def require_column(frame: pd.DataFrame, column: str | None, role: str, source: Path | str) -> str:
    """The column playing `role`, or a clear error when it is not configured or not in the file."""
    if column is None:
        raise ConfigError(f'the config names no {role} column: add {role} = "<column>" to its data table')
    if column not in frame.columns:
        raise DataFileError(f"{source} has no {role} column '{column}'")
    return column


def load_spend(path: Path) -> dict[str, float]:
    """Campaign spend from a CSV with columns `campaign` and `spend`; errors name the file line or campaign."""
    table = load_table(path)
    missing = [c for c in ("campaign", "spend") if c not in table.columns]
    if missing:
        raise DataFileError(f"{path}: cost table needs columns 'campaign' and 'spend'; missing {missing}")
    names = group_labels(table["campaign"])
    spend, invalid = to_number(normalize_text(table["spend"], ("",)))
    bad = invalid | spend.isna() | (spend < 0)
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy(bool))[:5])
        raise DataFileError(f"{path}: 'spend' must be a non-negative number (line {rows})")
    dupes = sorted(names[names.duplicated()].unique())
    if dupes:
        raise DataFileError(f"{path}: campaign(s) listed twice: {dupes}")
    return dict(zip(names, spend.astype(float), strict=True))
