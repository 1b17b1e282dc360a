"""Tenant isolation, the issue's acceptance test: every operation that takes an id, run with a second
business's credentials (a person's token, and an API key with every key scope), answers exactly as for an
id that does not exist (or refuses the credential kind) and changes nothing of the first business's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import (
    ApiKey,
    BlockedNumber,
    Business,
    Call,
    Closure,
    Invitation,
    Membership,
    Outcome,
    PhoneNumber,
    Role,
    Route,
    WebhookDelivery,
    WebhookEndpoint,
)
from models.business import API_KEY_SCOPES
from schemas import events
from services import webhooks
from tests.factories import make_business, make_country, make_member, make_plan, make_user
from tests.helpers import auth_headers

ALL_KEY_SCOPES = list(API_KEY_SCOPES)
NUMBER = "+14155552671"


@dataclass(frozen=True)
class Tenant:
    business_id: uuid.UUID
    owner_id: uuid.UUID
    owner: dict[str, str]  # the owner's bearer headers
    key: dict[str, str]  # X-API-Key headers of a key with every key scope
    key_id: str
    key_secret: str


@dataclass(frozen=True)
class World:
    a: Tenant
    b: Tenant
    number_id: str
    member_id: uuid.UUID
    invitation_id: str
    call_id: str
    endpoint_id: str
    closure_id: str
    blocked_id: str
    event_id: str
    delivery_id: str

    def ids(self) -> dict[str, str]:
        return {
            "event": self.event_id,
            "delivery": self.delivery_id,
            "call": self.call_id,
            "endpoint": self.endpoint_id,
            "number": self.number_id,
            "key": self.a.key_id,
            "member": str(self.member_id),
            "owner": str(self.a.owner_id),
            "invitation": self.invitation_id,
            "closure": self.closure_id,
            "blocked": self.blocked_id,
        }


def _tenant(client: TestClient, db: Session, name: str) -> tuple[Business, Tenant]:
    owner = make_user(db)
    business = make_business(db, owner=owner, name=name)
    db.commit()
    headers = auth_headers(client, owner.email)
    created = client.post("/api/v1/api-keys", json={"name": f"{name} key", "scopes": ALL_KEY_SCOPES}, headers=headers)
    assert created.status_code == 201, created.text
    key = created.json()
    return business, Tenant(business.id, owner.id, headers, {"X-API-Key": key["secret"]}, key["id"], key["secret"])


@pytest.fixture
def world(client: TestClient, db: Session) -> World:
    """Business A (owner, a phone number added through the API, an API key, a member); business B (owner, key)."""
    us = make_country(db, code="US", calling_code="+1")
    plan = make_plan(db, countries=[us])
    db.commit()
    business_a, a = _tenant(client, db, "Business A")
    member = make_member(db, business_a, role=Role.MEMBER)
    db.commit()
    number = client.post(
        "/api/v1/phone-numbers", json={"e164": NUMBER, "planId": str(plan.id), "label": "Front desk"}, headers=a.owner
    )
    assert number.status_code == 201, number.text
    invitation = client.post(
        "/api/v1/business/me/invitations", json={"email": "invitee@example.com", "role": "member"}, headers=a.owner
    )
    assert invitation.status_code == 201, invitation.text
    call = Call(
        business_id=business_a.id, provider_sid=f"CA{uuid.uuid4().hex}", from_number="+14155550123", to_number=NUMBER,
        status="completed", route=Route.VOICEMAIL, outcome=Outcome.VOICEMAIL, voicemail_url="https://api.twilio.com/rec/RE1",
    )  # fmt: skip
    db.add(call)
    db.commit()
    _, b = _tenant(client, db, "Business B")
    endpoint = client.post(
        "/api/v1/webhook-endpoints",
        json={"url": "https://a.example.com/hooks", "events": ["call.completed"]},
        headers=a.owner,
    )
    assert endpoint.status_code == 201, endpoint.text
    closure = client.post(
        "/api/v1/business/me/closures", json={"name": "Holiday", "startDate": "2026-12-24"}, headers=a.owner
    )
    assert closure.status_code == 201, closure.text
    blocked = client.post("/api/v1/business/me/blocked-numbers", json={"number": "+14155550142"}, headers=a.owner)
    assert blocked.status_code == 201, blocked.text
    event = webhooks.emit(db, business_a.id, events.call_completed(call))  # to the endpoint: a delivery
    db.commit()
    delivery = db.scalar(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id))
    assert delivery is not None
    ids = {
        "event_id": event.id,
        "delivery_id": str(delivery.id),
        "closure_id": closure.json()["id"],
        "blocked_id": blocked.json()["id"],
        "number_id": number.json()["id"],
        "invitation_id": invitation.json()["id"],
        "call_id": str(call.id),
        "endpoint_id": endpoint.json()["id"],
    }
    return World(a=a, b=b, member_id=member.id, **ids)


# Every operation that takes an id: (operationId, method, path template, body, open to API keys).
ID_OPERATIONS: list[tuple[str, str, str, dict[str, Any] | None, bool]] = [
    ("getCall", "GET", "/api/v1/calls/{call}", None, True),
    ("getCallRecording", "GET", "/api/v1/calls/{call}/recording", None, True),
    ("getWebhookEndpoint", "GET", "/api/v1/webhook-endpoints/{endpoint}", None, False),
    (
        "updateWebhookEndpoint",
        "PATCH",
        "/api/v1/webhook-endpoints/{endpoint}",
        {"url": "https://evil.example/x"},
        False,
    ),
    ("deleteWebhookEndpoint", "DELETE", "/api/v1/webhook-endpoints/{endpoint}", None, False),
    ("rotateWebhookSecret", "POST", "/api/v1/webhook-endpoints/{endpoint}/rotate-secret", None, False),
    ("listWebhookDeliveries", "GET", "/api/v1/webhook-endpoints/{endpoint}/deliveries", None, False),
    (
        "retryWebhookDelivery",
        "POST",
        "/api/v1/webhook-endpoints/{endpoint}/deliveries/{delivery}/retry",
        None,
        False,
    ),
    ("getEvent", "GET", "/api/v1/events/{event}", None, False),
    ("getPhoneNumber", "GET", "/api/v1/phone-numbers/{number}", None, True),
    (
        "updatePhoneNumber",
        "PATCH",
        "/api/v1/phone-numbers/{number}",
        {"label": "Hijacked", "status": "suspended"},
        True,
    ),
    ("releasePhoneNumber", "DELETE", "/api/v1/phone-numbers/{number}", None, True),
    ("getApiKey", "GET", "/api/v1/api-keys/{key}", None, False),
    ("revokeApiKey", "DELETE", "/api/v1/api-keys/{key}", None, False),
    ("rotateApiKey", "POST", "/api/v1/api-keys/{key}/rotate", {"gracePeriodSeconds": 0}, False),
    ("updateMember", "PATCH", "/api/v1/business/me/members/{member}", {"role": "owner"}, False),
    ("removeMember", "DELETE", "/api/v1/business/me/members/{member}", None, False),
    ("updateMember (A's owner)", "PATCH", "/api/v1/business/me/members/{owner}", {"role": "member"}, False),
    ("removeMember (A's owner)", "DELETE", "/api/v1/business/me/members/{owner}", None, False),
    ("revokeInvitation", "DELETE", "/api/v1/business/me/invitations/{invitation}", None, False),
    ("getClosure", "GET", "/api/v1/business/me/closures/{closure}", None, True),
    ("deleteClosure", "DELETE", "/api/v1/business/me/closures/{closure}", None, True),
    ("getBlockedNumber", "GET", "/api/v1/business/me/blocked-numbers/{blocked}", None, True),
    ("deleteBlockedNumber", "DELETE", "/api/v1/business/me/blocked-numbers/{blocked}", None, True),
]


# Operations with an id in their path that name nothing of a business's: tenant isolation does not apply.
NOT_TENANT_SCOPED = {
    "getPlan": "the plan catalog is public, the same for every business",
    "playRecording": "a signed link naming its business and call; forged or expired is 404 (test_recordings)",
    "revokeSession": "a person's own sessions (test_auth: another person's session id is 404 and stays)",
    "getJob": "staff only, over the jobs of every business (test_admin_jobs)",
    "deleteJob": "staff only, over the jobs of every business (test_admin_jobs)",
    "retryJob": "staff only, over the jobs of every business (test_admin_jobs)",
}


def _call(
    client: TestClient, method: str, template: str, ids: dict[str, str], body: Any, headers: dict[str, str]
) -> Any:
    path = template.format(**ids)
    if body is None:
        return client.request(method, path, headers=headers)
    return client.request(method, path, json=body, headers=headers)


def _problem(response: Any) -> dict[str, Any]:
    """The problem body without what differs per request."""
    return {field: value for field, value in response.json().items() if field != "requestId"}


def _snapshot(db: Session, world: World) -> dict[str, Any]:
    """What of A's the operations could change, read from the database."""
    db.expire_all()
    number = db.get(PhoneNumber, uuid.UUID(world.number_id))
    key = db.get(ApiKey, uuid.UUID(world.a.key_id))
    member = db.scalar(select(Membership).where(Membership.user_id == world.member_id))
    owner = db.scalar(select(Membership).where(Membership.user_id == world.a.owner_id))
    invitation = db.get(Invitation, uuid.UUID(world.invitation_id))
    call = db.get(Call, uuid.UUID(world.call_id))
    endpoint = db.get(WebhookEndpoint, uuid.UUID(world.endpoint_id))
    closure = db.get(Closure, uuid.UUID(world.closure_id))
    blocked = db.get(BlockedNumber, uuid.UUID(world.blocked_id))
    deliveries = (
        db.scalars(select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)) if endpoint else ()
    )
    return {
        "deliveries": sorted(deliveries),
        "closure": closure and (closure.business_id, closure.start_date, closure.end_date),
        "blocked": blocked and (blocked.business_id, blocked.number),
        "endpoint": endpoint and (endpoint.business_id, endpoint.url, endpoint.enabled, endpoint.secret_ciphertext),
        "call": call and (call.business_id, call.outcome, call.voicemail_url),
        "invitation": invitation and (invitation.business_id, invitation.expires_at, invitation.accepted_at),
        "owner": owner and (owner.business_id, owner.role),
        "number": number and (number.business_id, number.e164, number.label, number.status, number.forward_to),
        "key": key and (key.business_id, key.prefix, key.digest, key.revoked_at, key.rotated_at, key.previous_prefix),
        "member": member and (member.business_id, member.role),
    }


