"""Operations tagged Audit."""

from __future__ import annotations

from models import AuditEvent
from schemas.audit import audit_event_list_schema
from web.context import caller, session
from web.responses import Response, ok
from web.validation import utc_instant


def list_audit_events(
    limit: int,
    cursor: str | None = None,
    action: str | None = None,
    actor_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    page = AuditEvent.page(
        session(),
        caller().business,
        action=action,
        actor_id=actor_id,
        since=utc_instant(since, "since") if since else None,
        until=utc_instant(until, "until") if until else None,
        limit=limit,
        cursor=cursor,
    )
    return ok(audit_event_list_schema.dump(page))
