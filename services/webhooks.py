"""Customer webhooks: an event becomes a delivery per subscribed endpoint, written (with its job) in the
transaction of the change, so nothing is lost and nothing is sent for a change that was rolled back; the
worker sends each one signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,...`), retried with backoff for about a day. An endpoint that has failed for a
day without a success is disabled, and its business's owners are emailed."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from connectors import webhooks as sender
from core.crypto import Cipher
from core.db import Database
from core.errors import BusinessRuleBroken
from core.tenancy import Caller
from models import Event, Job, Membership, Role, User, WebhookDelivery, WebhookEndpoint
from models.base import utcnow
from models.event import new_event_id
from schemas import events
from schemas.events import Occurrence
from services import audit
from services.jobs import Postpone
from services.mail import queue_email

log = logging.getLogger(__name__)

DELIVER_WEBHOOK = "deliver_webhook"
RETRY_FOR = timedelta(days=1)
MAX_ATTEMPTS = 200  # the window ends it first (backoff is capped at 30 minutes)


def _check_scheme(fields: dict[str, Any], allow_local: bool) -> None:
    """In production an endpoint is https (where it resolves to is checked at each delivery)."""
    if "url" in fields and not sender.allowed_scheme(fields["url"].partition("://")[0], allow_local=allow_local):
        raise BusinessRuleBroken("webhook_url_not_allowed", "A webhook endpoint must be https.", field="url")


def create(
    session: Session, cipher: Cipher, caller: Caller, fields: dict[str, Any], *, allow_local: bool
) -> tuple[WebhookEndpoint, str]:
    _check_scheme(fields, allow_local)
    endpoint, secret = WebhookEndpoint.create(session, cipher, caller.business, fields)
    audit.record(session, "webhook_endpoint.created", caller=caller, target=("webhook_endpoint", endpoint.id))
    return endpoint, secret


def update(
    session: Session, caller: Caller, endpoint_id: uuid.UUID, fields: dict[str, Any], *, allow_local: bool
) -> WebhookEndpoint:
    _check_scheme(fields, allow_local)
    endpoint = WebhookEndpoint.get(session, caller.business, endpoint_id)
    endpoint.change(fields)
    audit.record(session, "webhook_endpoint.updated", caller=caller, target=("webhook_endpoint", endpoint.id))
    return endpoint


def rotate(session: Session, cipher: Cipher, caller: Caller, endpoint_id: uuid.UUID) -> tuple[WebhookEndpoint, str]:
    endpoint = WebhookEndpoint.get(session, caller.business, endpoint_id)
    secret = endpoint.rotate(cipher)
    audit.record(session, "webhook_endpoint.secret_rotated", caller=caller, target=("webhook_endpoint", endpoint.id))
    return endpoint, secret


def delete(session: Session, caller: Caller, endpoint_id: uuid.UUID) -> None:
    session.delete(WebhookEndpoint.get(session, caller.business, endpoint_id))  # its deliveries go with it
    audit.record(session, "webhook_endpoint.deleted", caller=caller, target=("webhook_endpoint", endpoint_id))


class DeliveryFailed(Exception):
    """The endpoint did not take the event this time: the job system tries again later."""


def emit(session: Session, business_id: uuid.UUID, occurrence: Occurrence) -> Event:
    """Records the event (the events API shows it for 30 days) and queues it for every enabled endpoint of
    the business that subscribed to its type. Every delivery carries the same body and `webhook-id`."""
    now = utcnow()
    event_id = new_event_id()
    event = Event.record(session, business_id, event_id, events.body(event_id, occurrence, now))
    for endpoint in WebhookEndpoint.subscribed(session, business_id, event.type):
        _queue(session, endpoint, event.id, event.type, event.body)
    return event


def redeliver(session: Session, caller: Caller, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Sends a delivery's event to its endpoint once more, as a new delivery with the same body and
    `webhook-id` (so a receiver that keeps the ids it has handled skips one it already took)."""
    endpoint = WebhookEndpoint.get(session, caller.business, endpoint_id)
    earlier = WebhookDelivery.get(session, endpoint.id, delivery_id)
    if not endpoint.enabled:
        raise BusinessRuleBroken("webhook_endpoint_disabled", "Switch the endpoint on first (updateWebhookEndpoint).")
    delivery = _queue(session, endpoint, earlier.event_id, earlier.event_type, earlier.payload)
    audit.record(session, "webhook_delivery.retried", caller=caller, target=("webhook_delivery", delivery.id))
    return delivery


