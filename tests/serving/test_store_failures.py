"""Writes that fail are never a silent 200 (issue 23): with the database full or locked, `/score` still answers
but says its leads were not stored, `/metrics` counts them, `/readyz` is not ready until a write succeeds
again, and `/feedback` and `/responses` answer 503 with `Retry-After`. A reader holding a transaction does
not block writes at all. Counted for `make reliability` (COUNTS): rows answered as stored but missing."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest_serving import lead_records, service_env, start
from sqlalchemy import Engine, create_engine, event, text

from leadscore.records import database as database_module

pytestmark = pytest.mark.service

COUNTS: Counter[str] = Counter()
BATCH = 50
METRIC = re.compile(r"^leadscore_scored_leads_not_stored_total (\S+)$", re.MULTILINE)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "home" / "feedback.db"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, model_dir: Path, db: Path) -> pytest.MonkeyPatch:
    monkeypatch.setattr(database_module, "BUSY_SECONDS", 0.3)  # a held lock fails a write quickly
    return service_env(monkeypatch, model_dir, db)


@pytest.fixture
def asgi_app(app_with_metrics: Any) -> Any:
    return app_with_metrics


@contextmanager
def full_disk() -> Iterator[None]:
    """Every write to the service's database fails as SQLite fails on a full disk."""

    def refuse(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")

    event.listen(Engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", refuse)


@contextmanager
def held(database: Path, how: str) -> Iterator[None]:
    """Another process's transaction on the file: `BEGIN EXCLUSIVE`, or a read transaction left open."""
    connection = sqlite3.connect(database, timeout=0, isolation_level=None)
    connection.execute(how)
    connection.execute("SELECT count(*) FROM scored_leads").fetchone()
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def unstored_metric(client: Any) -> float:
    found = METRIC.search(client.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def stored_ids(database: Path) -> set[str]:
    with create_engine(f"sqlite:///{database}").connect() as connection:
        return set(connection.execute(text("SELECT lead_id FROM scored_leads")).scalars())


def post_batches(client: Any, prefix: str, batches: int) -> dict[str, bool]:
    """lead id -> the `stored` its answer carried, for `batches` calls of `BATCH` leads (all answered 200)."""
    said = {}
    for b in range(batches):
        leads = [{**lead, "id": f"{prefix}{b}-{i}"} for i, lead in enumerate(lead_records(BATCH, seed=b))]
        answer = client.post("/score", json={"leads": leads})
        assert answer.status_code == 200, answer.text
        said.update(dict.fromkeys((lead["id"] for lead in leads), answer.json()["stored"]))
    return said


def count(scenario: str, said: dict[str, bool], stored: set[str]) -> None:
    COUNTS[f"{scenario}_rows_answered"] += len(said)
    COUNTS[f"{scenario}_rows_lost"] += sum(1 for lead, ok in said.items() if ok and lead not in stored)
    COUNTS[f"{scenario}_rows_not_stored_and_said_so"] += sum(1 for ok in said.values() if not ok)


def refused(response: Any) -> bool:
    return response.status_code == 503 and bool(response.headers.get("Retry-After"))


def test_a_full_disk_is_told_counted_and_not_ready_until_writes_succeed(
    env: pytest.MonkeyPatch, asgi_app: Any, db: Path
) -> None:
    response = {"event_id": "r1", "lead_id": "D0-0", "occurred_at": "2026-01-01T00:00:00Z", "campaign": "c",
                "response_type": "webinar"}  # fmt: skip
    with start(asgi_app) as client:
        before = unstored_metric(client)
        with full_disk():
            said = post_batches(client, "D", 4)
            ready = client.get("/readyz").status_code
            feedback = client.post("/feedback", json={"event_id": "f1", "lead_id": "D0-0", "decision": "accept",
                                                      "rep_id": "r"})  # fmt: skip
            responses = client.post("/responses", json=response)
            counted = unstored_metric(client) - before
        recovered = client.get("/readyz").status_code
        after = post_batches(client, "E", 1)
    stored = stored_ids(db)
    count("full_disk", {**said, **after}, stored)
    assert set(said.values()) == {False} and counted == len(said) == 4 * BATCH
    assert ready == 503 and recovered == 200
    assert refused(feedback) and refused(responses)
    assert set(after.values()) == {True} and set(after) <= stored and not set(said) & stored


def test_a_held_lock_is_told_and_a_held_read_blocks_nothing(env: pytest.MonkeyPatch, asgi_app: Any, db: Path) -> None:
    with start(asgi_app) as client:
        post_batches(client, "W", 1)  # the database exists
        with held(db, "BEGIN"):  # a reader (e.g. a report) leaves its transaction open
            reading = post_batches(client, "R", 3)
        with held(db, "BEGIN EXCLUSIVE"):
            locked = post_batches(client, "X", 2)
            feedback = client.post("/feedback", json={"event_id": "f2", "lead_id": "X0-0", "decision": "reject",
                                                      "rep_id": "r"})  # fmt: skip
            ready = client.get("/readyz").status_code
        released = post_batches(client, "Y", 1)
        ready_again = client.get("/readyz").status_code
    stored = stored_ids(db)
    count("held_read", reading, stored)
    count("held_lock", {**locked, **released}, stored)
    assert set(reading.values()) == {True} and set(reading) <= stored
    assert set(locked.values()) == {False} and not set(locked) & stored
    assert refused(feedback) and ready == 503
    assert set(released.values()) == {True} and set(released) <= stored and ready_again == 200
