"""Capacity routing: the best leads sales can work this period, as a CRM import file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from leadscore.datasets.files import DataFileError
from leadscore.features.coerce import normalize_text
from leadscore.marketing.history import require_column
from leadscore.marketing.insights import (
    is_open,
    outcome_frame,
)
from leadscore.models.scorer import LeadScorer


@dataclass(frozen=True)
class Routed:
    """The lead list for the CRM, and what was left out and why."""

    leads: pd.DataFrame
    open_leads: int
    closed_skipped: int
    no_owner_skipped: int


def _sort_keys(scores: pd.DataFrame) -> list[str]:
    """Best first by expected revenue (else p_won when the model has no revenue head), ties by p_accept."""
    value = next((c for c in ("expected_revenue", "p_won", "p_accept") if scores[c].notna().any()), "score")
    return [value, "p_accept"] if value != "p_accept" else [value]


def route_leads(
    scorer: LeadScorer,
    frame: pd.DataFrame,
    capacity: int,
    by: str | None = None,
    reasons: int = 2,
    allow_missing: bool = False,
    source: Path | str = "data",
) -> Routed:
    """The best `capacity` open leads per owner (or overall without `by`), with score, grade and reasons.

    Open = no outcome yet under the model's own outcome columns; a file without outcome columns is all open.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    id_col = scorer.transformer_.schema_.id_column
    require_column(frame, id_col, "id", source)
    if by is not None and by not in frame.columns:
        raise DataFileError(f"{source} has no owner column '{by}'")
    open_mask = is_open(outcome_frame(frame, scorer.data))
    owners = normalize_text(frame[by].astype("string"), ("",)) if by else pd.Series("all", index=frame.index)
    candidates = frame[open_mask & owners.notna()]
    if candidates.empty:
        raise DataFileError(f"{source} has no open leads to route: every lead has an outcome or no owner")
    X, status = scorer.transformer_.transform_with_status(candidates, allow_missing=allow_missing)
    scores = scorer.predict_matrix(X)
    scores.index = candidates.index
    scores["_owner"] = owners.loc[candidates.index]
    ordered = scores.sort_values(_sort_keys(scores), ascending=False, kind="stable", na_position="last")
    picked = ordered.groupby("_owner", sort=False).head(capacity)
    picked = picked.assign(rank=picked.groupby("_owner").cumcount() + 1).sort_values(["_owner", "rank"])
    positions = candidates.index.get_indexer(picked.index)
    chosen = candidates.iloc[positions]
    explained = scorer.explain_transformed(chosen, X[positions], status.iloc[positions], k=reasons) if reasons else []
    out = pd.DataFrame({id_col: chosen[id_col].to_numpy()})
    if by:
        out[by] = picked["_owner"].to_numpy()
    out["rank"] = picked["rank"].to_numpy()
    for column in ("score", "grade", "p_accept", "p_won", "expected_revenue"):
        out[column] = picked[column].to_numpy()
    if reasons:
        out["reasons"] = [" | ".join(r.text for r in row) for row in explained]
    return Routed(
        leads=out,
        open_leads=int(open_mask.sum()),
        closed_skipped=int((~open_mask).sum()),
        no_owner_skipped=int((open_mask & owners.isna()).sum()),
    )
