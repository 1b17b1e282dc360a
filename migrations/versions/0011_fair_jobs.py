"""Fair background work: a concurrency key on jobs, partial indexes for the claim, a circuit breaker on
webhook endpoints

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 07:30:00

Forward-only: a bad migration is fixed by a new one, so there is no downgrade. Jobs queued before it have
no concurrency key (no per-endpoint limit), which is how the release before it ran them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("concurrency_key", sa.String(100), nullable=True))
    op.create_index("ix_jobs_due", "jobs", ["kind", "run_at"], postgresql_where=sa.text("status = 'queued'"))
    op.create_index(
        "ix_jobs_running", "jobs", ["kind", "concurrency_key"], postgresql_where=sa.text("status = 'running'")
    )
    op.create_index("ix_jobs_status_created_at_id", "jobs", ["status", "created_at", "id"])
    op.drop_index("ix_jobs_status_run_at", table_name="jobs")

    # A server default: the release before this one inserts endpoints without the column during the deploy.
    op.add_column(
        "webhook_endpoints",
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("webhook_endpoints", sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
