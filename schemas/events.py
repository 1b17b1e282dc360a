"""Every event's body, built here and nowhere else: what an endpoint receives and what the events API shows
(components CallCompletedEvent, VoicemailReceivedEvent, VoicemailTranscribedEvent, BusinessUpdatedEvent;
`x-webhooks` in the spec).

A body is `{"id", "type", "timestamp", "data"}`: `id` is the `webhook-id` of every delivery of the event.
The `changes` of `business.updated` are built here too (`setting_changes`, `closure_changes`,
`blocked_number_changes`), and the audit log records the same ones.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from marshmallow import Schema, fields

from models import Call, Closure
from schemas.business import SETTING_FIELDS
from schemas.call import call_schema
from schemas.pagination import page_schema
from schemas.receptionist import ClosureSchema


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


def setting_changes(diff: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """`Business.apply`'s diff {attribute: [before, after]} by API field."""
    return {SETTING_FIELDS[attribute]: change for attribute, change in diff.items()}


_closure_schema = ClosureSchema(only=("name", "start_date", "end_date", "intervals"))


def closure_changes(before: Closure | None, after: Closure | None) -> dict[str, list[Any]]:
    """A closure added (`before` None) or removed (`after` None)."""
    return {"closure": [None if closure is None else _closure_schema.dump(closure) for closure in (before, after)]}


def blocked_number_changes(before: str | None, after: str | None) -> dict[str, list[Any]]:
    """A number blocked (`before` None) or unblocked (`after` None)."""
    return {"blockedNumber": [before, after]}


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
