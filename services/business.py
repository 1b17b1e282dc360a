"""A business: creating it and changing its settings, each recorded in the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.tenancy import Caller
from models import Business
from schemas import events
from services import audit, webhooks


def create(session: Session, caller: Caller, settings: dict[str, Any]) -> Business:
    business = Business.create(session, caller.person, settings)
    audit.record(session, "business.created", caller=caller, business_id=business.id, target=("business", business.id))
    return business


def update(session: Session, caller: Caller, settings: dict[str, Any], *, if_match: str | None) -> Business:
    """Applies `settings` if `if_match` (the request's If-Match) still names the current version."""
    business = Business.get(session, caller.business, for_update=True)
    business.require_etag(if_match)
    changes = business.apply(session, settings)
    if changes:
        audit.record(session, "business.updated", caller=caller, target=("business", business.id), changes=changes)
        webhooks.emit(session, business.id, events.business_updated(business.id, changes))
        session.flush()
    return business
