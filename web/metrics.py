"""Prometheus metrics (`prometheus-client`), served at GET /metrics (handlers/health.py).

Gunicorn runs several worker processes, so the counters live in prometheus-client's multiprocess mode: each
process writes its own files under PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets and empties it when the
server starts, and marks a dead worker's files), and a scrape merges them. A process that runs the app alone
(the tests' in-process app) keeps them in memory.

What a request records (web.middleware.Edge): a count by operationId, method and status, its
latency, and requests in flight; the pool checkouts (watch_pool) and rate-limit rejections
(web.rate_limits) are counted where they happen. Job-queue figures are read from the database at scrape
time (Job.metrics), so they are the same whichever process answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from models import Job
from services.mail import SEND_EMAIL

# Prometheus reads text/plain without a version as its text format 0.0.4; Connexion matches the spec's
# media type exactly, parameters included, so the version is left out.
log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain"

REQUESTS = Counter(
    "switchboard_http_requests", "Requests answered, by operation, method and status", ["operation", "method", "status"]
)
LATENCY = Histogram(
    "switchboard_http_request_duration_seconds", "Time to answer a request, by operation", ["operation", "method"]
)
IN_FLIGHT = Gauge("switchboard_http_requests_in_flight", "Requests being answered", multiprocess_mode="livesum")
POOL_IN_USE = Gauge(
    "switchboard_db_pool_connections_in_use", "Database connections lent out by the pool", multiprocess_mode="livesum"
)
RATE_LIMITED = Counter("switchboard_rate_limited", "Requests refused by a rate limit, by policy", ["policy"])


# The children of REQUESTS and LATENCY for each (operation, method, status) met, bound on first use: `labels()`
# looks its labels up under a lock on every call. Bounded: operations and statuses are the spec's, and the server
# parses only the methods HTTP defines.
_BOUND: dict[tuple[str | None, str, int], tuple[Any, Any]] = {}


def observe_request(operation: str | None, method: str, status: int, seconds: float) -> None:
    key = (operation, method, status)
    children = _BOUND.get(key)
    if children is None:
        name = operation or "unrouted"
        children = _BOUND[key] = (REQUESTS.labels(name, method, str(status)), LATENCY.labels(name, method))
    children[0].inc()
    children[1].observe(seconds)


def watch_pool(engine: Engine) -> None:
    event.listen(engine, "checkout", lambda *_: POOL_IN_USE.inc())
    event.listen(engine, "checkin", lambda *_: POOL_IN_USE.dec())


class _JobQueue:
    """The job queue's figures, read when scraped."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[Metric]:
        try:
            figures = Job.metrics(self.session, alert_kinds=(SEND_EMAIL,))
        except SQLAlchemyError as error:  # the database is down: the other metrics are still worth a scrape
            self.session.rollback()
            log.warning("metrics: job queue not read (%s)", type(error).__name__)
            yield GaugeMetricFamily("switchboard_jobs_read", "Whether this scrape read the job queue", value=0)
            return
        yield GaugeMetricFamily("switchboard_jobs_read", "Whether this scrape read the job queue", value=1)
        queued = GaugeMetricFamily("switchboard_jobs", "Background jobs by status", labels=["status"])
        for status in ("queued", "running", "dead"):
            queued.add_metric([status], figures[status])
        yield queued
        yield GaugeMetricFamily(
            "switchboard_jobs_oldest_due_seconds",
            "How long the oldest due job has waited",
            value=figures["oldestQueuedSeconds"],
        )
        yield GaugeMetricFamily(
            "switchboard_jobs_dead_alerting",
            "Dead jobs whose loss someone notices (emails)",
            value=figures["deadAlerting"],
        )

    def describe(self) -> list[Any]:
        return []  # collected on scrape only


def exposition(session: Session) -> bytes:
    """Every process's metrics and the job queue's, in Prometheus's text format."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(_JobQueue(session))
    return generate_latest(registry)


class _ThisProcess:
    """The metrics of this process alone (no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        return iter(REGISTRY.collect())

    def describe(self) -> list[Any]:
        return []
