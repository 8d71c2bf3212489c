"""The service's record of the leads it scored: the review page's queue, drift and campaign numbers.

One row per lead per `/score` call, in the feedback database (table `scored_leads`). A row keeps the scores,
the qualification outcome, the model's input values (model feature columns only: a model's schema excludes
PII by construction, so e-mail or name sent for the rules never land here) and their drift bins, which
`leadscore monitor` reads. Rows older than the retention period are pruned.

Writes are off the request's critical path: `/score` hands its batch to `submit` and answers; a writer
thread builds the rows and inserts what has queued up in one transaction. Reads here wait for the writes
submitted before them, so the review page, drift and `/feedback`'s "was it scored" see every answered lead.
The queue is bounded (`QUEUE_BATCHES`); when it is full the request writes its own rows. `close` (service
shutdown) writes everything queued. What a crash (SIGKILL, OOM, power) can lose: the batches queued or
being written at that moment, whose scores were already sent: at most `QUEUE_BATCHES` requests, in practice
the last few milliseconds of traffic.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from leadscore.records.tables import (
    Base,
    FeedbackEvent,
    LeadAccount,
    ScoredLead,
    latest_decisions,
    latest_scoring_ids,
    utc,
)
from leadscore.serving.feedback import recreate

logger = logging.getLogger("bentoml.leadscore")

PRUNE_EVERY = timedelta(hours=1)
QUEUE_BATCHES = 64
"""Scored batches (requests) waiting for the writer at most; past that a request writes its own rows."""
WAIT_SECONDS = 30.0
"""How long a read waits for earlier writes before reading anyway (the writes go on)."""
RowsBuilder = Callable[[], list[dict[str, Any]]]
SortOrder = Literal["score", "score_asc", "recent"]
DecisionFilter = Literal["awaiting", "accept", "reject"]
ID_CHUNK = 10_000
"""Lead ids per `IN (...)` query: SQLite takes at most 32,766 parameters, and an account can hold more."""


def id_chunks(lead_ids: Sequence[str]) -> list[list[str]]:
    """`lead_ids` in pieces of `ID_CHUNK`, for queries that select by lead id."""
    ids = list(lead_ids)
    return [ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)]


@dataclass(frozen=True)
class QueueRow:
    """A lead in the review queue: its latest scoring and the latest sales decision, if any."""

    lead: ScoredLead
    decision: str | None
    reason_code: str | None


def lead_rows(
    lead_ids: Sequence[str],
    scores: Sequence[Mapping[str, Any]],
    values: Mapping[str, Sequence[Any]],
    bins: np.ndarray,
    qualification: Sequence[Mapping[str, Any]] | None,
    *,
    model_version: str,
    campaign_column: str | None,
    scored_at: datetime,
) -> list[dict[str, Any]]:
    """Rows for `ScoreStore.record` from one scored batch; `values` holds the model columns as submitted,
    by column name (absent columns left out)."""
    campaigns = values.get(campaign_column, [None] * len(lead_ids)) if campaign_column else [None] * len(lead_ids)
    bin_text = [",".join(map(str, row)) for row in bins.tolist()]
    rows = []
    for i, lead_id in enumerate(lead_ids):
        q = qualification[i] if qualification is not None else None
        rows.append(
            {
                "lead_id": lead_id,
                "scored_at": scored_at,
                "model_version": model_version,
                **{k: scores[i][k] for k in ("score", "grade", "p_accept", "p_won", "expected_revenue")},
                "campaign": None if campaigns[i] is None else str(campaigns[i]),
                "bins": bin_text[i],
                "fields_json": json.dumps({k: v[i] for k, v in values.items() if v[i] is not None}),
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
        self._queue: queue.Queue[RowsBuilder | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        self._progress = threading.Condition()
        self._submitted = 0
        self._written = 0
        self._closed = False
        self._writer: threading.Thread | None = None
        Base.metadata.create_all(engine)
        self.prune()

    def submit(self, build: RowsBuilder) -> int:
        """Queue one batch for the writer thread, which calls `build` for its rows; returns a ticket for
        `wait`. When the queue is full (or the store closed) the rows are written here and now."""
        with self._progress:
            if not self._closed:
                try:
                    self._queue.put_nowait(build)
                except queue.Full:
                    pass
                else:
                    self._submitted += 1
                    if self._writer is None:
                        self._writer = threading.Thread(target=self._write_queued, name="leadscore-store", daemon=True)
                        self._writer.start()
                    return self._submitted
        self._write([build])
        return 0

    def wait(self, ticket: int, timeout: float = WAIT_SECONDS) -> bool:
        """Block until the batch with this ticket (and every one before it) is written or failed."""
        with self._progress:
            return self._progress.wait_for(lambda: self._written >= ticket, timeout)

    def flush(self) -> bool:
        """Wait for every batch submitted so far."""
        return self.wait(self._submitted)

    def close(self) -> None:
        """Write everything queued and stop the writer (service shutdown); later batches are written inline."""
        with self._progress:
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(None)
            writer.join()

    def _write_queued(self) -> None:
        """Writer thread: take what has queued up (at least one batch) and write it in one transaction."""
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            builds = [build for build in batch if build is not None]
            if builds:
                self._write(builds)
            with self._progress:
                self._written += len(builds)
                self._progress.notify_all()
            if len(builds) < len(batch):
                return

    def _write(self, builds: list[RowsBuilder]) -> None:
        """Build and record rows; a failure is logged (type only: messages may quote values), never raised:
        the scoring it records already succeeded."""
        try:
            rows = [row for build in builds for row in build()]
            if rows:
                self.record(rows)
        except Exception as err:
            logger.error("scored leads not stored: %s (message withheld: may hold lead data)", type(err).__name__)

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

    def queue(
        self,
        *,
        grade: str | None = None,
        campaign: str | None = None,
        stage: str | None = None,
        decision: DecisionFilter | None = None,
        search: str | None = None,
        sort: SortOrder = "score",
        offset: int = 0,
        limit: int = 200,
    ) -> list[QueueRow]:
        """Each lead's latest scoring with its latest decision, filtered, sorted and paged for the review
        queue. `search` finds the text in lead ids, campaigns and account ids."""
        self.flush()
        latest = latest_scoring_ids()
        decided = latest_decisions().subquery()
        query = (
            select(ScoredLead, decided.c.decision, decided.c.reason_code)
            .outerjoin(decided, decided.c.lead_id == ScoredLead.lead_id)
            .where(ScoredLead.id.in_(latest))
        )
        if grade:
            query = query.where(ScoredLead.grade == grade)
        if campaign:
            query = query.where(ScoredLead.campaign == campaign)
        if stage:
            query = query.where(ScoredLead.stage == stage)
        if decision == "awaiting":
            query = query.where(decided.c.decision.is_(None))
        elif decision:
            query = query.where(decided.c.decision == decision)
        if search:
            accounts = select(LeadAccount.lead_id).where(LeadAccount.account.contains(search, autoescape=True))
            query = query.where(
                ScoredLead.lead_id.contains(search, autoescape=True)
                | ScoredLead.campaign.contains(search, autoescape=True)
                | ScoredLead.lead_id.in_(accounts)
            )
        order = {
            "score": (ScoredLead.score.desc(), ScoredLead.id.desc()),
            "score_asc": (ScoredLead.score.asc(), ScoredLead.id.desc()),
            "recent": (ScoredLead.id.desc(),),
        }[sort]
        with Session(self.engine) as session:
            rows = session.execute(query.order_by(*order).offset(offset).limit(limit)).all()
            session.expunge_all()
        return [QueueRow(lead, d, r) for lead, d, r in rows]

    def seen(self, lead_id: str) -> bool | None:
        """Whether this lead id was scored here (within the retention period); None if the database does
        not answer (the feedback write then decides what happens)."""
        self.flush()
        query = select(ScoredLead.id).where(ScoredLead.lead_id == lead_id).limit(1)
        try:
            with self.engine.connect() as connection:
                return connection.execute(query).first() is not None
        except OperationalError:  # e.g. the database file was deleted; recording the feedback recreates it
            return None

    def latest(self, lead_ids: Sequence[str]) -> list[ScoredLead]:
        """Each of these leads' latest scoring, by lead id."""
        self.flush()
        rows = []
        with Session(self.engine) as session:
            for chunk in id_chunks(lead_ids):
                rows += session.scalars(select(ScoredLead).where(ScoredLead.id.in_(latest_scoring_ids(chunk))))
            session.expunge_all()
        return sorted(rows, key=lambda row: row.lead_id)

    def get(self, row_id: int) -> ScoredLead | None:
        """One stored scoring by row id."""
        self.flush()
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
            event.received_at = utc(event.received_at)
        return events

    def campaigns(self, limit: int) -> list[str]:
        """The `limit` campaigns with most scored leads (by name on ties), for the queue's filter."""
        self.flush()
        leads = func.count(ScoredLead.id)
        query = (
            select(ScoredLead.campaign)
            .where(ScoredLead.campaign.is_not(None))
            .group_by(ScoredLead.campaign)
            .order_by(leads.desc(), ScoredLead.campaign)
            .limit(limit)
        )
        with Session(self.engine) as session:
            return list(session.scalars(query))

    def latest_with_decisions(self) -> pd.DataFrame:
        """Each lead's latest scoring (scores and campaign) with its latest decision and its time (NaN if
        none)."""
        self.flush()
        latest = latest_scoring_ids()
        decision = latest_decisions().subquery()
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
        self.flush()
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
