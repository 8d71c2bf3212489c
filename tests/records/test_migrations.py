"""The service's database is migrated in place (Alembic): a database from before model names keeps every row,
its rows go to the model that migrates it, and no other model sees them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from leadscore.records.migrate import _config, migrate
from leadscore.records.tables import Base, read_latest_decisions, read_traffic

OLD_ROWS = {
    "feedback_events": "INSERT INTO feedback_events (event_id, lead_id, decision, rep_id, model_version, received_at) "
    "VALUES ('e1', 'L1', 'accept', 'r', '1', '2026-01-01 00:00:00')",
    "scored_leads": "INSERT INTO scored_leads (lead_id, scored_at, model_version, score, grade, bins, fields_json) "
    "VALUES ('L1', '2026-01-01 00:00:00', '1', 70, 'B', '0,1', '{}')",
    "response_events": "INSERT INTO response_events (event_id, lead_id, occurred_at, campaign, response_type, "
    "received_at) VALUES ('r1', 'L1', '2026-01-01 00:00:00', 'c', 'webinar', '2026-01-01 00:00:00')",
    "lead_accounts": "INSERT INTO lead_accounts (lead_id, account) VALUES ('L1', 'acme')",
}


def old_database(path: Path) -> str:
    """A database as the service created it before migrations: the baseline tables, one row in each, and
    no `alembic_version` table."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(_config(connection), "0001")
        connection.execute(text("DROP TABLE alembic_version"))
        for insert in OLD_ROWS.values():
            connection.execute(text(insert))
    return url


def test_migrations_build_the_schema_the_tables_define(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    migrate(engine, None)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_an_old_database_is_migrated_in_place_to_the_model_that_opens_it(tmp_path: Path) -> None:
    url = old_database(tmp_path / "old.db")
    engine = create_engine(url)
    migrate(engine, "alpha")
    migrate(engine, "beta")  # already current: nothing moves to beta
    with engine.connect() as connection:
        for table in OLD_ROWS:
            names = connection.execute(text(f"SELECT model_name FROM {table}")).scalars().all()
            assert names == ["alpha"], table
    assert list(read_latest_decisions(url, "alpha")["lead_id"]) == ["L1"]
    assert read_latest_decisions(url, "beta").empty
    assert len(read_traffic(url, None, "alpha", "1")) == 1 and read_traffic(url, None, "beta", "1").empty


def test_a_read_migrates_an_old_database_for_the_model_it_asks_about(tmp_path: Path) -> None:
    """`leadscore monitor` / `retrain` may be the first to open an upgraded home."""
    url = old_database(tmp_path / "old.db")
    assert list(read_latest_decisions(url, "alpha")["decision"]) == ["accept"]
    assert read_latest_decisions(url, "beta").empty


def test_an_empty_database_is_read_as_empty_and_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert read_latest_decisions(url, "alpha").empty
    with create_engine(url).connect() as connection:
        assert connection.execute(text("SELECT name FROM sqlite_master")).all() == []