@pytest.mark.parametrize("credential", ["owner token", "api key"])
@pytest.mark.parametrize(
    ("operation", "method", "template", "body", "open_to_keys"), ID_OPERATIONS, ids=[op[0] for op in ID_OPERATIONS]
)
def test_another_business_cannot_reach_an_id_of_yours_and_changes_nothing(
    client: TestClient,
    db: Session,
    world: World,
    credential: str,
    operation: str,
    method: str,
    template: str,
    body: dict[str, Any] | None,
    open_to_keys: bool,
) -> None:
    before = _snapshot(db, world)
    assert None not in before.values()
    headers = world.b.owner if credential == "owner token" else world.b.key
    unknown_ids = {name: str(uuid.uuid4()) for name in world.ids()} | {"event": f"msg_{uuid.uuid4().hex}"}

    unknown = _call(client, method, template, unknown_ids, body, headers)
    foreign = _call(client, method, template, world.ids(), body, headers)

    if credential == "api key" and not open_to_keys:
        assert foreign.status_code == 401, foreign.text  # userToken-only: a key is no bearer token
    else:
        assert foreign.status_code == 404, foreign.text
        assert foreign.json()["code"] == "not_found"
    assert (foreign.status_code, _problem(foreign)) == (unknown.status_code, _problem(unknown))
    assert foreign.headers["content-type"].startswith("application/problem+json")
    assert NUMBER not in foreign.text
    assert world.a.key_secret[:16] not in foreign.text
    assert _snapshot(db, world) == before


