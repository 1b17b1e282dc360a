"""Operations tagged Receptionist: the schedule, closures, blocked callers and the routing preview."""

from __future__ import annotations

import uuid
from typing import Any

from models import BlockedNumber, Business, Closure
from schemas import receptionist as shapes
from services import receptionist, telephony
from web import context
from web.context import caller, now, session
from web.idempotency import idempotent
from web.responses import Response, created, no_content, ok
from web.validation import utc_instant


def get_schedule(since: str | None = None, until: str | None = None) -> Response:
    start = utc_instant(since, "since") if since else now().replace(microsecond=0)
    business = Business.get(session(), caller().business)
    end, spans = business.open_intervals(session(), start, utc_instant(until, "until") if until else None)
    return ok(shapes.schedule(business.timezone, start, end, spans))


def preview_routing(caller: str | None = None, at: str | None = None) -> Response:
    when = utc_instant(at, "at") if at else now()
    business = context.caller().business  # `caller` here is the query parameter: the number calling in
    decision = telephony.preview(session(), business, caller, when)
    return ok(shapes.decision_schema.dump(decision))


def list_closures(limit: int, cursor: str | None = None) -> Response:
    page = Closure.page(session(), caller().business, limit=limit, cursor=cursor)
    return ok(shapes.closure_list_schema.dump(page))


@idempotent
def create_closure(body: dict[str, Any]) -> Response:
    closure = receptionist.add_closure(session(), caller(), body)
    return created(shapes.closure_schema.dump(closure), location=f"/api/v1/business/me/closures/{closure.id}")


def get_closure(closure_id: str) -> Response:
    closure = Closure.get(session(), caller().business, uuid.UUID(closure_id))
    return ok(shapes.closure_schema.dump(closure))


def delete_closure(closure_id: str) -> Response:
    receptionist.delete_closure(session(), caller(), uuid.UUID(closure_id))
    return no_content()


def list_blocked_numbers(limit: int, cursor: str | None = None) -> Response:
    page = BlockedNumber.page(session(), caller().business, limit=limit, cursor=cursor)
    return ok(shapes.blocked_number_list_schema.dump(page))


@idempotent
def create_blocked_number(body: dict[str, Any]) -> Response:
    blocked = receptionist.block_number(session(), caller(), body["number"], body.get("note"))
    location = f"/api/v1/business/me/blocked-numbers/{blocked.id}"
    return created(shapes.blocked_number_schema.dump(blocked), location=location)


def get_blocked_number(blocked_number_id: str) -> Response:
    blocked = BlockedNumber.get(session(), caller().business, uuid.UUID(blocked_number_id))
    return ok(shapes.blocked_number_schema.dump(blocked))


def delete_blocked_number(blocked_number_id: str) -> Response:
    receptionist.unblock_number(session(), caller(), uuid.UUID(blocked_number_id))
    return no_content()
