"""Operations tagged Business: your business and its receptionist settings."""

from __future__ import annotations

from typing import Any

import flask

from core.tenancy import Caller
from models import Business
from schemas.business import business_schema
from services import business
from web.context import session
from web.idempotency import idempotent
from web.responses import JSON, Response


def _represent(found: Business, status: int = 200, **headers: str) -> Response:
    return business_schema.dump(found), status, {**JSON, "ETag": found.etag, **headers}


@idempotent(per_person=True)  # a retry comes from the owner of the business the first call created
def create_business(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    return _represent(business.create(session(), Caller.of(token_info), body), 201, Location="/api/v1/business/me")


def get_business(token_info: dict[str, Any]) -> Response:
    return _represent(Business.get(session(), Caller.of(token_info).business))


def replace_business(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    return _save(Caller.of(token_info), body)


def update_business(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    return _save(Caller.of(token_info), body)


def _save(caller: Caller, settings: dict[str, Any]) -> Response:
    """PUT and PATCH differ only in what the spec requires of the body."""
    return _represent(business.update(session(), caller, settings, if_match=flask.request.headers.get("If-Match")))
