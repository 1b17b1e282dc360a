"""Scale benchmark: every list operation on a small database, then on a large one; EXPLAIN of each list's query;
the job claim's cost as finished jobs grow; worker throughput. Run with `make bench-scale` (a throwaway PostgreSQL).

1. Migrates (to BENCH_SCALE_REVISION, default head), loads the catalog and starts gunicorn as production does
   (2 uvicorn workers). An owner, their business and a staff user are made through the API.
2. Small: the owner's business and 5 others, each with 300 calls, audit events and deliveries and 30 of every
   other list's rows; 300 finished jobs and 30 due. Each list operation (first page, and a page in the middle
   through a cursor; filtered variants too, down to filters that match nothing) is called BENCH_SCALE_REQUESTS
   (200) times in a row, one request at a time, or for BUDGET_SECONDS if it is slow; p50 and p99. EXPLAIN
   (ANALYZE, BUFFERS) of the statement each list's model method issues.
3. Large, written by the server itself (INSERT ... SELECT ... FROM generate_series): 5,000 more businesses with
   members, numbers, keys, closures, blocked numbers, endpoints, calls and audit events; the owner's business
   with 1,000,000 calls (0.1% failed, none canceled), 500,000 of the 1,000,000 audit events over a year and
   1,000,000 deliveries; 10,000 more plans; 1,000,000 finished jobs and 100,000 due. VACUUM (ANALYZE), then the
   same measurements; whole plans go to docs/benchmarks/scale-explain.txt. With BENCH_SCALE_REVISION set (an
   older revision), it then runs `alembic upgrade head` on the large data (timed) and measures again: before
   and after a migration, on the same rows.
4. `Job.claim` as worker.py's queues call it, rolled back, beside 100,000 due and 32 running jobs, with 0,
   100,000 and 1,000,000 finished ones: its time and EXPLAIN (ANALYZE, BUFFERS) of each statement it issues.
5. Worker throughput with 1 and 2 worker processes, finished jobs kept: no-op jobs (a Worker whose queue does
   nothing), then webhook deliveries to a local receiver that answers 200 (`python worker.py` as deployed).

BENCH_SCALE_FACTOR=0.01 shrinks the large data a hundredfold (to try the script quickly). Results also go to
reports/bench-scale.json.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import Engine, Select, create_engine, event, func, select, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_settings_or_exit  # noqa: E402
from core.crypto import Cipher  # noqa: E402
from core.db import Database, create_db_engine  # noqa: E402
from core.pagination import encode_cursor  # noqa: E402
from models import (  # noqa: E402
    ApiKey,
    AuditEvent,
    AuthSession,
    BlockedNumber,
    Call,
    Closure,
    Country,
    ExternalPlan,
    ExternalPlanCountry,
    Invitation,
    Job,
    Membership,
    PhoneNumber,
    WebhookDelivery,
    WebhookEndpoint,
)
from models.business import DEFAULT_HOURS  # noqa: E402
from models.job import CHANNEL  # noqa: E402
from schemas.events import Occurrence  # noqa: E402
from services import webhooks  # noqa: E402
from services.jobs import Queue, Worker  # noqa: E402
from services.webhooks import DELIVER_WEBHOOK  # noqa: E402

BIN = Path(sys.executable).parent
REPORTS = ROOT / "reports"
EXPLAIN_FILE = ROOT / "docs" / "benchmarks" / "scale-explain.txt"
REQUESTS = int(os.environ.get("BENCH_SCALE_REQUESTS", "200"))
WARM_UP = 20
BUDGET_SECONDS = 10  # per list and page: a slow list is measured with fewer requests (n in the table)
FACTOR = float(os.environ.get("BENCH_SCALE_FACTOR", "1"))
REVISION = os.environ.get("BENCH_SCALE_REVISION", "head")
LIMIT = 20

SMALL_TENANTS, LARGE_TENANTS = 5, int(5000 * FACTOR)
SMALL_ROWS, SMALL_LIST = 300, 30  # calls, audit events, deliveries; rows of every other list, per business
BIG_CALLS = int(1_000_000 * FACTOR)  # the owner's business, in all
BIG_AUDIT = int(500_000 * FACTOR)
BIG_DELIVERIES = int(1_000_000 * FACTOR)
TENANT_CALLS, TENANT_AUDIT, TENANT_DELIVERIES = 20, 100, 20  # each of the large run's other businesses
EXTRA_PLANS = int(10_000 * FACTOR)
FINISHED_JOBS, DUE_JOBS = int(1_000_000 * FACTOR), int(100_000 * FACTOR)
CLAIM_DUE, CLAIM_STEPS, CLAIM_RUNS = DUE_JOBS, (0, int(100_000 * FACTOR), FINISHED_JOBS), 30
NOOP_JOBS, DELIVERIES, DELIVERY_ENDPOINTS = 4000, 1000, 50
YEAR = 365 * 24 * 3600
NOBODY = uuid.UUID("00000000-0000-4000-8000-000000000000")  # an actor with no events in the business
PASSWORD = "scale-benchmark-passphrase"  # noqa: S105 - a throwaway database's users


# ---------------------------------------------------------------------------------------------------------------
# Seeding: all of it in SQL that the server runs (INSERT ... SELECT ... FROM generate_series).


@dataclass
class World:
    """The ids the measurements need: the owner's business and its first endpoint, the owner, a rare actor."""

    business_id: uuid.UUID
    owner_id: uuid.UUID
    endpoint_id: uuid.UUID = field(default_factory=uuid.uuid4)
    rare_actor: uuid.UUID = field(default_factory=uuid.uuid4)  # an API key that acts 0.1% of the time
    actors: list[str] = field(default_factory=list)  # the business's members (the owner first)


def run(connection: Any, sql: str, **params: Any) -> None:
    connection.execute(text(sql), params)


def add_tenants(connection: Any, count: int, tag: str) -> None:
    """`count` businesses named `tag` NNNNN, each with an owner and two members (users of their own)."""
    hours = json.dumps(DEFAULT_HOURS)
    run(
        connection,
        """
        INSERT INTO businesses (id, name, timezone, greeting, receptionist_enabled, business_hours, ring_seconds,
                                screen_calls, anonymous_callers, version, created_at, updated_at)
        SELECT gen_random_uuid(), :tag || ' ' || lpad(g::text, 5, '0'), 'UTC', 'Thanks for calling.', true,
               CAST(:hours AS json), 20, true, 'answer', 1, now() - g * interval '1 hour', now()
        FROM generate_series(1, :count) AS g
        """,
        tag=tag,
        hours=hours,
        count=count,
    )
    run(
        connection,
        """
        WITH people AS (
            SELECT b.id AS business_id, gen_random_uuid() AS user_id, m AS rank, nextval('bench_scale_seq') AS n
            FROM businesses b CROSS JOIN generate_series(1, 3) AS m WHERE b.name LIKE :tag || ' %'
        ), users AS (
            INSERT INTO users (id, email, name, is_staff, failed_logins, created_at, updated_at)
            SELECT user_id, 'user' || n || '@scale.test', 'User ' || n, false, 0, now(), now() FROM people
        )
        INSERT INTO memberships (business_id, user_id, role, created_at)
        SELECT business_id, user_id, CASE rank WHEN 1 THEN 'owner' WHEN 2 THEN 'admin' ELSE 'member' END,
               now() - rank * interval '1 day'
        FROM people
        """,
        tag=tag,
    )


