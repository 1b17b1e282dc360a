"""Several replicas as `make replicas` (scripts/replicas) starts them: two web servers and two job workers on one
PostgreSQL and one Redis, behind HAProxy. Everything is asked through the balancer, which sends requests to both
servers in turn: one rate-limit budget, not one per server; every email sent once although two workers take
jobs from one queue; a revoked session refused by each server at its next request; every webhook event
delivered once; and a rolling restart of the web servers under load that loses no request."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx2
import psutil
import pytest
from connexion import FlaskApp
from sqlalchemy.orm import Session

from core.config import PROJECT_ROOT
from tests.conftest import empty_tables
from tests.factories import PASSWORD, make_business, make_user
from tests.helpers import bearer
from tests.smtp import Inbox, start_smtp
from tests.system.test_make_run import MAKE, START_SECONDS, MakeRun, clean_environment, eventually
from tests.webhook_events import verified_event

REPLICAS = 2
SENSITIVE_BUDGET = 10  # RATE_LIMIT_SENSITIVE per minute and client address: make run's default, set explicitly
# A request is lost when no server answered it: the client's connection failed, or HAProxy answered for want of
# a server (502 bad gateway, 503 no server available, 504 gateway timeout).
LOST_STATUSES = {502, 503, 504}
WRONG_SIGN_IN = {"email": "nobody-here@example.com", "password": "not-the-password-1"}


def free_ports(count: int) -> int:
    """A port P such that P .. P+count-1 are free on every address (HAProxy and gunicorn bind 0.0.0.0)."""

    def free(port: int) -> bool:
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))  # noqa: S104
            except OSError:
                return False
        return True

    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("0.0.0.0", 0))  # noqa: S104
            base = int(probe.getsockname()[1])
        if base + count <= 65536 and all(free(base + i) for i in range(count)):
            return base
    raise AssertionError(f"no {count} consecutive free ports")


class SenderInbox(Inbox):
    """The test SMTP server, also noting which process sent each message: the owner of the client's socket."""

    def __init__(self) -> None:
        super().__init__()
        self.port = 0
        self.senders: list[int | None] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        client = tuple(session.peer[:2])
        owners = [
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.laddr and tuple(c.laddr[:2]) == client and c.raddr and c.raddr[1] == self.port
        ]
        self.senders.append(owners[0] if owners else None)
        return await super().handle_DATA(server, session, envelope)


class Receiver(BaseHTTPRequestHandler):
    """A customer's webhook endpoint: keeps every delivery and answers 204."""

    deliveries: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Replicas:
    run: MakeRun
    web_ports: list[int]

    def pid(self, name: str) -> int:
        return int((self.run.var_dir / "replicas" / f"{name}.pid").read_text())

    def api(self, source: str = "127.0.0.1", port: int | None = None) -> httpx2.Client:
        """A client of the balancer (or of one server's port), connecting from `source` (any 127.x.y.z is ours)."""
        transport = httpx2.HTTPTransport(local_address=source)
        return httpx2.Client(
            base_url=f"http://127.0.0.1:{port or self.run.port}/api/v1", transport=transport, timeout=10
        )

    def served_by(self, after: str = "", prefix: str = "") -> dict[str, str]:
        """Which web server logged each request id starting with `prefix` (their access log lines), in the output
        after the line `after`. (HAProxy's health checks are logged too, with ids of their own: a server that
        answered one is not yet one HAProxy sends requests to.)"""
        output = self.run.output()
        if after not in output:
            return {}
        served = {}
        for line in output[output.index(after) :].splitlines():
            name, _, entry = line.partition("| ")
            if name.startswith("web.") and entry.startswith("{"):
                record = json.loads(entry)
                if record.get("message") == "request" and record["requestId"].startswith(prefix):
                    served[record["requestId"]] = name.strip()
        return served


