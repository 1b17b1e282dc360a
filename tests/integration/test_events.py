"""Events as an integrator meets them: the events API (what happened, 30 days), one delivery sent again, and
the call simulator, whose calls take the real routing and whose events reach a real receiver, signed and as
the spec's `x-webhooks` describes them (the receiver checks each one, tests/webhook_events.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connexion import FlaskApp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.testclient import TestClient

from models import AuditEvent, Business, Call, Event, Job, Role, WebhookDelivery
from models.base import utcnow
from models.event import RETENTION
from models.webhook import KEPT
from services.webhooks import DELIVER_WEBHOOK
from tests.factories import make_member, make_phone_number
from tests.helpers import auth_headers, owner_of_a_business
from tests.integration.test_receptionist import NEW_YORK_WEEK
from tests.integration.test_webhooks import ENDPOINTS, create, deliver, deliveries
from tests.webhook_events import Receiver, check_delivery, verified_event

EVENTS, SIMULATIONS = "/api/v1/events", "/api/v1/calls/simulations"
RECEPTIONIST, FORWARD_TO, CALLER = "+14155550199", "+14155550100", "+14155550123"
MONDAY_10 = "2026-12-07T15:00:00Z"  # open (New York)
SATURDAY = "2026-12-05T20:00:00Z"  # closed


def receptionist(client: TestClient, db: Session) -> tuple[Business, dict[str, str]]:
    """An owner whose receptionist answers on its number in New York's business hours."""
    business, _, headers = owner_of_a_business(client, db)
    make_phone_number(db, business, e164=RECEPTIONIST)
    settings = {"timezone": "America/New_York", "business_hours": NEW_YORK_WEEK, "greeting": "Hi!"}
    for name, value in settings.items():
        setattr(business, name, value)
    business.phone_number, business.forwarding_number, business.receptionist_enabled = RECEPTIONIST, FORWARD_TO, True
    db.commit()
    return business, headers


