"""Signing in through the API, for tests of authenticated operations."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Business, User
from tests.factories import PASSWORD, make_business, make_user


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """The token pair of a successful sign-in (fails the test if the sign-in fails)."""
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_headers(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    return bearer(sign_in(client, email, password)["accessToken"])


def owner_of_a_business(client: TestClient, db: Session) -> tuple[Business, User, dict[str, str]]:
    """A new business, its owner, and the owner's signed-in headers."""
    owner = make_user(db)
    business = make_business(db, owner=owner)
    db.commit()
    return business, owner, auth_headers(client, owner.email)
