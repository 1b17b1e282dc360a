"""Operations tagged PhoneNumbers: the numbers a business holds."""

from __future__ import annotations

import uuid
from typing import Any

from models import PhoneNumber
from schemas.phone_number import phone_number_list_schema, phone_number_schema
from services import phone_numbers
from web.context import caller, session
from web.idempotency import idempotent
from web.responses import Response, created, no_content, ok


def list_phone_numbers(
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    country: str | None = None,
) -> Response:
    business_id = caller().business
    page = PhoneNumber.page(session(), business_id, status=status, country=country, limit=limit, cursor=cursor)
    return ok(phone_number_list_schema.dump(page))


@idempotent
def create_phone_number(body: dict[str, Any]) -> Response:
    number = phone_numbers.add(
        session(),
        caller(),
        e164=body["e164"],
        plan_id=uuid.UUID(body["planId"]),
        label=body["label"],
        forward_to=body.get("forwardTo"),
    )
    return created(phone_number_schema.dump(number), location=f"/api/v1/phone-numbers/{number.id}")


def get_phone_number(phone_number_id: str) -> Response:
    number = PhoneNumber.get(session(), caller().business, uuid.UUID(phone_number_id))
    return ok(phone_number_schema.dump(number))


def update_phone_number(phone_number_id: str, body: dict[str, Any]) -> Response:
    number = phone_numbers.update(session(), caller(), uuid.UUID(phone_number_id), body)
    return ok(phone_number_schema.dump(number))


def release_phone_number(phone_number_id: str) -> Response:
    phone_numbers.release(session(), caller(), uuid.UUID(phone_number_id))
    return no_content()
