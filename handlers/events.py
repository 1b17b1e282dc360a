"""Operations tagged Events: what happened in your business, as your endpoints receive it."""

from __future__ import annotations

from typing import Any

from core.tenancy import Caller
from models import Event
from schemas.events import event_list_schema, event_schema
from web.context import session
from web.responses import JSON, Response
from web.validation import utc_instant


def list_events(
    token_info: dict[str, Any],
    limit: int,
    cursor: str | None = None,
    type_: str | None = None,  # `type`, renamed by Connexion's pythonic parameters
    since: str | None = None,
    until: str | None = None,
) -> Response:
    page = Event.page(
        session(),
        Caller.of(token_info).business,
        type=type_,
        since=utc_instant(since, "since") if since else None,
        until=utc_instant(until, "until") if until else None,
        limit=limit,
        cursor=cursor,
    )
    return event_list_schema.dump(page), 200, JSON


def get_event(token_info: dict[str, Any], event_id: str) -> Response:
    return event_schema.dump(Event.get(session(), Caller.of(token_info).business, event_id)), 200, JSON
