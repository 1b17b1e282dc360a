"""One place decides the client address: the app (web.middleware.client_address, from TRUSTED_PROXIES), not
uvicorn's proxy-header rewrite as well, which trusts X-Forwarded-For from loopback peers by default. Checked
on gunicorn started as the Procfile starts it, from a loopback peer that is not a trusted proxy."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditEvent
from tests.live_server import gunicorn

WRONG_SIGN_IN = json.dumps({"email": "nobody@example.com", "password": "not-the-password-1"}).encode()


def sign_in(base: str, *, forwarded_for: str, request_id: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - our local server
        f"{base}/api/v1/auth/login",
        data=WRONG_SIGN_IN,
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for, "X-Request-ID": request_id},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def served_scheme(base: str) -> str:
    """The scheme the served spec offers for the API, asked for as if through a proxy that ended TLS."""
    request = urllib.request.Request(f"{base}/api/v1/openapi.json", headers={"X-Forwarded-Proto": "https"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return str(json.load(response)["servers"][0]["variables"]["scheme"]["default"])


def sign_in_three_times(database_url: str, log: Path, *, trusted_proxies: str) -> tuple[list[int], str]:
    """Three refused sign-ins from 127.0.0.1, each naming another client in X-Forwarded-For, on a server
    whose sign-in budget is two a minute; and the served spec's URL asked for with X-Forwarded-Proto."""
    settings = {"TRUSTED_PROXIES": trusted_proxies, "RATE_LIMIT_SENSITIVE": "2/minute"}
    with gunicorn(database_url, log, **settings) as (_, base):
        statuses = [sign_in(base, forwarded_for=f"203.0.113.{n}", request_id=f"spoofed-{n}") for n in (7, 8, 9)]
        return statuses, served_scheme(base)


def recorded_addresses(db: Session) -> list[tuple[str | None, str | None]]:
    """Where the audit log says each refused sign-in came from (the rate limit counts by the same address)."""
    query = select(AuditEvent.request_id, AuditEvent.ip_address).where(AuditEvent.action == "auth.login_failed")
    return sorted((request_id, address) for request_id, address in db.execute(query))


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    database_url: str, migrated: None, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)  # gunicorn's own default, as users have it

    statuses, scheme = sign_in_three_times(database_url, tmp_path / "server.log", trusted_proxies="")

    assert recorded_addresses(db) == [("spoofed-7", "127.0.0.1"), ("spoofed-8", "127.0.0.1")]
    assert statuses == [401, 401, 429]  # one budget, the peer's: a new header does not buy a new one
    assert scheme == "http"


def test_a_trusted_proxy_names_the_client(
    database_url: str, migrated: None, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)

    statuses, scheme = sign_in_three_times(database_url, tmp_path / "server.log", trusted_proxies="127.0.0.1")

    assert recorded_addresses(db) == [(f"spoofed-{n}", f"203.0.113.{n}") for n in (7, 8, 9)]
    assert statuses == [401, 401, 401]  # three clients behind our proxy, a budget each
    assert scheme == "https"  # the proxy ended TLS: Swagger UI must call https


def test_every_forwarded_for_line_is_read_as_one_list(
    database_url: str, migrated: None, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy may add its own X-Forwarded-For line instead of appending to the one it received: the lines are one
    list in order (RFC 9110 5.3), read from the right. The first line alone is the client's own claim; the last alone
    here names only our proxy."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    settings = {"TRUSTED_PROXIES": "127.0.0.1"}
    with gunicorn(database_url, tmp_path / "server.log", **settings) as (_, base):
        connection = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=10)
        connection.putrequest("POST", "/api/v1/auth/login")
        for line in ("198.51.100.1, 203.0.113.5", "127.0.0.1"):  # what the client sent, then another proxy of ours
            connection.putheader("X-Forwarded-For", line)
        for name, value in (("Content-Type", "application/json"), ("X-Request-ID", "two-lines")):
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(WRONG_SIGN_IN)))
        connection.endheaders(WRONG_SIGN_IN)
        assert connection.getresponse().status == 401
        connection.close()

    assert recorded_addresses(db) == [("two-lines", "203.0.113.5")]
