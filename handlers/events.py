"""Operations tagged Events: what happened in your business, as your endpoints receive it."""

from __future__ import annotations

from models import Event
from schemas.events import event_list_schema, event_schema
from web.context import caller, session
from web.responses import Response, ok
from web.validation import utc_instant


def list_events(
    limit: int,
    cursor: str | None = None,
    type_: str | None = None,  # `type`, renamed by Connexion's pythonic parameters
    since: str | None = None,
    until: str | None = None,
) -> Response:
    page = Event.page(
        session(),
        caller().business,
        type=type_,
        since=utc_instant(since, "since") if since else None,
        until=utc_instant(until, "until") if until else None,
        limit=limit,
        cursor=cursor,
    )
    return ok(event_list_schema.dump(page))


def get_event(event_id: str) -> Response:
    return ok(event_schema.dump(Event.get(session(), caller().business, event_id)))