def add_members(connection: Any, business_id: uuid.UUID, count: int) -> None:
    run(
        connection,
        """
        WITH people AS (
            SELECT gen_random_uuid() AS user_id, nextval('bench_scale_seq') AS n, g FROM generate_series(1, :count) g
        ), users AS (
            INSERT INTO users (id, email, name, is_staff, failed_logins, created_at, updated_at)
            SELECT user_id, 'user' || n || '@scale.test', 'User ' || n, false, 0, now(), now() FROM people
        )
        INSERT INTO memberships (business_id, user_id, role, created_at)
        SELECT :business, user_id, CASE WHEN g % 5 = 0 THEN 'admin' ELSE 'member' END, now() - g * interval '1 hour'
        FROM people
        """,
        business=business_id,
        count=count,
    )


def add_small_lists(connection: Any, businesses: str, count: int, params: dict[str, Any]) -> None:
    """`count` invitations, numbers, API keys, closures, blocked numbers and webhook endpoints for each business
    that the query `businesses` (SELECT id ...) names."""
    plan = connection.scalar(
        select(ExternalPlanCountry.external_plan_id).where(ExternalPlanCountry.country_code == "US").limit(1)
    )
    each = f"FROM ({businesses}) AS b CROSS JOIN generate_series(1, :count) AS g"
    statements = [
        f"""INSERT INTO invitations (id, business_id, email, role, digest, created_at, expires_at)
            SELECT gen_random_uuid(), b.id, 'invitee' || nextval('bench_scale_seq') || '@scale.test', 'member',
                   md5(random()::text) || md5(random()::text), now() - g * interval '1 minute',
                   now() + interval '6 days'
            {each}""",
        f"""INSERT INTO phone_numbers (id, business_id, e164, country_code, plan_id, label, forward_to, status,
                                       created_at, updated_at)
            SELECT gen_random_uuid(), b.id, '+1' || (2000000000 + nextval('bench_scale_seq')), 'US', :plan,
                   'Line ' || g, '+14155550100', CASE WHEN g % 10 = 0 THEN 'suspended' ELSE 'active' END,
                   now() - g * interval '1 day', now()
            {each}""",
        f"""INSERT INTO api_keys (id, business_id, name, scopes, prefix, digest, created_at)
            SELECT gen_random_uuid(), b.id, 'Key ' || g, '["calls:read", "business:read"]',
                   'sb_live_' || lpad(nextval('bench_scale_seq')::text, 16, '0'), md5(random()::text) || md5(g::text),
                   now() - g * interval '1 day'
            {each}""",
        f"""INSERT INTO closures (id, business_id, name, start_date, end_date, intervals, created_at)
            SELECT gen_random_uuid(), b.id, 'Closure ' || g, current_date + g * 7, current_date + g * 7 + 1, NULL,
                   now()
            {each}""",
        f"""INSERT INTO blocked_numbers (id, business_id, number, note, created_at)
            SELECT gen_random_uuid(), b.id, '+1415' || lpad(g::text, 7, '0'), 'Spam', now() - g * interval '1 hour'
            {each}""",
        f"""INSERT INTO webhook_endpoints (id, business_id, url, events, enabled, secret_ciphertext,
                                           consecutive_failures, created_at, updated_at)
            SELECT gen_random_uuid(), b.id, 'https://hooks.example.com/' || g, '["call.completed"]', true, 'x', 0,
                   now() - g * interval '1 day', now()
            {each}""",
    ]
    for statement in statements:
        run(connection, statement, count=count, plan=plan, **params)


def add_sessions(connection: Any, user_id: uuid.UUID, count: int) -> None:
    run(
        connection,
        """
        INSERT INTO auth_sessions (id, user_id, user_agent, ip_address, created_at, last_used_at, expires_at)
        SELECT gen_random_uuid(), :user, 'Mozilla/5.0 (bench)', '203.0.113.7', now() - g * interval '1 hour', now(),
               now() + interval '20 days'
        FROM generate_series(1, :count) AS g
        """,
        user=user_id,
        count=count,
    )


def add_calls(connection: Any, businesses: str, first: int, last: int, step: float, params: dict[str, Any]) -> None:
    """Calls number `first`..`last` of each business, the n-th `n * step` seconds ago. Statuses: 89.5% completed,
    8% no-answer, 1.9% busy, 0.5% in progress, 0.1% failed (the rare one); outcomes spread likewise."""
    run(
        connection,
        f"""
        INSERT INTO calls (id, business_id, provider_sid, direction, from_number, to_number, status, route, screened,
                           screen_accepted, forward_status, outcome, started_at, ended_at, duration_seconds,
                           voicemail_url, voicemail_seconds)
        SELECT gen_random_uuid(), b.id, 'CA' || replace(gen_random_uuid()::text, '-', ''), 'inbound',
               '+1415' || lpad((g % 9999999)::text, 7, '0'), '+14155550199', s.status, o.route, o.route = 'forward',
               NULL, CASE WHEN o.outcome = 'forwarded' THEN 'answered' END, o.outcome, t.started,
               CASE WHEN s.status <> 'in-progress' THEN t.started + interval '70 seconds' END,
               CASE WHEN s.status <> 'in-progress' THEN 70 END,
               CASE WHEN o.outcome = 'voicemail' THEN 'https://api.twilio.com/Recordings/RE' || g END,
               CASE WHEN o.outcome = 'voicemail' THEN 42 END
        FROM ({businesses}) AS b
        CROSS JOIN generate_series(:first, :last) AS g
        CROSS JOIN LATERAL (SELECT (g::bigint * 7919) % 1000 AS r, (g::bigint * 104729) % 1000 AS r2) AS k
        CROSS JOIN LATERAL (SELECT CASE WHEN k.r = 0 THEN 'failed' WHEN k.r < 20 THEN 'busy'
                                        WHEN k.r < 100 THEN 'no-answer' WHEN k.r < 105 THEN 'in-progress'
                                        ELSE 'completed' END AS status) AS s
        CROSS JOIN LATERAL (SELECT CASE WHEN k.r2 = 0 THEN 'blocked' WHEN k.r2 < 30 THEN 'rejected'
                                        WHEN k.r2 < 250 THEN 'voicemail' WHEN k.r2 < 400 THEN 'missed'
                                        ELSE 'forwarded' END AS outcome) AS o0
        CROSS JOIN LATERAL (SELECT o0.outcome, CASE o0.outcome WHEN 'blocked' THEN 'blocked'
                                        WHEN 'rejected' THEN 'reject' WHEN 'voicemail' THEN 'voicemail'
                                        ELSE 'forward' END AS route) AS o
        CROSS JOIN LATERAL (SELECT now() - g * :step * interval '1 second' AS started) AS t
        """,  # noqa: S608 - the businesses or endpoints query is ours
        first=first,
        last=last,
        step=step,
        **params,
    )


