"""Durable store of sales decisions on leads, the labels the next training run learns from.

Any SQLAlchemy URL works (SQLite file by default, Postgres in production). Every decision event is kept
(history), keyed by the client's `event_id` so that retries and duplicate webhooks insert nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, String, Text, create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from serving.schemas import FeedbackRequest


class _Base(DeclarativeBase):
    pass


class FeedbackEvent(_Base):
    """One decision by a sales rep; `event_id` is unique."""

    __tablename__ = "feedback_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    lead_id: Mapped[str] = mapped_column(String(256), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    rep_id: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def same_event(self, other: FeedbackRequest) -> bool:
        """Whether a resubmission carries the same decision (then it is a harmless retry)."""
        return (self.lead_id, self.decision, self.reason_code, self.note, self.rep_id) == (
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


@dataclass(frozen=True)
class Decision:
    """The latest decision on one lead."""

    lead_id: str
    decision: str
    reason_code: str | None
    rep_id: str
    received_at: datetime


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class FeedbackStore:
    """Feedback events in a SQL database; creates its table (and a SQLite file's folder) on first use."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(parsed, pool_pre_ping=True)
        _Base.metadata.create_all(self.engine)

    def record(self, event: FeedbackRequest, model_version: str | None) -> Recorded:
        """Insert the event unless its `event_id` exists; concurrent duplicates resolve to one row.

        Raises `FeedbackUnavailable` when the database cannot be reached or stays locked (the driver's
        message, which may quote the row, is dropped)."""
        try:
            return self._record(event, model_version)
        except OperationalError:
            raise FeedbackUnavailable(
                "the feedback database is unavailable or locked; the event is not confirmed as stored: retry it "
                "with the same event_id"
            ) from None

    def _record(self, event: FeedbackRequest, model_version: str | None) -> Recorded:
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            session.add(FeedbackEvent(**event.model_dump(), model_version=model_version, received_at=now))
            try:
                session.commit()
                return Recorded(created=True, received_at=now)
            except IntegrityError:
                session.rollback()
            existing = session.scalars(select(FeedbackEvent).where(FeedbackEvent.event_id == event.event_id)).one()
            if not existing.same_event(event):
                raise FeedbackConflict("this event_id is already stored with a different decision, lead, rep or note")
            return Recorded(created=False, received_at=_utc(existing.received_at))

    def latest_decisions(self) -> list[Decision]:
        """The most recent decision per lead (history stays in the table), ordered by lead id."""
        latest = select(func.max(FeedbackEvent.id)).group_by(FeedbackEvent.lead_id)
        query = select(FeedbackEvent).where(FeedbackEvent.id.in_(latest)).order_by(FeedbackEvent.lead_id)
        with Session(self.engine) as session:
            return [
                Decision(e.lead_id, e.decision, e.reason_code, e.rep_id, _utc(e.received_at))
                for e in session.scalars(query)
            ]