def test_a_keys_and_members_operation_with_an_api_key_of_the_same_business_is_refused_too(
    client: TestClient, db: Session, world: World
) -> None:
    """The 401 above is about the credential kind, not the tenant: A's own key is refused alike."""
    before = _snapshot(db, world)

    for operation, method, template, body, open_to_keys in ID_OPERATIONS:
        if open_to_keys:
            continue
        response = _call(client, method, template, world.ids(), body, world.a.key)
        assert response.status_code == 401, (operation, response.text)

    assert _snapshot(db, world) == before


def test_the_owner_of_the_business_does_reach_those_ids(client: TestClient, db: Session, world: World) -> None:
    """The control: the same requests that another business gets 404 for answer A's owner."""
    assert client.get(f"/api/v1/phone-numbers/{world.number_id}", headers=world.a.owner).status_code == 200
    assert client.get(f"/api/v1/phone-numbers/{world.number_id}", headers=world.a.key).status_code == 200
    assert client.get(f"/api/v1/api-keys/{world.a.key_id}", headers=world.a.owner).status_code == 200
    assert client.get(f"/api/v1/calls/{world.call_id}", headers=world.a.key).status_code == 200
    member = client.patch(
        f"/api/v1/business/me/members/{world.member_id}", json={"role": "member"}, headers=world.a.owner
    )
    assert member.status_code == 200, member.text


