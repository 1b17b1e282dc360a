"""Operations tagged Business: your business and its receptionist settings."""

from __future__ import annotations

from typing import Any

import flask

from models import Business
from schemas.business import business_schema
from services import business
from web.context import caller, session
from web.idempotency import idempotent
from web.responses import Response, created, ok


@idempotent(per_person=True)  # a retry comes from the owner of the business the first call created
def create_business(body: dict[str, Any]) -> Response:
    found = business.create(session(), caller(), body)
    return created(business_schema.dump(found), location="/api/v1/business/me", ETag=found.etag)


def get_business() -> Response:
    return _represent(Business.get(session(), caller().business))


def replace_business(body: dict[str, Any]) -> Response:
    return _save(body)


def update_business(body: dict[str, Any]) -> Response:
    return _save(body)


def _save(settings: dict[str, Any]) -> Response:
    """PUT and PATCH differ only in what the spec requires of the body."""
    return _represent(business.update(session(), caller(), settings, if_match=flask.request.headers.get("If-Match")))


def _represent(found: Business) -> Response:
    return ok(business_schema.dump(found), ETag=found.etag)
