"""Operations tagged Health."""

from __future__ import annotations

from core.config import current_settings
from core.db import database
from services.health import readiness, service_health
from web.responses import JSON, Response


def get_liveness() -> Response:
    return {"status": "ok"}, 200, JSON


def get_readiness() -> Response:
    return readiness(database()), 200, JSON


def get_health() -> Response:
    return service_health(database(), dead_jobs_alert=current_settings().job_dead_alert_threshold), 200, JSON
