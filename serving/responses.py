"""The service's record of response events and of which account each lead belongs to.

Two tables in the feedback database: `response_events` (one row per event, unique on the client's
`event_id`, so retries store nothing twice; with the lead's stage before and after the re-scoring it caused)
and `lead_accounts` (lead id -> account id, from `/score` and `/responses`). Behavioural features of a lead
are rebuilt from its stored events with the model's own `ResponseSpec`, so the service scores exactly as
training did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from leadscore.features.qualification import STAGES
from leadscore.features.responses import CAMPAIGN, CHANNEL, EVENT, LEAD, TIME, TYPE
from leadscore.records.tables import Base, LeadAccount, ResponseEvent, utc
from leadscore.serving.feedback import recreate
from leadscore.serving.schemas import ResponseRequest
from leadscore.serving.store import id_chunks

SALES_READY = STAGES[-1]


def _same_event(stored: ResponseEvent, other: ResponseRequest) -> bool:
    """Whether a resubmission carries the same event (then it is a harmless retry)."""
    mine = (stored.lead_id, utc(stored.occurred_at), stored.campaign, stored.response_type, stored.channel)
    theirs = (other.lead_id, utc(other.occurred_at), other.campaign, other.response_type, other.channel)
    return mine == theirs


class ResponseConflict(ValueError):
    """The `event_id` is already stored with different content."""


@dataclass(frozen=True)
class StoredResponse:
    """Outcome of `ResponseStore.record`."""

    created: bool
    received_at: datetime


class ResponseStore:
    """Response events and lead accounts in the service database (same engine as the feedback store)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        Base.metadata.create_all(engine)

    def record(self, event: ResponseRequest) -> StoredResponse:
        """Insert the event unless its `event_id` exists (a same-content retry); raises `ResponseConflict`
        for an `event_id` stored with other content. A deleted SQLite file is recreated once."""
        try:
            return self._record(event)
        except OperationalError:
            recreate(self.engine)
            return self._record(event)

    def _record(self, event: ResponseRequest) -> StoredResponse:
        now = datetime.now(UTC)
        fields = event.model_dump(exclude={"lead", "account"})
        with Session(self.engine) as session:
            session.add(ResponseEvent(**fields, received_at=now))
            try:
                session.commit()
                return StoredResponse(created=True, received_at=now)
            except IntegrityError:
                session.rollback()
            existing = session.scalars(select(ResponseEvent).where(ResponseEvent.event_id == event.event_id)).one()
            if not _same_event(existing, event):
                raise ResponseConflict("this event_id is already stored with a different lead, time, campaign or type")
            return StoredResponse(created=False, received_at=utc(existing.received_at))

    def note_rescoring(self, event_id: str, before: str | None, after: str | None, score: float | None) -> None:
        """Keep the stage change an event caused (first scoring only: a retry changes nothing)."""
        query = (
            update(ResponseEvent)
            .where(ResponseEvent.event_id == event_id, ResponseEvent.stage_after.is_(None))
            .values(stage_before=before, stage_after=after, score_after=score)
        )
        with Session(self.engine) as session:
            session.execute(query)
            session.commit()

    def events(self, lead_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Stored events as a validated responses frame (canonical columns, UTC times), of some leads or all."""
        query = select(
            ResponseEvent.event_id, ResponseEvent.lead_id, ResponseEvent.occurred_at, ResponseEvent.campaign,
            ResponseEvent.response_type, ResponseEvent.channel,
        )  # fmt: skip
        lead = ResponseEvent.lead_id
        chunks = [query] if lead_ids is None else [query.where(lead.in_(ids)) for ids in id_chunks(lead_ids)]
        with self.engine.connect() as connection:
            rows = [row for chunk in chunks for row in connection.execute(chunk.order_by(ResponseEvent.id))]
        frame = pd.DataFrame(rows, columns=[EVENT, LEAD, TIME, CAMPAIGN, TYPE, CHANNEL])
        frame[TIME] = pd.to_datetime(frame[TIME], utc=True)
        return frame.astype({LEAD: "string", CAMPAIGN: "string", TYPE: "string", EVENT: "string"})

    def newly_sales_ready(self) -> set[str]:
        """Leads a response moved into sales-ready (the queue marks those still sales-ready and undecided)."""
        query = select(ResponseEvent.lead_id).where(
            ResponseEvent.stage_after == SALES_READY,
            (ResponseEvent.stage_before != SALES_READY) | ResponseEvent.stage_before.is_(None),
        )
        with self.engine.connect() as connection:
            return {row[0] for row in connection.execute(query.distinct())}

    def set_accounts(self, pairs: dict[str, str]) -> None:
        """Remember lead -> account (the latest wins)."""
        if not pairs:
            return
        with Session(self.engine) as session:
            for lead_id, account in pairs.items():
                session.merge(LeadAccount(lead_id=lead_id, account=account))
            session.commit()

    def account_leads(self, account: str) -> list[str]:
        """The lead ids of one account."""
        query = select(LeadAccount.lead_id).where(LeadAccount.account == account).order_by(LeadAccount.lead_id)
        with self.engine.connect() as connection:
            return [row[0] for row in connection.execute(query)]

    def account_of(self, lead_id: str) -> str | None:
        """The account of one lead, if known."""
        with self.engine.connect() as connection:
            row = connection.execute(select(LeadAccount.account).where(LeadAccount.lead_id == lead_id)).first()
        return row[0] if row else None
