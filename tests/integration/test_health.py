from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from connexion import FlaskApp
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from app import create_app
from core import __version__
from core.config import Settings
from models import Job, JobStatus
from tests.conftest import database_of
from web.spec import Contract


def test_liveness_answers_while_the_process_runs(client: TestClient) -> None:
    response = client.get("/health-check/liveness")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_the_database_answers_at_the_head_revision(client: TestClient, app: FlaskApp) -> None:
    response = client.get("/health-check/readiness")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "schemaRevision": database_of(app).head_revision}


@contextmanager
def schema_at(app: FlaskApp, revision: str | None) -> Iterator[None]:
    """The database claims to be at `revision` (None: never migrated) for the duration."""
    engine = database_of(app).engine
    with engine.begin() as connection:
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(text("DELETE FROM alembic_version"))
        if revision:
            connection.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
            connection.execute(text("INSERT INTO alembic_version VALUES (:head)"), {"head": head})


def test_not_ready_while_the_schema_is_not_migrated(client: TestClient, app: FlaskApp) -> None:
    with schema_at(app, None):
        response = client.get("/health-check/readiness")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["code"] == "service_unavailable"
    assert database_of(app).head_revision not in response.text


def test_still_ready_when_a_newer_release_has_migrated_ahead(client: TestClient, app: FlaskApp) -> None:
    with schema_at(app, "9999_from_a_newer_release"):
        response = client.get("/health-check/readiness")

    assert response.status_code == 200
    assert response.json()["schemaRevision"] == "9999_from_a_newer_release"


@pytest.fixture(scope="module")
def app_without_database(settings: Settings) -> FlaskApp:
    # A port nothing listens on: connection refused, as when the database is down.
    return create_app(settings.model_copy(update={"database_url": "postgresql+psycopg2://nobody@127.0.0.1:9/none"}))


def test_not_ready_and_degraded_without_a_database(app_without_database: FlaskApp) -> None:
    client = app_without_database.test_client()

    readiness = client.get("/health-check/readiness")
    health = client.get("/api/v1/health")
    plans = client.get("/api/v1/plans")

    assert readiness.status_code == 503
    assert readiness.headers["retry-after"] == "5"
    assert readiness.json()["code"] == "database_unavailable"
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["database"] == "unavailable"
    assert health.json()["jobs"] is None
    assert plans.status_code == 503
    assert plans.json()["code"] == "database_unavailable"
    assert "127.0.0.1" not in plans.text
    assert client.get("/health-check/liveness").status_code == 200


def test_health_reports_version_uptime_database_and_jobs(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()

    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["version"] == __version__ == Contract.load().document["info"]["version"]
    assert body["uptimeSeconds"] >= 0
    assert body["jobs"] == {"queued": 0, "running": 0, "dead": 0, "deadAlerting": 0, "oldestQueuedSeconds": 0}


def test_health_counts_jobs_and_is_degraded_past_the_dead_job_threshold(
    client: TestClient, db: Session, settings: Settings
) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=2)
    db.add(Job(kind="k", payload={}, status=JobStatus.QUEUED, run_at=long_ago))
    db.add(Job(kind="k", payload={}, status=JobStatus.QUEUED, run_at=datetime.now(UTC) + timedelta(hours=1)))
    db.add_all(
        Job(kind="k", payload={}, status=JobStatus.DEAD, run_at=long_ago)
        for _ in range(settings.job_dead_alert_threshold + 1)
    )
    db.commit()

    body = client.get("/api/v1/health").json()

    assert body["status"] == "degraded"
    assert body["jobs"]["queued"] == 2
    assert body["jobs"]["dead"] == settings.job_dead_alert_threshold + 1
    assert 115 <= body["jobs"]["oldestQueuedSeconds"] <= 180


def test_connections_carry_the_statement_timeout_and_pool_settings(app: FlaskApp, settings: Settings) -> None:
    engine = database_of(app).engine

    with engine.connect() as connection:
        timeout = connection.execute(text("SHOW statement_timeout")).scalar_one()

    assert timeout == f"{settings.db_statement_timeout_ms // 1000}s"
    assert engine.pool.size() == settings.db_pool_size  # type: ignore[attr-defined]
    raw = engine.raw_connection()
    try:
        dsn = raw.dbapi_connection.get_dsn_parameters()  # type: ignore[union-attr]
    finally:
        raw.close()
    # A vanished peer is noticed in seconds (the pool's idle ping and the client-side deadline: test_frozen_database).
    assert (dsn["keepalives"], dsn["keepalives_idle"], dsn["tcp_user_timeout"]) == ("1", "10", "15000")


def test_a_query_over_the_statement_timeout_is_a_503(settings: Settings, app: FlaskApp) -> None:
    impatient = create_app(settings.model_copy(update={"db_statement_timeout_ms": 200}))

    with database_of(app).engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE external_plans IN ACCESS EXCLUSIVE MODE"))
        response = impatient.test_client().get("/api/v1/plans")
        blocker.rollback()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["code"] == "database_unavailable"
    assert "statement" not in response.text


def test_one_dead_email_makes_the_service_degraded_at_once(client: TestClient, db: Session) -> None:
    db.add(Job(kind="send_email", payload={}, status=JobStatus.DEAD, run_at=datetime.now(UTC)))
    db.add(Job(kind="other", payload={}, status=JobStatus.DEAD, run_at=datetime.now(UTC)))
    db.commit()

    body = client.get("/api/v1/health").json()

    assert body["status"] == "degraded"
    assert body["jobs"]["dead"] == 2
    assert body["jobs"]["deadAlerting"] == 1
