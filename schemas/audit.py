"""API shape of an audit event (components AuditEvent, AuditEventList)."""

from __future__ import annotations

from marshmallow import Schema, fields

from schemas.pagination import page_schema


class AuditEventSchema(Schema):
    id = fields.UUID()
    action = fields.String()
    actor = fields.Function(lambda event: {"type": event.actor_type, "id": event.actor_id})
    target = fields.Function(
        lambda event: {"type": event.target_type, "id": event.target_id} if event.target_type else None
    )
    ip_address = fields.String(data_key="ipAddress", allow_none=True)
    request_id = fields.String(data_key="requestId", allow_none=True)
    changes = fields.Raw(allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")


audit_event_list_schema = page_schema(AuditEventSchema)()
