"""Operations tagged Catalog."""

from __future__ import annotations

import uuid

from models import Country, ExternalPlan
from schemas.catalog import country_list_schema, plan_list_schema, plan_schema
from web.context import session
from web.responses import Response, ok


def list_countries(limit: int, cursor: str | None = None) -> Response:
    page = Country.page(session(), limit=limit, cursor=cursor)
    return ok(country_list_schema.dump(page))


def list_plans(limit: int, cursor: str | None = None, country: str | None = None) -> Response:
    page = ExternalPlan.page_of_active(session(), country=country, limit=limit, cursor=cursor)
    return ok(plan_list_schema.dump(page))


def get_plan(plan_id: str) -> Response:
    return ok(plan_schema.dump(ExternalPlan.get(session(), uuid.UUID(plan_id))))
