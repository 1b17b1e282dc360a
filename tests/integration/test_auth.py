"""Accounts and tokens end to end on PostgreSQL: the flows a security reviewer checks."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from connexion import FlaskApp
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from core import passwords
from core.config import Settings
from models import AuthSession, Job, User
from models.base import utcnow
from tests.factories import PASSWORD, make_user
from tests.helpers import bearer, sign_in

ME = "/api/v1/users/me"


@pytest.fixture
def library_hash_cost(app: FlaskApp, settings: Settings) -> Iterator[None]:
    """The argon2 library's cost, production's, for the tests of the cost itself (the others run at the low one).

    The cost is the process's: set after the app (whose creation applies its settings' cost) and given back."""
    passwords.use_hash_cost("default")
    yield
    passwords.use_hash_cost(settings.password_hash_cost)


def test_registering_normalises_the_email_and_stores_only_an_argon2id_hash(client: TestClient, db: Session) -> None:
    response = client.post(
        "/api/v1/auth/register", json={"email": "  Ada@Example.COM ", "password": PASSWORD, "name": " Ada "}
    )

    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/users/me"
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["name"] == "Ada"
    assert body["emailVerified"] is False
    assert PASSWORD not in response.text
    user = db.scalar(select(User).where(User.email == "ada@example.com"))
    assert user is not None
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")


def test_an_email_registers_once_whatever_its_case(client: TestClient, db: Session) -> None:
    make_user(db, email="ada@example.com")
    db.commit()

    response = client.post(
        "/api/v1/auth/register", json={"email": "ADA@example.com", "password": PASSWORD, "name": "A"}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert db.scalars(select(Job)).all() == []  # the refused registration queued no email


@pytest.mark.parametrize(
    ("password", "status", "code"), [("password123", 422, "password_too_common"), ("short", 400, "validation_error")]
)
def test_weak_passwords_are_refused_and_nothing_is_stored(
    client: TestClient, db: Session, password: str, status: int, code: str
) -> None:
    response = client.post(
        "/api/v1/auth/register", json={"email": "bo@example.com", "password": password, "name": "Bo"}
    )

    assert response.status_code == status
    assert response.json()["code"] == code
    assert db.scalars(select(User)).all() == []


def test_a_token_pair_carries_a_signed_jwt_verifiable_with_the_published_keys(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db)
    db.commit()

    pair = sign_in(client, user.email)
    keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    token = jwt.decode(pair["accessToken"], keys, algorithms=["ES256"])

    assert pair["tokenType"] == "Bearer"
    assert pair["expiresIn"] == settings.access_token_ttl_seconds
    assert token.header["alg"] == "ES256"
    assert token.header["kid"] == keys.keys[0].kid
    claims = token.claims
    assert claims["iss"] == settings.token_issuer
    assert claims["aud"] == settings.token_audience
    assert claims["sub"] == str(user.id)
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
    assert db.get(AuthSession, uuid.UUID(claims["sid"])) is not None
    me = client.get(ME, headers=bearer(pair["accessToken"]))
    assert me.status_code == 200
    assert me.json()["email"] == user.email


def test_a_wrong_password_and_an_unknown_email_are_answered_alike(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()

    wrong = client.post("/api/v1/auth/login", json={"email": user.email, "password": "not-the-password"})
    unknown = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "not-the-password"})

    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


@pytest.mark.usefixtures("library_hash_cost")
def test_an_unknown_email_costs_the_same_argon2_work_as_a_wrong_password(client: TestClient, db: Session) -> None:
    make_user(db, email="known@example.com", password_hash=PasswordHasher().hash(PASSWORD))
    db.commit()

    def median_seconds(email: str) -> float:
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            client.post("/api/v1/auth/login", json={"email": email, "password": "not-the-password"})
            samples.append(time.perf_counter() - started)
        return sorted(samples)[2]

    known, unknown = median_seconds("known@example.com"), median_seconds("nobody@example.com")

    # Both verify one argon2 hash; without the dummy hash the unknown email would answer many times faster.
    assert unknown > known / 3


def test_five_failures_lock_the_account_even_against_the_right_password(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db)
    db.commit()
    bad = {"email": user.email, "password": "not-the-password"}

    answers = [client.post("/api/v1/auth/login", json=bad).status_code for _ in range(settings.login_max_failures)]
    locked = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})

    assert answers == [401] * (settings.login_max_failures - 1) + [429]
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"
    assert 0 < int(locked.headers["retry-after"]) <= settings.login_lockout_minutes * 60


def test_the_lock_expires_and_a_success_resets_the_count(client: TestClient, db: Session) -> None:
    user = make_user(db, failed_logins=4, locked_until=utcnow() - timedelta(seconds=1))
    db.commit()

    sign_in(client, user.email)
    db.refresh(user)

    assert user.failed_logins == 0
    assert user.locked_until is None


@pytest.mark.usefixtures("library_hash_cost")
def test_signing_in_rehashes_a_password_hashed_with_old_parameters(client: TestClient, db: Session) -> None:
    user = make_user(db)  # the factory's cheap parameters
    db.commit()
    old_hash = user.password_hash

    sign_in(client, user.email)
    db.refresh(user)

    assert user.password_hash != old_hash
    assert not PasswordHasher().check_needs_rehash(user.password_hash or "")


def test_a_refresh_token_is_spent_by_its_use_and_replaced(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    first = sign_in(client, user.email)

    second = client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})

    assert second.status_code == 200
    assert second.headers["cache-control"] == "no-store"
    assert second.json()["refreshToken"] != first["refreshToken"]
    assert client.get(ME, headers=bearer(second.json()["accessToken"])).status_code == 200


def test_a_reused_refresh_token_revokes_the_whole_session(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    stolen = sign_in(client, user.email)
    rotated = client.post("/api/v1/auth/refresh", json={"refreshToken": stolen["refreshToken"]}).json()

    replay = client.post("/api/v1/auth/refresh", json={"refreshToken": stolen["refreshToken"]})

    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_refresh_token"
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": rotated["refreshToken"]}).status_code == 401
    assert client.get(ME, headers=bearer(rotated["accessToken"])).status_code == 401


def test_logging_out_refuses_the_access_token_on_the_very_next_request(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    pair = sign_in(client, user.email)
    other_device = sign_in(client, user.email)

    assert client.post("/api/v1/auth/logout", headers=bearer(pair["accessToken"])).status_code == 204

    assert client.get(ME, headers=bearer(pair["accessToken"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]}).status_code == 401
    assert client.get(ME, headers=bearer(other_device["accessToken"])).status_code == 200


def _forge(claims: dict[str, object], key: object, alg: str, kid: str = "dev") -> str:
    return jwt.encode({"alg": alg, "kid": kid}, claims, key, algorithms=[alg])  # type: ignore[arg-type]


def test_forged_expired_and_foreign_tokens_are_refused(
    client: TestClient, db: Session, settings: Settings, app: FlaskApp
) -> None:
    user = make_user(db)
    db.commit()
    pair = sign_in(client, user.email)
    claims = jwt.decode(pair["accessToken"], KeySet.import_key_set(client.get("/.well-known/jwks.json").json())).claims
    stranger = ECKey.generate_key("P-256", private=True)
    public_jwk = json.dumps(client.get("/.well-known/jwks.json").json()["keys"][0]).encode()
    _, payload, _ = pair["accessToken"].split(".")
    ours = app.app.extensions["switchboard"].tokens.keys.keys[0]
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=") + f".{payload}."

    forged = {
        "no token": None,
        "not a JWT": "abc.def.ghi",
        "alg none": unsigned,
        "signed by a stranger": _forge(claims, stranger, "ES256"),
        "HS256 keyed with our public key": _forge(claims, OctKey.import_key(public_jwk), "HS256"),
        "expired": _forge(claims | {"exp": int(time.time()) - 120}, ours, "ES256", ours.kid),
        "another audience": _forge(claims | {"aud": "someone-else"}, ours, "ES256", ours.kid),
        "another issuer": _forge(claims | {"iss": "https://evil.example"}, ours, "ES256", ours.kid),
        "no session id": _forge({k: v for k, v in claims.items() if k != "sid"}, ours, "ES256", ours.kid),
        "tampered signature": pair["accessToken"][:-4]
        + ("AAAA" if not pair["accessToken"].endswith("AAAA") else "BBBB"),
    }
    control = _forge(claims, ours, "ES256", ours.kid)  # the same forging, with everything right
    assert client.get(ME, headers=bearer(control)).status_code == 200
    for what, token in forged.items():
        response = client.get(ME, headers=bearer(token) if token else {})
        assert response.status_code == 401, what
        assert response.headers["content-type"] == "application/problem+json", what
        assert response.headers["www-authenticate"].startswith("Bearer"), what


def test_no_secret_reaches_the_logs(client: TestClient, db: Session, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        client.post("/api/v1/auth/register", json={"email": "cy@example.com", "password": PASSWORD, "name": "Cy"})
        pair = sign_in(client, "cy@example.com")
        rotated = client.post("/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]}).json()
        client.post("/api/v1/auth/login", json={"email": "cy@example.com", "password": "wrong-" + PASSWORD})

    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    for secret in (PASSWORD, pair["accessToken"], pair["refreshToken"], rotated["refreshToken"]):
        assert secret not in logged


def test_sessions_are_listed_with_the_current_one_marked_and_can_be_revoked(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    laptop = sign_in(client, user.email)
    phone = client.post(
        "/api/v1/auth/login",
        json={"email": user.email, "password": PASSWORD},
        headers={"User-Agent": "Phone/1.0"},
    ).json()

    listed = client.get("/api/v1/auth/sessions", headers=bearer(laptop["accessToken"])).json()

    assert len(listed["data"]) == 2
    assert [s["current"] for s in listed["data"]] == [True, False]
    assert listed["data"][1]["userAgent"] == "Phone/1.0"
    phone_id = listed["data"][1]["id"]
    revoked = client.delete(f"/api/v1/auth/sessions/{phone_id}", headers=bearer(laptop["accessToken"]))
    assert revoked.status_code == 204
    assert client.get(ME, headers=bearer(phone["accessToken"])).status_code == 401
    assert client.get(ME, headers=bearer(laptop["accessToken"])).status_code == 200


def test_another_users_session_is_not_found_and_stays(client: TestClient, db: Session) -> None:
    ada, bob = make_user(db), make_user(db)
    db.commit()
    ada_pair, bob_pair = sign_in(client, ada.email), sign_in(client, bob.email)
    bob_session = client.get("/api/v1/auth/sessions", headers=bearer(bob_pair["accessToken"])).json()["data"][0]["id"]

    response = client.delete(f"/api/v1/auth/sessions/{bob_session}", headers=bearer(ada_pair["accessToken"]))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert client.get(ME, headers=bearer(bob_pair["accessToken"])).status_code == 200


def test_renaming_yourself(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    pair = sign_in(client, user.email)

    response = client.patch(ME, json={"name": "  Ada King "}, headers=bearer(pair["accessToken"]))

    assert response.status_code == 200
    assert response.json()["name"] == "Ada King"


def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(
    client: TestClient, db: Session
) -> None:
    user = make_user(db)
    db.commit()
    here, elsewhere = sign_in(client, user.email), sign_in(client, user.email)
    change = "/api/v1/users/me/password"

    wrong = client.post(
        change,
        json={"currentPassword": "nope", "newPassword": "staple-orbit-lantern-42"},
        headers=bearer(here["accessToken"]),
    )
    right = client.post(
        change,
        json={"currentPassword": PASSWORD, "newPassword": "staple-orbit-lantern-42"},
        headers=bearer(here["accessToken"]),
    )

    assert wrong.status_code == 422
    assert wrong.json()["code"] == "current_password_incorrect"
    assert right.status_code == 204
    assert client.get(ME, headers=bearer(here["accessToken"])).status_code == 200
    assert client.get(ME, headers=bearer(elsewhere["accessToken"])).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 401
    sign_in(client, user.email, "staple-orbit-lantern-42")


def test_two_simultaneous_uses_of_one_refresh_token_cannot_both_win(
    app: FlaskApp, client: TestClient, db: Session
) -> None:
    user = make_user(db)
    db.commit()
    pair = sign_in(client, user.email)  # also makes Connexion build its stack before the threads call it
    start = threading.Barrier(2)
    answers: list[int] = []

    def use_it() -> None:
        other = app.test_client()
        start.wait()
        answers.append(other.post("/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]}).status_code)

    threads = [threading.Thread(target=use_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(answers) in ([200, 401], [401, 401])
    assert client.get(ME, headers=bearer(pair["accessToken"])).status_code == 401  # the replay revoked it


def test_guessing_the_current_password_counts_towards_the_lockout(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db)
    db.commit()
    headers = bearer(sign_in(client, user.email)["accessToken"])
    guess = {"currentPassword": "a-guess-at-it", "newPassword": "staple-orbit-lantern-42"}

    answers = [
        client.post("/api/v1/users/me/password", json=guess, headers=headers).status_code
        for _ in range(settings.login_max_failures)
    ]

    assert answers == [422] * (settings.login_max_failures - 1) + [429]
    assert client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 429


def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_a_sequence(
    app: FlaskApp, client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db, password_hash=PasswordHasher().hash(PASSWORD))
    db.commit()
    client.get("/health-check/liveness")  # Connexion builds its stack on the first call: not from 10 threads
    guesses = 2 * settings.login_max_failures
    start = threading.Barrier(guesses)
    answers: list[int] = []

    def guess() -> None:
        other = app.test_client()
        start.wait()
        bad = {"email": user.email, "password": "not-the-password"}
        answers.append(other.post("/api/v1/auth/login", json=bad).status_code)

    threads = [threading.Thread(target=guess) for _ in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Taken one at a time: max_failures - 1 plain refusals, then the lock answers every other guess.
    assert answers.count(401) == settings.login_max_failures - 1
    assert answers.count(429) == guesses - settings.login_max_failures + 1
