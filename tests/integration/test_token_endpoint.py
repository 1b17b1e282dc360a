"""RFC 6749's token endpoint (`POST /auth/token`, Swagger UI's Authorize): the RFC's shapes on top of the
same sign-in and refresh as /auth/login and /auth/refresh, so lockout, audit and rotation behave alike."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from core.config import Settings
from models import AuditEvent, AuthSession
from tests.factories import PASSWORD, make_user
from tests.helpers import bearer

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/users/me"


def token(client: TestClient, **form: str) -> Any:
    return client.post(TOKEN, data=form)


def password_grant(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return token(client, grant_type="password", username=email, password=password)


def assert_rfc_error(response: Any, error: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert re.fullmatch(r"[\x20\x21\x23-\x5b\x5d-\x7e]+", body["error_description"])  # RFC 6749's characters


def test_the_password_grant_answers_an_rfc_6749_token_response(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()

    response = password_grant(client, user.email)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 900
    assert client.get(ME, headers=bearer(body["access_token"])).json()["email"] == user.email
    assert db.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(user.id))).all() == [
        "auth.login_succeeded"
    ]


def test_what_swagger_ui_sends_is_accepted(client: TestClient, db: Session) -> None:
    """Swagger UI 4's password flow: an empty or a space-separated `scope` (ignored), a client id if one was
    typed, and `Authorization: Basic` of an empty client, which this endpoint does not read."""
    user = make_user(db)
    db.commit()
    form = {"grant_type": "password", "username": user.email, "password": PASSWORD}

    for extra in ({"scope": ""}, {"scope": "users:read keys:manage"}, {"scope": "", "client_id": "swagger-ui"}):
        response = client.post(TOKEN, data={**form, **extra}, headers={"Authorization": "Basic dW5kZWZpbmVkOg=="})
        assert response.status_code == 200, response.text


def test_the_refresh_token_grant_rotates_like_auth_refresh(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    first = password_grant(client, user.email).json()

    second = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"])

    assert second.status_code == 200, second.text
    assert second.headers["cache-control"] == "no-store"
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=bearer(second.json()["access_token"])).status_code == 200
    assert len(db.scalars(select(AuthSession).where(AuthSession.user_id == user.id)).all()) == 1  # the same session
    spent_again = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert_rfc_error(spent_again, "invalid_grant")


def test_the_two_endpoints_share_one_session_family(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    pair = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}).json()

    refreshed = token(client, grant_type="refresh_token", refresh_token=pair["refreshToken"]).json()
    again = client.post("/api/v1/auth/refresh", json={"refreshToken": refreshed["refresh_token"]})

    assert again.status_code == 200, again.text


def test_wrong_credentials_are_invalid_grant_not_401_and_count_towards_the_lockout(
    client: TestClient, db: Session
) -> None:
    user = make_user(db)
    db.commit()

    wrong = password_grant(client, user.email, "not-the-password")
    unknown = password_grant(client, "nobody@example.com", "not-the-password")

    assert_rfc_error(wrong, "invalid_grant")
    assert_rfc_error(unknown, "invalid_grant")
    assert wrong.json() == unknown.json()
    assert "www-authenticate" not in wrong.headers
    db.refresh(user)
    assert user.failed_logins == 1
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.created_at)).all()
    assert actions == ["auth.login_failed", "auth.login_failed"]


def test_a_refresh_token_never_issued_is_invalid_grant(client: TestClient) -> None:
    assert_rfc_error(token(client, grant_type="refresh_token", refresh_token="never-issued"), "invalid_grant")


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({}, id="no-field"),
        pytest.param({"username": "ada@example.com", "password": PASSWORD}, id="no-grant-type"),
        pytest.param({"grant_type": "password", "username": "ada@example.com"}, id="password-without-password"),
        pytest.param({"grant_type": "password", "password": PASSWORD}, id="password-without-username"),
        pytest.param({"grant_type": "password", "username": "", "password": PASSWORD}, id="empty-username"),
        pytest.param({"grant_type": "refresh_token"}, id="refresh-without-token"),
        pytest.param({"grant_type": "refresh_token", "refresh_token": "not a token!"}, id="malformed-refresh-token"),
        pytest.param({"grant_type": "password", "username": "a@b.co", "password": "x" * 129}, id="password-too-long"),
        pytest.param({"grant_type": "password", "username": "a@b.co", "password": "x\x00y"}, id="nul-in-password"),
        pytest.param(
            {"grant_type": "password", "username": "a@b.co", "password": "x", "code": "1"}, id="unknown-field"
        ),
    ],
)
def test_a_missing_or_invalid_field_is_invalid_request(client: TestClient, form: dict[str, str]) -> None:
    assert_rfc_error(
        client.post(TOKEN, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}), "invalid_request"
    )


@pytest.mark.parametrize(
    "grant_type",
    ["client_credentials", "authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer", 'quote"and\\backslash'],
)
def test_another_grant_is_unsupported_grant_type(client: TestClient, grant_type: str) -> None:
    response = token(client, grant_type=grant_type, username="ada@example.com", password=PASSWORD)

    assert_rfc_error(response, "unsupported_grant_type")


def test_a_json_body_is_a_415_problem(client: TestClient) -> None:
    response = client.post(TOKEN, json={"grant_type": "password", "username": "ada@example.com", "password": "x"})

    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unsupported_media_type"


def test_five_failures_lock_the_account_with_the_services_problem(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db)
    db.commit()

    answers = [
        password_grant(client, user.email, "not-the-password").status_code for _ in range(settings.login_max_failures)
    ]
    locked = password_grant(client, user.email)

    assert answers == [400] * (settings.login_max_failures - 1) + [429]
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    assert locked.json()["code"] == "account_locked"
    assert 0 < int(locked.headers["retry-after"]) <= settings.login_lockout_minutes * 60
    assert client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 429
    assert "auth.locked_out" in db.scalars(select(AuditEvent.action)).all()


def test_a_replayed_refresh_token_revokes_the_whole_session(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    stolen = password_grant(client, user.email).json()
    rotated = token(client, grant_type="refresh_token", refresh_token=stolen["refresh_token"]).json()

    replay = token(client, grant_type="refresh_token", refresh_token=stolen["refresh_token"])

    assert_rfc_error(replay, "invalid_grant")
    assert_rfc_error(token(client, grant_type="refresh_token", refresh_token=rotated["refresh_token"]), "invalid_grant")
    assert client.get(ME, headers=bearer(rotated["access_token"])).status_code == 401
    session = db.scalars(select(AuthSession).where(AuthSession.user_id == user.id)).one()
    assert session.revoked_at is not None
