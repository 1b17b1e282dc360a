"""A database that stops answering (its processes stopped, as a hung disk or a host paused would leave it):
requests fail within a deadline with 503, instead of waiting as long as the freeze lasts, and the service
recovers once the database answers again. On a PostgreSQL of its own, so the freeze touches no other test."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from connexion import FlaskApp

from app import create_app
from cli.embedded_db import DATABASE, Server
from core.config import Settings
from core.db import alembic_config
from tests.helpers import free_port

DEADLINE = 2.0  # seconds a connection may stay lent (db_client_deadline_seconds)
CONNECT_TIMEOUT = 5  # libpq's, for the new connection tried after the frozen one is cut off


@pytest.fixture(scope="module")
def own_server() -> Iterator[tuple[Server, str]]:
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-frozen-"))
    port = free_port()
    server = Server(workdir / "data", workdir, port)
    server.init(durable=False)
    server.start("-h", "127.0.0.1", "-c", "fsync=off")
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{DATABASE}"
    command.upgrade(alembic_config(url), "head")
    try:
        yield server, url
    finally:
        server.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def _server_processes(server: Server) -> list[int]:
    """The postmaster and every process it started (the backends our pool talks to among them)."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return [postmaster, *children]


def _signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            continue


def test_a_frozen_database_is_a_prompt_503_and_the_service_recovers(
    own_server: tuple[Server, str], settings: Settings
) -> None:
    server, url = own_server
    app: FlaskApp = create_app(
        settings.model_copy(update={"database_url": url, "db_client_deadline_seconds": DEADLINE})
    )
    client = app.test_client()
    assert client.get("/api/v1/plans").status_code == 200  # the pool holds a connection to the server

    bound = DEADLINE + CONNECT_TIMEOUT + 3
    frozen = _server_processes(server)
    caller = ThreadPoolExecutor(1)  # a hang fails the test instead of hanging it
    _signal_all(frozen, signal.SIGSTOP)
    try:
        started = time.monotonic()
        plans = caller.submit(client.get, "/api/v1/plans").result(timeout=bound)
        plans_took = time.monotonic() - started
        started = time.monotonic()
        readiness = caller.submit(client.get, "/health-check/readiness").result(timeout=bound)
        readiness_took = time.monotonic() - started
    finally:
        _signal_all(frozen, signal.SIGCONT)  # which also lets a hung call end
        caller.shutdown()

    assert plans.status_code == 503, plans.text
    assert plans.json()["code"] == "database_unavailable"
    assert plans.headers["Retry-After"]
    assert plans_took < bound, plans_took
    assert readiness.status_code == 503
    assert readiness_took < 2, readiness_took  # a load balancer's probe never waits longer
    deadline = time.monotonic() + 20
    while (status := client.get("/api/v1/plans").status_code) != 200:  # recovered: new connections work
        assert status == 503
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.2)


def _restart(server: Server) -> None:
    server.stop("fast")
    server.start("-h", "127.0.0.1", "-c", "fsync=off")


def test_after_a_restart_a_connection_that_idled_is_replaced_unseen(
    own_server: tuple[Server, str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = own_server
    monkeypatch.setattr("core.db.IDLE_PING_SECONDS", 0)  # every checkout counts as after idling
    client = create_app(settings.model_copy(update={"database_url": url})).test_client()
    assert client.get("/api/v1/plans").status_code == 200  # the pool holds a connection

    _restart(server)  # that connection is dead now

    assert client.get("/api/v1/plans").status_code == 200  # pinged, found dead, replaced


def test_after_a_restart_a_busy_connection_fails_once_with_503_and_the_pool_renews(
    own_server: tuple[Server, str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = own_server
    monkeypatch.setattr("core.db.IDLE_PING_SECONDS", 3600)  # however slow the restart, no checkout pings
    client = create_app(settings.model_copy(update={"database_url": url})).test_client()
    assert client.get("/api/v1/plans").status_code == 200

    _restart(server)  # no ping: the dead connection is used
    first = client.get("/api/v1/plans")

    assert first.status_code == 503
    assert first.json()["code"] == "database_unavailable"
    assert first.headers["Retry-After"]
    assert client.get("/api/v1/plans").status_code == 200
