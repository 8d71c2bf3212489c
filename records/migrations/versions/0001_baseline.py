"""The database as it was before migrations: tables the service created with `create_all`, plus the
`lead_scored` column added by hand later. Creates only what is missing, so a database from any earlier
version arrives at the same schema.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "feedback_events" not in tables:
        op.create_table(
            "feedback_events",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("event_id", sa.String(128), unique=True, nullable=False),
            sa.Column("lead_id", sa.String(256), nullable=False, index=True),
            sa.Column("decision", sa.String(16), nullable=False),
            sa.Column("reason_code", sa.String(64)),
            sa.Column("note", sa.Text),
            sa.Column("rep_id", sa.String(128), nullable=False),
            sa.Column("model_version", sa.String(64)),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("lead_scored", sa.Boolean),
        )
    elif "lead_scored" not in {c["name"] for c in inspector.get_columns("feedback_events")}:
        op.add_column("feedback_events", sa.Column("lead_scored", sa.Boolean))
    if "scored_leads" not in tables:
        op.create_table(
            "scored_leads",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("lead_id", sa.String(256), nullable=False, index=True),
            sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False, index=True),
            sa.Column("model_version", sa.String(64), nullable=False),
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
        )
    if "response_events" not in tables:
        op.create_table(
            "response_events",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("event_id", sa.String(128), unique=True, nullable=False),
            sa.Column("lead_id", sa.String(256), nullable=False, index=True),
            sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("campaign", sa.String(256), nullable=False),
            sa.Column("response_type", sa.String(64), nullable=False),
            sa.Column("channel", sa.String(256)),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("stage_before", sa.String(32)),
            sa.Column("stage_after", sa.String(32)),
            sa.Column("score_after", sa.Float),
        )
    if "lead_accounts" not in tables:
        op.create_table(
            "lead_accounts",
            sa.Column("lead_id", sa.String(256), primary_key=True),
            sa.Column("account", sa.String(256), nullable=False, index=True),
        )


def downgrade() -> None:
    for table in ("lead_accounts", "response_events", "scored_leads", "feedback_events"):
        op.drop_table(table)
