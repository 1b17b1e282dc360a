"""Operations tagged Business: your business and its receptionist settings."""

from __future__ import annotations

from typing import Any

import flask

from core.tenancy import Caller
from models import Business
from schemas.business import business_schema
from services import audit
from web.context import session
from web.idempotency import idempotent
from web.responses import JSON, Response


def _represent(business: Business, status: int = 200, **headers: str) -> Response:
    return business_schema.dump(business), status, {**JSON, "ETag": business.etag, **headers}


@idempotent
def create_business(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    caller = Caller.of(token_info)
    business = Business.create(session(), caller.person, body)
    audit.record(
        session(), "business.created", caller=caller, business_id=business.id, target=("business", business.id)
    )
    return _represent(business, 201, Location="/api/v1/business/me")


def get_business(token_info: dict[str, Any]) -> Response:
    return _represent(Business.get(session(), Caller.of(token_info).business))


def replace_business(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    return _save(Caller.of(token_info), body)


def update_business(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    return _save(Caller.of(token_info), body)


def _save(caller: Caller, settings: dict[str, Any]) -> Response:
    """PUT and PATCH differ only in what the spec requires of the body."""
    business = Business.get(session(), caller.business, for_update=True)
    business.require_etag(flask.request.headers.get("If-Match"))
    changes = business.apply(session(), settings)
    if changes:
        audit.record(session(), "business.updated", caller=caller, target=("business", business.id), changes=changes)
        session().flush()
    return _represent(business)
