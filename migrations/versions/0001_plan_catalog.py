"""plan catalog

Revision ID: 0001
Revises:
Create Date: 2026-11-21 23:54:01.059795

Forward-only: a bad migration is fixed by a new one, so there is no downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "countries",
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("calling_code", sa.String(length=5), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_countries")),
    )
    op.create_table(
        "external_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("provider", sa.String(length=60), nullable=False),
        sa.Column("monthly_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("voice", sa.Boolean(), nullable=False),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("monthly_price_minor >= 0", name=op.f("ck_external_plans_price_not_negative")),
        sa.CheckConstraint("voice OR sms", name=op.f("ck_external_plans_has_a_capability")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_plans")),
    )
    op.create_index("ix_external_plans_active_name_id", "external_plans", ["active", "name", "id"], unique=False)

    op.create_table(
        "external_plan_countries",
        sa.Column("external_plan_uuid", sa.Uuid(), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["country_code"], ["countries.code"], name=op.f("fk_external_plan_countries_country_code_countries")
        ),
        sa.ForeignKeyConstraint(
            ["external_plan_uuid"],
            ["external_plans.id"],
            name=op.f("fk_external_plan_countries_external_plan_uuid_external_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("external_plan_uuid", "country_code", name=op.f("pk_external_plan_countries")),
    )
    op.create_index(
        op.f("ix_external_plan_countries_country_code"), "external_plan_countries", ["country_code"], unique=False
    )
