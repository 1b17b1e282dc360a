"""Operations tagged Calls: the call log."""

from __future__ import annotations

import uuid
from typing import Any

from core.tenancy import Caller
from models import Call
from schemas.call import call_list_schema, call_schema
from web.context import session
from web.responses import JSON, Response
from web.validation import utc_instant


def list_calls(
    token_info: dict[str, Any],
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    direction: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    page = Call.page(
        session(),
        Caller.of(token_info).business,
        status=status,
        direction=direction,
        since=utc_instant(since, "since") if since else None,
        until=utc_instant(until, "until") if until else None,
        limit=limit,
        cursor=cursor,
    )
    return call_list_schema.dump(page), 200, JSON


def get_call(token_info: dict[str, Any], call_id: str) -> Response:
    return call_schema.dump(Call.get(session(), Caller.of(token_info).business, uuid.UUID(call_id))), 200, JSON
