"""Operations tagged Health."""

from __future__ import annotations

from services.health import readiness, service_health
from web.context import database, settings
from web.responses import JSON, Response


def get_liveness() -> Response:
    return {"status": "ok"}, 200, JSON


def get_readiness() -> Response:
    return readiness(database()), 200, JSON


def get_health() -> Response:
    return service_health(database(), dead_jobs_alert=settings().job_dead_alert_threshold), 200, JSON