@pytest.fixture(scope="module")
def inbox() -> Iterator[SenderInbox]:
    inbox = SenderInbox()
    controller = start_smtp(inbox)
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, inbox: SenderInbox, app: FlaskApp
) -> Iterator[Replicas]:
    """`make replicas` on the tests' PostgreSQL, as its user would start it (DATABASE_URL and MAIL_URL set);
    stopped with SIGTERM afterwards, every process of it gone."""
    folder = tmp_path_factory.mktemp("replicas")
    port = free_ports(REPLICAS + 2)  # HAProxy, the web servers, Redis
    settings = {
        "DATABASE_URL": database_url,
        "MAIL_URL": f"smtp://127.0.0.1:{inbox.port}",
        "MAIL_TIMEOUT_SECONDS": "30",  # the mail test holds messages back for a few seconds
        "WORKER_CONCURRENCY": "2",  # mail slots per worker: a dozen emails are more than one worker takes at once
        "RATE_LIMIT_SENSITIVE": f"{SENSITIVE_BUDGET}/minute",
        # The rolling restart's load is test traffic, not abuse.
        "RATE_LIMIT_ANONYMOUS": "1000000/minute",
        "RATE_LIMIT_AUTHENTICATED": "1000000/minute",
    }
    log = folder / "make-replicas.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [MAKE, "--no-print-directory", "replicas"],
            cwd=PROJECT_ROOT,
            env=clean_environment(folder / "var", port) | settings,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = MakeRun(folder / "var", port, log, process)
    try:
        eventually(
            "make replicas is ready", lambda: (run.ready() and "| ready: http" in run.output()) or None, START_SECONDS
        )
        yield Replicas(run, [port + i for i in range(1, REPLICAS + 1)])
    finally:
        try:
            if process.poll() is None:
                run.stop(signal.SIGTERM)  # returns once make has ended, and with it the script
        finally:
            left = processes_with(VAR_DIR=str(run.var_dir))  # each replica runs in a process group of its own
            for straggler in left:
                straggler.kill()
            empty_tables(app)  # the users, jobs and catalog it made, for the suites that follow
    assert not left, f"still running after make replicas ended: {[p.info['cmdline'] for p in left]}"


def processes_with(**variables: str) -> list[psutil.Process]:
    found = []
    for candidate in psutil.process_iter(["cmdline"]):
        try:
            if variables.items() <= candidate.environ().items() and candidate.status() != psutil.STATUS_ZOMBIE:
                found.append(candidate)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue  # ended while we looked
    return found


def test_one_rate_limit_budget_for_both_servers(system: Replicas) -> None:
    """The sensitive budget is the client's, wherever HAProxy sends each request; a forged X-Forwarded-For
    does not buy a second one (HAProxy sets the header to the client's address)."""
    with system.api(source="127.0.0.2") as api:
        answers = [
            api.post(
                "/auth/login",
                json=WRONG_SIGN_IN,
                headers={"X-Request-ID": f"budget-{i}", "X-Forwarded-For": f"198.51.100.{i}"},
            )
            for i in range(SENSITIVE_BUDGET + 4)
        ]

    assert [a.status_code for a in answers] == [401] * SENSITIVE_BUDGET + [429] * 4
    remaining = [a.headers["RateLimit"].split(";")[1] for a in answers]
    assert remaining == [f"r={n}" for n in range(SENSITIVE_BUDGET - 1, -1, -1)] + ["r=0"] * 4
    served = eventually("every request in a server's log", lambda: _all_served(system, "budget-", len(answers)))
    assert set(served) == {"web.1", "web.2"}


def _all_served(system: Replicas, prefix: str, count: int) -> list[str] | None:
    served = system.served_by()
    names = [served.get(f"{prefix}{i}") for i in range(count)]
    return None if None in names else [name for name in names if name]


def test_every_email_is_sent_once_by_one_of_the_two_workers(system: Replicas, inbox: SenderInbox, db: Session) -> None:
    """A dozen reset emails, queued through both servers; both workers take some (SMTP holds the first ones
    back until each worker has one in hand); each arrives once."""
    users = [make_user(db) for _ in range(12)]
    db.commit()
    workers = {system.pid(f"worker.{i}") for i in range(1, REPLICAS + 1)}

    inbox.hold_messages()
    try:
        for i, user in enumerate(users):  # from two addresses: the sensitive budget is 10 per address
            with system.api(source=f"127.0.0.{3 + i % 2}") as api:
                assert api.post("/auth/password/forgot", json={"email": user.email}).status_code == 202
        eventually("both workers sending", lambda: workers <= set(inbox.senders) or None, 20)
    finally:
        inbox.release()

    addresses = sorted(user.email for user in users)
    eventually("every email", lambda: len(_to(inbox, addresses)) >= len(addresses) or None)
    time.sleep(1)  # a second copy would come now
    received = _to(inbox, addresses)
    assert sorted(m["To"] for m in received) == addresses
    assert len({m["Message-ID"] for m in received}) == len(addresses)
    assert set(inbox.senders) == workers


