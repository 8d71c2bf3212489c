"""The service's record of the leads one model scored: the review page's queue, drift and campaign numbers.

One row per lead per scoring, in the service's database (table `scored_leads`), with the accounts the
scored leads named (`lead_accounts`), written in the same transaction. A row keeps the scores,
the qualification outcome, the model's input values (model feature columns only: a model's schema excludes
PII by construction, so e-mail or name sent for the rules never land here) and their drift bins, which
`leadscore monitor` reads. Rows older than the retention period are pruned.

Writes: `/score` hands its batch to `submit` and waits for it (`Pending.wait`). A writer thread builds the
rows (drift bins) and writes whatever has queued up, from every request, in one transaction: a request
pays for its share of one commit, not a commit of its own, and its answer says whether its rows were
stored. Waiting is what makes that answer true; a fire-and-forget write (answer first, write later) cannot
tell a client that its rows were lost to a full disk or a lock. A write that fails (after the busy timeout
and retries of `Database.write`, a few seconds at most) settles its batches as not stored: they are counted
by the caller whose answer says so, logged, and `healthy` is False until a write succeeds again. The queue is bounded
(`QUEUE_BATCHES`); when it is full the request writes its own rows. `close` (service shutdown) writes
everything queued. What a crash (SIGKILL, OOM, power) can lose: the batches queued or being written at that
moment, whose requests are still waiting, so their clients get an error instead of an answer.
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
from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from leadscore.records.database import Database
from leadscore.records.responses import write_accounts
from leadscore.records.tables import (
    FeedbackEvent,
    LeadAccount,
    ScoredLead,
    id_chunks,
    latest_decisions,
    latest_scoring_ids,
    utc,
)

logger = logging.getLogger("bentoml.leadscore")

PRUNE_EVERY = timedelta(hours=1)
QUEUE_BATCHES = 64
"""Scored batches (requests) waiting for the writer at most; past that a request writes its own rows."""
WAIT_SECONDS = 30.0
"""How long a read waits for earlier writes before reading anyway (the writes go on), and a safety bound on
`Pending.wait` (a write settles much sooner: `Database.write` bounds it)."""
SortOrder = Literal["score", "score_asc", "recent"]
DecisionFilter = Literal["awaiting", "accept", "reject"]


@dataclass(frozen=True)
class ScoredBatch:
    """What one scoring stores: rows from `lead_rows`, and lead -> account of the leads that named one."""

    rows: list[dict[str, Any]]
    accounts: Mapping[str, str]
    model_version: str


RowsBuilder = Callable[[], ScoredBatch]


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
    model: tuple[str, str],
    campaign_column: str | None,
    scored_at: datetime,
) -> list[dict[str, Any]]:
    """Rows for `ScoreStore.record` from one scored batch; `values` holds the model columns as submitted,
    by column name (absent columns left out); `model` is the (name, version) that scored them."""
    campaigns = values.get(campaign_column, [None] * len(lead_ids)) if campaign_column else [None] * len(lead_ids)
    bin_text = [",".join(map(str, row)) for row in bins.tolist()]
    rows = []
    for i, lead_id in enumerate(lead_ids):
        q = qualification[i] if qualification is not None else None
        rows.append(
            {
                "lead_id": lead_id,
                "scored_at": scored_at,
                "model_name": model[0],
                "model_version": model[1],
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


def write_scored(connection: Connection, model_name: str, batches: Sequence[ScoredBatch]) -> None:
    """Scored rows and the accounts they named, in the caller's transaction."""
    rows = [row for batch in batches for row in batch.rows]
    if rows:
        connection.execute(insert(ScoredLead), rows)
    for batch in batches:
        write_accounts(connection, model_name, batch.accounts, batch.model_version)


class Pending:
    """One batch handed to the store: `wait` tells whether its rows were stored."""

    def __init__(self, build: RowsBuilder) -> None:
        self.build = build
        self.stored = False
        self._done = threading.Event()

    def settle(self, stored: bool) -> None:
        """Record the outcome and wake the waiting request."""
        self.stored = stored
        self._done.set()

    def wait(self, timeout: float = WAIT_SECONDS) -> bool:
        """Block until the batch is written or failed (bounded by `Database.write`); True when stored."""
        return self._done.wait(timeout) and self.stored


