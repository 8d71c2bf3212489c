"""One model's response events and which account each of its leads belongs to.

`response_events`: one row per event, stored once per `event_id` (`records.events`), with the lead's stage
before and after the re-scoring it caused. `lead_accounts`: lead id -> account id, the latest sent wins
(from `/score` and `/responses`), written as an atomic upsert so concurrent writers of one lead never
collide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from leadscore.records.database import Database
from leadscore.records.events import differing, insert_once, upsert
from leadscore.records.tables import LeadAccount, ResponseEvent, id_chunks, utc

RESPONSE_FIELDS = ("lead_id", "occurred_at", "campaign", "response_type", "channel", "account", "lead_digest")
"""What a response event says (with the account and a digest of the lead fields it came with); a
resubmission that differs in any of them is a conflict."""
STORED_COLUMNS = ("event_id", "lead_id", "occurred_at", "campaign", "response_type", "channel")
"""The columns `ResponseStore.events` returns, in this order."""


def write_accounts(connection: Connection, model_name: str, pairs: Mapping[str, str], model_version: str) -> None:
    """Lead -> account of one model, in the caller's transaction: an upsert per lead (the latest wins)."""
    for lead_id, account in pairs.items():
        values = {"model_name": model_name, "lead_id": lead_id, "model_version": model_version, "account": account}
        upsert(connection, LeadAccount.__table__, values, ("model_name", "lead_id"), ("account", "model_version"))


@dataclass(frozen=True)
class StoredResponse:
    """Outcome of `ResponseStore.record`."""

    created: bool
    received_at: datetime
    stage_before: str | None
    stage_after: str | None

    @classmethod
    def of(cls, created: bool, row: Any) -> StoredResponse:
        return cls(created, utc(row.received_at), row.stage_before, row.stage_after)


class ResponseStore:
    """One model's response events and lead accounts; `sales_ready` is the qualification stage whose entry
    the review queue marks."""

    def __init__(self, database: Database, sales_ready: str) -> None:
        self.database = database
        self.sales_ready = sales_ready

    @property
    def _name(self) -> str:
        return self.database.model_name

    def stored(self, event: Mapping[str, Any]) -> StoredResponse | None:
        """The stored event with this `event_id` (None if there is none); raises
        `records.events.EventConflict` naming the fields in which it differs from `event`."""
        table = ResponseEvent.__table__
        query = select(table).where(table.c.model_name == self._name, table.c.event_id == event["event_id"])
        with self.database.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        differing(row, event, RESPONSE_FIELDS)
        return StoredResponse.of(False, row)

    def record(
        self,
        connection: Connection,
        event: Mapping[str, Any],
        model_version: str,
        stages: tuple[str | None, str | None, float | None] = (None, None, None),
    ) -> StoredResponse:
        """Store the event (`RESPONSE_FIELDS` plus `event_id`) in the caller's transaction, with the stage
        before and after and the score its re-scoring gave, unless its `event_id` exists; raises
        `records.events.EventConflict` for one stored with other content."""
        before, after, score = stages
        values = {
            **{name: event.get(name) for name in ("event_id", *RESPONSE_FIELDS)},
            "model_name": self._name,
            "model_version": model_version,
            "received_at": datetime.now(UTC),
            "stage_before": before,
            "stage_after": after,
            "score_after": score,
        }
        created, stored = insert_once(connection, ResponseEvent.__table__, values, RESPONSE_FIELDS)
        return StoredResponse.of(created, stored)

    def events(self, lead_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Stored events (`STORED_COLUMNS`, times in UTC) in the order received, of some leads or all."""
        query = select(*(ResponseEvent.__table__.c[c] for c in STORED_COLUMNS)).where(
            ResponseEvent.model_name == self._name
        )
        lead = ResponseEvent.lead_id
        chunks = [query] if lead_ids is None else [query.where(lead.in_(ids)) for ids in id_chunks(lead_ids)]
        with self.database.engine.connect() as connection:
            rows = [row for chunk in chunks for row in connection.execute(chunk.order_by(ResponseEvent.id))]
        frame = pd.DataFrame(rows, columns=list(STORED_COLUMNS))
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
        return frame

    def newly_sales_ready(self) -> set[str]:
        """Leads a response moved into the `sales_ready` stage (the queue marks those still sales-ready and
        undecided)."""
        stage = self.sales_ready
        query = select(ResponseEvent.lead_id).where(
            ResponseEvent.model_name == self._name,
            ResponseEvent.stage_after == stage,
            (ResponseEvent.stage_before != stage) | ResponseEvent.stage_before.is_(None),
        )
        with self.database.engine.connect() as connection:
            return {row[0] for row in connection.execute(query.distinct())}

    def set_accounts(self, connection: Connection, pairs: Mapping[str, str], model_version: str) -> None:
        """Remember lead -> account for this model in the caller's transaction (the latest wins)."""
        write_accounts(connection, self._name, pairs, model_version)

    def account_leads(self, account: str) -> list[str]:
        """The lead ids of one account."""
        query = select(LeadAccount.lead_id).where(LeadAccount.model_name == self._name, LeadAccount.account == account)
        with self.database.engine.connect() as connection:
            return [row[0] for row in connection.execute(query.order_by(LeadAccount.lead_id))]

    def account_of(self, lead_id: str) -> str | None:
        """The account of one lead, if known."""
        query = select(LeadAccount.account).where(LeadAccount.model_name == self._name, LeadAccount.lead_id == lead_id)
        with self.database.engine.connect() as connection:
            row = connection.execute(query).first()
        return row[0] if row else None
