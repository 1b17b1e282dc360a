"""A business: creating it and changing its settings, each recorded in the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.tenancy import Caller
from models import Business
from schemas import events
from schemas.business import settings_of
from services import audit, webhooks


def create(session: Session, caller: Caller, fields: dict[str, Any]) -> Business:
    """A new business run by the caller, with the settings of `fields` (API field names) and defaults."""
    business = Business.create(session, caller.person, settings_of(fields))
    audit.record(session, "business.created", caller=caller, business_id=business.id, target=("business", business.id))
    return business


def update(session: Session, caller: Caller, fields: dict[str, Any], *, if_match: str | None) -> Business:
    """Applies the settings of `fields` (API field names) if `if_match` (the request's If-Match) still names
    the current version."""
    business = Business.get(session, caller.business, for_update=True)
    business.require_etag(if_match)
    changes = events.setting_changes(business.apply(session, settings_of(fields)))
    if changes:
        audit.record(session, "business.updated", caller=caller, target=("business", business.id), changes=changes)
        webhooks.emit(session, business.id, events.business_updated(business.id, changes))
        # The UPDATE now, not at whatever query next autoflushes: `updated_at` is the database's (onupdate),
        # so the business returned for the response reloads it instead of showing the previous change's time.
        session.flush()
    return business
