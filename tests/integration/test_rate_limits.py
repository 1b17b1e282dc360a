"""Rate limits (web/rate_limits.py): budgets per address and per caller, their headers, one budget shared
by two servers through a real Redis, and Redis down (fail open)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from connexion import FlaskApp
from sqlalchemy.orm import Session

from app import create_app
from core.config import Settings
from models.api_key import SECRET_MARKER, _checksum, is_well_formed
from tests.conftest import database_of
from tests.factories import make_business, make_user
from tests.helpers import auth_headers, free_port
from tests.live_server import gunicorn, wait_until
from web.middleware import client_address
from web.rate_limits import RETRY_SECONDS
from web.spec import Contract

WRONG_SIGN_IN = {"email": "nobody@example.com", "password": "not-the-password-1"}


@contextlib.contextmanager
def app_with(settings: Settings, **limits: str) -> Iterator[FlaskApp]:
    app = create_app(settings.model_copy(update={f"rate_limit_{name}": rate for name, rate in limits.items()}))
    try:
        yield app
    finally:
        database_of(app).dispose()


def test_a_sensitive_budget_counts_down_then_answers_429(settings: Settings, migrated: None) -> None:
    with app_with(settings, sensitive="3/minute") as app, app.test_client() as client:
        answers = [client.post("/api/v1/auth/login", json=WRONG_SIGN_IN) for _ in range(4)]

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert [a.headers["RateLimit-Policy"] for a in answers] == ['"sensitive";q=3;w=60'] * 4
    remaining = [a.headers["RateLimit"].split(";")[1] for a in answers]
    assert remaining == ["r=2", "r=1", "r=0", "r=0"]
    limited = answers[-1]
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["code"] == "rate_limited"
    reset = int(limited.headers["RateLimit"].rsplit("t=", 1)[1])
    assert 1 <= int(limited.headers["Retry-After"]) == max(reset, 1) <= 60


def test_invalid_requests_spend_the_budget_too(settings: Settings, migrated: None) -> None:
    """Counted before validation: a flood of malformed sign-ins is turned away like any other."""
    with app_with(settings, sensitive="2/minute") as app, app.test_client() as client:
        answers = [client.post("/api/v1/auth/register", json={"email": 42}) for _ in range(3)]

    assert [a.status_code for a in answers] == [400, 400, 429]


def test_each_person_and_each_key_has_a_budget_of_their_own(settings: Settings, migrated: None, db: Session) -> None:
    first, second = make_user(db), make_user(db)
    make_business(db, owner=first)
    make_business(db, owner=second)
    db.commit()
    with app_with(settings, authenticated="2/minute") as app, app.test_client() as client:
        first_headers, second_headers = auth_headers(client, first.email), auth_headers(client, second.email)
        created = client.post(
            "/api/v1/api-keys", json={"name": "CRM", "scopes": ["business:read"]}, headers=first_headers
        )
        key = {"X-API-Key": created.json()["secret"]}
        first_answers = [client.get("/api/v1/business/me", headers=first_headers).status_code for _ in range(2)]
        second_answers = [client.get("/api/v1/business/me", headers=second_headers).status_code for _ in range(2)]
        key_answers = [client.get("/api/v1/business/me", headers=key).status_code for _ in range(3)]

    assert first_answers == [200, 429]  # creating the key spent the first of two
    assert second_answers == [200, 200]
    assert key_answers == [200, 200, 429]


def test_internal_operations_spend_no_budget(settings: Settings, migrated: None) -> None:
    with app_with(settings, anonymous="1/minute") as app, app.test_client() as client:
        probes = [client.get("/health-check/liveness") for _ in range(3)]
        reads = [client.get("/api/v1/countries") for _ in range(2)]

    assert [p.status_code for p in probes] == [200, 200, 200]
    assert all("RateLimit" not in p.headers for p in probes)
    assert [r.status_code for r in reads] == [200, 429]


def test_the_spec_marks_sign_in_sign_up_and_mail_as_sensitive() -> None:
    policies = Contract.load().rate_policies
    sensitive = sorted(op for op, policy in policies.items() if policy == "sensitive")

    assert sensitive == sorted(
        [
            "registerUser",
            "login",
            "refreshTokens",
            "issueToken",
            "verifyEmail",
            "resendVerificationEmail",
            "forgotPassword",
            "resetPassword",
            "createInvitation",
        ]
    )
    assert policies["listPlans"] == "anonymous"
    assert policies["getBusiness"] == "authenticated"
    assert "getLiveness" not in policies
    assert "getJwks" not in policies


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # an untrusted peer's header is ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),  # our proxy names the client
        ("10.0.0.2", "198.51.100.1, 10.0.0.7", "198.51.100.1"),  # through two of our proxies
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # what the client itself forged comes before
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        ("testclient", "198.51.100.1", "testclient"),
    ],
)
def test_the_client_address_trusts_only_configured_proxies(peer: str, forwarded_for: str | None, expected: str) -> None:
    assert client_address(peer, forwarded_for, [ip_network("10.0.0.0/8")]) == expected


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    """A real redis-server (the Debian package; .ci/run installs it), answering on `port`."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (apt-get install redis-server; .ci/run does)"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    wait_until(answers)
    return process


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    yield port
    subprocess.run(["pkill", "-f", f"redis-server 127.0.0.1:{port}"], check=False)


