"""The call flow: ring time, screening and withheld callers on businesses; closures; blocked numbers; the
facts a call's outcome is worked out from; business hours as lists of intervals

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 04:30:00

Forward-only: a bad migration is fixed by a new one, so there is no downgrade.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Existing rows get these values; new rows get theirs from the models (no server defaults, as elsewhere).
NEW_COLUMNS = [
    ("businesses", "ring_seconds", sa.Integer(), "20"),
    ("businesses", "screen_calls", sa.Boolean(), "true"),
    ("businesses", "anonymous_callers", sa.String(16), "'answer'"),
    ("calls", "route", sa.String(16), "'voicemail'"),
    ("calls", "screened", sa.Boolean(), "false"),
]


def upgrade() -> None:
    for table, name, kind, value in NEW_COLUMNS:
        op.add_column(table, sa.Column(name, kind, nullable=False, server_default=sa.text(value)))
        op.alter_column(table, name, server_default=None)
    op.add_column("calls", sa.Column("screen_accepted", sa.Boolean(), nullable=True))
    op.add_column("calls", sa.Column("forward_status", sa.String(16), nullable=True))
    op.execute(
        "UPDATE calls SET route = CASE outcome WHEN 'rejected' THEN 'reject' WHEN 'voicemail' THEN 'voicemail'"
        " ELSE 'forward' END"
    )
    op.execute("UPDATE calls SET forward_status = 'no-answer' WHERE outcome = 'missed'")
    _hours_as_intervals()

    op.create_table(
        "closures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("intervals", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_closures_business_id_businesses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closures")),
    )
    op.create_index("ix_closures_business_id_start_date_id", "closures", ["business_id", "start_date", "id"])
    op.create_table(
        "blocked_numbers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("note", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_blocked_numbers_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_numbers")),
        sa.UniqueConstraint("business_id", "number", name=op.f("uq_blocked_numbers_business_id_number")),
    )
    op.create_index(
        "ix_blocked_numbers_business_id_created_at_id", "blocked_numbers", ["business_id", "created_at", "id"]
    )


def _hours_as_intervals() -> None:
    """{"closed": false, "open": a, "close": b} becomes {"closed": false, "intervals": [{"open": a, "close": b}]}."""
    connection = op.get_bind()
    for business_id, hours in connection.execute(sa.text("SELECT id, business_hours FROM businesses")).all():
        week = hours if isinstance(hours, dict) else json.loads(hours)
        for day, value in week.items():
            if "intervals" not in value:
                opened = not value.get("closed") and value.get("open") and value.get("close")
                week[day] = {
                    "closed": not opened,
                    "intervals": [{"open": value["open"], "close": value["close"]}] if opened else [],
                }
        connection.execute(
            sa.text("UPDATE businesses SET business_hours = :hours WHERE id = :id"),
            {"hours": json.dumps(week), "id": business_id},
        )
