"""What the receptionist answers from, beyond the settings: closures and blocked callers. Each change is
audited and announced to the business's webhooks as `business.updated`."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from core.tenancy import Caller
from models import BlockedNumber, Business, Closure
from schemas import events
from services import audit, webhooks


def add_closure(session: Session, caller: Caller, fields: dict[str, Any]) -> Closure:
    Business.get(session, caller.business, for_update=True)  # a business's closures are added in turn
    closure = Closure.create(
        session,
        caller.business,
        name=fields["name"],
        start=date.fromisoformat(fields["startDate"]),
        end=date.fromisoformat(fields["endDate"]) if fields.get("endDate") else None,
        intervals=fields.get("intervals"),
    )
    _changed(session, caller, "closure.created", ("closure", closure.id), events.closure_changes(None, closure))
    return closure


def delete_closure(session: Session, caller: Caller, closure_id: uuid.UUID) -> None:
    closure = Closure.get(session, caller.business, closure_id)
    session.delete(closure)
    _changed(session, caller, "closure.deleted", ("closure", closure.id), events.closure_changes(closure, None))


def block_number(session: Session, caller: Caller, number: str, note: str | None) -> BlockedNumber:
    Business.get(session, caller.business, for_update=True)  # in turn, so the count check cannot race
    blocked = BlockedNumber.add(session, caller.business, number=number, note=note)
    _changed(
        session,
        caller,
        "blocked_number.created",
        ("blocked_number", blocked.id),
        events.blocked_number_changes(None, blocked.number),
    )
    return blocked


def unblock_number(session: Session, caller: Caller, blocked_id: uuid.UUID) -> None:
    blocked = BlockedNumber.get(session, caller.business, blocked_id)
    session.delete(blocked)
    _changed(
        session,
        caller,
        "blocked_number.deleted",
        ("blocked_number", blocked.id),
        events.blocked_number_changes(blocked.number, None),
    )


def _changed(
    session: Session, caller: Caller, action: str, target: tuple[str, uuid.UUID], changes: dict[str, Any]
) -> None:
    audit.record(session, action, caller=caller, target=target, changes=changes)
    webhooks.emit(session, caller.business, events.business_updated(caller.business, changes))
