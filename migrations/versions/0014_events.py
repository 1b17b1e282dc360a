"""Events kept for the events API, and simulated calls

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 10:30:00

Forward-only: a bad migration is fixed by a new one, so there is no downgrade.

Additive: the release before this one neither reads `events` nor writes `calls.simulated` (whose server
default fills it meanwhile), so both releases run side by side during a deploy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_events_business_id_businesses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_business_id_created_at_id", "events", ["business_id", "created_at", "id"])
    op.create_index("ix_events_business_id_type_created_at_id", "events", ["business_id", "type", "created_at", "id"])
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.add_column("calls", sa.Column("simulated", sa.Boolean(), server_default=sa.text("false"), nullable=False))
