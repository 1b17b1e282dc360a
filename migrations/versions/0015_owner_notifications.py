"""What the owner hears about calls: transcripts, notification preferences, missed-call texts and opt-outs,
daily digests, and how long call records are kept

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 10:40:00

Forward-only: a bad migration is fixed by a new one, so there is no downgrade.

Additive: new columns are nullable or have a server default, so the release before this one keeps inserting
businesses, memberships and calls during a deploy.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("transcript", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("transcript_status", sa.String(length=16), nullable=True))
    for kind in ("voicemail", "missed_call", "daily_digest"):
        op.add_column("memberships", sa.Column(f"notify_{kind}", sa.Boolean(), nullable=True))
    op.add_column(
        "businesses",
        sa.Column("missed_call_text_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("businesses", sa.Column("missed_call_text", sa.String(length=320), nullable=True))
    op.add_column("businesses", sa.Column("call_retention_days", sa.Integer(), nullable=True))
    op.create_table(
        "sms_opt_outs",
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_sms_opt_outs_business_id_businesses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("business_id", "number", name=op.f("pk_sms_opt_outs")),
    )
    op.create_table(
        "text_backs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=True),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_text_backs_business_id_businesses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_text_backs_call_id_calls"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_backs")),
        sa.UniqueConstraint(
            "business_id", "caller", "local_date", name=op.f("uq_text_backs_business_id_caller_local_date")
        ),
    )
    # The retention purge deletes calls; each deletion sets its text-backs' call_id to null through this.
    op.create_index("ix_text_backs_call_id", "text_backs", ["call_id"])
    op.create_index("ix_webhook_deliveries_created_at", "webhook_deliveries", ["created_at"])
    op.create_table(
        "digests",
        sa.Column("business_id", sa.Uuid(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_digests_business_id_businesses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("business_id", "local_date", name=op.f("pk_digests")),
    )
