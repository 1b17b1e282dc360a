"""Operations tagged Audit."""

from __future__ import annotations

from typing import Any

from core.tenancy import Caller
from models import AuditEvent
from schemas.audit import audit_event_list_schema
from web.context import session
from web.responses import JSON, Response
from web.validation import utc_instant


def list_audit_events(
    token_info: dict[str, Any],
    limit: int,
    cursor: str | None = None,
    action: str | None = None,
    actor_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    page = AuditEvent.page(
        session(),
        Caller.of(token_info).business,
        action=action,
        actor_id=actor_id,
        since=utc_instant(since, "since") if since else None,
        until=utc_instant(until, "until") if until else None,
        limit=limit,
        cursor=cursor,
    )
    return audit_event_list_schema.dump(page), 200, JSON
