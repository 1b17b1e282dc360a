"""Operations tagged Webhooks: your systems' endpoints for events, and what was delivered to them."""

from __future__ import annotations

import uuid
from typing import Any

from core.tenancy import Caller
from models import WebhookDelivery, WebhookEndpoint
from schemas.webhook import (
    dump_with_secret,
    webhook_delivery_list_schema,
    webhook_delivery_schema,
    webhook_endpoint_list_schema,
    webhook_endpoint_schema,
)
from services import webhooks
from web.context import services, session, settings
from web.idempotency import idempotent
from web.responses import JSON, JSON_NO_STORE, Response


def list_webhook_endpoints(token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = WebhookEndpoint.page(session(), Caller.of(token_info).business, limit=limit, cursor=cursor)
    return webhook_endpoint_list_schema.dump(page), 200, JSON


@idempotent(withhold=("secret",))
def create_webhook_endpoint(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    endpoint, secret = webhooks.create(
        session(), services().cipher, Caller.of(token_info), body, allow_local=settings().app_env != "production"
    )
    headers = {**JSON_NO_STORE, "Location": f"/api/v1/webhook-endpoints/{endpoint.id}"}
    return dump_with_secret(endpoint, secret), 201, headers


def get_webhook_endpoint(token_info: dict[str, Any], endpoint_id: str) -> Response:
    endpoint = WebhookEndpoint.get(session(), Caller.of(token_info).business, uuid.UUID(endpoint_id))
    return webhook_endpoint_schema.dump(endpoint), 200, JSON


def update_webhook_endpoint(token_info: dict[str, Any], endpoint_id: str, body: dict[str, Any]) -> Response:
    allow_local = settings().app_env != "production"
    endpoint = webhooks.update(session(), Caller.of(token_info), uuid.UUID(endpoint_id), body, allow_local=allow_local)
    return webhook_endpoint_schema.dump(endpoint), 200, JSON


def delete_webhook_endpoint(token_info: dict[str, Any], endpoint_id: str) -> Response:
    webhooks.delete(session(), Caller.of(token_info), uuid.UUID(endpoint_id))
    return None, 204, {}


def rotate_webhook_secret(token_info: dict[str, Any], endpoint_id: str) -> Response:
    endpoint, secret = webhooks.rotate(session(), services().cipher, Caller.of(token_info), uuid.UUID(endpoint_id))
    return dump_with_secret(endpoint, secret), 200, JSON_NO_STORE


def list_webhook_deliveries(
    token_info: dict[str, Any], endpoint_id: str, limit: int, cursor: str | None = None
) -> Response:
    endpoint = WebhookEndpoint.get(session(), Caller.of(token_info).business, uuid.UUID(endpoint_id))
    page = WebhookDelivery.page(session(), endpoint.id, limit=limit, cursor=cursor)
    return webhook_delivery_list_schema.dump(page), 200, JSON


def retry_webhook_delivery(token_info: dict[str, Any], endpoint_id: str, delivery_id: str) -> Response:
    delivery = webhooks.redeliver(session(), Caller.of(token_info), uuid.UUID(endpoint_id), uuid.UUID(delivery_id))
    return webhook_delivery_schema.dump(delivery), 202, JSON
