"""Connecting Google Calendar end to end, against a local OAuth 2.0 server that speaks the protocol.

`FakeGoogle` plays Google on pytest-httpserver: it issues a code for the consent it is shown, and its
token endpoint checks what a real one checks (client credentials, redirect_uri, a single use of the code,
the PKCE verifier against the challenge) before answering JSON tokens; userinfo wants the access token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from connexion import FlaskApp
from cryptography.fernet import Fernet
from pytest_httpserver import HTTPServer
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from werkzeug import Request, Response

from app import create_app
from connectors.google_oauth import CALENDAR_SCOPE, STATE_TTL_SECONDS, GoogleCalendar, PendingGrant
from core.config import Settings
from core.crypto import Cipher
from models import AuditEvent, CalendarConnection, Role
from tests.conftest import UNLIMITED, database_of
from tests.factories import make_business, make_member
from tests.helpers import Owner, assert_problem, free_port, owner_of_a_business

START, CALLBACK, STATUS = (
    "/api/v1/oauth/google/start",
    "/api/v1/oauth/google/callback",
    "/api/v1/integrations/google-calendar",
)
CLIENT_ID, CLIENT_SECRET = "switchboard-test.apps.googleusercontent.com", "google-client-secret"
REDIRECT_URI = "https://api.switchboard.test/api/v1/oauth/google/callback"
FRONTEND = "https://app.switchboard.test"
DATA_KEY = Fernet.generate_key().decode()
TIMEOUT = 0.5  # seconds; the slow provider sleeps longer


@dataclass
class FakeGoogle:
    """Google's authorization server and APIs, as far as this flow uses them."""

    server: HTTPServer
    account_email: str = "owner@example.com"
    scope: str = f"openid https://www.googleapis.com/auth/userinfo.email {CALENDAR_SCOPE}"
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> the consent it was issued for
    token_requests: list[dict[str, str]] = field(default_factory=list)
    issued: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)

    def serve(self) -> FakeGoogle:
        self.server.expect_request("/token", method="POST").respond_with_handler(self._token)
        self.server.expect_request("/userinfo", method="GET").respond_with_handler(self._userinfo)
        self.server.expect_request("/revoke", method="POST").respond_with_handler(self._revoke)
        return self

    def consent(self, consent_url: str, *, allow: bool = True) -> dict[str, str]:
        """What the person's visit to the consent page ends with: the callback's query parameters."""
        query = {name: values[0] for name, values in parse_qs(urlsplit(consent_url).query).items()}
        assert query["client_id"] == CLIENT_ID
        if not allow:
            return {"error": "access_denied", "state": query["state"]}
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        return {"code": code, "state": query["state"], "scope": self.scope}

    def _token(self, request: Request) -> Response:
        form = request.form.to_dict()
        self.token_requests.append(form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _json({"error": "invalid_client"}, 401)
        consent = self.codes.pop(form.get("code", ""), None)  # a code is good once
        if form.get("grant_type") != "authorization_code" or consent is None:
            return _json({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        challenge = _s256(form.get("code_verifier", ""))
        if challenge != consent["code_challenge"] or form.get("redirect_uri") != consent["redirect_uri"]:
            return _json({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        tokens = {
            "access_token": f"ya29.{secrets.token_urlsafe(24)}",
            "refresh_token": f"1//{secrets.token_urlsafe(24)}",
            "expires_in": 3599,
            "scope": self.scope,
            "token_type": "Bearer",
        }
        self.issued.append(tokens)
        return _json(tokens, 200)

    def _userinfo(self, request: Request) -> Response:
        if request.headers.get("Authorization") not in {f"Bearer {t['access_token']}" for t in self.issued}:
            return _json({"error": "invalid_token"}, 401)
        return _json({"sub": "1234567890", "email": self.account_email, "email_verified": True}, 200)

    def _revoke(self, request: Request) -> Response:
        self.revoked.append(request.form["token"])
        return Response(status=200)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def google_settings(database_url: str, base_url: str, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {"data_encryption_keys": DATA_KEY} | UNLIMITED | overrides  # keys as the env has them
    return Settings(
        database_url=database_url,
        app_env="test",
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
        google_redirect_uri=REDIRECT_URI,
        google_authorize_url=f"{base_url}/authorize",
        google_token_url=f"{base_url}/token",
        google_userinfo_url=f"{base_url}/userinfo",
        google_revoke_url=f"{base_url}/revoke",
        google_timeout_seconds=TIMEOUT,
        **fields,
    )


def _built(settings: Settings) -> Iterator[FlaskApp]:
    app = create_app(settings)
    app.test_client().get("/api/v1/health")  # builds the middleware stack once, before any test
    yield app
    database_of(app).dispose()


@pytest.fixture(scope="module")
def provider_url(make_httpserver: HTTPServer) -> str:
    return make_httpserver.url_for("").rstrip("/")


@pytest.fixture(scope="module")
def json_app(database_url: str, provider_url: str, migrated: None) -> Iterator[FlaskApp]:
    """No FRONTEND_URL: the callback answers JSON."""
    yield from _built(google_settings(database_url, provider_url))


@pytest.fixture(scope="module")
def web_app(database_url: str, provider_url: str, migrated: None) -> Iterator[FlaskApp]:
    """FRONTEND_URL set: the callback sends the browser back to the web app."""
    yield from _built(google_settings(database_url, provider_url, frontend_url=FRONTEND))


@pytest.fixture(scope="module")
def down_app(database_url: str, migrated: None) -> Iterator[FlaskApp]:
    """Google's endpoints on a port nobody listens on."""
    yield from _built(google_settings(database_url, _closed_port_url()))


@pytest.fixture
def google(httpserver: HTTPServer) -> Iterator[FakeGoogle]:
    fake = FakeGoogle(httpserver).serve()
    yield fake
    httpserver.check_assertions()  # no request the fake did not expect


@pytest.fixture
def states(database_url: str, provider_url: str) -> GoogleCalendar:
    """The servers' state codec (same keys), to forge states as an attacker could not."""
    settings = google_settings(database_url, provider_url)
    return GoogleCalendar.from_settings(settings, Cipher(settings.data_encryption_keys))


def start(client: TestClient, headers: dict[str, str]) -> str:
    response = client.get(START, headers=headers, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def callback(client: TestClient, query: dict[str, str]) -> Any:
    return client.get(f"{CALLBACK}?{urlencode(query)}", follow_redirects=False)


def connect(client: TestClient, google: FakeGoogle, owner: Owner) -> Any:
    return callback(client, google.consent(start(client, owner.headers)))


# Starting


def test_without_google_credentials_start_says_not_configured(client: TestClient, db: Session) -> None:
    owner = owner_of_a_business(client, db)

    response = client.get(START, headers=owner.headers, follow_redirects=False)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "available": False,
        "error": "Google Calendar integration is not configured on this server",
        "detail": "Contact your administrator to enable Google Calendar integration",
    }


def test_start_redirects_to_the_consent_page_with_pkce_and_offline_access(
    json_app: FlaskApp, provider_url: str, states: GoogleCalendar, db: Session
) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)

    location = start(client, owner.headers)

    url = urlsplit(location)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{provider_url}/authorize"
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["code_challenge_method"] == "S256"
    assert query["access_type"] == "offline"
    assert set(query["scope"].split()) == {"openid", "email", CALENDAR_SCOPE}
    assert CLIENT_SECRET not in location
    # The state is sealed (JWE), bound to this business and person, and carries the verifier of the challenge.
    header = json.loads(base64.urlsafe_b64decode(query["state"].split(".")[0] + "=="))
    assert (header["alg"], header["enc"]) == ("dir", "A256GCM")
    grant = states.read_state(query["state"])
    assert (grant.business_id, grant.user_id) == (owner.business.id, owner.user.id)
    assert _s256(grant.code_verifier) == query["code_challenge"]
    assert grant.code_verifier not in location


def test_a_member_may_not_start_a_connection(json_app: FlaskApp, db: Session) -> None:
    client = json_app.test_client()
    member = owner_of_a_business(client, db, role=Role.MEMBER)

    assert_problem(client.get(START, headers=member.headers, follow_redirects=False), 403, "insufficient_scope")
    assert client.get(STATUS, headers=member.headers).json()["connected"] is False  # reading is allowed


def test_starting_without_signing_in_is_401(json_app: FlaskApp) -> None:
    assert json_app.test_client().get(START, follow_redirects=False).status_code == 401


# The callback


def test_the_full_flow_stores_the_tokens_encrypted_and_the_calendar_shows_connected(
    json_app: FlaskApp, google: FakeGoogle, db: Session
) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    consent_url = start(client, owner.headers)
    returned = google.consent(consent_url)

    response = callback(client, returned)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "connected"
    assert body["calendar"]["connected"] is True
    assert body["calendar"]["accountEmail"] == "owner@example.com"
    # The token endpoint got the code and the verifier of the challenge the consent page was shown.
    (token_request,) = google.token_requests
    assert token_request["code"] == returned["code"]
    assert token_request["grant_type"] == "authorization_code"
    assert token_request["redirect_uri"] == REDIRECT_URI
    challenge = parse_qs(urlsplit(consent_url).query)["code_challenge"][0]
    assert _s256(token_request["code_verifier"]) == challenge
    # Stored encrypted: the raw columns do not hold the tokens; our key opens them.
    (tokens,) = google.issued
    row = db.execute(
        text("SELECT access_token_encrypted, refresh_token_encrypted FROM calendar_connections WHERE business_id = :b"),
        {"b": owner.business.id},
    ).one()
    assert tokens["access_token"] not in row.access_token_encrypted
    assert tokens["refresh_token"] not in row.refresh_token_encrypted
    cipher = Cipher([DATA_KEY])
    assert cipher.decrypt(row.access_token_encrypted) == tokens["access_token"]
    assert cipher.decrypt(row.refresh_token_encrypted) == tokens["refresh_token"]
    connection = db.get_one(CalendarConnection, owner.business.id)
    assert connection.connected_by == owner.user.id
    assert connection.token_expires_at is not None
    # Anyone of the business reads the status.
    status = client.get(STATUS, headers=owner.headers)
    assert status.status_code == 200
    assert status.json() == body["calendar"]
    assert status.json()["connectedAt"].endswith("Z")
    # Audited, without any token.
    (event,) = db.scalars(select(AuditEvent).where(AuditEvent.action == "calendar.connected")).all()
    assert (event.business_id, event.actor_type, event.actor_id) == (owner.business.id, "user", str(owner.user.id))
    assert (event.target_type, event.target_id) == ("business", str(owner.business.id))
    assert event.changes == {"accountEmail": [None, "owner@example.com"]}
    assert not any(value in json.dumps(event.changes) for value in tokens.values() if isinstance(value, str))


def test_with_a_web_app_the_callback_sends_the_browser_back_to_it(
    web_app: FlaskApp, google: FakeGoogle, db: Session
) -> None:
    client = web_app.test_client()
    owner = owner_of_a_business(client, db)

    response = connect(client, google, owner)

    assert response.status_code == 302, response.text
    assert response.headers["location"] == f"{FRONTEND}/settings/calendar?calendar=connected"
    assert db.get(CalendarConnection, owner.business.id) is not None


def test_connecting_again_replaces_the_connection(json_app: FlaskApp, google: FakeGoogle, db: Session) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    assert connect(client, google, owner).status_code == 200
    google.account_email = "second@example.com"

    again = connect(client, google, owner)

    assert again.status_code == 200, again.text
    (connection,) = db.scalars(select(CalendarConnection)).all()
    assert connection.account_email == "second@example.com"
    assert Cipher([DATA_KEY]).decrypt(connection.access_token_encrypted) == google.issued[-1]["access_token"]
    assert google.revoked == [google.issued[0]["refresh_token"]]  # the first account's grant is handed back


def test_connecting_and_disconnecting_change_the_business_etag(
    json_app: FlaskApp, google: FakeGoogle, db: Session
) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    before = client.get("/api/v1/business/me", headers=owner.headers).headers["ETag"]

    connect(client, google, owner)
    connected = client.get("/api/v1/business/me", headers=owner.headers).headers["ETag"]
    client.delete(STATUS, headers=owner.headers)
    disconnected = client.get("/api/v1/business/me", headers=owner.headers).headers["ETag"]

    assert len({before, connected, disconnected}) == 3


def test_declining_at_google_is_an_outcome_not_an_error(
    json_app: FlaskApp, web_app: FlaskApp, google: FakeGoogle, db: Session
) -> None:
    as_json, as_web = json_app.test_client(), web_app.test_client()
    owner = owner_of_a_business(as_json, db)

    answered = callback(as_json, google.consent(start(as_json, owner.headers), allow=False))
    redirected = callback(as_web, google.consent(start(as_web, owner.headers), allow=False))

    assert answered.status_code == 200, answered.text
    assert answered.json() == {
        "result": "declined",
        "calendar": {"provider": "google", "connected": False, "accountEmail": None, "connectedAt": None},
    }
    assert redirected.status_code == 302
    assert redirected.headers["location"] == f"{FRONTEND}/settings/calendar?calendar=declined"
    assert google.token_requests == []
    assert db.scalars(select(CalendarConnection)).all() == []


def test_unticking_the_calendar_at_google_connects_nothing(json_app: FlaskApp, google: FakeGoogle, db: Session) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    google.scope = "openid https://www.googleapis.com/auth/userinfo.email"

    response = connect(client, google, owner)

    assert response.status_code == 200, response.text
    assert response.json()["result"] == "declined"
    assert db.scalars(select(CalendarConnection)).all() == []
    assert google.revoked == [google.issued[0]["refresh_token"]]  # the useless grant is handed back


def test_states_that_must_not_pass(
    json_app: FlaskApp, google: FakeGoogle, states: GoogleCalendar, database_url: str, provider_url: str, db: Session
) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    stranger = make_business(db)
    demoted = make_business(db)
    member = make_member(db, demoted, role=Role.MEMBER)
    db.commit()
    genuine = google.consent(start(client, owner.headers))
    state = genuine["state"]
    verifier = secrets.token_urlsafe(48)
    other_keys = google_settings(database_url, provider_url, data_encryption_keys=Fernet.generate_key().decode())
    foreign = GoogleCalendar.from_settings(other_keys, Cipher(other_keys.data_encryption_keys))
    refused = {
        "tampered": state[:-6] + ("AAAAAA" if not state.endswith("AAAAAA") else "BBBBBB"),
        "truncated": state[: len(state) // 2],
        "not a state": "hello",
        "expired": states.issue_state(
            PendingGrant(owner.business.id, owner.user.id, verifier), now=time.time() - STATE_TTL_SECONDS - 1
        ),
        "another business": states.issue_state(PendingGrant(stranger.id, owner.user.id, verifier)),
        "a member without business:write": states.issue_state(PendingGrant(demoted.id, member.id, verifier)),
        "unknown person": states.issue_state(PendingGrant(owner.business.id, uuid.uuid4(), verifier)),
        "another server's key": foreign.issue_state(PendingGrant(owner.business.id, owner.user.id, verifier)),
    }

    for case, bad_state in refused.items():
        response = callback(client, {"code": genuine["code"], "state": bad_state})
        assert response.status_code == 400, case
        assert response.json()["code"] == "invalid_oauth_state", case
    declined = callback(client, {"error": "access_denied", "state": refused["expired"]})
    assert declined.status_code == 400  # declining needs a valid state too
    assert google.token_requests == []
    assert db.scalars(select(CalendarConnection)).all() == []
    assert callback(client, genuine).status_code == 200  # the genuine state still works


def test_a_callback_with_neither_code_nor_error_is_400(json_app: FlaskApp, google: FakeGoogle, db: Session) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    state = google.consent(start(client, owner.headers))["state"]

    assert_problem(callback(client, {"state": state}), 400, "validation_error")


def test_a_code_used_twice_is_refused_by_google_and_answers_400(
    json_app: FlaskApp, google: FakeGoogle, db: Session
) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    returned = google.consent(start(client, owner.headers))
    assert callback(client, returned).status_code == 200

    replayed = callback(client, returned)

    assert_problem(replayed, 400, "oauth_exchange_failed")
    assert "invalid_grant" in replayed.json()["detail"]
    assert len(google.issued) == 1


def test_an_unreachable_google_is_503_with_retry_after(down_app: FlaskApp, db: Session) -> None:
    client = down_app.test_client()
    owner = owner_of_a_business(client, db)
    consent_url = start(client, owner.headers)
    state = parse_qs(urlsplit(consent_url).query)["state"][0]

    response = callback(client, {"code": "4/0Ab-code", "state": state})

    assert_problem(response, 503, "integration_unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert db.scalars(select(CalendarConnection)).all() == []


def test_a_slow_google_is_503_with_retry_after(json_app: FlaskApp, httpserver: HTTPServer, db: Session) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    state = parse_qs(urlsplit(start(client, owner.headers)).query)["state"][0]

    released = threading.Event()

    def too_slow(_request: Request) -> Response:
        released.wait(TIMEOUT * 10)  # answers once the test is over (the fake serves one request at a time)
        return _json({"access_token": "late", "token_type": "Bearer", "expires_in": 3599}, 200)

    httpserver.expect_request("/token", method="POST").respond_with_handler(too_slow)

    response = callback(client, {"code": "4/0Ab-code", "state": state})
    released.set()

    # Without the timeout the call would wait for the late answer and connect: the 503 is the proof (a
    # duration assertion would only add flakiness on a loaded machine).
    assert_problem(response, 503, "integration_unavailable")
    assert "retry-after" in response.headers
    assert "late" not in response.text


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_google_is_503(json_app: FlaskApp, httpserver: HTTPServer, db: Session, status: int) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    state = parse_qs(urlsplit(start(client, owner.headers)).query)["state"][0]
    httpserver.expect_request("/token", method="POST").respond_with_data("<html>oops</html>", status=status)

    assert_problem(callback(client, {"code": "4/0Ab-code", "state": state}), 503, "integration_unavailable")


# Status and disconnecting


def test_the_status_of_a_business_without_a_calendar(json_app: FlaskApp, db: Session) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)

    response = client.get(STATUS, headers=owner.headers)

    assert response.status_code == 200
    assert response.json() == {"provider": "google", "connected": False, "accountEmail": None, "connectedAt": None}


def test_disconnecting_forgets_the_tokens_and_revokes_them_at_google(
    json_app: FlaskApp, google: FakeGoogle, db: Session
) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    assert connect(client, google, owner).status_code == 200

    response = client.delete(STATUS, headers=owner.headers)

    assert response.status_code == 204
    assert google.revoked == [google.issued[0]["refresh_token"]]
    assert client.get(STATUS, headers=owner.headers).json()["connected"] is False
    assert db.scalars(select(CalendarConnection)).all() == []
    (event,) = db.scalars(select(AuditEvent).where(AuditEvent.action == "calendar.disconnected")).all()
    assert (event.business_id, event.actor_id) == (owner.business.id, str(owner.user.id))
    assert (event.target_type, event.target_id) == ("business", str(owner.business.id))
    assert client.delete(STATUS, headers=owner.headers).status_code == 204  # nothing left: still 204


@pytest.mark.parametrize("failure", ["refused", "unreachable"])
def test_disconnecting_succeeds_when_google_cannot_revoke(
    json_app: FlaskApp, down_app: FlaskApp, google: FakeGoogle, httpserver: HTTPServer, db: Session, failure: str
) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    assert connect(client, google, owner).status_code == 200
    if failure == "refused":
        httpserver.clear()
        httpserver.expect_request("/revoke", method="POST").respond_with_data("unavailable", status=503)
    disconnecting = client if failure == "refused" else down_app.test_client()

    response = disconnecting.delete(STATUS, headers=owner.headers)

    assert response.status_code == 204
    assert db.scalars(select(CalendarConnection)).all() == []


def test_a_member_may_not_disconnect(json_app: FlaskApp, db: Session) -> None:
    client = json_app.test_client()
    member = owner_of_a_business(client, db, role=Role.MEMBER)

    assert_problem(client.delete(STATUS, headers=member.headers), 403, "insufficient_scope")


@pytest.mark.parametrize("name", ["code", "state"])
def test_a_callback_value_outside_printable_ascii_is_a_400_before_google_is_asked(
    json_app: FlaskApp, google: FakeGoogle, db: Session, name: str
) -> None:
    client = json_app.test_client()
    owner = owner_of_a_business(client, db)
    returned = google.consent(start(client, owner.headers))

    refused = callback(client, {**returned, name: returned[name] + "é"})

    assert_problem(refused, 400, "validation_error")
    assert google.token_requests == []
