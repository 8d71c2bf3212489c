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
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leadscore.records.migrate import holds_tables, is_current, migrate

MODEL_NAME = 512
"""Length of a model name: a registry name, or `local:<absolute directory>` for a model served from one."""


class Base(DeclarativeBase):
    """All tables of the service's database, as `records.migrate` leaves them (migrations create them).

    Every row names its model (`model_name`, `model_version`): several models may share one database, and
    every read is of one model."""


class FeedbackEvent(Base):
    """One decision by a sales rep; `event_id` is unique per model. Every event is kept (history)."""

    __tablename__ = "feedback_events"
    __table_args__ = (
        UniqueConstraint("model_name", "event_id", name="uq_feedback_events_model_event"),
        Index("ix_feedback_events_model_lead", "model_name", "lead_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_name: Mapped[str] = mapped_column(String(MODEL_NAME))
    event_id: Mapped[str] = mapped_column(String(128))
    lead_id: Mapped[str] = mapped_column(String(256))
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
    __table_args__ = (Index("ix_scored_leads_model_lead", "model_name", "lead_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_name: Mapped[str] = mapped_column(String(MODEL_NAME))
    model_version: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[str] = mapped_column(String(256))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
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
    """One response (a form fill, a webinar, a download, a click) of one lead; `event_id` is unique per model.
    `model_version` is the version that received it (None for events stored before versions were kept)."""

    __tablename__ = "response_events"
    __table_args__ = (
        UniqueConstraint("model_name", "event_id", name="uq_response_events_model_event"),
        Index("ix_response_events_model_lead", "model_name", "lead_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_name: Mapped[str] = mapped_column(String(MODEL_NAME))
    model_version: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(128))
    lead_id: Mapped[str] = mapped_column(String(256))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    campaign: Mapped[str] = mapped_column(String(256))
    response_type: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(256))
    account: Mapped[str | None] = mapped_column(String(256))
    lead_digest: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the lead fields sent along (never the values themselves): a retry sends the same ones."""
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stage_before: Mapped[str | None] = mapped_column(String(32))
    stage_after: Mapped[str | None] = mapped_column(String(32))
    score_after: Mapped[float | None] = mapped_column(Float)


class LeadAccount(Base):
    """Which account a lead belongs to, per model (the latest one sent wins); `model_version` is the version
    that stored it."""

    __tablename__ = "lead_accounts"
    __table_args__ = (Index("ix_lead_accounts_model_account", "model_name", "account"),)

    model_name: Mapped[str] = mapped_column(String(MODEL_NAME), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    model_version: Mapped[str | None] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(256))


class StoreReadError(RuntimeError):
    """The service's database cannot be read."""


def utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


ID_CHUNK = 10_000
"""Lead ids per `IN (...)` query: SQLite takes at most 32,766 parameters, and an account can hold more."""


def id_chunks(lead_ids: Sequence[str]) -> list[list[str]]:
    """`lead_ids` in pieces of `ID_CHUNK`, for queries that select by lead id."""
    ids = list(lead_ids)
    return [ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)]


def latest_decisions(model_name: str) -> Select[Any]:
    """Each lead's latest decision for one model: the one stored last. Retries with the same `event_id` store
    nothing, so a lead's decisions are ordered as the service received them; the latest is what sales now
    says."""
    last = select(func.max(FeedbackEvent.id)).where(FeedbackEvent.model_name == model_name)
    return select(FeedbackEvent).where(FeedbackEvent.id.in_(last.group_by(FeedbackEvent.lead_id)))


def _query(url: str, what: str, model_name: str, run: Callable[[Connection], pd.DataFrame | int]) -> Any:
    """Run one read of one model's rows against the service's database, migrating a database from an earlier
    version first (rows from before model names go to `model_name`, see `records.migrate`); failures name the
    database and the error type only (a driver's message may quote stored values)."""
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            stale = holds_tables(conn) and not is_current(conn)
        if stale:
            migrate(engine, model_name)
        with engine.connect() as conn:
            return run(conn)
    except (SQLAlchemyError, pd.errors.DatabaseError) as err:
        raise StoreReadError(f"cannot read {what} from {url}: {type(err).__name__}") from None


def latest_scoring_ids(model_name: str, lead_ids: Sequence[str] | None = None) -> Select[Any]:
    """Row ids of each lead's latest scoring by one model (any of its versions; of `lead_ids` only, when
    given): what the review page, the campaign numbers and the account view show of a lead."""
    query = select(func.max(ScoredLead.id)).where(ScoredLead.model_name == model_name).group_by(ScoredLead.lead_id)
    return query if lead_ids is None else query.where(ScoredLead.lead_id.in_(list(lead_ids)))


def read_latest_decisions(url: str, model_name: str) -> pd.DataFrame:
    """Latest decision per lead on one model's leads as a frame: lead_id, decision, reason_code, received_at
    (UTC); empty if the service has stored no feedback yet."""
    columns = ["lead_id", "decision", "reason_code", "received_at"]
    query = latest_decisions(model_name).with_only_columns(*(FeedbackEvent.__table__.c[c] for c in columns))

    def run(conn: Connection) -> pd.DataFrame:
        if not inspect(conn).has_table(FeedbackEvent.__tablename__):
            return pd.DataFrame(columns=columns)
        return pd.read_sql(query.order_by(FeedbackEvent.id), conn)

    events = _query(url, "feedback", model_name, run)
    events["received_at"] = pd.to_datetime(events["received_at"], utc=True, format="mixed")
    return events


def read_traffic(url: str, since: datetime | None, model_name: str, model_version: str) -> pd.DataFrame:
    """One model version's recorded scoring traffic (lead_id, scored_at, model_version, score, p_accept, bins),
    optionally since a time."""
    c = ScoredLead.__table__.c
    query = select(c.lead_id, c.scored_at, c.model_version, c.score, c.p_accept, c.bins).where(
        c.model_name == model_name, c.model_version == model_version
    )
    if since is not None:
        query = query.where(c.scored_at >= since)

    def run(conn: Connection) -> pd.DataFrame:
        if not inspect(conn).has_table(ScoredLead.__tablename__):
            return pd.DataFrame(columns=[column.name for column in query.selected_columns])
        return pd.read_sql(query, conn)

    return _query(url, "scoring traffic", model_name, run)


def count_unscored_feedback(url: str, model_name: str) -> int:
    """One model's feedback events marked `lead_scored = false` by the service."""

    def run(conn: Connection) -> int:
        if not inspect(conn).has_table(FeedbackEvent.__tablename__):
            return 0
        query = select(func.count()).where(FeedbackEvent.model_name == model_name, FeedbackEvent.lead_scored.is_(False))
        return int(conn.execute(query).scalar() or 0)

    return int(_query(url, "feedback", model_name, run))
