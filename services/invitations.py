"""Invitations to a business: issuing one (its email queued in the same transaction), accepting and
revoking it, each recorded in the audit log."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from core.config import Settings
from core.tenancy import Caller
from models import Business, Invitation, Membership, Role, User
from services import audit
from services.mail import queue_email


def invite(session: Session, settings: Settings, caller: Caller, *, email: str, role: Role) -> Invitation:
    inviter = Membership.get(session, caller.business, caller.person)
    invitation, token = Invitation.issue(session, inviter, email=email, role=role)
    context = {
        "business": Business.get(session, inviter.business_id).name,
        "link": f"{settings.frontend_url}/invitations/accept?token={token}",
    }
    queue_email(session, to=invitation.email, template="invitation", context=context)
    audit.record(
        session, "member.invited", caller=caller, target=("invitation", invitation.id), changes=invitation.describe()
    )
    return invitation


def accept(session: Session, caller: Caller, token: str) -> Membership:
    """The caller joins the invitation's business. The event names that business: the caller's token
    names none yet."""
    membership = Invitation.accept(session, token, session.get_one(User, caller.person))
    audit.record(
        session,
        "member.added",
        caller=caller,
        business_id=membership.business_id,
        target=("user", membership.user_id),
        changes={"role": [None, membership.role]},
    )
    return membership


def revoke(session: Session, caller: Caller, invitation_id: uuid.UUID) -> None:
    invitation = Invitation.revoke(session, caller.business, invitation_id)
    audit.record(session, "member.invitation_revoked", caller=caller, target=("invitation", invitation.id))
