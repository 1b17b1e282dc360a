"""API keys: shown once, stored as a digest, scoped, revoked and rotated with effect on the next request."""

from __future__ import annotations

from datetime import timedelta

from connexion import FlaskApp
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import ApiKey, IdempotencyRecord, Role
from models.base import utcnow
from models.business import API_KEY_SCOPES
from tests.conftest import database_of
from tests.factories import make_business, make_member, make_user
from tests.helpers import auth_headers, owner_of_a_business

ALL_KEY_SCOPES = list(API_KEY_SCOPES)


def create_key(client: TestClient, headers: dict[str, str], scopes: list[str] | None = None, **extra: object) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/api-keys", json={"name": "CRM sync", "scopes": scopes or ALL_KEY_SCOPES, **extra}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def key_headers(secret: str) -> dict[str, str]:
    return {"X-API-Key": secret}


def test_the_secret_is_shown_once_and_stored_only_as_a_digest(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers

    created = client.post("/api/v1/api-keys", json={"name": "CRM sync", "scopes": ["numbers:read"]}, headers=headers)

    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("sb_live_")
    assert len(secret) == 57
    assert secret.startswith(body["prefix"])
    assert created.headers["Location"] == f"/api/v1/api-keys/{body['id']}"
    listed = client.get("/api/v1/api-keys", headers=headers).text
    single = client.get(created.headers["Location"], headers=headers).text
    assert secret not in listed
    assert secret not in single
    assert body["prefix"] in listed
    stored = db.get_one(ApiKey, body["id"])
    assert secret not in (stored.digest, stored.prefix)
    assert len(stored.digest) == 64


def test_a_key_acts_for_its_business_with_its_scopes_only(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    reader = create_key(client, headers, ["business:read"])["secret"]

    read = client.get("/api/v1/business/me", headers=key_headers(reader))
    write = client.patch("/api/v1/business/me", json={"greeting": "x"}, headers=key_headers(reader))
    numbers = client.get("/api/v1/phone-numbers", headers=key_headers(reader))
    keys = client.get("/api/v1/api-keys", headers=key_headers(reader))

    assert read.status_code == 200
    assert read.json()["id"] == client.get("/api/v1/business/me", headers=headers).json()["id"]
    assert (write.status_code, write.json()["code"]) == (403, "insufficient_scope")
    assert numbers.status_code == 403
    assert keys.status_code == 401  # managing keys is for people only: a key is no credential there


def test_malformed_unknown_and_query_string_keys_are_refused(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    secret = create_key(client, headers)["secret"]
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")

    for presented in (tampered, "sb_live_nope", secret.upper()):
        assert client.get("/api/v1/business/me", headers=key_headers(presented)).status_code == 401
    in_query = client.get("/api/v1/business/me", params={"X-API-Key": secret})
    assert in_query.status_code in (400, 401)
    assert client.get("/api/v1/business/me", headers=key_headers(secret)).status_code == 200


def test_a_revoked_key_is_refused_on_the_next_request(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    key = create_key(client, headers)
    assert client.get("/api/v1/business/me", headers=key_headers(key["secret"])).status_code == 200

    assert client.delete(f"/api/v1/api-keys/{key['id']}", headers=headers).status_code == 204

    assert client.get("/api/v1/business/me", headers=key_headers(key["secret"])).status_code == 401
    assert client.get(f"/api/v1/api-keys/{key['id']}", headers=headers).status_code == 404


def test_rotation_keeps_the_old_secret_for_the_grace_period(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    key = create_key(client, headers)

    rotated = client.post(f"/api/v1/api-keys/{key['id']}/rotate", json={"gracePeriodSeconds": 3600}, headers=headers)

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["secret"] != key["secret"]
    assert new["prefix"] != key["prefix"]
    assert new["previousExpiresAt"] is not None
    assert new["rotatedAt"] is not None
    assert client.get("/api/v1/business/me", headers=key_headers(key["secret"])).status_code == 200
    assert client.get("/api/v1/business/me", headers=key_headers(new["secret"])).status_code == 200

    stored = db.get_one(ApiKey, key["id"])
    stored.previous_expires_at = utcnow() - timedelta(seconds=1)  # the grace period ends
    db.commit()
    assert client.get("/api/v1/business/me", headers=key_headers(key["secret"])).status_code == 401
    assert client.get("/api/v1/business/me", headers=key_headers(new["secret"])).status_code == 200


def test_rotation_without_grace_ends_the_old_secret_at_once(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    key = create_key(client, headers)

    new = client.post(f"/api/v1/api-keys/{key['id']}/rotate", json={"gracePeriodSeconds": 0}, headers=headers).json()

    assert new["previousExpiresAt"] is None
    assert client.get("/api/v1/business/me", headers=key_headers(key["secret"])).status_code == 401
    assert client.get("/api/v1/business/me", headers=key_headers(new["secret"])).status_code == 200


def test_rotating_twice_drops_the_oldest_secret(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    key = create_key(client, headers)
    second = client.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=headers).json()

    third = client.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=headers).json()

    assert client.get("/api/v1/business/me", headers=key_headers(key["secret"])).status_code == 401
    assert client.get("/api/v1/business/me", headers=key_headers(second["secret"])).status_code == 200
    assert client.get("/api/v1/business/me", headers=key_headers(third["secret"])).status_code == 200


def test_an_expired_key_is_refused_and_a_past_expiry_is_422(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    key = create_key(client, headers, expiresAt=(utcnow() + timedelta(hours=1)).isoformat())
    past = client.post(
        "/api/v1/api-keys",
        json={"name": "old", "scopes": ["numbers:read"], "expiresAt": "2020-01-01T00:00:00Z"},
        headers=headers,
    )
    stored = db.get_one(ApiKey, key["id"])
    stored.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()

    assert (past.status_code, past.json()["code"]) == (422, "invalid_expiry")
    assert client.get("/api/v1/business/me", headers=key_headers(key["secret"])).status_code == 401


def test_members_cannot_manage_keys(client: TestClient, db: Session) -> None:
    user = make_user(db)
    business = make_business(db, owner=user)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()

    response = client.post(
        "/api/v1/api-keys", json={"name": "x", "scopes": ["numbers:read"]}, headers=auth_headers(client, member.email)
    )

    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")


def test_an_idempotent_replay_never_shows_the_secret_again(client: TestClient, db: Session) -> None:
    headers = {**owner_of_a_business(client, db).headers, "Idempotency-Key": "crm-key-1"}
    body = {"name": "CRM sync", "scopes": ["numbers:read"]}

    first = client.post("/api/v1/api-keys", json=body, headers=headers)
    replay = client.post("/api/v1/api-keys", json=body, headers=headers)

    secret = first.json()["secret"]
    assert secret.startswith("sb_live_")
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == {**first.json(), "secret": None}
    assert all(secret not in (record.body or "") for record in db.query(IdempotencyRecord))
    assert db.query(ApiKey).count() == 1


def test_an_expired_key_cannot_be_rotated(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    key = create_key(client, headers)
    stored = db.get_one(ApiKey, key["id"])
    stored.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()

    response = client.post(f"/api/v1/api-keys/{key['id']}/rotate", json={}, headers=headers)

    assert (response.status_code, response.json()["code"]) == (409, "api_key_expired")


def test_an_authenticated_read_takes_one_database_connection(app: FlaskApp, client: TestClient, db: Session) -> None:
    """The credential's database check runs in the request's own session (web.security), not in one of its own."""
    bearer = owner_of_a_business(client, db).headers
    secret = create_key(client, bearer)["secret"]
    engine = database_of(app).engine
    checkouts: list[object] = []

    def count(*_: object) -> None:
        checkouts.append(1)

    event.listen(engine, "checkout", count)
    try:
        for headers in (bearer, key_headers(secret)):
            checkouts.clear()
            assert client.get("/api/v1/business/me", headers=headers).status_code == 200
            assert len(checkouts) == 1, headers
    finally:
        event.remove(engine, "checkout", count)
