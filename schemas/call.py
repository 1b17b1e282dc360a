"""API shape of a call (components Call, CallList)."""

from __future__ import annotations

from marshmallow import Schema, fields

from schemas.pagination import page_schema


class CallSchema(Schema):
    id = fields.UUID()
    from_number = fields.String(data_key="from")
    to_number = fields.String(data_key="to")
    direction = fields.String()
    status = fields.String()
    outcome = fields.String()
    forward_status = fields.String(data_key="forwardStatus", allow_none=True)
    started_at = fields.AwareDateTime(data_key="startedAt", format="iso")
    ended_at = fields.AwareDateTime(data_key="endedAt", format="iso", allow_none=True)
    duration_seconds = fields.Integer(data_key="durationSeconds", allow_none=True)
    voicemail = fields.Function(
        lambda call: (
            {"url": call.voicemail_url, "durationSeconds": call.voicemail_seconds, "transcript": call.transcript}
            if call.voicemail_url
            else None
        )
    )
    simulated = fields.Boolean()


call_schema = CallSchema()
call_list_schema = page_schema(CallSchema)()
