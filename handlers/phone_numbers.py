"""Operations tagged PhoneNumbers: the numbers a business holds."""

from __future__ import annotations

import uuid
from typing import Any

from core.tenancy import Caller
from models import PhoneNumber
from schemas.phone_number import phone_number_list_schema, phone_number_schema
from services import phone_numbers
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
    number = phone_numbers.add(
        session(),
        Caller.of(token_info),
        e164=body["e164"],
        plan_id=uuid.UUID(body["planId"]),
        label=body["label"],
        forward_to=body.get("forwardTo"),
    )
    return phone_number_schema.dump(number), 201, {**JSON, "Location": f"/api/v1/phone-numbers/{number.id}"}


def get_phone_number(token_info: dict[str, Any], phone_number_id: str) -> Response:
    number = PhoneNumber.get(session(), Caller.of(token_info).business, uuid.UUID(phone_number_id))
    return phone_number_schema.dump(number), 200, JSON


def update_phone_number(token_info: dict[str, Any], phone_number_id: str, body: dict[str, Any]) -> Response:
    number = phone_numbers.update(session(), Caller.of(token_info), uuid.UUID(phone_number_id), body)
    return phone_number_schema.dump(number), 200, JSON


def release_phone_number(token_info: dict[str, Any], phone_number_id: str) -> Response:
    phone_numbers.release(session(), Caller.of(token_info), uuid.UUID(phone_number_id))
    return None, 204, {}
