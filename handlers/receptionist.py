"""Operations tagged Receptionist: the schedule, closures, blocked callers and the routing preview."""

from __future__ import annotations

import uuid
from typing import Any

from core.tenancy import Caller
from models import BlockedNumber, Business, Closure
from schemas import receptionist as shapes
from services import receptionist, telephony
from web.context import now, session
from web.idempotency import idempotent
from web.responses import JSON, Response
from web.validation import utc_instant


def get_schedule(token_info: dict[str, Any], since: str | None = None, until: str | None = None) -> Response:
    start = utc_instant(since, "since") if since else now().replace(microsecond=0)
    business = Business.get(session(), Caller.of(token_info).business)
    end, spans = business.open_intervals(session(), start, utc_instant(until, "until") if until else None)
    return shapes.schedule(business.timezone, start, end, spans), 200, JSON


def preview_routing(token_info: dict[str, Any], caller: str | None = None, at: str | None = None) -> Response:
    when = utc_instant(at, "at") if at else now()
    decision = telephony.preview(session(), Caller.of(token_info).business, caller, when)
    return shapes.decision_schema.dump(decision), 200, JSON


def list_closures(token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = Closure.page(session(), Caller.of(token_info).business, limit=limit, cursor=cursor)
    return shapes.closure_list_schema.dump(page), 200, JSON


@idempotent
def create_closure(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    closure = receptionist.add_closure(session(), Caller.of(token_info), body)
    location = f"/api/v1/business/me/closures/{closure.id}"
    return shapes.closure_schema.dump(closure), 201, {**JSON, "Location": location}


def get_closure(token_info: dict[str, Any], closure_id: str) -> Response:
    closure = Closure.get(session(), Caller.of(token_info).business, uuid.UUID(closure_id))
    return shapes.closure_schema.dump(closure), 200, JSON


def delete_closure(token_info: dict[str, Any], closure_id: str) -> Response:
    receptionist.delete_closure(session(), Caller.of(token_info), uuid.UUID(closure_id))
    return None, 204, {}


def list_blocked_numbers(token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = BlockedNumber.page(session(), Caller.of(token_info).business, limit=limit, cursor=cursor)
    return shapes.blocked_number_list_schema.dump(page), 200, JSON


@idempotent
def create_blocked_number(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    blocked = receptionist.block_number(session(), Caller.of(token_info), body["number"], body.get("note"))
    location = f"/api/v1/business/me/blocked-numbers/{blocked.id}"
    return shapes.blocked_number_schema.dump(blocked), 201, {**JSON, "Location": location}


def get_blocked_number(token_info: dict[str, Any], blocked_number_id: str) -> Response:
    blocked = BlockedNumber.get(session(), Caller.of(token_info).business, uuid.UUID(blocked_number_id))
    return shapes.blocked_number_schema.dump(blocked), 200, JSON


def delete_blocked_number(token_info: dict[str, Any], blocked_number_id: str) -> Response:
    receptionist.unblock_number(session(), Caller.of(token_info), uuid.UUID(blocked_number_id))
    return None, 204, {}
