"""Inviting someone to a business: the invitation, and its email queued in the same transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.config import Settings
from models import Business, Invitation, Membership, Role
from services.mail import queue_email


def invite(session: Session, settings: Settings, inviter: Membership, *, email: str, role: Role) -> Invitation:
    invitation, token = Invitation.issue(session, inviter, email=email, role=role)
    context = {
        "business": Business.get(session, inviter.business_id).name,
        "link": f"{settings.frontend_url}/invitations/accept?token={token}",
    }
    queue_email(session, to=invitation.email, template="invitation", context=context)
    return invitation
