"""Operations tagged Webhooks: your systems' endpoints for events, and what was delivered to them."""

from __future__ import annotations

import uuid
from typing import Any

from models import WebhookDelivery, WebhookEndpoint
from schemas.webhook import (
    dump_with_secret,
    webhook_delivery_list_schema,
    webhook_delivery_schema,
    webhook_endpoint_list_schema,
    webhook_endpoint_schema,
)
from services import webhooks
from web.context import app_services, caller, session, settings
from web.idempotency import idempotent
from web.responses import NO_STORE, Response, accepted, created, no_content, ok


def list_webhook_endpoints(limit: int, cursor: str | None = None) -> Response:
    page = WebhookEndpoint.page(session(), caller().business, limit=limit, cursor=cursor)
    return ok(webhook_endpoint_list_schema.dump(page))


@idempotent(withhold=("secret",))
def create_webhook_endpoint(body: dict[str, Any]) -> Response:
    endpoint, secret = webhooks.create(
        session(), app_services().cipher, caller(), body, allow_local=settings().allow_local_targets
    )
    location = f"/api/v1/webhook-endpoints/{endpoint.id}"
    return created(dump_with_secret(endpoint, secret), location=location, **NO_STORE)


def get_webhook_endpoint(endpoint_id: str) -> Response:
    endpoint = WebhookEndpoint.get(session(), caller().business, uuid.UUID(endpoint_id))
    return ok(webhook_endpoint_schema.dump(endpoint))


def update_webhook_endpoint(endpoint_id: str, body: dict[str, Any]) -> Response:
    allow_local = settings().allow_local_targets
    endpoint = webhooks.update(session(), caller(), uuid.UUID(endpoint_id), body, allow_local=allow_local)
    return ok(webhook_endpoint_schema.dump(endpoint))


def delete_webhook_endpoint(endpoint_id: str) -> Response:
    webhooks.delete(session(), caller(), uuid.UUID(endpoint_id))
    return no_content()


def rotate_webhook_secret(endpoint_id: str) -> Response:
    endpoint, secret = webhooks.rotate(session(), app_services().cipher, caller(), uuid.UUID(endpoint_id))
    return ok(dump_with_secret(endpoint, secret), **NO_STORE)


def list_webhook_deliveries(endpoint_id: str, limit: int, cursor: str | None = None) -> Response:
    endpoint = WebhookEndpoint.get(session(), caller().business, uuid.UUID(endpoint_id))
    page = WebhookDelivery.page(session(), endpoint.id, limit=limit, cursor=cursor)
    return ok(webhook_delivery_list_schema.dump(page))


def retry_webhook_delivery(endpoint_id: str, delivery_id: str) -> Response:
    delivery = webhooks.redeliver(session(), caller(), uuid.UUID(endpoint_id), uuid.UUID(delivery_id))
    return accepted(webhook_delivery_schema.dump(delivery))
