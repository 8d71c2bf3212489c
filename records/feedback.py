"""Sales decisions on one model's leads, the labels its next training run learns from. Every decision event
is kept (history), stored once per `event_id` (`records.events`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from leadscore.records.database import Database
from leadscore.records.events import insert_once
from leadscore.records.tables import FeedbackEvent, latest_decisions, utc

DECISION_FIELDS = ("lead_id", "decision", "reason_code", "note", "rep_id")
"""What a decision event says; a resubmission that differs in any of them is a conflict."""


class FeedbackUnavailable(RuntimeError):
    """The database is down or locked, so the event was not confirmed stored; the client should retry it
    (with the same `event_id`, so a write that did land is not stored twice)."""


@dataclass(frozen=True)
class Recorded:
    """Outcome of `FeedbackStore.record`."""

    created: bool
    received_at: datetime
    lead_scored: bool | None


@dataclass(frozen=True)
class Decision:
    """The latest decision on one lead."""

    lead_id: str
    decision: str
    reason_code: str | None
    rep_id: str
    received_at: datetime


class FeedbackStore:
    """One model's feedback events."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, event: Mapping[str, Any], model_version: str | None, lead_scored: bool | None = None) -> Recorded:
        """Store the event (`DECISION_FIELDS` plus `event_id`) unless its `event_id` exists; concurrent
        duplicates resolve to one row. Raises `records.events.EventConflict` for an `event_id` stored with
        other content, and `FeedbackUnavailable` when the database cannot be reached, stays locked or is full, also
        after the retries of `Database.write` (the driver's message, which may quote the row, is dropped)."""
        values = {
            **{name: event.get(name) for name in ("event_id", *DECISION_FIELDS)},
            "model_name": self.database.model_name,
            "model_version": model_version,
            "received_at": datetime.now(UTC),
            "lead_scored": lead_scored,
        }
        table = FeedbackEvent.__table__
        try:
            created, stored = self.database.write(lambda c: insert_once(c, table, values, DECISION_FIELDS))
        except (OperationalError, OSError):  # OSError: the folder of a deleted SQLite file cannot be recreated
            raise FeedbackUnavailable(
                "the feedback database is unavailable or locked; the event is not confirmed as stored: retry it "
                "with the same event_id"
            ) from None
        return Recorded(created=created, received_at=utc(stored.received_at), lead_scored=stored.lead_scored)

    def latest_decisions(self) -> list[Decision]:
        """The most recent decision per lead of this model (history stays in the table), ordered by lead id."""
        query = latest_decisions(self.database.model_name).order_by(FeedbackEvent.lead_id)
        with Session(self.database.engine) as session:
            return [
                Decision(e.lead_id, e.decision, e.reason_code, e.rep_id, utc(e.received_at))
                for e in session.scalars(query)
            ]
