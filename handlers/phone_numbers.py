"""Operations tagged PhoneNumbers: the numbers a business holds."""

from __future__ import annotations

import uuid
from typing import Any

from core.tenancy import Caller
from models import Business, PhoneNumber
from schemas.phone_number import phone_number_list_schema, phone_number_schema
from services import audit
from web.context import session
from web.idempotency import idempotent
from web.responses import JSON, Response


def list_phone_numbers(
    token_info: dict[str, Any],
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    country: str | None = None,
) -> Response:
    business_id = Caller.of(token_info).business
    page = PhoneNumber.page(session(), business_id, status=status, country=country, limit=limit, cursor=cursor)
    return phone_number_list_schema.dump(page), 200, JSON


@idempotent
def create_phone_number(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    caller = Caller.of(token_info)
    number = PhoneNumber.add(
        session(),
        caller.business,
        e164=body["e164"],
        plan_id=uuid.UUID(body["planId"]),
        label=body["label"],
        forward_to=body.get("forwardTo"),
    )
    audit.record(
        session(),
        "phone_number.added",
        caller=caller,
        target=("phone_number", number.id),
        changes={"e164": [None, number.e164]},
    )
    return phone_number_schema.dump(number), 201, {**JSON, "Location": f"/api/v1/phone-numbers/{number.id}"}


def get_phone_number(token_info: dict[str, Any], phone_number_id: str) -> Response:
    number = PhoneNumber.get(session(), Caller.of(token_info).business, uuid.UUID(phone_number_id))
    return phone_number_schema.dump(number), 200, JSON


def update_phone_number(token_info: dict[str, Any], phone_number_id: str, body: dict[str, Any]) -> Response:
    caller = Caller.of(token_info)
    business, number = Business.with_number(session(), caller.business, uuid.UUID(phone_number_id))
    changes = number.update(body, business)
    if changes:
        audit.record(
            session(), "phone_number.updated", caller=caller, target=("phone_number", number.id), changes=changes
        )
        session().flush()
    return phone_number_schema.dump(number), 200, JSON


def release_phone_number(token_info: dict[str, Any], phone_number_id: str) -> Response:
    caller = Caller.of(token_info)
    business, number = Business.with_number(session(), caller.business, uuid.UUID(phone_number_id))
    number.release(session(), business)
    audit.record(
        session(),
        "phone_number.released",
        caller=caller,
        target=("phone_number", number.id),
        changes={"e164": [number.e164, None]},
    )
    return None, 204, {}
