"""The service's one scoring function: what `/score` answers and what `/responses` re-scores a lead with.

`score_leads` checks leads against the model, adds each lead's behaviour from its stored responses (plus,
for `/responses`, the event not stored yet), predicts, explains on request and applies the qualification
rules. It writes nothing: `Scored.stored` builds what the store keeps of it, so the caller decides when and
how it is written (`/score` queues it, `/responses` writes it with its event in one transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.coerce import normalize_text
from leadscore.features.config import DataConfig, display_labels
from leadscore.features.qualification import QualificationConfig
from leadscore.features.responses import CAMPAIGN, EVENT, LEAD, TIME, TYPE
from leadscore.models.scorer import LeadScorer
from leadscore.records.responses import ResponseStore
from leadscore.records.scored import ScoredBatch, lead_rows
from leadscore.serving.errors import shielded
from leadscore.serving.model import ServingModel
from leadscore.serving.rules import qualify
from leadscore.serving.validation import CheckedBatch, Derive, Row

NO_RULES = dict.fromkeys(("stage", "route", "rules_met", "rules_missed", "review_flag", "nurture_reasons"))
"""`LeadScore`'s qualification fields when no rules are configured."""


def response_frame(events: pd.DataFrame) -> pd.DataFrame:
    """Response events as stored (`records.responses.STORED_COLUMNS`) as a validated responses frame
    (canonical columns, UTC times)."""
    frame = events.rename(columns={"occurred_at": TIME})
    frame[TIME] = pd.to_datetime(frame[TIME], utc=True)
    return frame.astype({LEAD: "string", CAMPAIGN: "string", TYPE: "string", EVENT: "string"})


def stored_responses(store: ResponseStore, lead_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Stored response events (of some leads, or all) as a validated responses frame."""
    return response_frame(store.events(lead_ids))


def behaviour(scorer: LeadScorer, store: ResponseStore, pending: pd.DataFrame | None = None) -> Derive | None:
    """For `LeadChecker.check`: each lead's behavioural columns from its stored responses (and `pending`
    events, not stored yet), as of now; None for a model without them."""
    if scorer.responses is None:
        return None

    def derive(ids: list[str]) -> pd.DataFrame:
        leads = pd.DataFrame({scorer.data.id: ids})
        events = stored_responses(store, sorted(set(ids)))
        if pending is not None:
            events = pd.concat([events, pending[pending[LEAD].isin(ids)]], ignore_index=True)
        now = pd.Timestamp.now(tz="UTC")
        return scorer.with_responses(leads, events, now).drop(columns=[scorer.data.id])

    return derive


def account_names(values: Sequence[object], missing_values: tuple[str, ...]) -> list[str | None]:
    """Account ids as the CLI's `report accounts` reads them (`normalize_text`): stripped text, None for an
    empty cell or one of the config's `missing_values` ("N/A", "Select", ...), which name no account."""
    text = pd.Series(
        [str(v) if isinstance(v, str | int) and not isinstance(v, bool) else None for v in values], dtype="string"
    )
    return [None if pd.isna(v) else str(v) for v in normalize_text(text, (*missing_values, ""))]


def account_pairs(data: DataConfig, ids: Sequence[str], leads: Sequence[Row]) -> dict[str, str]:
    """Lead id -> the account each scored lead names under the config's account column ({} without one)."""
    if data.account is None:
        return {}
    names = account_names([lead.get(data.account) for lead in leads], data.missing_values)
    return {lead_id: name for lead_id, name in zip(ids, names, strict=True) if name is not None}


def _records(table: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Score rows as plain dicts, built column-wise; NaN, which marks a head the model does not have,
    becomes None."""
    columns = {name: [None if v != v else v for v in values.tolist()] for name, values in table.items()}  # NaN
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


@dataclass(frozen=True)
class Scored:
    """One scoring: the answer rows (`LeadScore` fields) and what the store keeps of it."""

    model: ServingModel
    batch: CheckedBatch
    scores: list[dict[str, Any]]
    stages: list[dict[str, Any]] | None
    answers: list[dict[str, Any]]
    accounts: dict[str, str]
    scored_at: datetime

    def stored(self) -> ScoredBatch:
        """The rows and accounts to store (drift bins computed here: off the request path when queued)."""
        scorer = self.model.loaded.scorer
        bins = scorer.drift_reference_.bin_matrix(self.batch.matrix)
        rows = lead_rows(
            self.batch.ids,
            self.scores,
            self.batch.columns,
            bins,
            self.stages,
            model=(self.model.name, self.model.version),
            campaign_column=scorer.data.campaign,
            scored_at=self.scored_at,
        )
        return ScoredBatch(rows, self.accounts, self.model.version)


def score_leads(
    model: ServingModel,
    leads: Sequence[Row],
    rules: QualificationConfig | None,
    responses: ResponseStore,
    explain: bool = False,
    pending: pd.DataFrame | None = None,
) -> Scored:
    """Check, score, explain (on request) and qualify leads with one model; raises `ApiError(422)` naming
    every bad field. Writes nothing."""
    scored_at = datetime.now(UTC)
    scorer = model.loaded.scorer
    with shielded("scoring"):
        batch = model.checker.check(leads, behaviour(scorer, responses, pending))
        table = scorer.predict_columns(batch.matrix)
        scores = _records(table)
        missing = scorer.data.missing_values
        named = display_labels(scorer.labels)
        stages = qualify(rules, batch.frame, leads, pd.DataFrame(table), missing, named) if rules else None
        reasons = scorer.explain_transformed(batch.columns, batch.matrix, batch.status) if explain else None
        answers = [
            {
                "id": batch.ids[i],
                **scores[i],
                "model_version": model.version,
                "warnings": batch.warnings[i],
                "reasons": [r.to_dict() for r in reasons[i]] if reasons is not None else None,
                **(stages[i] if stages is not None else NO_RULES),
            }
            for i in range(len(leads))
        ]
    accounts = account_pairs(scorer.data, batch.ids, leads)
    return Scored(model, batch, scores, stages, answers, accounts, scored_at)
