"""API shape of what the receptionist answers from (components Closure, BlockedNumber, Schedule,
RoutingDecision and their lists)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields

from models.schedule import Span
from schemas.pagination import page_schema


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ClosureSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    start_date = fields.Date(data_key="startDate")
    end_date = fields.Date(data_key="endDate")
    intervals = fields.Raw(allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")


class BlockedNumberSchema(Schema):
    id = fields.UUID()
    number = fields.String()
    note = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")


def span(found: Span) -> dict[str, Any]:
    return {
        "start": _instant(found.start),
        "end": _instant(found.end),
        "localStart": found.local_start.isoformat(),
        "localEnd": found.local_end.isoformat(),
        "source": found.source,
    }


def schedule(timezone: str, start: datetime, end: datetime, spans: list[Span]) -> dict[str, Any]:
    return {
        "timezone": timezone,
        "since": _instant(start),
        "until": _instant(end),
        "intervals": [span(s) for s in spans],
    }


class DecisionSchema(Schema):
    action = fields.Function(lambda decision: decision.action.value)
    reason = fields.String()
    at = fields.Function(lambda decision: _instant(decision.at))
    open_now = fields.Function(lambda decision: decision.open_span is not None, data_key="openNow")
    open_until = fields.Function(
        lambda decision: _instant(decision.open_span.end) if decision.open_span else None, data_key="openUntil"
    )
    next_opening = fields.Function(
        lambda decision: (
            {"at": _instant(decision.next_opening.start), "local": decision.next_opening.local_start.isoformat()}
            if decision.next_opening
            else None
        ),
        data_key="nextOpening",
    )
    forward_to = fields.String(data_key="forwardTo", allow_none=True)
    ring_seconds = fields.Integer(data_key="ringSeconds")
    screened = fields.Boolean()
    closure = fields.Function(
        lambda decision: {"id": str(decision.closure.id), "name": decision.closure.name} if decision.closure else None
    )
    says = fields.List(fields.String())


closure_schema = ClosureSchema()
closure_list_schema = page_schema(ClosureSchema)()
blocked_number_schema = BlockedNumberSchema()
blocked_number_list_schema = page_schema(BlockedNumberSchema)()
decision_schema = DecisionSchema()
