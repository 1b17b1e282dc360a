"""Signing in through the API, for tests of authenticated operations."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.factories import PASSWORD


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """The token pair of a successful sign-in (fails the test if the sign-in fails)."""
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_headers(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    return bearer(sign_in(client, email, password)["accessToken"])
