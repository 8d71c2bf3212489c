"""The service's record of the leads it scored: the review page's queue, drift and campaign numbers.

One row per lead per `/score` call, in the feedback database (table `scored_leads`). A row keeps the scores,
the qualification outcome, the model's input values (model feature columns only: a model's schema excludes
PII by construction, so e-mail or name sent for the rules never land here) and their drift bins, which
`leadscore monitor` reads. Rows older than the retention period are pruned.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, DateTime, Engine, Float, Integer, String, Text, delete, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from leadscore.serving.feedback import SERVICE_TABLES, FeedbackEvent, recreate

logger = logging.getLogger("bentoml.leadscore")

PRUNE_EVERY = timedelta(hours=1)
SortOrder = Literal["score", "score_asc", "recent"]


class _Base(DeclarativeBase):
    pass


class ScoredLead(_Base):
    """One scored lead; column names `lead_id, scored_at, model_version, score, p_accept, bins` are read by
    `monitoring.monitor`, keep them."""

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


SERVICE_TABLES.append(_Base.metadata)


@dataclass(frozen=True)
class QueueRow:
    """A lead in the review queue: its latest scoring and the latest sales decision, if any."""

    lead: ScoredLead
    decision: str | None
    reason_code: str | None


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def lead_rows(
    lead_ids: Sequence[str],
    scores: Sequence[Mapping[str, Any]],
    frame: pd.DataFrame,
    bins: np.ndarray,
    qualification: Sequence[Mapping[str, Any]] | None,
    *,
    model_version: str,
    campaign_column: str | None,
) -> list[dict[str, Any]]:
    """Rows for `ScoreStore.record` from one scored batch; `frame` holds the model columns as submitted."""
    now = datetime.now(UTC)
    values = frame.astype(object).where(frame.notna(), None).to_dict("records")
    campaigns = frame[campaign_column].tolist() if campaign_column in frame.columns else [None] * len(frame)
    bin_text = [",".join(map(str, row)) for row in bins.tolist()]
    rows = []
    for i, lead_id in enumerate(lead_ids):
        q = qualification[i] if qualification is not None else None
        rows.append(
            {
                "lead_id": lead_id,
                "scored_at": now,
                "model_version": model_version,
                **{k: scores[i][k] for k in ("score", "grade", "p_accept", "p_won", "expected_revenue")},
                "campaign": None if campaigns[i] is None or campaigns[i] != campaigns[i] else str(campaigns[i]),
                "bins": bin_text[i],
                "fields_json": json.dumps({k: v for k, v in values[i].items() if v is not None}),
                "stage": q["stage"] if q else None,
                "route": q["route"] if q else None,
                "review_flag": q["review_flag"] if q else None,
                "rules_json": json.dumps({k: q[k] for k in ("rules_met", "rules_missed", "nurture_reasons")})
                if q
                else None,
            }
        )
    return rows


class ScoreStore:
    """Scored leads in the feedback database (same engine); creates its table on first use."""

    def __init__(self, engine: Engine, retention_days: int) -> None:
        self.engine = engine
        self.retention = timedelta(days=retention_days)
        self._pruned_at: datetime | None = None
        self._prune_lock = threading.Lock()
        _Base.metadata.create_all(engine)
        self.prune()

    def record(self, rows: list[dict[str, Any]]) -> None:
        """One bulk insert (retried once after recreating a deleted database); prunes old rows when the last
        prune is an hour old."""
        try:
            self._insert(rows)
        except OperationalError:
            recreate(self.engine)
            self._insert(rows)
        if self._pruned_at is None or datetime.now(UTC) - self._pruned_at >= PRUNE_EVERY:
            self.prune()

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with Session(self.engine) as session:
            session.execute(insert(ScoredLead), rows)
            session.commit()

    def prune(self, now: datetime | None = None) -> int:
        """Delete rows older than the retention period; returns how many."""
        now = now or datetime.now(UTC)
        with self._prune_lock, Session(self.engine) as session:
            self._pruned_at = now
            deleted = session.execute(delete(ScoredLead).where(ScoredLead.scored_at < now - self.retention))
            session.commit()
        if deleted.rowcount:
            logger.info("pruned %d scored leads older than %d days", deleted.rowcount, self.retention.days)
        return int(deleted.rowcount)

    @staticmethod
    def _latest_decisions() -> Any:
        latest = select(func.max(FeedbackEvent.id)).group_by(FeedbackEvent.lead_id)
        return select(FeedbackEvent).where(FeedbackEvent.id.in_(latest)).subquery()

    def queue(
        self,
        *,
        grade: str | None = None,
        campaign: str | None = None,
        awaiting: bool = False,
        sort: SortOrder = "score",
        limit: int = 200,
    ) -> list[QueueRow]:
        """Each lead's latest scoring with its latest decision, filtered and sorted for the review queue."""
        latest = select(func.max(ScoredLead.id)).group_by(ScoredLead.lead_id)
        decision = self._latest_decisions()
        query = (
            select(ScoredLead, decision.c.decision, decision.c.reason_code)
            .outerjoin(decision, decision.c.lead_id == ScoredLead.lead_id)
            .where(ScoredLead.id.in_(latest))
        )
        if grade:
            query = query.where(ScoredLead.grade == grade)
        if campaign:
            query = query.where(ScoredLead.campaign == campaign)
        if awaiting:
            query = query.where(decision.c.decision.is_(None))
        order = {
            "score": (ScoredLead.score.desc(), ScoredLead.id.desc()),
            "score_asc": (ScoredLead.score.asc(), ScoredLead.id.desc()),
            "recent": (ScoredLead.id.desc(),),
        }[sort]
        with Session(self.engine) as session:
            rows = session.execute(query.order_by(*order).limit(limit)).all()
            session.expunge_all()
        return [QueueRow(lead, d, r) for lead, d, r in rows]

    def seen(self, lead_id: str) -> bool | None:
        """Whether this lead id was scored here (within the retention period); None if the database does
        not answer (the feedback write then decides what happens)."""
        query = select(ScoredLead.id).where(ScoredLead.lead_id == lead_id).limit(1)
        try:
            with self.engine.connect() as connection:
                return connection.execute(query).first() is not None
        except OperationalError:  # e.g. the database file was deleted; recording the feedback recreates it
            return None

    def get(self, row_id: int) -> ScoredLead | None:
        """One stored scoring by row id."""
        with Session(self.engine) as session:
            lead = session.get(ScoredLead, row_id)
            session.expunge_all()
        return lead

    def history(self, lead_id: str) -> list[FeedbackEvent]:
        """Every sales decision on a lead, newest first (the latest one counts)."""
        query = select(FeedbackEvent).where(FeedbackEvent.lead_id == lead_id).order_by(FeedbackEvent.id.desc())
        with Session(self.engine) as session:
            events = list(session.scalars(query))
            session.expunge_all()
        for event in events:
            event.received_at = _utc(event.received_at)
        return events

    def campaigns(self) -> list[str]:
        """Campaign names seen in stored leads, for the queue's filter."""
        query = select(ScoredLead.campaign).where(ScoredLead.campaign.is_not(None)).distinct()
        with Session(self.engine) as session:
            return sorted(session.scalars(query))

    def latest_with_decisions(self) -> pd.DataFrame:
        """Each lead's latest scoring (scores and campaign) with its latest decision and its time (NaN if
        none)."""
        latest = select(func.max(ScoredLead.id)).group_by(ScoredLead.lead_id)
        decision = self._latest_decisions()
        query = (
            select(
                ScoredLead.lead_id,
                ScoredLead.campaign,
                ScoredLead.score,
                ScoredLead.grade,
                ScoredLead.p_accept,
                ScoredLead.p_won,
                ScoredLead.expected_revenue,
                decision.c.decision,
                decision.c.received_at.label("decided_at"),
            )
            .outerjoin(decision, decision.c.lead_id == ScoredLead.lead_id)
            .where(ScoredLead.id.in_(latest))
            .order_by(ScoredLead.lead_id)
        )
        with self.engine.connect() as connection:
            return pd.read_sql(query, connection)

    def traffic(self, since: datetime, model_version: str) -> tuple[np.ndarray, np.ndarray]:
        """(bins, scores) of one model version's traffic since a time: what drift is computed from."""
        query = select(ScoredLead.bins, ScoredLead.score).where(
            ScoredLead.scored_at >= since, ScoredLead.model_version == model_version
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return np.zeros((0, 0), dtype=int), np.zeros(0)
        width = rows[0][0].count(",") + 1
        bins = np.array(",".join(r[0] for r in rows).split(","), dtype=np.int64).reshape(len(rows), width)
        return bins, np.array([r[1] for r in rows], dtype=float)
