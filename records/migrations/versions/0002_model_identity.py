"""Every row names the model it belongs to: `model_name` on scored leads, feedback, responses and accounts
(and `model_version` where it was missing), event ids unique per model, accounts keyed per model. A
response event also keeps the account and a digest of the lead fields it came with, so a resubmission with
other ones is told apart from a retry.

Rows stored before carry no model name: they are attributed to the model of whoever migrates the database
(the service at its start, or `leadscore monitor` / `retrain` with the model they are asked about), passed
in as `legacy_model`. Each table is rebuilt (new table, rows copied, old one dropped, renamed): SQLite
cannot change a unique constraint or a primary key in place, and one way for every database is easier to
trust.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME = 512
"""A model name: a registry name, or `local:<absolute directory>` for a model served from a directory."""


def _tables() -> dict[str, tuple[list[sa.Column], list[sa.UniqueConstraint], dict[str, list[str]]]]:
    """New definition of each table: its columns (copied by name), unique constraints and indexes."""
    return {
        "feedback_events": (
            [
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("model_name", sa.String(NAME), nullable=False),
                sa.Column("event_id", sa.String(128), nullable=False),
                sa.Column("lead_id", sa.String(256), nullable=False),
                sa.Column("decision", sa.String(16), nullable=False),
                sa.Column("reason_code", sa.String(64)),
                sa.Column("note", sa.Text),
                sa.Column("rep_id", sa.String(128), nullable=False),
                sa.Column("model_version", sa.String(64)),
                sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("lead_scored", sa.Boolean),
            ],
            [sa.UniqueConstraint("model_name", "event_id", name="uq_feedback_events_model_event")],
            {"ix_feedback_events_model_lead": ["model_name", "lead_id"]},
        ),
        "scored_leads": (
            [
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("model_name", sa.String(NAME), nullable=False),
                sa.Column("model_version", sa.String(64), nullable=False),
                sa.Column("lead_id", sa.String(256), nullable=False),
                sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("score", sa.Integer, nullable=False),
                sa.Column("grade", sa.String(1), nullable=False),
                sa.Column("p_accept", sa.Float),
                sa.Column("p_won", sa.Float),
                sa.Column("expected_revenue", sa.Float),
                sa.Column("campaign", sa.String(256)),
                sa.Column("bins", sa.Text, nullable=False),
                sa.Column("fields_json", sa.Text, nullable=False),
                sa.Column("stage", sa.String(32)),
                sa.Column("route", sa.String(16)),
                sa.Column("review_flag", sa.Boolean),
                sa.Column("rules_json", sa.Text),
            ],
            [],
            {"ix_scored_leads_model_lead": ["model_name", "lead_id"], "ix_scored_leads_scored_at": ["scored_at"]},
        ),
        "response_events": (
            [
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("model_name", sa.String(NAME), nullable=False),
                sa.Column("model_version", sa.String(64)),
                sa.Column("event_id", sa.String(128), nullable=False),
                sa.Column("lead_id", sa.String(256), nullable=False),
                sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("campaign", sa.String(256), nullable=False),
                sa.Column("response_type", sa.String(64), nullable=False),
                sa.Column("channel", sa.String(256)),
                sa.Column("account", sa.String(256)),
                sa.Column("lead_digest", sa.String(64)),
                sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("stage_before", sa.String(32)),
                sa.Column("stage_after", sa.String(32)),
                sa.Column("score_after", sa.Float),
            ],
            [sa.UniqueConstraint("model_name", "event_id", name="uq_response_events_model_event")],
            {"ix_response_events_model_lead": ["model_name", "lead_id"]},
        ),
        "lead_accounts": (
            [
                sa.Column("model_name", sa.String(NAME), primary_key=True),
                sa.Column("lead_id", sa.String(256), primary_key=True),
                sa.Column("model_version", sa.String(64)),
                sa.Column("account", sa.String(256), nullable=False),
            ],
            [],
            {"ix_lead_accounts_model_account": ["model_name", "account"]},
        ),
    }


def upgrade() -> None:
    bind = op.get_bind()
    legacy = context.config.attributes.get("legacy_model")
    for name, (columns, uniques, indexes) in _tables().items():
        old = [c["name"] for c in sa.inspect(bind).get_columns(name)]
        rows = bind.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar()
        if rows and not legacy:
            raise RuntimeError(f"{name} holds rows from before model names: migrate with the model they belong to")
        op.create_table(f"{name}_new", *columns, *uniques)
        kept = [c.name for c in columns if c.name in old and c.name != "model_name"]
        listed = ", ".join(kept)
        op.execute(
            sa.text(f"INSERT INTO {name}_new ({listed}, model_name) SELECT {listed}, :legacy FROM {name}").bindparams(
                legacy=legacy
            )
        )
        op.drop_table(name)
        op.rename_table(f"{name}_new", name)
        for index, on in indexes.items():
            op.create_index(index, name, on)
        if bind.dialect.name == "postgresql" and "id" in kept:  # copied ids: move the id sequence past them
            op.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), COALESCE(MAX(id), 1)) FROM {name}")
            )


def downgrade() -> None:
    raise NotImplementedError("rows of several models cannot be folded back into one model's tables")