def add_audit(
    connection: Any, businesses: str, first: int, last: int, step: float, world: World, params: dict[str, Any]
) -> None:
    """Audit events `first`..`last` of each business. For the owner's business the actors are its members (the
    owner half the time) and, 0.1% of the time, an API key; 0.1% of events are `api_key.revoked`."""
    run(
        connection,
        f"""
        INSERT INTO audit_events (id, business_id, actor_type, actor_id, action, target_type, target_id, ip_address,
                                  request_id, changes, created_at)
        SELECT gen_random_uuid(), b.id, CASE WHEN k.r2 = 0 THEN 'api_key' ELSE 'user' END,
               CASE WHEN b.id <> :business THEN gen_random_uuid()::text
                    WHEN k.r2 = 0 THEN :rare
                    WHEN k.r2 < 500 THEN :owner
                    ELSE (CAST(:actors AS text[]))[1 + g % cardinality(CAST(:actors AS text[]))] END,
               a.action, 'business', b.id::text, '203.0.113.7', gen_random_uuid()::text,
               CAST(CASE WHEN a.action = 'business.updated' THEN '{{"greeting": ["Hi", "Thanks"]}}' END AS json),
               now() - g * :step * interval '1 second'
        FROM ({businesses}) AS b
        CROSS JOIN generate_series(:first, :last) AS g
        CROSS JOIN LATERAL (SELECT (g::bigint * 7919) % 1000 AS r, (g::bigint * 104729) % 1000 AS r2) AS k
        CROSS JOIN LATERAL (SELECT CASE WHEN k.r = 0 THEN 'api_key.revoked'
                                        WHEN k.r < 400 THEN 'auth.login_succeeded'
                                        WHEN k.r < 700 THEN 'business.updated'
                                        WHEN k.r < 850 THEN 'phone_number.updated'
                                        WHEN k.r < 950 THEN 'member.role_changed'
                                        ELSE 'webhook_endpoint.updated' END AS action) AS a
        """,  # noqa: S608 - the businesses or endpoints query is ours
        first=first,
        last=last,
        step=step,
        rare=str(world.rare_actor),
        owner=str(world.owner_id),
        actors=world.actors,
        **{**params, "business": world.business_id},
    )


def add_deliveries(connection: Any, endpoints: str, first: int, last: int, step: float) -> None:
    run(
        connection,
        f"""
        INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, status, attempts,
                                        last_status_code, last_attempt_at, delivered_at, created_at)
        SELECT gen_random_uuid(), e.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), 'call.completed',
               json_build_object('type', 'call.completed', 'timestamp', t.at,
                                 'data', json_build_object('id', gen_random_uuid(), 'status', 'completed',
                                                           'from', '+14155550123', 'durationSeconds', 70)),
               CASE WHEN g % 200 = 0 THEN 'failed' ELSE 'succeeded' END, 1 + (g % 200 = 0)::int * 4,
               CASE WHEN g % 200 = 0 THEN 500 ELSE 200 END, t.at, CASE WHEN g % 200 <> 0 THEN t.at END, t.at
        FROM ({endpoints}) AS e
        CROSS JOIN generate_series(:first, :last) AS g
        CROSS JOIN LATERAL (SELECT now() - g * :step * interval '1 second' AS at) AS t
        """,  # noqa: S608 - the businesses or endpoints query is ours
        first=first,
        last=last,
        step=step,
    )


def add_jobs(connection: Any, finished: int, due: int) -> None:
    add_finished_jobs(connection, finished)
    add_due_jobs(connection, due)


def add_finished_jobs(connection: Any, count: int) -> None:
    """`count` jobs finished in the last week (the worker purges older ones): 97% succeeded, 3% dead, 0.1% of
    them dead emails (the rare filter). 40% emails, 60% webhook deliveries."""
    run(
        connection,
        """
        INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, retry_until, last_error,
                          created_at, finished_at)
        SELECT gen_random_uuid(), k.kind,
               CAST(CASE WHEN k.dead THEN '{"to": "someone@example.com"}' ELSE '{}' END AS json),
               CASE WHEN k.dead THEN 'dead' ELSE 'succeeded' END, CASE WHEN k.dead THEN 5 ELSE 1 END, 5, t.at,
               t.at + interval '1 hour', CASE WHEN k.dead THEN 'ConnectionRefusedError: [Errno 111]' END, t.at,
               t.at + interval '2 seconds'
        FROM generate_series(1, :count) AS g
        CROSS JOIN LATERAL (SELECT now() - g * (604800.0 / :count) * interval '1 second' AS at) AS t
        CROSS JOIN LATERAL (SELECT CASE WHEN g % 10 < 4 THEN 'send_email' ELSE 'deliver_webhook' END AS kind,
                                   g % 1000 = 0 OR g % 100 IN (7, 37, 77) AS dead) AS k
        """,
        count=count,
    )


def add_due_jobs(connection: Any, count: int, status: str = "queued") -> None:
    """`count` jobs due now (or, with status running, claimed just now by a live worker): 40% emails, 60%
    deliveries spread over 1,000 endpoints (their concurrency keys)."""
    run(
        connection,
        """
        INSERT INTO jobs (id, kind, concurrency_key, payload, status, attempts, max_attempts, run_at, retry_until,
                          locked_at, locked_by, created_at)
        SELECT gen_random_uuid(), k.kind,
               CASE WHEN k.kind = 'deliver_webhook' THEN 'webhook_endpoint:endpoint-' || g % 1000 END,
               '{"deliveryId": "00000000-0000-4000-8000-000000000000"}', :status, (:status = 'running')::int, 5,
               now() - g * interval '1 millisecond', now() + interval '1 hour',
               CASE WHEN :status = 'running' THEN now() END, CASE WHEN :status = 'running' THEN 'bench' END,
               now() - g * interval '1 millisecond'
        FROM generate_series(1, :count) AS g
        CROSS JOIN LATERAL (SELECT CASE WHEN g % 10 < 4 THEN 'send_email' ELSE 'deliver_webhook' END AS kind) AS k
        """,
        count=count,
        status=status,
    )


def add_plans(connection: Any, count: int) -> None:
    run(
        connection,
        """
        WITH new AS (SELECT gen_random_uuid() AS id, g FROM generate_series(1, :count) AS g),
        codes AS (SELECT array_agg(code ORDER BY code) AS arr FROM countries),
        plans AS (
            INSERT INTO external_plans (id, name, provider, monthly_price_minor, currency, voice, sms, active,
                                        created_at, updated_at)
            SELECT id, 'Scale plan ' || lpad(g::text, 6, '0'), 'Twilio', 100 + g % 5000, 'USD', true, g % 2 = 0, true,
                   now(), now()
            FROM new
        )
        INSERT INTO external_plan_countries (external_plan_uuid, country_code)
        SELECT new.id, codes.arr[1 + new.g % cardinality(codes.arr)] FROM new, codes
        """,
        count=count,
    )