def _to(inbox: Inbox, addresses: list[str]) -> list[EmailMessage]:
    return [message for message in list(inbox.messages) if message["To"] in addresses]


def test_a_revoked_session_is_refused_by_both_servers_at_the_next_request(system: Replicas, db: Session) -> None:
    user = make_user(db)
    db.commit()
    with system.api(source="127.0.0.5") as api:
        signed_in = api.post("/auth/login", json={"email": user.email, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        headers = bearer(signed_in.json()["accessToken"])
        each = [system.api(port=port) for port in system.web_ports] + [api]  # each server directly, and HAProxy

        assert [c.get("/users/me", headers=headers).status_code for c in each] == [200] * (REPLICAS + 1)
        assert api.post("/auth/logout", headers=headers).status_code == 204

        assert [c.get("/users/me", headers=headers).status_code for c in each] == [401] * (REPLICAS + 1)


def test_each_webhook_event_is_delivered_once(system: Replicas, receiver: str, db: Session) -> None:
    owner = make_user(db)
    make_business(db, owner=owner)
    db.commit()
    with system.api(source="127.0.0.6") as api:
        signed_in = api.post("/auth/login", json={"email": owner.email, "password": PASSWORD})
        headers = bearer(signed_in.json()["accessToken"])
        created = api.post(
            "/webhook-endpoints", json={"url": receiver, "events": ["business.updated"]}, headers=headers
        )
        assert created.status_code == 201, created.text
        endpoint = created.json()
        for i in range(10):  # ten changes, through both servers: ten events
            changed = api.patch("/business/me", json={"greeting": f"Hello, caller number {i}"}, headers=headers)
            assert changed.status_code == 200, changed.text

        eventually("ten deliveries", lambda: len(Receiver.deliveries) >= 10 or None)
        time.sleep(1)  # a second delivery of one would come now
        ids = Counter(received["webhook-id"] for received, _ in Receiver.deliveries)
        assert len(ids) == 10
        assert set(ids.values()) == {1}
        for received, body in Receiver.deliveries:
            assert verified_event(endpoint["secret"], body, received)["type"] == "business.updated"
        listed = api.get(f"/webhook-endpoints/{endpoint['id']}/deliveries", headers=headers).json()["data"]
        assert sorted(d["eventId"] for d in listed) == sorted(ids)


@dataclass
class Load:
    """Clients sending requests through HAProxy one after another, each on its keep-alive connection."""

    system: Replicas
    clients: int = 2
    statuses: Counter[int] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    _sent: itertools.count[int] = field(default_factory=itertools.count)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._send, args=(i,)) for i in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _send(self, client: int) -> None:
        with self.system.api(source=f"127.0.1.{client + 1}") as api:
            while not self._stop.is_set():
                request_id = f"load-{next(self._sent)}"
                try:
                    status = api.get(
                        "/plans", params={"country": "US"}, headers={"X-Request-ID": request_id}
                    ).status_code
                except httpx2.TransportError as error:
                    self.lost.append(f"{request_id}: {error!r}")
                    continue
                with self._lock:
                    self.statuses[status] += 1
                time.sleep(0.01)  # steady load, leaving the restarting server some of the machine to boot on
                if status in LOST_STATUSES:
                    self.lost.append(f"{request_id}: {status}")


def test_a_rolling_restart_under_load_loses_no_request(system: Replicas) -> None:
    """SIGTERM to one server's gunicorn: it drains (readiness 503, HAProxy takes it out), finishes its requests
    and exits; the script starts it again; once HAProxy sends it requests, the other one goes the same way."""
    with Load(system) as load:
        eventually("the load flows", lambda: sum(load.statuses.values()) >= 20 or None)
        for name in ("web.1", "web.2"):
            old = system.pid(name)
            os.kill(old, signal.SIGTERM)
            eventually(f"{name} exits", lambda: not psutil.pid_exists(old) or None, 60)  # noqa: B023
            new = eventually(f"{name} again", lambda: ((pid := system.pid(name)) != old and pid) or None)  # noqa: B023
            started = f"{name} started (pid {new})"
            eventually(
                f"HAProxy sends the new {name} requests",
                lambda: name in system.served_by(after=started, prefix="load-").values() or None,  # noqa: B023
                START_SECONDS,
            )

    assert load.lost == []
    assert set(load.statuses) == {200}
    assert sum(load.statuses.values()) > 200, load.statuses  # under load: requests throughout both restarts
