"""The real server: gunicorn with uvicorn workers, started as production starts it."""

from __future__ import annotations

import collections
import http.client
import os
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.config import PROJECT_ROOT
from tests.live_server import GUNICORN, HEAD_TIMEOUT, get, gunicorn, wait_until


@pytest.fixture
def server(database_url: str, migrated: None, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A gunicorn of the test's own, for a test that stops it."""
    with gunicorn(database_url, tmp_path / "server.log") as started:
        yield started


@pytest.fixture(scope="module")
def shared_server(
    database_url: str, migrated: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """One gunicorn for the tests that leave it serving and close every connection they open."""
    with gunicorn(database_url, tmp_path_factory.mktemp("lifecycle") / "server.log") as started:
        yield started


def test_sigterm_lets_the_in_flight_request_finish_then_stops(
    server: tuple[subprocess.Popen[bytes], str], database_url: str
) -> None:
    process, base = server
    engine = create_engine(database_url)
    results: list[int | Exception] = []

    with engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE external_plans IN ACCESS EXCLUSIVE MODE"))
        slow = threading.Thread(target=lambda: results.append(get(f"{base}/api/v1/plans")))
        slow.start()

        def request_waits_on_the_lock() -> bool:
            query = (
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'lifecycle-test' AND wait_event_type = 'Lock'"
            )
            with engine.connect() as probe:
                return bool(probe.execute(text(query)).scalar())

        wait_until(request_waits_on_the_lock)
        process.send_signal(signal.SIGTERM)
        time.sleep(1)
        with pytest.raises(urllib.error.URLError):  # no longer accepting
            get(f"{base}/health-check/liveness", timeout=2)
        assert results == []  # still in flight
        blocker.rollback()  # the slow request can now finish

    slow.join(timeout=10)
    assert results == [200]
    assert process.wait(timeout=20) == 0

    def pool_closed() -> bool:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lifecycle-test'"
        with engine.connect() as probe:
            return probe.execute(text(query)).scalar() == 0

    wait_until(pool_closed, seconds=5)
    engine.dispose()


def test_invalid_configuration_stops_gunicorn_before_it_serves() -> None:
    env = {**os.environ, "PORT": "http", "LOG_FORMAT": "xml", "DB_POOL_SIZE": "3"}

    result = subprocess.run(
        [GUNICORN, "-c", "gunicorn.conf.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for variable in ("PORT", "LOG_FORMAT", "DB_POOL_SIZE"):
        assert variable in result.stderr


def test_responses_do_not_name_the_server_software(shared_server: tuple[subprocess.Popen[bytes], str]) -> None:
    _, base = shared_server

    with urllib.request.urlopen(f"{base}/health-check/liveness", timeout=10) as response:  # noqa: S310 - ours
        headers = response.headers

    assert headers.get("Server") is None
    assert headers.get("X-Request-ID")  # the app's own headers are there


def _exchange(base: str, request: bytes, *, wait: float = 10) -> bytes:
    """Sends raw bytes on a new connection, 8 KiB at a time (stopping once the server has answered or closed);
    returns all the server sends until it closes the connection."""
    host, port = base.removeprefix("http://").split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=wait) as connection:
        try:
            for start in range(0, len(request), 8192):
                connection.sendall(request[start : start + 8192])
                if select.select([connection], [], [], 0.01)[0]:
                    break  # the server answered before the request ended
            while chunk := connection.recv(65536):
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass  # it closed with our bytes unread: what it sent before is in `received`
    return received


def test_a_request_head_over_16_kib_is_a_431_problem(shared_server: tuple[subprocess.Popen[bytes], str]) -> None:
    _, base = shared_server
    huge = b"GET /health-check/liveness HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n"

    answer = _exchange(base, huge)

    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"Content-Type: application/problem+json" in answer
    assert b'"code": "request_head_too_large"' in answer
    assert get(f"{base}/health-check/liveness") == 200  # and the server serves on


def test_a_request_head_that_never_ends_is_a_408_and_the_connection_closes(
    shared_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = shared_server
    started = time.monotonic()

    answer = _exchange(
        base, b"GET /health-check/liveness HTTP/1.1\r\nHost: x\r\nX-Slow: trickl", wait=HEAD_TIMEOUT + 10
    )

    assert HEAD_TIMEOUT - 0.5 <= time.monotonic() - started < HEAD_TIMEOUT + 5
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code": "request_timeout"' in answer


def test_an_idle_connection_is_closed_after_the_head_timeout(
    shared_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = shared_server
    started = time.monotonic()

    assert _exchange(base, b"", wait=HEAD_TIMEOUT + 10) == b""
    assert time.monotonic() - started < HEAD_TIMEOUT + 5


def test_a_kept_alive_connection_serves_requests_one_after_another(
    shared_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = shared_server
    request = b"GET /health-check/liveness HTTP/1.1\r\nHost: x\r\n\r\n"

    answer = _exchange(base, request * 3, wait=HEAD_TIMEOUT + 10)  # pipelined; the server closes when idle

    assert answer.count(b"HTTP/1.1 200 ") == 3


def test_sigterm_first_drains_readiness_503_while_requests_are_still_served(
    database_url: str, migrated: None, tmp_path: Path
) -> None:
    drain = 3
    with gunicorn(database_url, tmp_path / "server.log", SHUTDOWN_DRAIN_SECONDS=str(drain)) as (process, base):
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        def not_ready() -> bool:
            try:
                return get(f"{base}/health-check/readiness", timeout=1) != 200
            except urllib.error.HTTPError as refused:
                return refused.code == 503

        wait_until(not_ready, seconds=drain)
        served_while_draining = get(f"{base}/api/v1/plans", timeout=2)  # a new connection, still accepted
        assert time.monotonic() - signalled < drain
        assert process.wait(timeout=drain + 20) == 0
        stopped_after = time.monotonic() - signalled

    assert served_while_draining == 200
    assert stopped_after >= drain - 0.5


def test_sigterm_under_load_turns_readiness_503_first_and_fails_no_request(
    database_url: str, migrated: None, tmp_path: Path
) -> None:
    """Eight clients send requests without pause, as a load balancer would until readiness has failed for a
    while (here half the drain after its first 503); then it routes away. Every request is served."""
    drain = 2
    outcomes: list[object] = []  # a status, or what went wrong
    not_ready_at: list[float] = []

    def routed_away() -> bool:
        return bool(not_ready_at) and time.monotonic() > not_ready_at[0] + drain / 2

    with gunicorn(database_url, tmp_path / "server.log", SHUTDOWN_DRAIN_SECONDS=str(drain), WEB_CONCURRENCY="2") as (
        process,
        base,
    ):

        def client() -> None:
            while not routed_away():
                try:
                    outcomes.append(get(f"{base}/api/v1/plans?limit=5", timeout=10))
                except urllib.error.HTTPError as answered:
                    outcomes.append(answered.code)
                except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as failed:
                    outcomes.append(repr(failed))  # refused, reset, cut short: a lost request

        def prober() -> None:
            while not not_ready_at:
                try:
                    get(f"{base}/health-check/readiness", timeout=2)
                except urllib.error.HTTPError:
                    not_ready_at.append(time.monotonic())
                time.sleep(0.02)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        prober()
        for thread in threads:
            thread.join(timeout=30)
        assert process.wait(timeout=drain + 30) == 0

    assert not_ready_at[0] - signalled < 1  # readiness said 503 at once
    assert set(outcomes) == {200}, collections.Counter(map(str, outcomes))
    assert len(outcomes) > 20


def test_a_request_with_more_than_100_header_fields_is_a_431_problem(
    shared_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, base = shared_server
    fields = b"".join(b"X-Field-%d: v\r\n" % n for n in range(101))  # 1.6 KB: far under the size bound

    answer = _exchange(base, b"GET /health-check/liveness HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")

    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"more than 100 header fields" in answer
    assert answer.count(b"HTTP/1.1") == 1  # nothing after the refusal


def test_a_connection_over_the_workers_limit_is_a_503_problem(
    database_url: str, migrated: None, tmp_path: Path
) -> None:
    with gunicorn(database_url, tmp_path / "server.log", HTTP_MAX_CONNECTIONS="3") as (_, base):
        host, port = base.removeprefix("http://").split(":")
        held = [socket.create_connection((host, int(port))) for _ in range(3)]
        try:
            time.sleep(0.3)  # accepted by the worker
            answer = _exchange(base, b"GET /health-check/liveness HTTP/1.1\r\nHost: x\r\n\r\n")
        finally:
            for connection in held:
                connection.close()
        time.sleep(0.3)

        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"Retry-After: 5" in answer
        assert b'"code": "service_unavailable"' in answer
        assert get(f"{base}/health-check/liveness") == 200  # served again once they closed