def seed_small(engine: Engine, world: World) -> None:
    tenants = "SELECT id FROM businesses WHERE name LIKE 'Small %'"
    with engine.begin() as connection:
        run(connection, "CREATE SEQUENCE IF NOT EXISTS bench_scale_seq")
        add_members(connection, world.business_id, SMALL_LIST - 1)
        world.actors = [str(world.owner_id)] + [
            str(user)
            for user in connection.scalars(
                select(Membership.user_id).where(
                    Membership.business_id == world.business_id, Membership.user_id != world.owner_id
                )
            )
        ]
        add_tenants(connection, SMALL_TENANTS, "Small")
        mine = "SELECT CAST(:business AS uuid) AS id"
        add_small_lists(connection, mine, SMALL_LIST, {"business": world.business_id})
        add_small_lists(connection, tenants, SMALL_LIST, {})
        world.endpoint_id = connection.scalar(
            select(WebhookEndpoint.id)
            .where(WebhookEndpoint.business_id == world.business_id)
            .order_by(WebhookEndpoint.created_at.desc())
            .limit(1)
        )
        add_sessions(connection, world.owner_id, SMALL_LIST - 1)
        for businesses, params in ((mine, {"business": world.business_id}), (tenants, {})):
            add_calls(connection, businesses, 1, SMALL_ROWS, YEAR / 1_000_000, params)
            add_audit(connection, businesses, 1, SMALL_ROWS, YEAR / 500_000, world, params)
        add_deliveries(connection, f"SELECT '{world.endpoint_id}'::uuid AS id", 1, SMALL_ROWS, YEAR / 1_000_000)
        add_jobs(connection, SMALL_ROWS, SMALL_LIST)
    vacuum(engine)


def seed_large(engine: Engine, world: World) -> dict[str, float]:
    """Returns how long each part took, in seconds."""
    took: dict[str, float] = {}
    tenants = "SELECT id FROM businesses WHERE name LIKE 'Large %'"
    mine = "SELECT CAST(:business AS uuid) AS id"
    steps: list[tuple[str, Callable[[Any], None]]] = [
        ("tenants", lambda c: add_tenants(c, LARGE_TENANTS, "Large")),
        ("tenants' lists", lambda c: add_small_lists(c, tenants, 2, {})),
        ("plans", lambda c: add_plans(c, EXTRA_PLANS)),
        (
            "calls",
            lambda c: add_calls(c, mine, SMALL_ROWS + 1, BIG_CALLS, YEAR / BIG_CALLS, {"business": world.business_id}),
        ),
        ("tenants' calls", lambda c: add_calls(c, tenants, 1, TENANT_CALLS, YEAR / TENANT_CALLS, {})),
        (
            "audit",
            lambda c: add_audit(
                c, mine, SMALL_ROWS + 1, BIG_AUDIT, YEAR / BIG_AUDIT, world, {"business": world.business_id}
            ),
        ),
        ("tenants' audit", lambda c: add_audit(c, tenants, 1, TENANT_AUDIT, YEAR / TENANT_AUDIT, world, {})),
        (
            "deliveries",
            lambda c: add_deliveries(
                c, f"SELECT '{world.endpoint_id}'::uuid AS id", SMALL_ROWS + 1, BIG_DELIVERIES, YEAR / BIG_DELIVERIES
            ),
        ),
        (
            "tenants' deliveries",
            lambda c: add_deliveries(
                c,
                f"SELECT id FROM webhook_endpoints WHERE business_id IN ({tenants})",  # noqa: S608
                1,
                TENANT_DELIVERIES,
                YEAR / TENANT_DELIVERIES,
            ),
        ),
        ("jobs", lambda c: add_jobs(c, FINISHED_JOBS, DUE_JOBS)),
    ]
    for name, step in steps:
        started = time.monotonic()
        with engine.begin() as connection:
            step(connection)
        took[name] = time.monotonic() - started
        print(f"  seeded {name} in {took[name]:.1f} s", flush=True)
    started = time.monotonic()
    vacuum(engine)
    took["vacuum analyze"] = time.monotonic() - started
    print(f"  VACUUM (ANALYZE) in {took['vacuum analyze']:.1f} s", flush=True)
    return took


def vacuum(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))


def counts(engine: Engine) -> dict[str, int]:
    tables = ["businesses", "users", "calls", "audit_events", "webhook_deliveries", "jobs", "external_plans"]
    with engine.connect() as connection:
        return {table: connection.scalar(text(f"SELECT count(*) FROM {table}")) for table in tables}  # noqa: S608


# ---------------------------------------------------------------------------------------------------------------
# What is measured: each list operation, with the model call its handler makes (for deep cursors and EXPLAIN).


@dataclass
class Target:
    name: str
    path: str  # with its query string, without a cursor
    who: str  # owner | staff | anyone
    rows: Select[Any]  # the list's order columns, filtered as the operation filters (for a deep cursor)
    newest_first: bool
    page: Callable[[Session, str | None], Any]  # the handler's model call


