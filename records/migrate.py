"""Schema migrations of the service's database, with Alembic (scripts in `migrations/versions/`).

Whoever opens a database first after an upgrade migrates it in place, keeping every row: the service at its
start, and `leadscore monitor` / `retrain` before they read. Rows stored before the service recorded model
names are attributed to the model that opener serves or is asked about (`legacy_model`); see README,
"Several models in one state directory". A database without the `alembic_version` table is one the service
created before migrations existed; the baseline revision brings any such database to one schema first.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

SCRIPTS = Path(__file__).with_name("migrations")


def _config(connection: Connection | None = None, legacy_model: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    config.attributes["legacy_model"] = legacy_model
    return config


@cache
def head() -> str:
    """The newest revision: the schema `tables` defines."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "records/migrations holds no revision"
    return revision


def revision(connection: Connection) -> str | None:
    """The revision a database is at (None: created before migrations, or empty)."""
    return MigrationContext.configure(connection).get_current_revision()


def is_current(connection: Connection) -> bool:
    """Whether the database is at the newest revision (then there is nothing to migrate)."""
    return revision(connection) == head()


def holds_tables(connection: Connection) -> bool:
    """Whether the database holds any of the service's tables (a read of an empty one creates nothing)."""
    return bool({"scored_leads", "feedback_events"} & set(inspect(connection).get_table_names()))


def migrate(engine: Engine, legacy_model: str | None) -> None:
    """Bring the database to the newest revision (creating it when empty); a no-op when it is there.

    Several workers starting at once may race: a migration that fails is accepted when the database is at
    the newest revision afterwards (another worker did it), else the error is raised."""
    try:
        with engine.begin() as connection:
            if not is_current(connection):
                command.upgrade(_config(connection, legacy_model), "head")
    except SQLAlchemyError:
        with engine.connect() as connection:
            if not is_current(connection):
                raise
