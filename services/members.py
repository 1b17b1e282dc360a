"""The members of a business: changing their roles and removing them, each recorded in the audit log."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from core.tenancy import Caller
from models import Membership, Role
from services import audit


def change_role(session: Session, caller: Caller, user_id: uuid.UUID, role: Role) -> Membership:
    actor, member = Membership.for_change(session, caller.business, caller.person, user_id)
    changes = member.change_role(session, role, by=actor.role)
    if changes:
        audit.record(session, "member.role_changed", caller=caller, target=("user", member.user_id), changes=changes)
    return member


def remove(session: Session, caller: Caller, user_id: uuid.UUID) -> None:
    actor, member = Membership.for_change(session, caller.business, caller.person, user_id)
    member.remove(session, by=actor.role)
    audit.record(
        session, "member.removed", caller=caller, target=("user", member.user_id), changes={"role": [member.role, None]}
    )
