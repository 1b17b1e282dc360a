"""Customers' webhooks (services/webhooks.py): endpoints through the API, and deliveries sent by a real worker
to a real local HTTP receiver that verifies each one with the standardwebhooks library."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from connexion import FlaskApp
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from connectors.webhooks import TargetNotAllowed, check_target
from core.crypto import Cipher
from core.errors import BusinessRuleBroken
from models import Call, Job, Role, Route, WebhookDelivery, WebhookEndpoint
from models.base import utcnow
from services import telephony, webhooks
from services.jobs import Worker
from services.mail import SEND_EMAIL
from services.webhooks import DELIVER_WEBHOOK, Deliverer
from tests.conftest import database_of
from tests.factories import make_business, make_member, make_user
from tests.helpers import auth_headers, owner_of_a_business
from tests.webhook_events import Receiver, verified_event

ENDPOINTS = "/api/v1/webhook-endpoints"


def create(client: TestClient, headers: dict[str, str], url: str, events: list[str] | None = None) -> dict[str, Any]:
    body = {"url": url, "events": events or ["business.updated", "call.completed"]}
    response = client.post(ENDPOINTS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def deliver(app: FlaskApp, *, timeout: float = 5, allow_local: bool = True) -> int:
    deliverer = Deliverer(
        database_of(app), lambda: app.app.extensions["switchboard"].cipher, allow_local=allow_local, timeout=timeout
    )
    worker = Worker(database_of(app), {DELIVER_WEBHOOK: deliverer.deliver_job}, backoff_base=timedelta(seconds=30))
    return worker.run_until_idle()


def deliveries(client: TestClient, headers: dict[str, str], endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def test_the_secret_is_shown_at_creation_and_rotation_only(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    created = create(client, headers, "https://crm.example.com/hooks")
    endpoint_path = f"{ENDPOINTS}/{created['id']}"

    assert created["secret"].startswith("whsec_")
    assert "secret" not in client.get(endpoint_path, headers=headers).json()
    assert all("secret" not in item for item in client.get(ENDPOINTS, headers=headers).json()["data"])
    rotated = client.post(f"{endpoint_path}/rotate-secret", headers=headers).json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    stored = db.scalar(select(WebhookEndpoint.secret_ciphertext).where(WebhookEndpoint.id == uuid.UUID(created["id"])))
    assert created["secret"] not in (stored or "")
    assert rotated["secret"] not in (stored or "")


def test_endpoints_are_changed_switched_and_deleted(client: TestClient, db: Session) -> None:
    headers = owner_of_a_business(client, db).headers
    endpoint = create(client, headers, "https://crm.example.com/hooks")
    path = f"{ENDPOINTS}/{endpoint['id']}"

    changed = client.patch(path, json={"events": ["voicemail.received"], "enabled": False}, headers=headers).json()
    assert (changed["events"], changed["enabled"]) == (["voicemail.received"], False)
    assert client.delete(path, headers=headers).status_code == 204
    assert client.get(path, headers=headers).status_code == 404


def test_members_may_not_manage_webhooks(client: TestClient, db: Session) -> None:
    owner = make_user(db)
    member = make_member(db, make_business(db, owner=owner), role=Role.MEMBER)
    db.commit()
    response = client.get(ENDPOINTS, headers=auth_headers(client, member.email))

    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")


def test_production_endpoints_must_be_https(db: Session) -> None:
    with pytest.raises(BusinessRuleBroken) as refused:
        webhooks._check_scheme({"url": "http://crm.example.com/hooks"}, allow_local=False)

    assert refused.value.code == "webhook_url_not_allowed"
    webhooks._check_scheme({"url": "https://crm.example.com/hooks"}, allow_local=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://169.254.169.254/latest/meta-data",  # the cloud metadata service
        "https://[::1]/hooks",
        "https://[::ffff:10.0.0.1]/hooks",
        "http://93.184.215.14/hooks",  # public, but not https
        "https://no-such-host.invalid/hooks",
    ],
)
def test_a_delivery_never_reaches_inside_the_network(url: str) -> None:
    with pytest.raises(TargetNotAllowed):
        check_target(url, allow_local=False)


def test_a_change_reaches_the_endpoint_signed(
    app: FlaskApp, client: TestClient, db: Session, receiver: Receiver
) -> None:
    headers = owner_of_a_business(client, db).headers
    endpoint = create(client, headers, receiver.url)
    assert client.patch("/api/v1/business/me", json={"greeting": "Hello there"}, headers=headers).status_code == 200

    assert deliver(app) == 1
    ((body, received_headers),) = receiver.received
    event = verified_event(endpoint["secret"], body, received_headers)
    assert event["type"] == "business.updated"
    assert event["data"]["changes"]["greeting"][1] == "Hello there"
    (delivery,) = deliveries(client, headers, endpoint)
    assert (delivery["status"], delivery["attempts"], delivery["lastStatusCode"]) == ("succeeded", 1, 200)
    assert delivery["eventId"] == received_headers["Webhook-Id"]


def test_a_rolled_back_change_sends_nothing(app: FlaskApp, client: TestClient, db: Session, receiver: Receiver) -> None:
    headers = owner_of_a_business(client, db).headers
    endpoint = create(client, headers, receiver.url)
    refused = client.patch("/api/v1/business/me", json={"timezone": "Mars/Olympus_Mons"}, headers=headers)

    assert refused.status_code == 422
    assert deliver(app) == 0
    assert deliveries(client, headers, endpoint) == []
    assert receiver.received == []


def test_a_failing_endpoint_is_retried_until_it_recovers(
    app: FlaskApp, client: TestClient, db: Session, receiver: Receiver
) -> None:
    headers = owner_of_a_business(client, db).headers
    endpoint = create(client, headers, receiver.url)
    receiver.answers = [500]
    client.patch("/api/v1/business/me", json={"greeting": "Retry me"}, headers=headers)

    deliver(app)
    (first,) = deliveries(client, headers, endpoint)
    assert (first["status"], first["attempts"], first["lastStatusCode"]) == ("pending", 1, 500)
    db.execute(update(Job).where(Job.kind == DELIVER_WEBHOOK).values(run_at=utcnow()))  # the backoff has passed
    db.commit()
    deliver(app)

    (second,) = deliveries(client, headers, endpoint)
    assert (second["status"], second["attempts"], second["lastStatusCode"]) == ("succeeded", 2, 200)
    ids = {headers_["Webhook-Id"] for _, headers_ in receiver.received}
    assert len(receiver.received) == 2
    assert ids == {second["eventId"]}  # one event, the same id on every attempt


def test_an_endpoint_that_hangs_is_cut_off(app: FlaskApp, client: TestClient, db: Session, receiver: Receiver) -> None:
    headers = owner_of_a_business(client, db).headers
    endpoint = create(client, headers, receiver.url)
    receiver.answers = [3.0]
    client.patch("/api/v1/business/me", json={"greeting": "Hang on"}, headers=headers)

    started = time.monotonic()
    deliver(app, timeout=0.5)

    assert time.monotonic() - started < 2.5
    (delivery,) = deliveries(client, headers, endpoint)
    assert (delivery["status"], delivery["lastStatusCode"]) == ("pending", None)
    assert delivery["lastError"] == "no answer within 0.5 s"


def test_a_delivery_to_a_private_address_is_refused_in_production(
    app: FlaskApp, client: TestClient, db: Session, receiver: Receiver
) -> None:
    headers = owner_of_a_business(client, db).headers
    endpoint = create(client, headers, receiver.url)  # a loopback address, accepted outside production
    client.patch("/api/v1/business/me", json={"greeting": "Not for you"}, headers=headers)

    deliver(app, allow_local=False)

    assert receiver.received == []
    (delivery,) = deliveries(client, headers, endpoint)
    assert delivery["status"] == "failed"
    assert delivery["lastError"].startswith("not delivered: the endpoint must be https")


def test_an_endpoint_failing_for_a_day_is_disabled_and_the_owners_told(
    app: FlaskApp, client: TestClient, db: Session, receiver: Receiver
) -> None:
    headers = owner_of_a_business(client, db).headers
    endpoint = create(client, headers, receiver.url)
    db.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == uuid.UUID(endpoint["id"]))
        .values(failing_since=utcnow() - timedelta(days=1, minutes=1))
    )
    db.commit()
    receiver.answers = [503]
    client.patch("/api/v1/business/me", json={"greeting": "Last try"}, headers=headers)

    deliver(app)

    shown = client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=headers).json()
    assert shown["enabled"] is False
    assert shown["disabledReason"].startswith("Every delivery failed since")
    (delivery,) = deliveries(client, headers, endpoint)
    assert delivery["status"] == "failed"
    mails = db.scalars(select(Job).where(Job.kind == SEND_EMAIL)).all()
    assert [job.payload["template"] for job in mails if job.payload["context"].get("url") == receiver.url] == [
        "webhook_disabled"
    ]
    switched_on = client.patch(f"{ENDPOINTS}/{endpoint['id']}", json={"enabled": True}, headers=headers).json()
    assert (switched_on["enabled"], switched_on["disabledReason"]) == (True, None)


def test_a_call_that_ends_and_its_voicemail_are_events_once(db: Session) -> None:
    """Twilio retries its callbacks; customers hear of each thing once."""
    business = make_business(db)
    events = ["call.completed", "voicemail.received"]
    endpoint, _ = WebhookEndpoint.create(
        db, Cipher([Fernet.generate_key()]), business.id, {"url": "https://crm.example.com/hooks", "events": events}
    )
    sid = f"CA{uuid.uuid4().hex}"
    Call.answered(db, business.id, sid, "+14155550123", "+14155550199", Route.VOICEMAIL)
    recording = {"CallSid": sid, "RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "9"}
    for _ in range(2):
        telephony.progressed(db, {"CallSid": sid, "CallStatus": "completed", "CallDuration": "30"}, "https://x.test")
        telephony.recorded(db, recording, transcript_wait=timedelta(minutes=2))
    db.commit()

    sent = db.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)).all()
    assert sorted(delivery.event_type for delivery in sent) == ["call.completed", "voicemail.received"]
    completed = next(delivery for delivery in sent if delivery.event_type == "call.completed")
    assert completed.payload["data"]["durationSeconds"] == 30
