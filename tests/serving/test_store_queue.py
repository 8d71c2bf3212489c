"""The score store's write queue: rows are written off the request's path, yet a normal stop loses none,
a full queue makes the request write its own rows, and reads see every write submitted before them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from leadscore.records import scored as store_module
from leadscore.records.database import Database
from leadscore.records.scored import ScoredBatch, ScoreStore, lead_rows


def rows_for(lead_ids: list[str]) -> ScoredBatch:
    scores = [{"score": 50, "grade": "B", "p_accept": 0.2, "p_won": 0.05, "expected_revenue": None} for _ in lead_ids]
    values = {"campaign": ["spring"] * len(lead_ids), "company_size": [10] * len(lead_ids)}
    bins = np.zeros((len(lead_ids), 2), dtype=int)
    rows = lead_rows(
        lead_ids, scores, values, bins, None, model=("m", "1"), campaign_column="campaign", scored_at=datetime.now(UTC)
    )
    return ScoredBatch(rows, {}, "1")


def stored_ids(db: Path) -> list[str]:
    with create_engine(f"sqlite:///{db}").connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT lead_id FROM scored_leads ORDER BY id"))]


def test_close_writes_everything_queued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "feedback.db"
    store = ScoreStore(Database(f"sqlite:///{db}", "m"), retention_days=30)
    release = threading.Event()
    record = ScoreStore.record

    def slow(self: ScoreStore, batches: list[ScoredBatch]) -> None:
        release.wait(5)
        record(self, batches)

    monkeypatch.setattr(ScoreStore, "record", slow)
    pendings = [store.submit(lambda n=n: rows_for([f"L{n}a", f"L{n}b"])) for n in range(5)]
    assert stored_ids(db) == []  # the writer is held: nothing is on disk yet, and submit did not wait
    release.set()
    store.close()
    assert stored_ids(db) == [f"L{n}{part}" for n in range(5) for part in "ab"]
    assert all(pending.wait(timeout=0) for pending in pendings)


def test_a_full_queue_makes_the_request_write_its_own_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "QUEUE_BATCHES", 2)
    db = tmp_path / "feedback.db"
    store = ScoreStore(Database(f"sqlite:///{db}", "m"), retention_days=30)
    release = threading.Event()
    record = ScoreStore.record
    monkeypatch.setattr(ScoreStore, "record", lambda self, batches: (release.wait(5), record(self, batches)))
    first = store.submit(lambda: rows_for(["held"]))  # taken by the writer, which then waits
    while store._queue.qsize():  # the writer has it once the queue is empty again
        threading.Event().wait(0.01)
    queued = [store.submit(lambda n=n: rows_for([f"queued{n}"])) for n in range(2)]
    release.set()
    overflow = store.submit(lambda: rows_for(["inline"]))  # queue full: written before submit returns
    assert overflow.wait(timeout=0) and "inline" in stored_ids(db)
    store.close()
    assert sorted(stored_ids(db)) == sorted(["held", "queued0", "queued1", "inline"])
    assert all(pending.wait(timeout=0) for pending in [first, *queued])


def test_reads_wait_for_the_writes_submitted_before_them(tmp_path: Path) -> None:
    store = ScoreStore(Database(f"sqlite:///{tmp_path / 'feedback.db'}", "m"), retention_days=30)
    for n in range(20):
        store.submit(lambda n=n: rows_for([f"lead{n}"]))
        assert store.seen(f"lead{n}")
    assert [row.lead.lead_id for row in store.queue(sort="recent", limit=3)] == ["lead19", "lead18", "lead17"]
    store.close()