def post(url: str, body: dict[str, Any]) -> tuple[int, Message]:
    """(status, headers: looked up whatever their case)."""
    request = urllib.request.Request(  # noqa: S310 - our local server
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_two_servers_share_one_budget_in_redis_and_serve_on_while_it_is_down(
    database_url: str, migrated: None, tmp_path: Path, redis_port: int
) -> None:
    port = redis_port
    process = start_redis(port, tmp_path)
    limits = {"RATE_LIMIT_STORAGE_URL": f"redis://127.0.0.1:{port}/0", "RATE_LIMIT_SENSITIVE": "5/minute"}
    with (
        gunicorn(database_url, tmp_path / "a.log", **limits) as (_, a),
        gunicorn(database_url, tmp_path / "b.log", **limits) as (_, b),
    ):
        answers = [post(f"{base}/api/v1/auth/login", WRONG_SIGN_IN) for base in (a, b, a, b, a, b)]
        assert [status for status, _ in answers] == [401, 401, 401, 401, 401, 429]
        assert [headers["RateLimit"].split(";")[1] for _, headers in answers] == [
            "r=4",
            "r=3",
            "r=2",
            "r=1",
            "r=0",
            "r=0",
        ]

        process.terminate()  # Redis goes away: fail open, with a warning
        process.wait(timeout=10)
        started = time.monotonic()
        while_down = [post(f"{base}/api/v1/auth/login", WRONG_SIGN_IN) for base in (a, b, a, b)]
        assert time.monotonic() - started < 5  # a down Redis costs each request no more than its timeout
        assert [status for status, _ in while_down] == [401, 401, 401, 401]
        assert all("RateLimit" not in headers for _, headers in while_down)

        start_redis(port, tmp_path)  # back (empty): counted again once the storage is retried
        time.sleep(RETRY_SECONDS + 0.5)
        status, headers = post(f"{a}/api/v1/auth/login", WRONG_SIGN_IN)
        assert (status, headers["RateLimit"].split(";")[1]) == (401, "r=4")
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "rate limits not enforced" in logs


def test_a_forged_key_with_anothers_prefix_spends_its_own_budget(
    settings: Settings, migrated: None, db: Session
) -> None:
    """The prefix is visible; anyone can write a well-formed secret with it. It must not spend the real key's budget."""
    owner = make_user(db)
    make_business(db, owner=owner)
    db.commit()
    with app_with(settings, authenticated="2/minute") as app, app.test_client() as client:
        key_request = {"name": "CRM", "scopes": ["business:read"]}
        secret = client.post("/api/v1/api-keys", json=key_request, headers=auth_headers(client, owner.email)).json()
        secret = secret["secret"]
        kept = secret[: len(SECRET_MARKER) + 8]
        body = kept[len(SECRET_MARKER) :] + "z" * (43 - 8)
        forged = SECRET_MARKER + body + _checksum(body)
        assert is_well_formed(forged)
        assert forged != secret
        forged_answers = [
            client.get("/api/v1/business/me", headers={"X-API-Key": forged}).status_code for _ in range(3)
        ]
        real_answers = [client.get("/api/v1/business/me", headers={"X-API-Key": secret}).status_code for _ in range(2)]

    assert forged_answers == [401, 401, 429]
    assert real_answers == [200, 200]
