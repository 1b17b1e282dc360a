"""Every event's body, built here and nowhere else: what an endpoint receives and what the events API shows
(components CallCompletedEvent, VoicemailReceivedEvent, VoicemailTranscribedEvent, BusinessUpdatedEvent;
`x-webhooks` in the spec).

A body is `{"id", "type", "timestamp", "data"}`: `id` is the `webhook-id` of every delivery of the event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from marshmallow import Schema, fields

from models import Call
from schemas.call import call_schema
from schemas.pagination import page_schema


class Occurrence(NamedTuple):
    """What happened, before it is an event: its type and its `data`."""

    type: str
    data: dict[str, Any]


def call_completed(call: Call) -> Occurrence:
    return Occurrence("call.completed", call_schema.dump(call))


def voicemail_received(call: Call) -> Occurrence:
    return Occurrence("voicemail.received", call_schema.dump(call))


def voicemail_transcribed(call: Call) -> Occurrence:
    """The voicemail's transcript arrived (`data.voicemail.transcript`)."""
    return Occurrence("voicemail.transcribed", call_schema.dump(call))


def business_updated(business_id: uuid.UUID, changes: dict[str, Any]) -> Occurrence:
    """`changes` maps each changed setting (its API name) to `[before, after]`."""
    return Occurrence("business.updated", {"id": str(business_id), "changes": changes})


def body(event_id: str, occurrence: Occurrence, at: datetime) -> dict[str, Any]:
    return {"id": event_id, "type": occurrence.type, "timestamp": at.isoformat(), "data": occurrence.data}


class EventSchema(Schema):
    """An event as the events API shows it: the body its deliveries carried."""

    id = fields.String()
    type = fields.String()
    timestamp = fields.Function(lambda event: event.body["timestamp"])
    data = fields.Function(lambda event: event.body["data"])


event_schema = EventSchema()
event_list_schema = page_schema(EventSchema)()
