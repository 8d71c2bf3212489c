"""Scoring the history a marketer brings: one scored frame shared by the report, the planner and routing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.datasets.files import DataFileError, load_responses, load_table
from leadscore.features.coerce import normalize_text, to_datetime, to_number
from leadscore.features.config import ConfigError, DataConfig, LeadscoreConfig
from leadscore.features.outcomes import without_maturing
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


@dataclass(frozen=True)
class History:
    """A historical lead file ready for the model and for campaign credit: behavioural features at each
    lead's decision time, and the response events they came from (None without `[responses]`)."""

    frame: pd.DataFrame
    responses: pd.DataFrame | None
    decision_days: float
    maturing_note: str = ""
    """Leads younger than the outcome window, counted as open (`features.outcomes.without_maturing`)."""


def load_history(data_path: Path, config: LeadscoreConfig, config_path: Path, scorer: LeadScorer) -> History:
    """Read the lead file and, when the config has `[responses]`, its events (validated). Leads younger than
    the outcome window count as open, as in training."""
    frame, maturing, window = without_maturing(load_table(data_path), config)
    responses = load_responses(config, config_path)
    days = config.responses.decision_window_days if config.responses else 0.0
    note = window.describe(maturing) if maturing else ""
    return History(at_decision(scorer, frame, config.data, responses), responses, days, note)


def at_decision(
    scorer: LeadScorer, frame: pd.DataFrame, data: DataConfig, responses: pd.DataFrame | None
) -> pd.DataFrame:
    """History as the model saw it in training: each lead with its behavioural features at its decision time
    (`created_at` plus the decision window). Unchanged for a model without behavioural features."""
    if scorer.responses is None:
        return frame
    if responses is None:
        raise ConfigError("the model uses response features: name the response events ([responses] in the config)")
    column = require_column(frame, data.created_at, "created_at", "the lead file")
    created = to_datetime(normalize_text(frame[column], data.missing_values))[0]
    return scorer.with_responses(frame, responses, scorer.responses.training_as_of(created))


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