def test_another_businesss_lists_show_none_of_your_items(client: TestClient, db: Session, world: World) -> None:
    client.patch("/api/v1/business/me", json={"greeting": "A's secret greeting"}, headers=world.a.owner)
    a_ids = {
        world.number_id,
        world.a.key_id,
        str(world.member_id),
        str(world.a.owner_id),
        world.call_id,
        world.event_id,
    }

    listings = {
        "numbers (token)": client.get("/api/v1/phone-numbers", headers=world.b.owner),
        "numbers (key)": client.get("/api/v1/phone-numbers", headers=world.b.key),
        "keys": client.get("/api/v1/api-keys", headers=world.b.owner),
        "members": client.get("/api/v1/business/me/members", headers=world.b.owner),
        "invitations": client.get("/api/v1/business/me/invitations", headers=world.b.owner),
        "calls (token)": client.get("/api/v1/calls", headers=world.b.owner),
        "calls (key)": client.get("/api/v1/calls", headers=world.b.key),
        "events": client.get("/api/v1/events?limit=100", headers=world.b.owner),
        "audit (token)": client.get("/api/v1/audit-events?limit=100", headers=world.b.owner),
        "audit (key)": client.get("/api/v1/audit-events?limit=100", headers=world.b.key),
    }

    for name, response in listings.items():
        assert response.status_code == 200, (name, response.text)
        text = response.text
        assert NUMBER not in text, name
        assert "A's secret greeting" not in text, name
        for a_id in a_ids:
            assert a_id not in text, (name, a_id)
    assert [n["id"] for n in listings["numbers (token)"].json()["data"]] == []
    assert [k["id"] for k in listings["keys"].json()["data"]] == [world.b.key_id]
    assert [m["userId"] for m in listings["members"].json()["data"]] == [str(world.b.owner_id)]
    audit = listings["audit (token)"].json()["data"]
    assert audit, "B's own events are listed"
    assert {event["actor"]["id"] for event in audit} <= {str(world.b.owner_id), world.b.key_id}


def test_a_business_sees_its_own_items_in_those_lists(client: TestClient, db: Session, world: World) -> None:
    """The control for the test above: A's items are there for A."""
    numbers = client.get("/api/v1/phone-numbers", headers=world.a.key).json()["data"]
    keys = client.get("/api/v1/api-keys", headers=world.a.owner).json()["data"]
    members = client.get("/api/v1/business/me/members", headers=world.a.owner).json()["data"]

    assert [n["id"] for n in numbers] == [world.number_id]
    assert [k["id"] for k in keys] == [world.a.key_id]
    assert {m["userId"] for m in members} == {str(world.a.owner_id), str(world.member_id)}


def test_an_api_key_acts_for_its_own_business_only(client: TestClient, db: Session, world: World) -> None:
    a_reads = client.get("/api/v1/business/me", headers=world.a.key)
    b_reads = client.get("/api/v1/business/me", headers=world.b.key)
    a_writes = client.patch("/api/v1/business/me", json={"greeting": "Set by A's key"}, headers=world.a.key)

    assert a_reads.status_code == 200, a_reads.text
    assert a_reads.json()["id"] == str(world.a.business_id)
    assert a_reads.json()["name"] == "Business A"
    assert b_reads.json()["id"] == str(world.b.business_id)
    assert a_writes.status_code == 200, a_writes.text
    assert a_writes.json()["id"] == str(world.a.business_id)
    assert client.get("/api/v1/business/me", headers=world.b.owner).json()["greeting"] == ""
    assert client.get("/api/v1/business/me", headers=world.a.owner).json()["greeting"] == "Set by A's key"


def test_a_key_and_a_token_together_do_not_mix_businesses(client: TestClient, db: Session, world: World) -> None:
    """B's owner token with A's key (or the reverse) never reads the other's number."""
    mixed = [{**world.b.owner, **world.a.key}, {**world.a.key, **world.b.owner}, {**world.a.owner, **world.b.key}]

    for headers in mixed:
        response = client.get(f"/api/v1/phone-numbers/{world.number_id}", headers=headers)
        if response.status_code == 200:
            # Answered for A: then it must be A's credential that was used, and A's number shown.
            assert response.json()["id"] == world.number_id
            listed = client.get("/api/v1/business/me", headers=headers).json()["id"]
            assert listed == str(world.a.business_id), headers
        else:
            assert response.status_code in (401, 403, 404), response.text


def test_a_number_held_by_another_business_cannot_be_added_again(client: TestClient, db: Session, world: World) -> None:
    plan_id = db.scalar(select(PhoneNumber.plan_id).where(PhoneNumber.id == uuid.UUID(world.number_id)))

    response = client.post(
        "/api/v1/phone-numbers", json={"e164": NUMBER, "planId": str(plan_id), "label": "Mine now"}, headers=world.b.key
    )

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "number_taken"
    db.expire_all()
    assert db.scalar(select(PhoneNumber.business_id).where(PhoneNumber.e164 == NUMBER)) == world.a.business_id
