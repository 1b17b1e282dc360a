"""GET /metrics (web/metrics.py): Prometheus's text format, behind METRICS_TOKEN, merged across workers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from joserfc.jwk import ECKey, KeySet
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from app import create_app
from core.config import PROJECT_ROOT, Settings
from models import Job
from services.mail import SEND_EMAIL
from tests.conftest import database_of
from tests.helpers import free_port
from tests.live_server import GUNICORN, get, wait_until

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


def per_worker(directory: Path, labels: tuple[tuple[str, str], ...]) -> dict[str, float]:
    """The requests with these labels counted by each worker process, read from its own file alone."""
    counted = {}
    for path in directory.glob("counter_*.db"):
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(path, Path(alone) / path.name)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=alone)
            text = generate_latest(registry).decode()
        counted[path.stem] = samples(text, "switchboard_http_requests_total").get(labels, 0)
    return counted


LIST_COUNTRIES_OK = (("method", "GET"), ("operation", "listCountries"), ("status", "200"))

# Variables of the tests' own run that a user's shell does not have, or that would start gunicorn otherwise
# than its defaults: none reaches the servers below.
NOT_A_USERS = {"PG_TEST_ADMIN_URL", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "GUNICORN_CMD_ARGS"}


def users_environment(tmp: Path, **settings: str) -> dict[str, str]:
    """A user's shell: no Switchboard setting or test variable of this run, then `settings` as the user gives
    them. TMPDIR only places the default metrics directory (tempfile.mkdtemp in gunicorn.conf.py) where this
    test can read each worker's file; which directory, and whether there is one, stays gunicorn.conf.py's."""
    shell = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields and k not in NOT_A_USERS}
    return shell | {"TMPDIR": str(tmp)} | settings


def _image_settings(database_url: str) -> dict[str, str]:
    """The Dockerfile's ENV, docker-compose.yml's app environment, and what production needs a user to set
    (its database, SMTP server and signing keys) and a Prometheus to scrape (METRICS_TOKEN)."""
    key = ECKey.generate_key("P-256", parameters={"kid": "image-test"}, private=True)
    return {
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "APP_ENV": "production",
        "SHUTDOWN_DRAIN_SECONDS": "5",
        "WEB_CONCURRENCY": "2",
        "LOG_FORMAT": "json",
        "DATABASE_URL": database_url,
        "MAIL_URL": f"smtp://127.0.0.1:{free_port()}",  # only the job worker sends mail
        "JWT_PRIVATE_KEYS": json.dumps(KeySet([key]).as_dict(private=True)),
        "METRICS_TOKEN": TOKEN,
    }


@contextlib.contextmanager
def served(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`gunicorn -c gunicorn.conf.py` (the Procfile's web line, the image's CMD) in exactly `env`."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # a group of its own: the workers end with it, whatever happens
            [GUNICORN, "-c", "gunicorn.conf.py"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{env['PORT']}"

    def answers() -> bool:
        assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            return get(f"{base}/health-check/readiness", timeout=1) == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    try:
        wait_until(answers, 60)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # any worker left behind
            process.wait()


@pytest.mark.parametrize("start", ["make run", "image"])
def test_requests_are_counted_by_operation_across_workers_as_users_start_the_server(
    start: str, database_url: str, migrated: None, tmp_path: Path
) -> None:
    """gunicorn with the environment of the Procfile under `make run` (DATABASE_URL and PORT; the defaults:
    development, two workers, /metrics open) or of the image (production, behind METRICS_TOKEN). Nothing
    here names a metrics directory: gunicorn.conf.py makes it, before anything imports prometheus_client."""
    port = str(free_port())
    if start == "make run":
        env, token = users_environment(tmp_path, DATABASE_URL=database_url, PORT=port), None
    else:
        env, token = users_environment(tmp_path, **_image_settings(database_url), PORT=port), TOKEN
    log = tmp_path / "server.log"
    with served(env, log) as base:
        directories = list(tmp_path.glob("switchboard-metrics-*"))
        assert len(directories) == 1, directories
        directory = directories[0]

        def both_workers_started() -> bool:
            """Both workers serve the app: readiness answers once one does, and the other may start later."""
            return log.read_text(errors="replace").count("Application startup complete.") == 2

        wait_until(both_workers_started, 60)
        with ThreadPoolExecutor(8) as pool:  # new connections, several at once: both workers accept some
            statuses = list(pool.map(lambda _: get(f"{base}/api/v1/countries"), range(200)))
        request = urllib.request.Request(  # noqa: S310
            f"{base}/metrics", headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        deadline = time.monotonic() + 10  # a request is counted just after its response is sent
        while True:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                text = response.read().decode()
            counted = samples(text, "switchboard_http_requests_total").get(LIST_COUNTRIES_OK)
            if counted == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        workers = per_worker(directory, LIST_COUNTRIES_OK)

    assert statuses == [200] * 200
    assert counted == 200, text  # what Prometheus reads
    assert sorted(count > 0 for count in workers.values()) == [True, True], workers  # by both workers
    assert sum(workers.values()) == 200
    assert not directory.exists()  # gunicorn's own directory goes with it
