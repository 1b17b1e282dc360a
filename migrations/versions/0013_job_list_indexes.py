"""Indexes for the admin job list: all jobs, and jobs of one kind, each in the list's order

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:10:00

Forward-only: a bad migration is fixed by a new one, so there is no downgrade.

`listJobs` unfiltered or by kind sorted every job kept (a week of them) for each page: 343 ms of SQL with
1,100,000 jobs (docs/benchmarks.md, "2026-12-06 — scale"). The status filter already reads its own range of
`ix_jobs_status_created_at_id` (0011).
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_created_at_id", "jobs", ["created_at", "id"])
    op.create_index("ix_jobs_kind_created_at_id", "jobs", ["kind", "created_at", "id"])
