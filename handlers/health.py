"""Operations tagged Health."""

from __future__ import annotations

from typing import Any

from core.errors import Unauthorized
from services.health import readiness, service_health
from web import metrics
from web.context import database, session, settings
from web.responses import JSON, Response


def get_liveness() -> Response:
    return {"status": "ok"}, 200, JSON


def get_readiness() -> Response:
    return readiness(database()), 200, JSON


def get_health() -> Response:
    return service_health(database(), dead_jobs_alert=settings().job_dead_alert_threshold), 200, JSON


def get_metrics(token_info: dict[str, Any]) -> Response:
    if not (token_info.get("metrics") or settings().metrics_open):
        raise Unauthorized("Send the deployment's METRICS_TOKEN as a bearer token")
    return metrics.exposition(session()), 200, {"Content-Type": metrics.CONTENT_TYPE}
