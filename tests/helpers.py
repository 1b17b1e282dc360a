"""What many tests share, in one place: signing in through the API, reading a problem answer, a free port."""

from __future__ import annotations

import socket
from typing import Any, NamedTuple

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Business, Role, User
from tests.factories import PASSWORD, make_business, make_member, make_user


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """The token pair of a successful sign-in (fails the test if the sign-in fails)."""
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_headers(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    return bearer(sign_in(client, email, password)["accessToken"])


class Owner(NamedTuple):
    business: Business
    user: User
    headers: dict[str, str]  # the user's, signed in through the API


def owner_of_a_business(client: TestClient, db: Session, role: Role = Role.OWNER, **business: Any) -> Owner:
    """A new business (with these column values), a new member of it in `role` (its owner by default), signed in."""
    user = make_user(db)
    made = make_business(db, owner=user, **business) if role == Role.OWNER else make_business(db, **business)
    if role != Role.OWNER:
        make_member(db, made, user, role)
    db.commit()
    return Owner(made, user, auth_headers(client, user.email))


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An application/problem+json answer with this status and code, and the request's id; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["requestId"] == response.headers["x-request-id"]
    assert body["title"]
    return body


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (nothing listens on it: also a port to fail to connect to)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
