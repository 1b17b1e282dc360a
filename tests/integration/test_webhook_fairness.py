"""One tenant cannot slow another: a webhook endpoint that keeps failing is paused (its circuit opens), and a
noisy neighbour's backlog for a hanging endpoint delays neither another business's webhook nor a
password-reset email, with the worker started as `make run` starts it (`python worker.py`, its defaults)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from connexion import FlaskApp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from core.config import PROJECT_ROOT
from models import Job, JobStatus, WebhookEndpoint
from models.base import utcnow
from schemas import events
from services import webhooks
from tests.factories import make_business, make_user
from tests.helpers import auth_headers, owner_of_a_business
from tests.integration.test_webhooks import ENDPOINTS, create, deliver, deliveries
from tests.smtp import Inbox, start_smtp
from tests.webhook_events import Receiver, check_delivery


def test_an_endpoint_failing_again_and_again_is_paused_and_its_events_wait_without_attempts(
    app: FlaskApp, client: TestClient, db: Session, receiver: Receiver
) -> None:
    headers = owner_of_a_business(client, db).headers
    endpoint = create(client, headers, receiver.url)
    receiver.answers = [500] * 5
    for n in range(6):
        client.patch("/api/v1/business/me", json={"greeting": f"Hello {n}"}, headers=headers)

    assert deliver(app) == 5  # the fifth failure in a row opens the circuit: the sixth event waits
    shown = client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=headers).json()
    paused_until = datetime.fromisoformat(shown["pausedUntil"])
    assert timedelta(seconds=25) < paused_until - utcnow() <= timedelta(seconds=30)
    assert sorted(d["attempts"] for d in deliveries(client, headers, endpoint)) == [0, 1, 1, 1, 1, 1]

    db.execute(update(Job).values(run_at=utcnow()))  # the jobs' own backoff has passed, the pause has not
    db.commit()
    assert deliver(app) == 6  # each is put back for the end of the pause, untried
    assert len(receiver.received) == 5
    assert sorted(d["attempts"] for d in deliveries(client, headers, endpoint)) == [0, 1, 1, 1, 1, 1]
    assert all(job.run_at >= paused_until for job in db.scalars(select(Job)))

    db.execute(update(WebhookEndpoint).values(paused_until=utcnow()))  # the pause is over
    db.execute(update(Job).values(run_at=utcnow()))
    db.commit()
    assert deliver(app) == 6
    assert {d["status"] for d in deliveries(client, headers, endpoint)} == {"succeeded"}
    assert client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=headers).json()["pausedUntil"] is None


class Endpoint(ThreadingHTTPServer):
    """A customer's webhook receiver on loopback: answers 200 at once, or, when `hang` is set, only after
    30 s (longer than a delivery waits). Records when each event arrived, by its webhook-id."""

    daemon_threads = True

    def __init__(self, *, hang: bool) -> None:
        self.hang = hang
        self.arrived: dict[str, float] = {}
        self.invalid: list[str] = []  # deliveries that stray from the spec (tests/webhook_events.py)
        self.closing = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def close(self) -> None:
        self.closing.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.arrived[self.headers["webhook-id"]] = time.monotonic()
        try:
            check_delivery(body, dict(self.headers))
        except AssertionError as stray:
            self.server.invalid.append(str(stray))
        if self.server.hang:
            self.server.closing.wait(30)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoints() -> Iterator[Callable[..., Endpoint]]:
    started: list[Endpoint] = []

    def start(*, hang: bool = False) -> Endpoint:
        started.append(Endpoint(hang=hang))
        return started[-1]

    yield start
    for endpoint in started:
        endpoint.close()
    assert [endpoint.invalid for endpoint in started] == [[] for _ in started]


@pytest.fixture
def make_run_worker(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """`python worker.py` as `make run` starts it: its defaults, plus the settings a user gives (the
    database, and MAIL_URL for their relay)."""
    workers: list[subprocess.Popen[bytes]] = []

    def start(mail_url: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "DATABASE_URL": database_url, "MAIL_URL": mail_url}
        log = (tmp_path / "worker.log").open("ab")
        workers.append(
            subprocess.Popen([sys.executable, "worker.py"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
        )
        return workers[-1]

    yield start
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_for(condition: Callable[[], bool], seconds: float) -> float:
    """Seconds until `condition` held; fails past `seconds`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_noisy_neighbours_hanging_endpoint_delays_no_one_elses_webhook_or_reset_email(
    # The worker first, so that it is stopped after the endpoints close (teardown runs in reverse): a worker
    # stopped first would wait out its deliveries to the hanging one (WEBHOOK_TIMEOUT_SECONDS) before exiting.
    client: TestClient,
    db: Session,
    make_run_worker: Callable[[str], object],
    endpoints: Callable[..., Endpoint],
) -> None:
    inbox = Inbox()
    smtp = start_smtp(inbox)
    hanging, quiet = endpoints(hang=True), endpoints()
    noisy_headers = owner_of_a_business(client, db).headers
    create(client, noisy_headers, hanging.url, events=["business.updated"])
    noisy = db.scalar(select(WebhookEndpoint).where(WebhookEndpoint.url == hanging.url))
    assert noisy is not None
    for n in range(1000):  # a backlog of the noisy business's events, all due before anyone else's
        webhooks.emit(db, noisy.business_id, events.business_updated(noisy.business_id, {"greeting": [None, str(n)]}))
    db.commit()
    quiet_owner = make_user(db)
    make_business(db, owner=quiet_owner)
    db.commit()
    quiet_headers = auth_headers(client, quiet_owner.email)
    create(client, quiet_headers, quiet.url, events=["business.updated"])
    db.close()

    make_run_worker(f"smtp://127.0.0.1:{smtp.port}")
    try:
        wait_for(lambda: len(hanging.arrived) >= 1, seconds=30)  # the worker is up and stuck on the noisy one
        started = time.monotonic()
        assert client.patch("/api/v1/business/me", json={"greeting": "Hi"}, headers=quiet_headers).status_code == 200
        assert client.post("/api/v1/auth/password/forgot", json={"email": quiet_owner.email}).status_code == 202
        wait_for(lambda: len(quiet.arrived) == 1, seconds=5)
        webhook_seconds = next(iter(quiet.arrived.values())) - started
        wait_for(lambda: len(inbox.messages) == 1, seconds=5 - (time.monotonic() - started))
        mail_seconds = time.monotonic() - started
    finally:
        smtp.stop()

    print(f"\nbehind 1000 events for a hanging endpoint: webhook {webhook_seconds:.3f} s, email {mail_seconds:.3f} s")
    assert inbox.messages[0]["Subject"] == "Reset your Switchboard password"
    assert len(hanging.arrived) <= 2  # the noisy endpoint never has more than two deliveries in flight
    in_flight = db.scalar(
        select(func.count()).where(Job.concurrency_key == noisy.concurrency_key, Job.status == JobStatus.RUNNING)
    )
    db.close()  # the worker's shutdown (its deliveries run out their timeout) outlasts a lent connection's deadline
    assert in_flight == 2
