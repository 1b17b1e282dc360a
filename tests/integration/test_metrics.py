"""GET /metrics (web/metrics.py): Prometheus's text format, behind METRICS_TOKEN, merged across workers."""

from __future__ import annotations

import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from models import Job
from services.mail import SEND_EMAIL
from tests.conftest import database_of
from tests.live_server import free_port, gunicorn

TOKEN = "scrape-me-0123456789"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """name's samples by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def scrape(client: TestClient, token: str | None = TOKEN) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    return response.text


def test_metrics_need_the_token_outside_development(settings: Settings, migrated: None) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": TOKEN}))
    try:
        client = app.test_client()
        refused = [client.get("/metrics"), client.get("/metrics", headers={"Authorization": "Bearer wrong"})]
        served = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        database_of(app).dispose()

    assert [(r.status_code, r.json()["code"]) for r in refused] == [(401, "unauthorized")] * 2
    assert served.status_code == 200


def test_without_a_token_only_development_answers(settings: Settings, migrated: None) -> None:
    for app_env, expected in (("test", 401), ("development", 200)):
        app = create_app(settings.model_copy(update={"app_env": app_env}))
        try:
            assert app.test_client().get("/metrics").status_code == expected, app_env
        finally:
            database_of(app).dispose()


def test_requests_latency_and_the_job_queue_are_counted(settings: Settings, migrated: None, db: Session) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": TOKEN}))
    try:
        client = app.test_client()
        before = samples(scrape(client), "switchboard_http_requests_total")
        for _ in range(3):
            client.get("/api/v1/countries")
        client.get("/api/v1/plans?limit=0")  # a 400
        text = scrape(client)
    finally:
        database_of(app).dispose()

    counts = samples(text, "switchboard_http_requests_total")
    ok = (("method", "GET"), ("operation", "listCountries"), ("status", "200"))
    invalid = (("method", "GET"), ("operation", "listPlans"), ("status", "400"))
    assert counts[ok] - before.get(ok, 0) == 3
    assert counts[invalid] - before.get(invalid, 0) == 1
    latency = samples(text, "switchboard_http_request_duration_seconds_count")
    assert latency[(("method", "GET"), ("operation", "listCountries"))] >= 3
    queue = Job.metrics(db, alert_kinds=(SEND_EMAIL,))  # what the database says now
    jobs = samples(text, "switchboard_jobs")
    assert {status: jobs[(("status", status),)] for status in ("queued", "running", "dead")} == {
        status: queue[status] for status in ("queued", "running", "dead")
    }
    assert samples(text, "switchboard_jobs_dead_alerting")[()] == queue["deadAlerting"]
    assert samples(text, "switchboard_jobs_read")[()] == 1
    assert "switchboard_db_pool_connections_in_use" in text
    assert "switchboard_http_requests_in_flight" in text


def test_a_scrape_while_the_database_is_down_still_answers(settings: Settings) -> None:
    unreachable = f"postgresql+psycopg2://switchboard@127.0.0.1:{free_port()}/switchboard?connect_timeout=2"
    app = create_app(settings.model_copy(update={"metrics_token": TOKEN, "database_url": unreachable}))
    try:
        text = scrape(app.test_client())
    finally:
        database_of(app).dispose()

    assert samples(text, "switchboard_jobs_read")[()] == 0
    assert "switchboard_http_requests_total" in text


def _per_worker(directory: Path, scratch: Path) -> dict[str, float]:
    """listCountries 200s counted by each worker process, read from its own file alone."""
    counted = {}
    for path in directory.glob("counter_*.db"):
        alone = scratch / path.stem
        alone.mkdir()
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        text = generate_latest(registry).decode()
        counted[path.stem] = samples(text, "switchboard_http_requests_total").get(LIST_COUNTRIES_OK, 0)
    return counted


LIST_COUNTRIES_OK = (("method", "GET"), ("operation", "listCountries"), ("status", "200"))


def test_the_counts_of_two_workers_are_merged(database_url: str, migrated: None, tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    env = {"WEB_CONCURRENCY": "2", "METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with gunicorn(database_url, tmp_path / "server.log", **env) as (_, base):

        def read_countries(_: int) -> int:
            with urllib.request.urlopen(f"{base}/api/v1/countries", timeout=10) as response:  # noqa: S310
                return int(response.status)

        with ThreadPoolExecutor(8) as pool:  # new connections, several at once: both workers accept some
            statuses = list(pool.map(read_countries, range(200)))
        request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        per_worker = _per_worker(directory, tmp_path)

    assert statuses == [200] * 200
    assert sorted(count > 0 for count in per_worker.values()) == [True, True], per_worker
    assert samples(text, "switchboard_http_requests_total")[LIST_COUNTRIES_OK] == 200 == sum(per_worker.values())