def _queue(
    session: Session, endpoint: WebhookEndpoint, event_id: str, event_type: str, body: dict[str, Any]
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=event_type,
        payload=body,
        created_at=utcnow(),
    )
    session.add(delivery)
    Job.enqueue(
        session,
        DELIVER_WEBHOOK,
        {"deliveryId": str(delivery.id)},
        max_attempts=MAX_ATTEMPTS,
        retry_for=RETRY_FOR,
        concurrency_key=endpoint.concurrency_key,
    )
    return delivery


class Deliverer:
    """The `deliver_webhook` job. No database connection is held while the endpoint is called. The worker
    runs a few at most per endpoint (its concurrency key); an endpoint that keeps failing is paused (its
    circuit opens, models/webhook.py), and its deliveries wait until then without holding a thread."""

    def __init__(self, database: Database, cipher: Callable[[], Cipher], *, allow_local: bool, timeout: float) -> None:
        self.database = database
        self.cipher = cipher  # built on first use: a server with no endpoints needs no keys
        self.allow_local = allow_local
        self.timeout = timeout

    def deliver_job(self, payload: Mapping[str, Any]) -> None:
        delivery_id = uuid.UUID(payload["deliveryId"])
        with self.database.sessions() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.status != "pending":
                return  # the endpoint was deleted with its deliveries, or this one is settled
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            if endpoint is None or not endpoint.enabled:
                return self._give_up(delivery_id, "the endpoint is disabled")
            if (pause_ends := endpoint.pause_ends(utcnow())) is not None:
                raise Postpone(pause_ends)  # its circuit is open: wait, without using an attempt
            url, secret, event_id = endpoint.url, self.cipher().decrypt(endpoint.secret_ciphertext), delivery.event_id
            body = json.dumps(delivery.payload, separators=(",", ":"))
        sent_at = utcnow()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(secret).sign(event_id, sent_at, body),
        }
        try:
            answer = sender.deliver(url, body.encode(), headers, timeout=self.timeout, allow_local=self.allow_local)
        except sender.TargetNotAllowed as refused:
            return self._give_up(delivery_id, f"not delivered: {refused}")
        self._record(delivery_id, answer)

    def _give_up(self, delivery_id: uuid.UUID, reason: str) -> None:
        with self.database.sessions.begin() as session:
            delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
            if delivery is not None:
                delivery.give_up(reason)

    def _record(self, delivery_id: uuid.UUID, answer: sender.Answer) -> None:
        with self.database.sessions.begin() as session:
            delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
            if delivery is None:
                return
            now = utcnow()
            delivery.attempted(now, answer.status_code, answer.error)
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
            if delivery.status == "succeeded":
                if endpoint is not None:
                    endpoint.succeeded()
                return
            if endpoint is not None and endpoint.failed(now):
                delivery.give_up(f"the endpoint was disabled: {endpoint.disabled_reason}")
                _tell_owners(session, endpoint)
                return
            pause_ends = endpoint.pause_ends(now) if endpoint is not None else None
            key = endpoint.concurrency_key if endpoint is not None else None
        if pause_ends is not None and key is not None:
            self._postpone(key, pause_ends)
        raise DeliveryFailed(answer.error or f"the endpoint answered {answer.status_code}")

    def _postpone(self, concurrency_key: str, until: datetime) -> None:
        """Moves the paused endpoint's queued deliveries to the end of its pause, after the pause itself is
        committed: a backlog too big to move within the statement timeout must not undo the pause (each one
        that comes due meanwhile is put back untried anyway, see `deliver_job`)."""
        try:
            with self.database.sessions.begin() as session:
                Job.postpone(session, kind=DELIVER_WEBHOOK, concurrency_key=concurrency_key, until=until)
        except DBAPIError:
            log.warning("postponing a paused endpoint's deliveries failed", exc_info=True)


def _tell_owners(session: Session, endpoint: WebhookEndpoint) -> None:
    owners = session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.business_id == endpoint.business_id, Membership.role == Role.OWNER)
    )
    context = {"url": endpoint.url, "reason": endpoint.disabled_reason or ""}
    for email in owners:
        queue_email(session, to=email, template="webhook_disabled", context=context)
