"""Operations tagged Members: the people of your business, their roles, and invitations."""

from __future__ import annotations

import uuid
from typing import Any

from core.tenancy import Caller
from models import Invitation, Membership, Role, User
from schemas.business import invitation_list_schema, invitation_schema, member_list_schema, member_schema
from services import audit, invitations
from web.context import session, settings
from web.idempotency import idempotent
from web.responses import JSON, Response


def list_members(token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = Membership.page(session(), Caller.of(token_info).business, limit=limit, cursor=cursor)
    return member_list_schema.dump(page), 200, JSON


def update_member(token_info: dict[str, Any], user_id: str, body: dict[str, Any]) -> Response:
    caller = Caller.of(token_info)
    actor, member = Membership.for_change(session(), caller.business, caller.person, uuid.UUID(user_id))
    changes = member.change_role(session(), Role(body["role"]), by=actor.role)
    if changes:
        audit.record(session(), "member.role_changed", caller=caller, target=("user", member.user_id), changes=changes)
    return member_schema.dump(member), 200, JSON


def remove_member(token_info: dict[str, Any], user_id: str) -> Response:
    caller = Caller.of(token_info)
    actor, member = Membership.for_change(session(), caller.business, caller.person, uuid.UUID(user_id))
    member.remove(session(), by=actor.role)
    audit.record(
        session(),
        "member.removed",
        caller=caller,
        target=("user", member.user_id),
        changes={"role": [member.role, None]},
    )
    return None, 204, {}


def list_invitations(token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = Invitation.page_of_pending(session(), Caller.of(token_info).business, limit=limit, cursor=cursor)
    return invitation_list_schema.dump(page), 200, JSON


@idempotent
def create_invitation(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    caller = Caller.of(token_info)
    inviter = Membership.get(session(), caller.business, caller.person)
    invitation = invitations.invite(session(), settings(), inviter, email=body["email"], role=Role(body["role"]))
    audit.record(
        session(), "member.invited", caller=caller, target=("invitation", invitation.id), changes=invitation.describe()
    )
    return invitation_schema.dump(invitation), 201, {**JSON, "Location": "/api/v1/business/me/invitations"}


def accept_invitation(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    caller = Caller.of(token_info)
    membership = Invitation.accept(session(), body["token"], session().get_one(User, caller.person))
    audit.record(
        session(),
        "member.added",
        caller=caller,
        business_id=membership.business_id,
        target=("user", membership.user_id),
        changes={"role": [None, membership.role]},
    )
    return member_schema.dump(membership), 200, JSON


def revoke_invitation(token_info: dict[str, Any], invitation_id: str) -> Response:
    caller = Caller.of(token_info)
    invitation = Invitation.revoke(session(), caller.business, uuid.UUID(invitation_id))
    audit.record(session(), "member.invitation_revoked", caller=caller, target=("invitation", invitation.id))
    return None, 204, {}
