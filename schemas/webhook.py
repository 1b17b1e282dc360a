"""API shape of webhook endpoints and their deliveries (components WebhookEndpoint, WebhookDelivery)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from models import WebhookEndpoint
from models.base import utcnow
from schemas.pagination import page_schema


class WebhookEndpointSchema(Schema):
    id = fields.UUID()
    url = fields.String()
    events = fields.List(fields.String())
    enabled = fields.Boolean()
    disabled_reason = fields.String(data_key="disabledReason", allow_none=True)
    paused_until = fields.Method("_paused_until", data_key="pausedUntil")
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")
    updated_at = fields.AwareDateTime(data_key="updatedAt", format="iso")

    def _paused_until(self, endpoint: WebhookEndpoint) -> str | None:
        ends = endpoint.pause_ends(utcnow())  # a pause that has ended is not shown
        return ends.isoformat() if ends is not None else None


class WebhookDeliverySchema(Schema):
    id = fields.UUID()
    event_id = fields.String(data_key="eventId")
    event_type = fields.String(data_key="eventType")
    status = fields.String()
    attempts = fields.Integer()
    last_status_code = fields.Integer(data_key="lastStatusCode", allow_none=True)
    last_error = fields.String(data_key="lastError", allow_none=True)
    last_attempt_at = fields.AwareDateTime(data_key="lastAttemptAt", format="iso", allow_none=True)
    delivered_at = fields.AwareDateTime(data_key="deliveredAt", format="iso", allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")


webhook_endpoint_schema = WebhookEndpointSchema()
webhook_endpoint_list_schema = page_schema(WebhookEndpointSchema)()
webhook_delivery_schema = WebhookDeliverySchema()
webhook_delivery_list_schema = page_schema(WebhookDeliverySchema)()


def dump_with_secret(endpoint: WebhookEndpoint, secret: str) -> dict[str, Any]:
    return {**webhook_endpoint_schema.dump(endpoint), "secret": secret}
