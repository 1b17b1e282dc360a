"""Every operation that takes an Idempotency-Key replays its first response to a retry with the same key
and body: the retry a client makes when the first answer was lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Business
from tests.factories import make_country, make_phone_number, make_plan, make_user
from tests.helpers import auth_headers, owner_of_a_business

NUMBER = "+14155552671"


def _new_person(client: TestClient, db: Session) -> tuple[dict[str, str], dict[str, Any]]:
    user = make_user(db)
    db.commit()
    return auth_headers(client, user.email), {"name": "Retry Receptionist Co"}


def _owner(body: Callable[[Session], dict[str, Any]]) -> Callable[[TestClient, Session], Any]:
    def arrange(client: TestClient, db: Session) -> tuple[dict[str, str], dict[str, Any]]:
        _, _, headers = owner_of_a_business(client, db)
        made = body(db)
        db.commit()
        return headers, made

    return arrange


def _number(db: Session) -> dict[str, Any]:
    plan = make_plan(db, countries=[make_country(db, code="US")])
    return {"e164": NUMBER, "planId": str(plan.id), "label": "Front desk"}


def _receptionist_number(db: Session) -> dict[str, Any]:
    """The simulator calls the receptionist's number: the signed-in owner's business gets one."""
    business = db.scalars(select(Business)).one()  # the owner's, in emptied tables
    make_phone_number(db, business, e164=NUMBER)
    business.phone_number = NUMBER
    return {"from": "+14155550123", "at": "2026-12-07T22:30:00Z"}


# operationId: (path, how to get a caller and a body). A new idempotent operation fails the test below
# until it is listed here.
OPERATIONS: dict[str, tuple[str, Callable[[TestClient, Session], Any]]] = {
    "createBusiness": ("/api/v1/business/me", _new_person),
    "createInvitation": (
        "/api/v1/business/me/invitations",
        _owner(lambda _db: {"email": f"invitee-{uuid.uuid4().hex[:8]}@example.com", "role": "member"}),
    ),
    "createPhoneNumber": ("/api/v1/phone-numbers", _owner(_number)),
    "createApiKey": ("/api/v1/api-keys", _owner(lambda _db: {"name": "CRM sync", "scopes": ["business:read"]})),
    "createWebhookEndpoint": (
        "/api/v1/webhook-endpoints",
        _owner(lambda _db: {"url": "https://crm.example.com/hooks", "events": ["call.completed"]}),
    ),
    "createClosure": (
        "/api/v1/business/me/closures",
        _owner(
            lambda _db: {
                "name": "Inventory",
                "startDate": "2027-01-15",
                "intervals": [{"open": "13:00", "close": "17:00"}],
            }
        ),
    ),
    "createBlockedNumber": ("/api/v1/business/me/blocked-numbers", _owner(lambda _db: {"number": "+14155550142"})),
    "simulateCall": ("/api/v1/calls/simulations", _owner(_receptionist_number)),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_retry_with_the_same_key_replays_the_first_response(client: TestClient, db: Session, operation: str) -> None:
    path, arrange = OPERATIONS[operation]
    headers, body = arrange(client, db)
    headers = {**headers, "Idempotency-Key": f"retry-{uuid.uuid4()}"}

    first = client.post(path, json=body, headers=headers)
    retry = client.post(path, json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert (retry.status_code, retry.headers.get("Idempotent-Replayed")) == (201, "true"), retry.text
    assert retry.headers.get("Location") == first.headers.get("Location")
    # A secret shown once is replayed as null (README: secrets are never kept); everything else is the same.
    assert retry.json() == {**first.json(), **({"secret": None} if "secret" in first.json() else {})}
