"""One model's handle on the service's database: the engine, the model every read and write is of, how a
write waits for a lock, and the one policy for a SQLite file deleted or replaced while the service runs.

Locks: a SQLite database runs in WAL mode, so a reader (another process holding a read transaction for
minutes) never blocks a write, and a write waits up to `BUSY_SECONDS` for another writer's lock. `write`
retries a failed transaction `ATTEMPTS` times in all, so a write settles, stored or failed, within about
`ATTEMPTS * BUSY_SECONDS`: below the service's request timeout, so the caller can still say which it was.

Any SQLAlchemy URL works (SQLite file by default, Postgres in production). A SQLite file deleted while the
service runs (a cleanup script, `make clean`) is recreated before the next write or health check: the pooled
connections, which still point at the deleted file, are dropped, the folder and tables are created again
(`records.migrate`), and `/readyz` reports not-ready only while that fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from leadscore.records.migrate import migrate
from leadscore.records.tables import FeedbackEvent

BUSY_SECONDS = 1.5
"""How long one SQLite write waits for another writer's lock before it fails."""
ATTEMPTS = 2
"""Tries of one write transaction (a lock or a full disk may clear in between)."""
RETRY_PAUSE = 0.1
T = TypeVar("T")


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of a SQLite engine (None for other databases and in-memory SQLite)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database)
    return None


def _wal(connection: Any, _: Any) -> None:
    """SQLite in write-ahead-log mode: readers and the writer do not block each other (a setting of the
    file, so set once it stays; on a file system without shared memory SQLite keeps its old mode)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class Database:
    """The service's database as one model sees it; creates or migrates it (and a SQLite file's folder) on
    first use, attributing rows from before model names to `model_name` (`records.migrate`)."""

    def __init__(self, url: str, model_name: str) -> None:
        parsed = make_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
        busy = {"timeout": BUSY_SECONDS} if sqlite and "timeout" not in parsed.query else {}  # `?timeout=` wins
        self.engine = create_engine(parsed, pool_pre_ping=True, connect_args=busy)
        if sqlite:
            event.listen(self.engine, "connect", _wal)
        self.model_name = model_name
        self._file_id: tuple[int, int] | None = None
        self._reopen_lock = threading.Lock()
        self.reopen_if_replaced()

    def _current_file(self) -> tuple[int, int] | None:
        path = sqlite_file(self.engine)
        try:
            return None if path is None else (path.stat().st_dev, path.stat().st_ino)
        except FileNotFoundError:
            return None

    def reopen_if_replaced(self) -> None:
        """Recreate the database if its SQLite file was deleted or replaced since it was opened (a no-op
        for other databases after the first call). Raises `OSError` when a SQLite file's folder cannot be
        made and `OperationalError` when the database does not answer."""
        if self._file_id is not None and (sqlite_file(self.engine) is None or self._current_file() == self._file_id):
            return
        with self._reopen_lock:
            if self._file_id is None or self._current_file() != self._file_id:
                self.engine.dispose()
                if (path := sqlite_file(self.engine)) is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                migrate(self.engine, self.model_name)
                self._file_id = self._current_file() or (0, 0)

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction (after recreating a deleted SQLite file), tried `ATTEMPTS` times;
        raises the last `OperationalError` (locked, disk full, unreachable) or `OSError`."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self.reopen_if_replaced()
                with self.engine.begin() as connection:
                    return work(connection)
            except OperationalError:
                if attempt == ATTEMPTS:
                    raise
                time.sleep(RETRY_PAUSE)
        raise AssertionError("unreachable")

    def probe_write(self) -> None:
        """A write that changes nothing (needs the write lock and room on disk); raises as `write` does."""
        self.write(lambda connection: connection.execute(text("UPDATE alembic_version SET version_num = version_num")))

    def healthy(self) -> bool:
        """Whether the database answers, recreating a deleted SQLite file first."""
        try:
            self.reopen_if_replaced()
            with self.engine.connect() as connection:
                connection.execute(select(FeedbackEvent.id).limit(1))
        except (OperationalError, OSError):
            return False
        return True

    def close(self) -> None:
        """Release pooled connections (service shutdown)."""
        self.engine.dispose()
