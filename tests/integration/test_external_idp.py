"""Tokens of an external identity provider, verified against its JWKS served by a real local HTTP server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from connexion import FlaskApp
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from werkzeug import Request, Response

from app import create_app
from connectors.identity_provider import ExternalIdp
from core.config import Settings
from models import User
from models.base import utcnow
from tests.conftest import database_of
from tests.factories import make_user

ISSUER, AUDIENCE = "https://idp.example", "switchboard-test"
ME = "/api/v1/users/me"


@pytest.fixture
def idp_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "idp-1"}, private=True)


@pytest.fixture
def idp(httpserver: HTTPServer, idp_key: RSAKey) -> HTTPServer:
    httpserver.expect_request("/jwks").respond_with_json(KeySet([idp_key]).as_dict(private=False))
    return httpserver


@pytest.fixture(scope="module")
def external_app(settings: Settings, migrated: None, make_httpserver: HTTPServer) -> Iterator[FlaskApp]:
    """The app trusting the provider at the local server (`httpserver`'s, whose expectations each test sets)."""
    configured = settings.model_copy(
        update={"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_jwks_uri": make_httpserver.url_for("/jwks")}
    )
    app = create_app(configured)
    yield app
    database_of(app).dispose()


def trust_provider_at(app: FlaskApp, jwks_uri: str) -> None:
    """A new client of the provider, as a new app with JWT_JWKS_URI=jwks_uri has: its JWKS cache starts empty
    (each test's provider has keys of its own)."""
    app.app.extensions["switchboard"].identity_provider = ExternalIdp(ISSUER, AUDIENCE, jwks_uri)


@pytest.fixture
def external_client(external_app: FlaskApp, idp: HTTPServer) -> Iterator[TestClient]:
    trust_provider_at(external_app, idp.url_for("/jwks"))
    with external_app.test_client() as client:
        yield client


def idp_token(key: Any, *, alg: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "idp-user-1", "iat": now, "exp": now + 300}
    claims |= {"email": "Grace@Example.com", "email_verified": True, "name": "Grace Hopper"} | overrides
    return jwt.encode({"alg": alg, "kid": getattr(key, "kid", None) or "idp-1"}, claims, key, algorithms=[alg])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_provider_token_signs_in_a_user_created_on_first_sight(
    external_client: TestClient, idp_key: RSAKey, db: Session
) -> None:
    first = external_client.get(ME, headers=bearer(idp_token(idp_key)))
    again = external_client.get(ME, headers=bearer(idp_token(idp_key)))

    assert first.status_code == 200, first.text
    assert first.json()["email"] == "grace@example.com"
    assert first.json()["name"] == "Grace Hopper"
    assert first.json()["emailVerified"] is True
    assert again.json()["id"] == first.json()["id"]
    (user,) = db.scalars(select(User)).all()
    assert user.external_subject == f"{ISSUER}|idp-user-1"
    assert user.password_hash is None


def test_provider_tokens_that_must_not_pass(external_client: TestClient, idp_key: RSAKey, db: Session) -> None:
    public_jwk = json.dumps(idp_key.as_dict(private=False)).encode()  # what an attacker can download
    stranger = RSAKey.generate_key(2048, parameters={"kid": "idp-1"}, private=True)
    refused = {
        "another audience": idp_token(idp_key, aud="someone-else"),
        "expired": idp_token(idp_key, exp=int(time.time()) - 120),
        "no subject": jwt.encode(
            {"alg": "RS256", "kid": "idp-1"}, {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}, idp_key
        ),
        "signed by a stranger with the provider's kid": idp_token(stranger),
        "HS256 keyed with the provider's public key": idp_token(OctKey.import_key(public_jwk), alg="HS256"),
        "an EC key the provider never published": idp_token(ECKey.generate_key("P-256", private=True), alg="ES256"),
    }
    for what, token in refused.items():
        response = external_client.get(ME, headers=bearer(token))
        assert response.status_code == 401, what
    assert db.scalars(select(User)).all() == []


def test_a_rotated_provider_key_is_fetched_once_when_a_token_names_it(
    external_client: TestClient, idp: HTTPServer, idp_key: RSAKey
) -> None:
    assert external_client.get(ME, headers=bearer(idp_token(idp_key))).status_code == 200
    rotated = RSAKey.generate_key(2048, parameters={"kid": "idp-2"}, private=True)
    idp.clear()
    idp.expect_request("/jwks").respond_with_json(KeySet([rotated, idp_key]).as_dict(private=False))

    assert external_client.get(ME, headers=bearer(idp_token(rotated))).status_code == 200
    assert len(idp.log) == 1  # one refetch, for the unknown kid
    never_published = RSAKey.generate_key(2048, parameters={"kid": "idp-3"}, private=True)
    assert external_client.get(ME, headers=bearer(idp_token(never_published))).status_code == 401
    assert len(idp.log) == 1  # unknown kids right after a refetch do not trigger another


def test_an_unreachable_provider_means_401_not_500(external_app: FlaskApp, idp_key: RSAKey) -> None:
    trust_provider_at(external_app, "http://127.0.0.1:9/jwks")
    with external_app.test_client() as client:
        response = client.get(ME, headers=bearer(idp_token(idp_key)))

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_a_provider_that_does_not_answer_in_time_means_401_within_the_timeout(
    external_client: TestClient, idp: HTTPServer, idp_key: RSAKey
) -> None:
    def too_slow(_request: Request) -> Response:
        time.sleep(7)  # longer than the connector's 5 s timeout
        return Response(json.dumps(KeySet([idp_key]).as_dict(private=False)), content_type="application/json")

    idp.clear()
    idp.expect_request("/jwks").respond_with_handler(too_slow)
    started = time.monotonic()
    response = external_client.get(ME, headers=bearer(idp_token(idp_key)))
    took = time.monotonic() - started

    assert response.status_code == 401
    assert took < 6.5  # the timeout, not the provider's late answer


@pytest.mark.parametrize(
    ("provider_vouches", "local_verified", "status"), [(False, True, 401), (True, False, 401), (True, True, 200)]
)
def test_an_existing_account_is_linked_only_when_both_sides_verified_the_email(
    external_client: TestClient, idp_key: RSAKey, db: Session, provider_vouches: bool, local_verified: bool, status: int
) -> None:
    local = make_user(db, email="grace@example.com", email_verified_at=utcnow() if local_verified else None)
    db.commit()

    response = external_client.get(ME, headers=bearer(idp_token(idp_key, email_verified=provider_vouches)))

    assert response.status_code == status
    db.refresh(local)
    assert local.external_subject == (f"{ISSUER}|idp-user-1" if status == 200 else None)


def test_an_unverified_or_malformed_provider_email_creates_no_account(
    external_client: TestClient, idp_key: RSAKey, db: Session
) -> None:
    for claims in ({"email_verified": False}, {"email": "not an email"}, {"email": None}, {"sub": "x" * 700}):
        assert external_client.get(ME, headers=bearer(idp_token(idp_key, **claims))).status_code == 401, claims

    assert db.scalars(select(User)).all() == []


def test_logging_out_with_a_provider_token_is_a_no_op(external_client: TestClient, idp_key: RSAKey) -> None:
    token = idp_token(idp_key)

    assert external_client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert external_client.get(ME, headers=bearer(token)).status_code == 200
