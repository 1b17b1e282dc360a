"""jobs: retries bounded by a window of time (retry_until) rather than by a small count alone

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:15:00

Forward-only: a bad migration is fixed by a new one, so there is no downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("retry_until", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE jobs SET retry_until = created_at + interval '1 day'")
    op.alter_column("jobs", "retry_until", nullable=False)
