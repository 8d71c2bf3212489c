"""Table definitions of the service's database and the queries every reader shares."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    Text,
    create_engine,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """All tables of the service's database: `Base.metadata.create_all` creates every one."""


class FeedbackEvent(Base):
    """One decision by a sales rep; `event_id` is unique. Every event is kept (history)."""

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
    lead_scored: Mapped[bool | None] = mapped_column(Boolean)
    """Whether this service had scored the lead (within retention) when the decision came; None before
    this column existed."""


class ScoredLead(Base):
    """One scored lead: its scores, qualification outcome, model inputs (model feature columns only, so no
    PII) and their drift bins."""

    __tablename__ = "scored_leads"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(256), index=True)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(1))
    p_accept: Mapped[float | None] = mapped_column(Float)
    p_won: Mapped[float | None] = mapped_column(Float)
    expected_revenue: Mapped[float | None] = mapped_column(Float)
    campaign: Mapped[str | None] = mapped_column(String(256))
    bins: Mapped[str] = mapped_column(Text)
    fields_json: Mapped[str] = mapped_column(Text)
    stage: Mapped[str | None] = mapped_column(String(32))
    route: Mapped[str | None] = mapped_column(String(16))
    review_flag: Mapped[bool | None] = mapped_column(Boolean)
    rules_json: Mapped[str | None] = mapped_column(Text)

    @property
    def fields(self) -> dict[str, Any]:
        """The submitted model inputs (absent ones left out)."""
        return json.loads(self.fields_json)

    @property
    def rules(self) -> dict[str, list[str]]:
        """rules_met, rules_missed and nurture_reasons ({} without rules)."""
        return json.loads(self.rules_json) if self.rules_json else {}


class ResponseEvent(Base):
    """One response (a form fill, a webinar, a download, a click) of one lead; `event_id` is unique."""

    __tablename__ = "response_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    lead_id: Mapped[str] = mapped_column(String(256), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    campaign: Mapped[str] = mapped_column(String(256))
    response_type: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(256))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stage_before: Mapped[str | None] = mapped_column(String(32))
    stage_after: Mapped[str | None] = mapped_column(String(32))
    score_after: Mapped[float | None] = mapped_column(Float)


class LeadAccount(Base):
    """Which account a lead belongs to (the latest one sent wins)."""

    __tablename__ = "lead_accounts"

    lead_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    account: Mapped[str] = mapped_column(String(256), index=True)


class StoreReadError(RuntimeError):
    """The service's database cannot be read."""


def utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def latest_decisions() -> Select[Any]:
    """Each lead's latest decision: the one stored last. Retries with the same `event_id` store nothing, so a
    lead's decisions are ordered as the service received them; the latest is what sales now says."""
    last = select(func.max(FeedbackEvent.id)).group_by(FeedbackEvent.lead_id)
    return select(FeedbackEvent).where(FeedbackEvent.id.in_(last))


def _query(url: str, what: str, run: Callable[[Connection], pd.DataFrame | int]) -> Any:
    """Run one read against the service's database; failures name the database and the error type only
    (a driver's message may quote stored values)."""
    try:
        with create_engine(url).connect() as conn:
            return run(conn)
    except (SQLAlchemyError, pd.errors.DatabaseError) as err:
        raise StoreReadError(f"cannot read {what} from {url}: {type(err).__name__}") from None


def latest_scoring_ids(lead_ids: Sequence[str] | None = None) -> Select[Any]:
    """Row ids of each lead's latest scoring (of `lead_ids` only, when given): what the review page, the
    campaign numbers and the account view show of a lead."""
    query = select(func.max(ScoredLead.id)).group_by(ScoredLead.lead_id)
    return query if lead_ids is None else query.where(ScoredLead.lead_id.in_(list(lead_ids)))


def read_latest_decisions(url: str) -> pd.DataFrame:
    """Latest decision per lead as a frame: lead_id, decision, reason_code, received_at (UTC); empty if the
    service has stored no feedback yet."""
    columns = ["lead_id", "decision", "reason_code", "received_at"]
    query = latest_decisions().with_only_columns(*(FeedbackEvent.__table__.c[c] for c in columns))

    def run(conn: Connection) -> pd.DataFrame:
        if not inspect(conn).has_table(FeedbackEvent.__tablename__):
            return pd.DataFrame(columns=columns)
        return pd.read_sql(query.order_by(FeedbackEvent.id), conn)

    events = _query(url, "feedback", run)
    events["received_at"] = pd.to_datetime(events["received_at"], utc=True, format="mixed")
    return events


def read_traffic(url: str, since: datetime | None, model_version: str | None) -> pd.DataFrame:
    """Recorded scoring traffic (lead_id, scored_at, model_version, score, p_accept, bins), optionally since a
    time and for one model version."""
    c = ScoredLead.__table__.c
    query = select(c.lead_id, c.scored_at, c.model_version, c.score, c.p_accept, c.bins)
    if since is not None:
        query = query.where(c.scored_at >= since)
    if model_version is not None:
        query = query.where(c.model_version == model_version)
    return _query(url, "scoring traffic", lambda conn: pd.read_sql(query, conn))


def count_unscored_feedback(url: str) -> int:
    """Feedback events marked `lead_scored = false` by the service (0 for a store from before the mark)."""
    table = FeedbackEvent.__tablename__

    def run(conn: Connection) -> int:
        if not inspect(conn).has_table(table):
            return 0
        if "lead_scored" not in {column["name"] for column in inspect(conn).get_columns(table)}:
            return 0
        query = select(func.count()).select_from(FeedbackEvent).where(FeedbackEvent.lead_scored.is_(False))
        return int(conn.execute(query).scalar() or 0)

    return int(_query(url, "feedback", run))
