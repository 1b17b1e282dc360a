"""Indexes for filtered lists: calls by status, audit events by action and by actor, each in the list's order

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 08:00:00

Forward-only: a bad migration is fixed by a new one, so there is no downgrade.

Without them a filter that matches few rows reads the business's (business_id, time, id) index and throws most
rows away, and one that matches none reads them all: on a business with 1,000,000 calls, `listCalls?status=canceled`
scanned the whole calls table, 123 ms (docs/benchmarks.md, "2026-12-06 — scale"). With the filter column second, the page is the first rows of
one index range, however rare the value. Built in the migration's transaction (as every migration here): writes
to these tables wait while they build (on 1,100,000 calls and 1,000,000 audit events, the whole upgrade took 6.2 s
on the benchmark machine).
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_business_id_status_started_at_id", "calls", ["business_id", "status", "started_at", "id"])
    op.create_index(
        "ix_audit_events_business_id_action_created_at_id",
        "audit_events",
        ["business_id", "action", "created_at", "id"],
    )
    op.create_index(
        "ix_audit_events_business_id_actor_id_created_at_id",
        "audit_events",
        ["business_id", "actor_id", "created_at", "id"],
    )
