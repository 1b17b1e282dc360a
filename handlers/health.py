"""Operations tagged Health."""

from __future__ import annotations

from typing import Any

from core.errors import Unauthorized
from services.health import readiness, service_health
from web import metrics
from web.context import database, session, settings
from web.responses import Response, ok


def get_liveness() -> Response:
    return ok({"status": "ok"})


def get_readiness() -> Response:
    return ok(readiness(database()))


def get_health() -> Response:
    return ok(service_health(database(), dead_jobs_alert=settings().job_dead_alert_threshold))


def get_metrics(token_info: dict[str, Any]) -> Response:
    if not (token_info.get("metrics") or settings().metrics_open):
        raise Unauthorized("Send the deployment's METRICS_TOKEN as a bearer token")
    return ok(metrics.exposition(session()), media_type=metrics.CONTENT_TYPE)
