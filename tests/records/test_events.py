"""Client events (decisions, responses) are stored once per model and `event_id`, by one rule for both."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadscore.records.database import Database
from leadscore.records.events import EventConflict, insert_once
from leadscore.records.tables import ResponseEvent

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def response(**change: object) -> dict[str, object]:
    return {"model_name": "m", "event_id": "e1", "lead_id": "L1", "occurred_at": WHEN, "campaign": "c",
            "response_type": "webinar", "channel": None, "received_at": WHEN, **change}  # fmt: skip


def test_a_changed_resubmission_names_every_field_that_differs(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}", "m")
    table = ResponseEvent.__table__
    compared = ("lead_id", "occurred_at", "campaign", "response_type", "channel")
    with database.engine.begin() as connection:
        assert insert_once(connection, table, response(), compared)[0]
        assert not insert_once(connection, table, response(received_at=datetime.now(UTC)), compared)[0]
        with pytest.raises(EventConflict) as conflict:
            insert_once(connection, table, response(lead_id="L2", campaign="d"), compared)
        assert insert_once(connection, table, response(model_name="other"), compared)[0]  # unique per model
    assert conflict.value.fields == ["lead_id", "campaign"]


def test_concurrent_inserts_of_one_event_store_one_row_and_never_raise(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}?timeout=30", "m")
    outcomes: list[bool] = []

    def post() -> None:
        with database.engine.begin() as connection:
            outcomes.append(insert_once(connection, ResponseEvent.__table__, response(), ("lead_id",))[0])

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ResponseEvent)).scalar() == 1
    assert sorted(outcomes) == [False] * 7 + [True]
