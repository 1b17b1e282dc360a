"""Email verification and password reset, end to end: request -> job -> real SMTP -> link -> API."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from connexion import FlaskApp
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from core.config import Settings
from models import Job, UserToken
from models.base import utcnow
from services.jobs import Worker
from services.mail import SEND_EMAIL, Mailer
from tests.conftest import database_of
from tests.factories import PASSWORD, make_user
from tests.helpers import auth_headers
from tests.smtp import Inbox, start_smtp


@pytest.fixture
def deliver(app: FlaskApp, settings: Settings) -> Iterator[tuple[Inbox, Worker]]:
    """A real SMTP server and a worker that sends to it; `worker.run_until_idle()` delivers what is queued."""
    inbox = Inbox()
    controller = start_smtp(inbox)
    mailer = Mailer(settings.model_copy(update={"mail_url": f"smtp://127.0.0.1:{controller.port}"}))
    yield inbox, Worker(database_of(app), {SEND_EMAIL: mailer.send_job})
    controller.stop()


def register_ada(client: TestClient, worker: Worker) -> None:
    """Registers ada@example.com and delivers her verification email."""
    assert (
        client.post(
            "/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
        ).status_code
        == 201
    )
    worker.run_until_idle()


def link_token(inbox: Inbox, path: str) -> str:
    text = inbox.messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(rf"/{path}\?token=([A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


def test_registering_sends_a_link_that_verifies_the_email_once(
    client: TestClient, deliver: tuple[Inbox, Worker], settings: Settings
) -> None:
    inbox, worker = deliver
    client.post("/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})

    assert worker.run_until_idle() == 1
    assert inbox.messages[-1]["To"] == "ada@example.com"
    assert settings.frontend_url + "/verify-email?token=" in inbox.messages[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    token = link_token(inbox, "verify-email")

    first = client.post("/api/v1/auth/verify-email", json={"token": token})
    again = client.post("/api/v1/auth/verify-email", json={"token": token})

    assert first.status_code == 204
    assert again.status_code == 422
    assert again.json()["code"] == "invalid_token"
    me = client.get("/api/v1/users/me", headers=auth_headers(client, "ada@example.com")).json()
    assert me["emailVerified"] is True


def test_an_expired_verification_link_is_refused(
    client: TestClient, db: Session, deliver: tuple[Inbox, Worker]
) -> None:
    inbox, worker = deliver
    register_ada(client, worker)
    db.execute(update(UserToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()

    response = client.post("/api/v1/auth/verify-email", json={"token": link_token(inbox, "verify-email")})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_token"


def test_resending_replaces_the_link_until_the_email_is_verified(
    client: TestClient, db: Session, deliver: tuple[Inbox, Worker]
) -> None:
    inbox, worker = deliver
    register_ada(client, worker)
    first = link_token(inbox, "verify-email")
    auth = auth_headers(client, "ada@example.com")

    assert client.post("/api/v1/auth/verify-email/resend", headers=auth).status_code == 202
    worker.run_until_idle()
    second = link_token(inbox, "verify-email")

    assert client.post("/api/v1/auth/verify-email", json={"token": first}).status_code == 422
    assert client.post("/api/v1/auth/verify-email", json={"token": second}).status_code == 204
    already = client.post("/api/v1/auth/verify-email/resend", headers=auth)
    assert already.status_code == 409
    assert already.json()["code"] == "email_already_verified"


def test_forgot_password_answers_alike_for_known_and_unknown_emails(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()

    known = client.post("/api/v1/auth/password/forgot", json={"email": user.email.upper()})
    unknown = client.post("/api/v1/auth/password/forgot", json={"email": "nobody@example.com"})

    assert (known.status_code, known.content) == (unknown.status_code, unknown.content) == (202, b"")
    assert len(db.scalars(select(Job)).all()) == 1


def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(
    client: TestClient, db: Session, deliver: tuple[Inbox, Worker]
) -> None:
    inbox, worker = deliver
    user = make_user(db, failed_logins=3)
    db.commit()
    old_session = auth_headers(client, user.email)
    client.post("/api/v1/auth/password/forgot", json={"email": user.email})
    worker.run_until_idle()
    token = link_token(inbox, "reset-password")
    new_password = "staple-orbit-lantern-42"

    reset = client.post("/api/v1/auth/password/reset", json={"token": token, "newPassword": new_password})
    reused = client.post("/api/v1/auth/password/reset", json={"token": token, "newPassword": "another-fine-passphrase"})

    assert reset.status_code == 204
    assert reused.status_code == 422
    assert reused.json()["code"] == "invalid_token"
    assert client.get("/api/v1/users/me", headers=old_session).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 401
    assert client.get("/api/v1/users/me", headers=auth_headers(client, user.email, new_password)).status_code == 200


def test_an_expired_reset_link_changes_nothing(client: TestClient, db: Session, deliver: tuple[Inbox, Worker]) -> None:
    inbox, worker = deliver
    user = make_user(db)
    db.commit()
    client.post("/api/v1/auth/password/forgot", json={"email": user.email})
    worker.run_until_idle()
    db.execute(update(UserToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()

    response = client.post(
        "/api/v1/auth/password/reset",
        json={"token": link_token(inbox, "reset-password"), "newPassword": "staple-orbit-lantern-42"},
    )

    assert response.status_code == 422
    assert client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 200


def test_one_time_tokens_never_reach_the_logs(
    client: TestClient, deliver: tuple[Inbox, Worker], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, worker = deliver
    with caplog.at_level(logging.DEBUG):
        client.post("/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})
        worker.run_until_idle()
        verify = link_token(inbox, "verify-email")
        client.post("/api/v1/auth/verify-email", json={"token": verify})
        client.post("/api/v1/auth/password/forgot", json={"email": "ada@example.com"})
        worker.run_until_idle()
        reset = link_token(inbox, "reset-password")
        client.post("/api/v1/auth/password/reset", json={"token": reset, "newPassword": "staple-orbit-lantern-42"})

    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    assert "send_email" in logged or "job succeeded" in logged  # the worker's lines were captured
    for secret in (PASSWORD, verify, reset, "staple-orbit-lantern-42"):
        assert secret not in logged
