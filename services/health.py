"""What the health operations report."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from core import __version__, shutdown
from core.db import Database
from core.errors import DatabaseUnavailable, ServiceUnavailable
from models import Job
from services.mail import SEND_EMAIL

log = logging.getLogger(__name__)
STARTED = time.monotonic()


READINESS_SECONDS = 1.5  # a load balancer's probe gets its answer within this, whatever the database does
_readiness_checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readiness")


def readiness(database: Database) -> dict[str, Any]:
    """Ready when the database answers within READINESS_SECONDS and is at the migration this code expects,
    and the process is not draining towards its exit; else 503. (A check that outlasts its wait ends in
    the background, within the database's client-side deadline.)"""
    if shutdown.draining.is_set():
        raise ServiceUnavailable("This instance is shutting down; it serves what reaches it meanwhile")
    try:
        revision = _readiness_checks.submit(database.schema_revision).result(timeout=READINESS_SECONDS)
    except (SQLAlchemyError, TimeoutError) as error:
        log.warning("not ready: database unavailable (%s)", type(error).__name__)
        raise DatabaseUnavailable("The database is not answering") from None
    if database.is_behind(revision):
        raise ServiceUnavailable("The database schema is older than this release; apply the migrations")
    return {"status": "ready", "database": "ok", "schemaRevision": revision}


def service_health(database: Database, *, dead_jobs_alert: int) -> dict[str, Any]:
    """Degraded when the database is unavailable, an email is dead (someone is waiting for it), or more
    than `dead_jobs_alert` jobs are."""
    try:
        with database.sessions() as session:
            jobs: dict[str, int] | None = Job.metrics(session, alert_kinds=(SEND_EMAIL,))
    except SQLAlchemyError:
        jobs = None
    healthy = jobs is not None and jobs["deadAlerting"] == 0 and jobs["dead"] <= dead_jobs_alert
    return {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "uptimeSeconds": int(time.monotonic() - STARTED),
        "database": "ok" if jobs is not None else "unavailable",
        "jobs": jobs,
    }
