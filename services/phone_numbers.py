"""Phone numbers: adding, changing and releasing a business's numbers, each recorded in the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from core.tenancy import Caller
from models import Business, PhoneNumber
from schemas.phone_number import api_changes, changes_of
from services import audit


def add(
    session: Session, caller: Caller, *, e164: str, plan_id: uuid.UUID, label: str, forward_to: str | None
) -> PhoneNumber:
    number = PhoneNumber.add(session, caller.business, e164=e164, plan_id=plan_id, label=label, forward_to=forward_to)
    audit.record(
        session,
        "phone_number.added",
        caller=caller,
        target=("phone_number", number.id),
        changes={"e164": [None, number.e164]},
    )
    return number


def update(session: Session, caller: Caller, number_id: uuid.UUID, changes: dict[str, Any]) -> PhoneNumber:
    business, number = Business.with_number(session, caller.business, number_id)
    diff = api_changes(number.update(changes_of(changes), business))
    if diff:
        audit.record(session, "phone_number.updated", caller=caller, target=("phone_number", number.id), changes=diff)
        session.flush()
    return number


def release(session: Session, caller: Caller, number_id: uuid.UUID) -> None:
    business, number = Business.with_number(session, caller.business, number_id)
    number.release(session, business)
    audit.record(
        session,
        "phone_number.released",
        caller=caller,
        target=("phone_number", number.id),
        changes={"e164": [number.e164, None]},
    )