def simulate(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(SIMULATIONS, json={"from": CALLER, **body}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/api/v1/calls/{response.json()['call']['id']}"
    return response.json()  # type: ignore[no-any-return]


def listed(client: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    response = client.get(EVENTS, params={"limit": "100", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def test_what_happened_is_listed_newest_first_filtered_and_read_one_by_one(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)  # no endpoint: events are kept all the same
    client.patch("/api/v1/business/me", json={"greeting": "Hello"}, headers=headers)
    client.post("/api/v1/business/me/blocked-numbers", json={"number": "+14155550142"}, headers=headers)
    client.patch("/api/v1/business/me", json={"greeting": "Hello again"}, headers=headers)

    every = listed(client, headers)

    assert [event["data"]["changes"].get("greeting", [None, None])[1] for event in every] == [
        "Hello again",
        None,
        "Hello",
    ]
    assert {event["type"] for event in every} == {"business.updated"}
    assert every[1]["data"]["changes"]["blockedNumber"][0] is None
    one = client.get(f"{EVENTS}/{every[0]['id']}", headers=headers)
    assert (one.status_code, one.json()) == (200, every[0])
    assert listed(client, headers, type="call.completed") == []
    assert listed(client, headers, since=every[0]["timestamp"]) == every[:1]
    assert listed(client, headers, until=every[0]["timestamp"]) == every[1:]
    first_page = client.get(EVENTS, params={"limit": "2"}, headers=headers).json()
    rest = client.get(EVENTS, params={"limit": "2", "cursor": first_page["nextCursor"]}, headers=headers).json()
    assert first_page["data"] + rest["data"] == every
    assert rest["nextCursor"] is None
    missing = client.get(f"{EVENTS}/msg_{'0' * 32}", headers=headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_members_may_not_read_events(client: TestClient, db: Session) -> None:
    business, _, _ = owner_of_a_business(client, db)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()

    refused = client.get(EVENTS, headers=auth_headers(client, member.email))

    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")


def test_every_endpoint_receives_the_event_as_the_events_api_shows_it(
    app: FlaskApp, client: TestClient, db: Session, receiver: Receiver
) -> None:
    _, _, headers = owner_of_a_business(client, db)
    endpoints = [create(client, headers, receiver.url), create(client, headers, receiver.url)]
    client.patch("/api/v1/business/me", json={"greeting": "Hello"}, headers=headers)

    assert deliver(app) == 2

    (event,) = listed(client, headers)
    for body, received_headers in receiver.received:  # each signed with its own endpoint's secret
        assert any(_signed_by(endpoint["secret"], body, received_headers) for endpoint in endpoints)
        assert check_delivery(body, received_headers) == event


def _signed_by(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        verified_event(secret, body, headers)
    except WebhookVerificationError:
        return False
    return True


def test_one_delivery_is_sent_again_with_the_same_id_and_body_and_the_retry_is_audited(
    app: FlaskApp, client: TestClient, db: Session, receiver: Receiver
) -> None:
    _, _, headers = owner_of_a_business(client, db)
    endpoint = create(client, headers, receiver.url)
    client.patch("/api/v1/business/me", json={"greeting": "Hello"}, headers=headers)
    deliver(app)
    (first,) = deliveries(client, headers, endpoint)

    retried = client.post(f"{ENDPOINTS}/{endpoint['id']}/deliveries/{first['id']}/retry", headers=headers)

    assert retried.status_code == 202, retried.text
    again = retried.json()
    assert (again["eventId"], again["eventType"], again["status"], again["attempts"]) == (
        first["eventId"],
        "business.updated",
        "pending",
        0,
    )
    assert deliver(app) == 1
    (one, _), (other, other_headers) = receiver.received
    assert one == other
    assert verified_event(endpoint["secret"], other, other_headers)["id"] == first["eventId"]
    assert [d["status"] for d in deliveries(client, headers, endpoint)] == ["succeeded", "succeeded"]
    audited = db.scalar(select(AuditEvent).where(AuditEvent.action == "webhook_delivery.retried"))
    assert audited is not None
    assert audited.target_id == again["id"]


def test_a_retry_to_a_switched_off_or_unknown_delivery_is_refused_and_queues_nothing(
    client: TestClient, db: Session, receiver: Receiver
) -> None:
    _, _, headers = owner_of_a_business(client, db)
    endpoint = create(client, headers, receiver.url)
    client.patch("/api/v1/business/me", json={"greeting": "Hello"}, headers=headers)
    (delivery,) = deliveries(client, headers, endpoint)
    retry = f"{ENDPOINTS}/{endpoint['id']}/deliveries/{delivery['id']}/retry"
    client.patch(f"{ENDPOINTS}/{endpoint['id']}", json={"enabled": False}, headers=headers)

    disabled = client.post(retry, headers=headers)
    unknown = client.post(retry.replace(delivery["id"], "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"), headers=headers)

    assert (disabled.status_code, disabled.json()["code"]) == (422, "webhook_endpoint_disabled")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_events_older_than_the_retention_are_deleted(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)
    for greeting in ("Old", "New"):
        client.patch("/api/v1/business/me", json={"greeting": greeting}, headers=headers)
    old = listed(client, headers)[-1]["id"]
    db.execute(update(Event).where(Event.id == old).values(created_at=utcnow() - RETENTION - timedelta(minutes=1)))
    db.commit()

    assert Event.clean_up(db) == 1
    db.commit()

    assert [event["data"]["changes"]["greeting"][1] for event in listed(client, headers)] == ["New"]


def test_settled_deliveries_older_than_the_retention_are_deleted_and_pending_ones_kept(
    client: TestClient, db: Session, receiver: Receiver
) -> None:
    _, _, headers = owner_of_a_business(client, db)
    endpoint = create(client, headers, receiver.url)
    for greeting in ("Sent", "Still pending", "New"):
        client.patch("/api/v1/business/me", json={"greeting": greeting}, headers=headers)
    new, pending, sent = deliveries(client, headers, endpoint)
    long_ago = utcnow() - KEPT - timedelta(minutes=1)
    db.execute(update(WebhookDelivery).where(WebhookDelivery.id == sent["id"]).values(status="succeeded"))
    old = WebhookDelivery.id.in_([sent["id"], pending["id"]])
    db.execute(update(WebhookDelivery).where(old).values(created_at=long_ago))
    db.commit()

    assert WebhookDelivery.clean_up(db) == 1
    db.commit()

    assert [d["id"] for d in deliveries(client, headers, endpoint)] == [new["id"], pending["id"]]


def test_a_simulated_call_is_routed_as_a_real_one_and_its_events_reach_the_endpoint(
    app: FlaskApp, client: TestClient, db: Session, receiver: Receiver
) -> None:
    _, headers = receptionist(client, db)
    endpoint = create(client, headers, receiver.url, events=["call.completed", "voicemail.received"])

    closed = simulate(client, headers, at=SATURDAY, durationSeconds=200)

    call = closed["call"]
    assert (call["simulated"], call["outcome"], call["status"], call["to"], call["durationSeconds"]) == (
        True,
        "voicemail",
        "completed",
        RECEPTIONIST,
        200,
    )
    assert call["voicemail"]["durationSeconds"] == 120  # a message is at most <Record maxLength>
    assert call["voicemail"]["url"].startswith("https://recordings.switchboard.invalid/")
    preview = client.get("/api/v1/business/me/routing", params={"at": SATURDAY, "caller": CALLER}, headers=headers)
    assert closed["decision"] == preview.json()
    assert [event["type"] for event in closed["events"]] == ["voicemail.received", "call.completed"]
    assert deliver(app) == 2
    received = [verified_event(endpoint["secret"], body, hdrs) for body, hdrs in receiver.received]
    assert sorted(received, key=lambda e: e["type"]) == sorted(closed["events"], key=lambda e: e["type"])
    assert {event["data"]["id"] for event in received} == {call["id"]}
    assert client.get(f"/api/v1/calls/{call['id']}", headers=headers).json() == call
    assert {job.kind for job in db.scalars(select(Job))} == {DELIVER_WEBHOOK}  # no text, no provider call


def test_the_simulator_plays_each_ending_a_caller_can_meet(client: TestClient, db: Session) -> None:
    _, headers = receptionist(client, db)
    client.post("/api/v1/business/me/blocked-numbers", json={"number": "+14155550142"}, headers=headers)

    def played(**body: Any) -> tuple[str, str, str | None, list[str]]:
        answer = simulate(client, headers, **body)
        call = answer["call"]
        return call["outcome"], call["status"], call["forwardStatus"], [e["type"] for e in answer["events"]]

    assert played(at=MONDAY_10) == ("forwarded", "completed", "answered", ["call.completed"])
    assert played(at=MONDAY_10, forwardAnswered=False) == (
        "voicemail",
        "completed",
        "no-answer",
        ["voicemail.received", "call.completed"],
    )
    assert played(at=MONDAY_10, forwardAnswered=False, leavesVoicemail=False) == (
        "missed",
        "completed",
        "no-answer",
        ["call.completed"],
    )
    assert played(at=SATURDAY, leavesVoicemail=False) == ("missed", "completed", None, ["call.completed"])
    assert played(**{"from": "+14155550142", "at": MONDAY_10}) == ("blocked", "busy", None, ["call.completed"])


def test_simulated_calls_are_told_apart_in_the_call_log(client: TestClient, db: Session) -> None:
    business, headers = receptionist(client, db)
    real = Call(
        business_id=business.id, provider_sid="CA0123", from_number=CALLER, to_number=RECEPTIONIST,
        status="completed", route="forward", outcome="forwarded",
    )  # fmt: skip
    db.add(real)
    db.commit()
    simulated = simulate(client, headers)["call"]["id"]

    def ids(**params: str) -> list[str]:
        response = client.get("/api/v1/calls", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [call["id"] for call in response.json()["data"]]

    assert ids(simulated="true") == [simulated]
    assert ids(simulated="false") == [str(real.id)]
    assert sorted(ids()) == sorted([simulated, str(real.id)])


def test_a_simulation_needs_the_receptionists_number_and_an_instant_of_this_century(
    client: TestClient, db: Session
) -> None:
    _, _, headers = owner_of_a_business(client, db)

    no_number = client.post(SIMULATIONS, json={"from": CALLER}, headers=headers)

    assert (no_number.status_code, no_number.json()["code"], no_number.json()["errors"][0]["field"]) == (
        422,
        "no_phone_number",
        "phoneNumber",
    )
    _, headers = receptionist(client, db)
    too_late = client.post(SIMULATIONS, json={"from": CALLER, "at": "2999-01-01T00:00:00Z"}, headers=headers)
    assert (too_late.status_code, too_late.json()["code"]) == (422, "invalid_range")
    assert db.scalar(select(func.count()).select_from(Call)) == 0
    assert db.scalar(select(func.count()).select_from(Event)) == 0