def targets(world: World) -> list[Target]:
    b, o, e = world.business_id, world.owner_id, world.endpoint_id
    week_ago = datetime.now(UTC) - timedelta(days=7)
    since = week_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
    calls = select(Call.started_at, Call.id).where(Call.business_id == b)
    audit = select(AuditEvent.created_at, AuditEvent.id).where(AuditEvent.business_id == b)
    jobs = select(Job.created_at, Job.id)
    plans = select(ExternalPlan.name, ExternalPlan.id).where(ExternalPlan.active.is_(True))
    us_plans = ExternalPlan.id.in_(
        select(ExternalPlanCountry.external_plan_id).where(ExternalPlanCountry.country_code == "US")
    )
    numbers = select(PhoneNumber.created_at, PhoneNumber.id).where(PhoneNumber.business_id == b)
    now = datetime.now(UTC)

    def target_of(
        name: str, path: str, rows: Select[Any], page: Callable[..., Any], *, who: str = "owner", newest: bool = False
    ) -> Target:
        return Target(name, path, who, rows, newest, page)

    return [
        target_of(
            "listCountries",
            "/countries",
            select(Country.code),
            lambda s, c: Country.page(s, limit=LIMIT, cursor=c),
            who="anyone",
        ),
        target_of(
            "listPlans",
            "/plans",
            plans,
            lambda s, c: ExternalPlan.page_of_active(s, country=None, limit=LIMIT, cursor=c),
            who="anyone",
        ),
        target_of(
            "listPlans country=US",
            "/plans?country=US",
            plans.where(us_plans),
            lambda s, c: ExternalPlan.page_of_active(s, country="US", limit=LIMIT, cursor=c),
            who="anyone",
        ),
        target_of(
            "listSessions",
            "/auth/sessions",
            select(AuthSession.created_at, AuthSession.id).where(
                AuthSession.user_id == o, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now
            ),
            lambda s, c: AuthSession.page_of_active(s, o, limit=LIMIT, cursor=c),
        ),
        target_of(
            "listMembers",
            "/business/me/members",
            select(Membership.created_at, Membership.user_id).where(Membership.business_id == b),
            lambda s, c: Membership.page(s, b, limit=LIMIT, cursor=c),
        ),
        target_of(
            "listInvitations",
            "/business/me/invitations",
            select(Invitation.created_at, Invitation.id).where(
                Invitation.business_id == b, Invitation.accepted_at.is_(None), Invitation.expires_at > now
            ),
            lambda s, c: Invitation.page_of_pending(s, b, limit=LIMIT, cursor=c),
        ),
        target_of(
            "listClosures",
            "/business/me/closures",
            select(Closure.start_date, Closure.id).where(Closure.business_id == b),
            lambda s, c: Closure.page(s, b, limit=LIMIT, cursor=c),
        ),
        target_of(
            "listBlockedNumbers",
            "/business/me/blocked-numbers",
            select(BlockedNumber.created_at, BlockedNumber.id).where(BlockedNumber.business_id == b),
            lambda s, c: BlockedNumber.page(s, b, limit=LIMIT, cursor=c),
        ),
        target_of(
            "listPhoneNumbers",
            "/phone-numbers",
            numbers,
            lambda s, c: PhoneNumber.page(s, b, status=None, country=None, limit=LIMIT, cursor=c),
        ),
        target_of(
            "listPhoneNumbers status=suspended",
            "/phone-numbers?status=suspended",
            numbers.where(PhoneNumber.status == "suspended"),
            lambda s, c: PhoneNumber.page(s, b, status="suspended", country=None, limit=LIMIT, cursor=c),
        ),
        target_of(
            "listApiKeys",
            "/api-keys",
            select(ApiKey.created_at, ApiKey.id).where(ApiKey.business_id == b, ApiKey.revoked_at.is_(None)),
            lambda s, c: ApiKey.page(s, b, limit=LIMIT, cursor=c),
        ),
        target_of(
            "listWebhookEndpoints",
            "/webhook-endpoints",
            select(WebhookEndpoint.created_at, WebhookEndpoint.id).where(WebhookEndpoint.business_id == b),
            lambda s, c: WebhookEndpoint.page(s, b, limit=LIMIT, cursor=c),
        ),
        target_of(
            "listWebhookDeliveries",
            f"/webhook-endpoints/{e}/deliveries",
            select(WebhookDelivery.created_at, WebhookDelivery.id).where(WebhookDelivery.endpoint_id == e),
            lambda s, c: WebhookDelivery.page(s, e, limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of("listCalls", "/calls", calls, lambda s, c: Call.page(s, b, limit=LIMIT, cursor=c), newest=True),
        target_of(
            "listCalls status=completed",
            "/calls?status=completed",
            calls.where(Call.status == "completed"),
            lambda s, c: Call.page(s, b, status="completed", limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listCalls status=failed (0.1%)",
            "/calls?status=failed",
            calls.where(Call.status == "failed"),
            lambda s, c: Call.page(s, b, status="failed", limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listCalls status=canceled (none)",
            "/calls?status=canceled",
            calls.where(Call.status == "canceled"),
            lambda s, c: Call.page(s, b, status="canceled", limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listCalls since=7 days ago",
            f"/calls?since={since}",
            calls.where(Call.started_at >= week_ago),
            lambda s, c: Call.page(s, b, since=week_ago, limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listCalls failed, since 7 days",
            f"/calls?status=failed&since={since}",
            calls.where(Call.status == "failed", Call.started_at >= week_ago),
            lambda s, c: Call.page(s, b, status="failed", since=week_ago, limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listAuditEvents",
            "/audit-events",
            audit,
            lambda s, c: AuditEvent.page(s, b, limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listAuditEvents action=business.updated",
            "/audit-events?action=business.updated",
            audit.where(AuditEvent.action == "business.updated"),
            lambda s, c: AuditEvent.page(s, b, action="business.updated", limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listAuditEvents action=api_key.revoked (0.1%)",
            "/audit-events?action=api_key.revoked",
            audit.where(AuditEvent.action == "api_key.revoked"),
            lambda s, c: AuditEvent.page(s, b, action="api_key.revoked", limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listAuditEvents actorId=owner (50%)",
            f"/audit-events?actorId={o}",
            audit.where(AuditEvent.actor_id == str(o)),
            lambda s, c: AuditEvent.page(s, b, actor_id=str(o), limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listAuditEvents actorId=key (0.1%)",
            f"/audit-events?actorId={world.rare_actor}",
            audit.where(AuditEvent.actor_id == str(world.rare_actor)),
            lambda s, c: AuditEvent.page(s, b, actor_id=str(world.rare_actor), limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listAuditEvents action=closure.deleted (none)",
            "/audit-events?action=closure.deleted",
            audit.where(AuditEvent.action == "closure.deleted"),
            lambda s, c: AuditEvent.page(s, b, action="closure.deleted", limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listAuditEvents actorId=someone else (none)",
            f"/audit-events?actorId={NOBODY}",
            audit.where(AuditEvent.actor_id == str(NOBODY)),
            lambda s, c: AuditEvent.page(s, b, actor_id=str(NOBODY), limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listAuditEvents since=7 days ago",
            f"/audit-events?since={since}",
            audit.where(AuditEvent.created_at >= week_ago),
            lambda s, c: AuditEvent.page(s, b, since=week_ago, limit=LIMIT, cursor=c),
            newest=True,
        ),
        target_of(
            "listJobs",
            "/admin/jobs",
            jobs,
            lambda s, c: Job.page(s, status=None, kind=None, limit=LIMIT, cursor=c),
            who="staff",
        ),
        target_of(
            "listJobs status=dead",
            "/admin/jobs?status=dead",
            jobs.where(Job.status == "dead"),
            lambda s, c: Job.page(s, status="dead", kind=None, limit=LIMIT, cursor=c),
            who="staff",
        ),
        target_of(
            "listJobs kind=send_email",
            "/admin/jobs?kind=send_email",
            jobs.where(Job.kind == "send_email"),
            lambda s, c: Job.page(s, status=None, kind="send_email", limit=LIMIT, cursor=c),
            who="staff",
        ),
        target_of(
            "listJobs dead send_email (0.1%)",
            "/admin/jobs?status=dead&kind=send_email",
            jobs.where(Job.status == "dead", Job.kind == "send_email"),
            lambda s, c: Job.page(s, status="dead", kind="send_email", limit=LIMIT, cursor=c),
            who="staff",
        ),
    ]


def deep_cursor(session: Session, target: Target) -> str | None:
    """The cursor that starts the page in the middle of the list (None when the list has under two rows)."""
    total = session.scalar(select(func.count()).select_from(target.rows.subquery())) or 0
    if total < 2:
        return None
    order = (
        [column.desc() for column in target.rows.selected_columns]
        if target.newest_first
        else list(target.rows.selected_columns)
    )
    key = session.execute(target.rows.order_by(*order).offset(total // 2).limit(1)).one()
    return encode_cursor(list(key))


# ---------------------------------------------------------------------------------------------------------------
# Measuring through the server.


class Client:
    """One keep-alive connection to the server."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, float]:
        try:
            return self._get(path, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.connection.close()  # the server closed the idle connection: the next request reconnects
            return self._get(path, headers)

    def _get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        self.connection.request("GET", "/api/v1" + path, headers=headers)
        response = self.connection.getresponse()
        body = response.read()
        return response.status, body, (time.perf_counter() - started) * 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(client: Client, path: str, headers: dict[str, str]) -> dict[str, float]:
    """REQUESTS sequential requests, or as many as fit in BUDGET_SECONDS (at least WARM_UP)."""
    for _ in range(WARM_UP):
        client.get(path, headers)
    times, errors, started, body = [], 0, time.monotonic(), b""
    while len(times) < REQUESTS and (len(times) < WARM_UP or time.monotonic() - started < BUDGET_SECONDS):
        status, body, took = client.get(path, headers)
        times.append(took)
        errors += status != 200
    rows = len(json.loads(body).get("data", [])) if not errors else -1
    return {
        "p50": statistics.median(times),
        "p99": percentile(times, 0.99),
        "errors": errors,
        "n": len(times),
        "rows": rows,
    }


def measure_all(engine: Engine, client: Client, world: World, headers: dict[str, dict[str, str]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with Session(engine) as session:
        for target in targets(world):
            first = measure(client, target.path, headers[target.who])
            cursor = deep_cursor(session, target)
            deep = None
            if cursor:
                separator = "&" if "?" in target.path else "?"
                deep = measure(client, f"{target.path}{separator}cursor={cursor}", headers[target.who])
            results[target.name] = {"first": first, "deep": deep}
            print(
                f"  {target.name:<46} first p50 {first['p50']:6.1f} p99 {first['p99']:6.1f}"
                + (f"   deep p50 {deep['p50']:6.1f} p99 {deep['p99']:6.1f}" if deep else "   deep —")
                + ("  ERRORS" if first["errors"] or (deep and deep["errors"]) else ""),
                flush=True,
            )
    return results


# ---------------------------------------------------------------------------------------------------------------
# EXPLAIN of the statements the models issue.


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", keep)


KEY_MARKS = ("Scan", "Sort", "Limit", "Index Cond", "Filter", "Rows Removed", "Buffers", "Join", "Execution Time")


def explain(engine: Engine, world: World) -> dict[str, dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each list's first and deep page: the statement the model method issues for
    the page (not the selectin loads after it), best of three runs. {name: {page: {ms, plan, statement}}}."""
    plans: dict[str, dict[str, Any]] = {}
    with Session(engine) as session:
        for target in targets(world):
            plans[target.name] = {"first": None, "deep": None}
            for page, cursor in (("first", None), ("deep", deep_cursor(session, target))):
                if page == "deep" and cursor is None:
                    continue
                with captured(engine) as statements:
                    target.page(session, cursor)
                session.rollback()
                statement, parameters = statements[0]
                runs = []
                with engine.connect() as connection:
                    for _ in range(3):
                        result = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                        plan = [row[0] for row in result]
                        runs.append((float(plan[-1].split(":")[1].split()[0]), plan))  # Execution Time: X ms
                ms, plan = min(runs)
                plans[target.name][page] = {"ms": ms, "plan": plan, "statement": statement, "parameters": parameters}
    return plans


def key_lines(plan: list[str]) -> list[str]:
    return [line for line in plan if any(mark in line for mark in KEY_MARKS)]


def write_plans(plans: dict[str, dict[str, Any]]) -> None:
    out: list[str] = []
    for name, pages in plans.items():
        for page, found in pages.items():
            if found:
                out += [f"== {name} ({page} page)", found["statement"], json.dumps(found["parameters"], default=str)]
                out += [*found["plan"], ""]
    EXPLAIN_FILE.write_text("\n".join(out))


# ---------------------------------------------------------------------------------------------------------------
# Jobs: the claim's cost as finished jobs pile up, and what workers get through.

NOOP = "bench_noop"


def claim_cost(engine: Engine) -> dict[str, Any]:
    """`Job.claim` as worker.py's queues call it (deliveries: 16 at a time, 2 per endpoint; email: 4), in a
    transaction rolled back, CLAIM_RUNS times each, beside CLAIM_DUE due jobs and 32 running ones, with 0,
    100,000 and 1,000,000 finished jobs; and EXPLAIN (ANALYZE, BUFFERS) of every statement one claim issues."""
    results: dict[str, Any] = {}
    with engine.begin() as connection:
        run(connection, "TRUNCATE jobs")
        add_due_jobs(connection, CLAIM_DUE)
        add_due_jobs(connection, 32, status="running")
    finished = 0
    for step in CLAIM_STEPS:
        with engine.begin() as connection:
            if step > finished:
                add_finished_jobs(connection, step - finished)
        finished = step
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE) jobs"))
        row: dict[str, Any] = {}
        for kind, limit, per_key in (("deliver_webhook", 16, 2), ("send_email", 4, None)):
            timings = []
            for _ in range(CLAIM_RUNS):
                with Session(engine) as session:
                    started = time.perf_counter()
                    claimed = Job.claim(
                        session,
                        kind=kind,
                        worker="bench",
                        limit=limit,
                        visibility_timeout=timedelta(seconds=30),
                        per_key=per_key,
                    )
                    timings.append((time.perf_counter() - started) * 1000)
                    session.rollback()
            with Session(engine) as session, captured(engine) as statements:
                Job.claim(
                    session,
                    kind=kind,
                    worker="bench",
                    limit=limit,
                    visibility_timeout=timedelta(seconds=30),
                    per_key=per_key,
                )
                session.rollback()
            plans = []
            with engine.connect() as connection:
                for statement, parameters in statements:
                    plan = [
                        r[0] for r in connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    ]
                    plans.append(
                        {
                            "statement": statement.split("\n")[0][:100],
                            "ms": float(plan[-1].split(":")[1].split()[0]),
                            "plan": plan,
                        }
                    )
                connection.rollback()
            row[kind] = {
                "claimed": len(claimed),
                "p50": statistics.median(timings),
                "p95": percentile(timings, 0.95),
                "sql_ms": sum(plan["ms"] for plan in plans),
                "plans": plans,
            }
        results[str(step)] = row
        print(
            f"  {step:>9,} finished: "
            + "; ".join(
                f"{kind} claim of {r['claimed']} p50 {r['p50']:.2f} ms p95 {r['p95']:.2f} ms (SQL {r['sql_ms']:.2f} ms"
                f" in {len(r['plans'])} statements)"
                for kind, r in row.items()
            ),
            flush=True,
        )
    return results


class Receiver(ThreadingHTTPServer):
    """A customer's endpoint on this machine: answers every POST 200 and counts them."""

    daemon_threads = True
    received = 0

    def __init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


def run_noop_worker() -> None:
    """`python scripts/bench_scale.py --noop-worker`: a worker whose only queue runs jobs that do nothing, with
    the default concurrency (WORKER_CONCURRENCY, 4 threads)."""
    settings = load_settings_or_exit()
    database = Database(create_db_engine(settings, deadline=settings.db_client_deadline_seconds))
    worker = Worker(database, {NOOP: Queue(lambda _payload: None, settings.worker_concurrency)})
    signal.signal(signal.SIGTERM, lambda _signum, _frame: worker.stop())
    try:
        worker.run()
    finally:
        database.dispose()


def workers_run(
    engine: Engine,
    processes: int,
    command: list[str],
    env: dict[str, str],
    kind: str,
    count: int,
    enqueue: Callable[[], None],
) -> dict[str, float]:
    """Starts `processes` workers, waits until each listens, enqueues `count` jobs of `kind` in one transaction,
    and times commit to the last one's finish (the database's clock)."""
    workers = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(processes)]  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        with engine.connect() as connection:
            while (
                connection.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")) < processes
            ):
                if time.monotonic() > deadline:
                    raise SystemExit("the workers did not start listening within a minute")
                time.sleep(0.2)
                connection.rollback()
        with engine.connect() as connection:
            mark = connection.scalar(text("SELECT clock_timestamp()"))  # the new jobs are created after it
        ticks = cpu_ticks(workers)
        enqueue()
        mine = "kind = :kind AND created_at >= :mark"
        with engine.connect() as connection:
            started = connection.scalar(text("SELECT clock_timestamp()"))
            deadline = time.monotonic() + 600
            done = f"SELECT count(*) FROM jobs WHERE {mine} AND status IN ('succeeded', 'dead')"  # noqa: S608
            while connection.scalar(text(done), {"kind": kind, "mark": mark}) < count:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{count} {kind} jobs were not done within 10 minutes")
                time.sleep(0.2)
                connection.rollback()
            last, dead = connection.execute(
                text(f"SELECT max(finished_at), count(*) FILTER (WHERE status = 'dead') FROM jobs WHERE {mine}"),  # noqa: S608
                {"kind": kind, "mark": mark},
            ).one()
        cpu_ms = (cpu_ticks(workers) - ticks) * 1000 / os.sysconf("SC_CLK_TCK") / count
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
        with engine.connect() as connection:  # their LISTEN sessions gone, so the next run waits for its own
            while connection.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")):
                time.sleep(0.2)
                connection.rollback()
    seconds = (last - started).total_seconds()
    with engine.begin() as connection:
        run(connection, f"DELETE FROM jobs WHERE {mine}", kind=kind, mark=mark)  # noqa: S608
    return {"jobs": count, "seconds": seconds, "per_second": count / seconds, "dead": dead, "cpu_ms": cpu_ms}


def cpu_ticks(processes: list[subprocess.Popen[bytes]]) -> int:
    """User and system time of the processes so far (all their threads), in clock ticks."""
    total = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def throughput(engine: Engine) -> dict[str, Any]:
    """Jobs per second with 1 and 2 worker processes: no-op jobs (4 threads each), then webhook deliveries to a
    local receiver that answers 200, by `python worker.py` as deployed (16 delivery threads, 2 per endpoint),
    spread over DELIVERY_ENDPOINTS endpoints. The finished jobs stay; nothing else is due."""
    results: dict[str, Any] = {}
    with engine.begin() as connection:
        run(connection, "DELETE FROM jobs WHERE status IN ('queued', 'running')")
    key = Fernet.generate_key().decode()
    env = {**os.environ, "APP_ENV": "development", "MAIL_URL": "", "LOG_LEVEL": "WARNING", "DATA_ENCRYPTION_KEYS": key}
    env["VAR_DIR"] = str(REPORTS / "bench-scale-worker")

    def noop_jobs() -> None:
        with engine.begin() as connection:
            run(
                connection,
                """
                INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, retry_until, created_at)
                SELECT gen_random_uuid(), :kind, '{}', 'queued', 0, 5, now(), now() + interval '1 hour', now()
                FROM generate_series(1, :count)
                """,
                kind=NOOP,
                count=NOOP_JOBS,
            )
            connection.execute(select(func.pg_notify(CHANNEL, NOOP)))

    for processes in (1, 2):
        command = [str(BIN / "python"), "scripts/bench_scale.py", "--noop-worker"]
        results[f"no-op, {processes}"] = found = workers_run(
            engine, processes, command, env, NOOP, NOOP_JOBS, noop_jobs
        )
        print(
            f"  no-op jobs, {processes} worker(s): {found['per_second']:.0f} jobs/s"
            f" ({NOOP_JOBS:,} jobs in {found['seconds']:.1f} s; workers' CPU {found['cpu_ms']:.1f} ms/job)",
            flush=True,
        )

    receiver = Receiver()
    cipher = Cipher([key])
    with engine.begin() as connection:
        add_tenants(connection, 1, "Throughput")
        business_id = connection.scalar(text("SELECT id FROM businesses WHERE name LIKE 'Throughput %'"))
    with Session(engine) as session:
        for _ in range(DELIVERY_ENDPOINTS):
            WebhookEndpoint.create(session, cipher, business_id, {"url": receiver.url, "events": ["call.completed"]})
        session.commit()

    def deliveries() -> None:
        with Session(engine) as session:
            for n in range(DELIVERIES // DELIVERY_ENDPOINTS):
                webhooks.emit(session, business_id, Occurrence("call.completed", {"id": str(uuid.uuid4()), "n": n}))
            session.commit()

    for processes in (1, 2):
        received = receiver.received
        command = [str(BIN / "python"), "worker.py"]
        results[f"deliveries, {processes}"] = found = workers_run(
            engine, processes, command, env, DELIVER_WEBHOOK, DELIVERIES, deliveries
        )
        found["received"] = receiver.received - received
        print(
            f"  webhook deliveries, {processes} worker(s): {found['per_second']:.0f} jobs/s ({DELIVERIES:,} in"
            f" {found['seconds']:.1f} s, {found['received']:,} received, {found['dead']} dead;"
            f" workers' CPU {found['cpu_ms']:.1f} ms/job)",
            flush=True,
        )
    receiver.shutdown()
    return results


# ---------------------------------------------------------------------------------------------------------------
# The server and its users.


def call_api(base: str, method: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/api/v1{path}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", **(headers or {})},
        method=method,
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        raw = response.read()
        return json.loads(raw) if raw else None


def sign_in(base: str, email: str) -> dict[str, str]:
    token = call_api(base, "POST", "/auth/login", {"email": email, "password": PASSWORD})["accessToken"]
    return {"Authorization": f"Bearer {token}"}


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    log = (REPORTS / "bench-scale-server.log").open("wb")
    server = subprocess.Popen(  # noqa: S603
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env={**env, "PORT": str(port)},
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    subprocess.run([BIN / "python", "scripts/wait_ready.py", f"{base}/health-check/liveness", "60"], check=True)  # noqa: S603
    return server, base


def server_env() -> dict[str, str]:
    env = {**os.environ, "WEB_CONCURRENCY": "2", "APP_ENV": "production", "LOG_LEVEL": "WARNING"}
    env["MAIL_URL"] = "smtp://127.0.0.1:9"
    env |= {"TWILIO_AUTH_TOKEN": "bench-scale", "PUBLIC_BASE_URL": "https://bench.switchboard.test"}
    env |= {f"RATE_LIMIT_{policy}": "1000000000/minute" for policy in ("SENSITIVE", "ANONYMOUS", "AUTHENTICATED")}
    env["ACCESS_TOKEN_TTL_SECONDS"] = "86400"  # noqa: S105 - a lifetime, not a secret
    signing_key = ECKey.generate_key("P-256", parameters={"kid": "bench-scale"}, private=True)
    env["JWT_PRIVATE_KEYS"] = json.dumps(KeySet([signing_key]).as_dict(private=True))
    env["DATA_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    return env


def make_world(base: str, engine: Engine) -> World:
    owner, staff = "owner@scale.test", "staff@scale.test"
    for email in (owner, staff):
        call_api(base, "POST", "/auth/register", {"email": email, "password": PASSWORD, "name": "Scale"})
    call_api(base, "POST", "/business/me", {"name": "Scale Dental"}, sign_in(base, owner))
    with engine.begin() as connection:
        run(connection, "UPDATE users SET is_staff = true WHERE email = :email", email=staff)
        owner_id = connection.scalar(text("SELECT id FROM users WHERE email = :email"), {"email": owner})
        business_id = connection.scalar(select(Membership.business_id).where(Membership.user_id == owner_id))
    return World(business_id=business_id, owner_id=owner_id)


# ---------------------------------------------------------------------------------------------------------------


def table(results: dict[str, Any], after: str = "") -> list[str]:
    """Small beside large (`after`: beside the large run of that name, e.g. "_before")."""
    small, large, large_sql = results["small"], results["large" + after], results["large_sql" + after]
    lines = [
        "| operation | page | rows | small p50 | small p99 | large p50 | large p99 | p99 × | SQL ms small → large |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, pages in large.items():
        for page in ("first", "deep"):
            s, big = small[name][page], pages[page]
            if big is None:
                continue
            if s is None:
                s = small[name]["first"]  # the small list had no second page to start in the middle of
            ratio = big["p99"] / s["p99"]
            flag = " **over 2×**" if ratio > 2 else ""
            errors = f" ({big['errors']:.0f} errors)" if big["errors"] else ""
            errors += f" (n={big['n']})" if big["n"] < REQUESTS else ""
            sql_small = results["small_sql"][name][page] or results["small_sql"][name]["first"]
            sql_large = large_sql[name][page]
            lines.append(
                f"| {name} | {page} | {s['rows']} → {big['rows']} | {s['p50']:.1f} | {s['p99']:.1f} | {big['p50']:.1f}"
                f" | {big['p99']:.1f}"
                f" | {ratio:.2f}{flag}{errors} | {sql_small['ms']:.2f} → {sql_large['ms']:.2f} |"
            )
    return lines


def main() -> None:
    started = time.monotonic()
    REPORTS.mkdir(exist_ok=True)
    database_url = os.environ["DATABASE_URL"]
    subprocess.run([BIN / "alembic", "upgrade", REVISION], cwd=ROOT, check=True)  # noqa: S603
    subprocess.run([BIN / "python", "-m", "cli.catalog"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    engine = create_engine(database_url)
    results: dict[str, Any] = {"revision": REVISION, "factor": FACTOR, "requests": REQUESTS}
    server, base = start_server(server_env())
    try:
        world = make_world(base, engine)
        seed_small(engine, world)
        results["small_counts"] = counts(engine)
        client = Client(base)
        headers = {"owner": sign_in(base, "owner@scale.test"), "staff": sign_in(base, "staff@scale.test"), "anyone": {}}
        print(f"small database {results['small_counts']}; {REQUESTS} sequential requests each (ms):", flush=True)
        phase = time.monotonic()
        results["small"] = measure_all(engine, client, world, headers)
        results["small_sql"] = explain(engine, world)
        print(f"  measured in {time.monotonic() - phase:.0f} s", flush=True)

        print("seeding the large database", flush=True)
        results["seed_seconds"] = seed_large(engine, world)
        results["large_counts"] = counts(engine)
        print(f"large database {results['large_counts']}; {REQUESTS} sequential requests each (ms):", flush=True)
        phase = time.monotonic()
        results["large"] = measure_all(engine, client, world, headers)
        results["large_sql"] = explain(engine, world)
        print(f"  measured in {time.monotonic() - phase:.0f} s", flush=True)
        if REVISION != "head":
            print(f"List operations at {REVISION}, ms:")
            print("\n".join(table(results)), flush=True)
            phase = time.monotonic()
            subprocess.run([BIN / "alembic", "upgrade", "head"], cwd=ROOT, check=True)  # noqa: S603
            results["upgrade_seconds"] = time.monotonic() - phase
            print(f"alembic upgrade head on the large database took {results['upgrade_seconds']:.1f} s", flush=True)
            vacuum(engine)
            results["large_before"], results["large_sql_before"] = results["large"], results["large_sql"]
            results["large"] = measure_all(engine, client, world, headers)
            results["large_sql"] = explain(engine, world)
        write_plans(results["large_sql"])
        print(f"EXPLAIN (ANALYZE, BUFFERS) on the large database, key lines (whole plans in {EXPLAIN_FILE.name}):")
        for name, pages in results["large_sql"].items():
            for page, found in pages.items():
                if found:
                    print(f"  {name} ({page} page)")
                    print("\n".join(f"    {line}" for line in key_lines(found["plan"])))
        print(f"List operations, ms ({REQUESTS} sequential requests each; SQL: the page's EXPLAIN ANALYZE time):")
        print("\n".join(table(results)), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    try:
        print("The claim (Job.claim, rolled back), beside due and running jobs, as finished jobs pile up:", flush=True)
        results["claim"] = claim_cost(engine)
        print("Worker throughput (1,000,000 finished jobs kept):", flush=True)
        results["throughput"] = throughput(engine)
    finally:
        results["seconds"] = time.monotonic() - started
        (REPORTS / "bench-scale.json").write_text(json.dumps(results, indent=2, default=str))
        engine.dispose()
    print(f"took {results['seconds']:.0f} s")


if __name__ == "__main__":
    if sys.argv[1:] == ["--noop-worker"]:
        run_noop_worker()
    else:
        main()
