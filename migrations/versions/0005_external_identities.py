"""external identities

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 01:10:28.512745

Forward-only: a bad migration is fixed by a new one, so there is no downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_subject", sa.String(length=600), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_users_external_subject"), ["external_subject"])
