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
    op.add_column("users", sa.Column("external_subject", sa.String(length=600), nullable=True))
    op.create_unique_constraint(op.f("uq_users_external_subject"), "users", ["external_subject"])
