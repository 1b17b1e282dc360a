"""Writing the audit log. Events go into the request's transaction, so they exist exactly when the change
does; `record_now` commits on its own (core.db.outliving) for events of requests that fail (a refused
sign-in). The request id and the caller's address come from the request context (core.logging)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import outliving
from core.logging import client_ip_var, request_id_var
from core.tenancy import Caller
from models.audit import AuditEvent
from models.business import Membership


def record(
    session: Session,
    action: str,
    *,
    caller: Caller | None = None,
    business_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    target: tuple[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """One audit event. The actor is `caller` (a person or an API key) or else `user_id` (a sign-in); the
    business is `business_id`, else the caller's, else the one `user_id` belongs to (if any)."""
    actor_type, actor_id = caller.actor if caller else ("user", str(user_id)) if user_id else ("anonymous", None)
    if business_id is None and caller is not None:
        business_id = caller.business_id
    if business_id is None and user_id is not None:
        business_id = session.scalar(select(Membership.business_id).where(Membership.user_id == user_id))
    session.add(
        AuditEvent(
            business_id=business_id,
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            target_type=target[0] if target else None,
            target_id=str(target[1]) if target else None,
            ip_address=client_ip_var.get(),
            request_id=request_id_var.get(),
            changes=changes or None,
        )
    )


def record_now(session: Session, action: str, **details: Any) -> None:
    """Like `record`, in a transaction of its own that commits although the request then fails."""
    with outliving(session) as own:
        record(own, action, **details)
