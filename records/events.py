"""Events the clients send with their own `event_id` (sales decisions, responses): stored once per model, so
retries and duplicate webhooks store nothing new, and an `event_id` that comes back with other content is
refused, naming the fields that differ. Defined once for every kind of event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from leadscore.records.tables import utc


class EventConflict(ValueError):
    """The `event_id` is already stored with different content; `fields` names what differs."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = list(fields)
        super().__init__(f"this event_id is already stored with a different {', '.join(self.fields)}")


def _same(stored: Any, sent: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(sent, datetime):
        return utc(stored) == utc(sent)
    return bool(stored == sent)


def _dialect(connection: Connection) -> Any:
    """The SQLAlchemy dialect module whose `insert` has `ON CONFLICT`: the service's database is SQLite or
    Postgres."""
    return postgresql if connection.dialect.name == "postgresql" else sqlite


def insert_ignoring(connection: Connection, table: Table, values: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """Insert one row unless a row with the same `keys` exists (an atomic `ON CONFLICT DO NOTHING`, so
    concurrent inserts never raise and never abort the caller's transaction); returns whether it inserted."""
    statement = _dialect(connection).insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    return bool(connection.execute(statement).rowcount)


def upsert(
    connection: Connection, table: Table, values: Mapping[str, Any], keys: Sequence[str], update: Sequence[str]
) -> None:
    """Insert one row, or set the `update` columns of the row with the same `keys` (atomic: concurrent
    upserts of one key never raise)."""
    statement = _dialect(connection).insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={column: statement.excluded[column] for column in update}
    )
    connection.execute(statement)


def differing(stored: Row[Any], values: Mapping[str, Any], compared: Sequence[str]) -> None:
    """Raise `EventConflict` when a stored event differs from `values` in any `compared` field."""
    differ = [name for name in compared if not _same(getattr(stored, name), values.get(name))]
    if differ:
        raise EventConflict(differ)


def insert_once(
    connection: Connection, table: Table, values: Mapping[str, Any], compared: Sequence[str]
) -> tuple[bool, Row[Any]]:
    """Store an event unless its model already stored its `event_id`: (created, the stored row). Raises
    `EventConflict` when the stored row differs from `values` in any `compared` field."""
    keys = ("model_name", "event_id")
    created = insert_ignoring(connection, table, values, keys)
    stored = connection.execute(select(table).where(*(table.c[k] == values[k] for k in keys))).one()
    if not created:
        differing(stored, values, compared)
    return created, stored
