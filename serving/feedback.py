"""Durable store of sales decisions on leads, the labels the next training run learns from.

Any SQLAlchemy URL works (SQLite file by default, Postgres in production). Every decision event is kept
(history), keyed by the client's `event_id` so that retries and duplicate webhooks insert nothing new.

A SQLite file deleted while the service runs (a cleanup script, `make clean`) is recreated: a failed write
drops the pooled connections, which still point at the deleted file, recreates the folder and tables and
tries once more; `/readyz` does the same check, so it reports not-ready only while that fails.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from leadscore.records.migrate import migrate
from leadscore.records.tables import FeedbackEvent, latest_decisions, utc
from leadscore.serving.schemas import FeedbackRequest


def _same_event(stored: FeedbackEvent, other: FeedbackRequest) -> bool:
    """Whether a resubmission carries the same decision (then it is a harmless retry)."""
    return (stored.lead_id, stored.decision, stored.reason_code, stored.note, stored.rep_id) == (
        other.lead_id,
        other.decision,
        other.reason_code,
        other.note,
        other.rep_id,
    )


class FeedbackConflict(ValueError):
    """The `event_id` is already stored with different content."""


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


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of a SQLite engine (None for other databases and in-memory SQLite)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database)
    return None


def recreate(engine: Engine, model_name: str) -> None:
    """Drop pooled connections (after a SQLite file was deleted they fail as read-only), recreate a SQLite
    file's folder, and create or migrate the tables of every store (`records.migrate`; rows from before model
    names go to `model_name`)."""
    engine.dispose()
    if (path := sqlite_file(engine)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    migrate(engine, model_name)


class FeedbackStore:
    """One model's feedback events in a SQL database; creates or migrates the database (and a SQLite file's
    folder) on first use."""

    def __init__(self, url: str, model_name: str) -> None:
        self.engine = create_engine(make_url(url), pool_pre_ping=True)
        self.model_name = model_name
        self._file_id: tuple[int, int] | None = None
        self._reopen_lock = threading.Lock()
        self.reopen_if_replaced()

    def _current_file(self) -> tuple[int, int] | None:
        path = sqlite_file(self.engine)
        try:
            return None if path is None else (path.stat().st_dev, path.stat().st_ino)
        except FileNotFoundError:
            return None

    def reopen_if_replaced(self) -> None:
        """Recreate the database if its SQLite file was deleted or replaced since it was opened (a no-op
        for other databases after the first call)."""
        if self._file_id is not None and (sqlite_file(self.engine) is None or self._current_file() == self._file_id):
            return
        with self._reopen_lock:
            if self._file_id is None or self._current_file() != self._file_id:
                recreate(self.engine, self.model_name)
                self._file_id = self._current_file() or (0, 0)

    def record(self, event: FeedbackRequest, model_version: str | None, lead_scored: bool | None = None) -> Recorded:
        """Insert the event unless its `event_id` exists; concurrent duplicates resolve to one row.

        Raises `FeedbackUnavailable` when the database cannot be reached or stays locked, also after one
        reconnect (the driver's message, which may quote the row, is dropped)."""
        try:
            self.reopen_if_replaced()
            return self._record(event, model_version, lead_scored)
        except (OperationalError, OSError):  # OSError: the folder of a deleted SQLite file cannot be recreated
            raise FeedbackUnavailable(
                "the feedback database is unavailable or locked; the event is not confirmed as stored: retry it "
                "with the same event_id"
            ) from None

    def healthy(self) -> bool:
        """Whether the feedback table answers, recreating a deleted SQLite file first."""
        try:
            self.reopen_if_replaced()
            with self.engine.connect() as connection:
                connection.execute(select(FeedbackEvent.id).limit(1))
        except (OperationalError, OSError):
            return False
        return True

    def _record(self, event: FeedbackRequest, model_version: str | None, lead_scored: bool | None) -> Recorded:
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            row = FeedbackEvent(
                **event.model_dump(),
                model_name=self.model_name,
                model_version=model_version,
                received_at=now,
                lead_scored=lead_scored,
            )
            session.add(row)
            try:
                session.commit()
                return Recorded(created=True, received_at=now, lead_scored=lead_scored)
            except IntegrityError:
                session.rollback()
            query = select(FeedbackEvent).where(
                FeedbackEvent.model_name == self.model_name, FeedbackEvent.event_id == event.event_id
            )
            existing = session.scalars(query).one()
            if not _same_event(existing, event):
                raise FeedbackConflict("this event_id is already stored with a different decision, lead, rep or note")
            return Recorded(created=False, received_at=utc(existing.received_at), lead_scored=existing.lead_scored)

    def latest_decisions(self) -> list[Decision]:
        """The most recent decision per lead of this model (history stays in the table), ordered by lead id."""
        query = latest_decisions(self.model_name).order_by(FeedbackEvent.lead_id)
        with Session(self.engine) as session:
            return [
                Decision(e.lead_id, e.decision, e.reason_code, e.rep_id, utc(e.received_at))
                for e in session.scalars(query)
            ]