class ScoreStore:
    """One model's scored leads; every read is of its rows (any version)."""

    def __init__(self, database: Database, retention_days: int) -> None:
        self.database = database
        self.engine = database.engine
        self.model_name = database.model_name
        self.retention = timedelta(days=retention_days)
        self._pruned_at: datetime | None = None
        self._prune_lock = threading.Lock()
        self._queue: queue.Queue[Pending | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        self._progress = threading.Condition()
        self._submitted = 0
        self._written = 0
        self._closed = False
        self._writer: threading.Thread | None = None
        self._failing = False
        self.prune()

    def submit(self, build: RowsBuilder) -> Pending:
        """Queue one batch for the writer thread, which calls `build` for its rows and writes what has queued up
        in one transaction. When the queue is full (or the store closed) the rows are written here and now."""
        pending = Pending(build)
        with self._progress:
            if not self._closed:
                try:
                    self._queue.put_nowait(pending)
                except queue.Full:
                    pass
                else:
                    self._submitted += 1
                    if self._writer is None:
                        self._writer = threading.Thread(target=self._write_queued, name="leadscore-store", daemon=True)
                        self._writer.start()
                    return pending
        self._write([pending])
        return pending

    def flush(self, timeout: float = WAIT_SECONDS) -> bool:
        """Wait for every batch submitted so far to be written or failed."""
        with self._progress:
            ticket = self._submitted
            return self._progress.wait_for(lambda: self._written >= ticket, timeout)

    def close(self) -> None:
        """Write everything queued and stop the writer (service shutdown); later batches are written inline."""
        with self._progress:
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(None)
            writer.join()

    def healthy(self) -> bool:
        """False from a failed write until a write succeeds again; while failing, each call tries a write that
        changes nothing, so an idle service (no traffic while not ready) recovers by itself."""
        if not self._failing:
            return True
        try:
            self.database.probe_write()
        except (OperationalError, OSError):
            return False
        self._failing = False
        return True

    def _write_queued(self) -> None:
        """Writer thread: take what has queued up (at least one batch) and write it in one transaction."""
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            pendings = [pending for pending in batch if pending is not None]
            if pendings:
                self._write(pendings)
            with self._progress:
                self._written += len(pendings)
                self._progress.notify_all()
            if len(pendings) < len(batch):
                return

    def _write(self, pendings: list[Pending]) -> None:
        """Build and record batches and settle each; a failure is counted and logged (type only: messages may
        quote values), never raised: the scoring it records already succeeded, its answer says so."""
        built = []
        for pending in pendings:
            try:
                built.append((pending, pending.build()))
            except Exception as err:
                logger.error("scored leads not stored: %s (message withheld: may hold lead data)", type(err).__name__)
                pending.settle(False)
        try:
            self.record([batch for _, batch in built])
        except Exception as err:
            lost = sum(len(batch.rows) for _, batch in built)
            self._failing = True
            logger.error(
                "%d scored leads not stored: %s (message withheld: may hold lead data)", lost, type(err).__name__
            )
            stored = False
        else:
            self._failing = False
            stored = True
        for pending, _ in built:
            pending.settle(stored)

    def record(self, batches: Sequence[ScoredBatch]) -> None:
        """The batches' rows and accounts in one transaction (`Database.write`: bounded retries); prunes old
        rows when the last prune is an hour old."""
        rows = [row for batch in batches for row in batch.rows]
        if not rows:
            return

        self.database.write(lambda connection: write_scored(connection, self.model_name, batches))
        if self._pruned_at is None or datetime.now(UTC) - self._pruned_at >= PRUNE_EVERY:
            try:
                self.prune()
            except OperationalError as err:  # the rows are stored; pruning waits for the next hour
                logger.warning("pruning old scored leads failed: %s", type(err).__name__)

    def prune(self, now: datetime | None = None) -> int:
        """Delete this model's rows older than the retention period; returns how many."""
        now = now or datetime.now(UTC)
        old = (ScoredLead.model_name == self.model_name) & (ScoredLead.scored_at < now - self.retention)
        with self._prune_lock, Session(self.engine) as session:
            self._pruned_at = now
            deleted = session.execute(delete(ScoredLead).where(old))
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
        latest = latest_scoring_ids(self.model_name)
        decided = latest_decisions(self.model_name).subquery()
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
            accounts = select(LeadAccount.lead_id).where(
                LeadAccount.model_name == self.model_name, LeadAccount.account.contains(search, autoescape=True)
            )
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
        query = select(ScoredLead.id).where(ScoredLead.model_name == self.model_name, ScoredLead.lead_id == lead_id)
        query = query.limit(1)
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
                latest = latest_scoring_ids(self.model_name, chunk)
                rows += session.scalars(select(ScoredLead).where(ScoredLead.id.in_(latest)))
            session.expunge_all()
        return sorted(rows, key=lambda row: row.lead_id)

    def get(self, row_id: int) -> ScoredLead | None:
        """One stored scoring of this model by row id (None for another model's row)."""
        self.flush()
        with Session(self.engine) as session:
            lead = session.get(ScoredLead, row_id)
            session.expunge_all()
        return lead if lead is not None and lead.model_name == self.model_name else None

    def history(self, lead_id: str) -> list[FeedbackEvent]:
        """Every sales decision on a lead, newest first (the latest one counts)."""
        query = (
            select(FeedbackEvent)
            .where(FeedbackEvent.model_name == self.model_name, FeedbackEvent.lead_id == lead_id)
            .order_by(FeedbackEvent.id.desc())
        )
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
            .where(ScoredLead.model_name == self.model_name, ScoredLead.campaign.is_not(None))
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
        latest = latest_scoring_ids(self.model_name)
        decision = latest_decisions(self.model_name).subquery()
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
        """(bins, scores) of one version of this model's traffic since a time: what drift is computed from."""
        self.flush()
        query = select(ScoredLead.bins, ScoredLead.score).where(
            ScoredLead.model_name == self.model_name,
            ScoredLead.model_version == model_version,
            ScoredLead.scored_at >= since,
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return np.zeros((0, 0), dtype=int), np.zeros(0)
        width = rows[0][0].count(",") + 1
        bins = np.array(",".join(r[0] for r in rows).split(","), dtype=np.int64).reshape(len(rows), width)
        return bins, np.array([r[1] for r in rows], dtype=float)
