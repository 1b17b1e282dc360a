"""Operations tagged Members: the people of your business, their roles, and invitations."""

from __future__ import annotations

import uuid
from typing import Any

from models import Invitation, Membership, Role
from schemas.business import invitation_list_schema, invitation_schema, member_list_schema, member_schema
from schemas.notifications import dump_preferences, load_choices
from services import invitations, members, notifications
from web.context import caller, session, settings
from web.idempotency import idempotent
from web.responses import Response, created, no_content, ok


def list_members(limit: int, cursor: str | None = None) -> Response:
    page = Membership.page(session(), caller().business, limit=limit, cursor=cursor)
    return ok(member_list_schema.dump(page))


def update_member(user_id: str, body: dict[str, Any]) -> Response:
    member = members.change_role(session(), caller(), uuid.UUID(user_id), Role(body["role"]))
    return ok(member_schema.dump(member))


def remove_member(user_id: str) -> Response:
    members.remove(session(), caller(), uuid.UUID(user_id))
    return no_content()


def list_invitations(limit: int, cursor: str | None = None) -> Response:
    page = Invitation.page_of_pending(session(), caller().business, limit=limit, cursor=cursor)
    return ok(invitation_list_schema.dump(page))


@idempotent
def create_invitation(body: dict[str, Any]) -> Response:
    invitation = invitations.invite(session(), settings(), caller(), email=body["email"], role=Role(body["role"]))
    return created(invitation_schema.dump(invitation), location="/api/v1/business/me/invitations")


def accept_invitation(body: dict[str, Any]) -> Response:
    membership = invitations.accept(session(), caller(), body["token"])
    return ok(member_schema.dump(membership))


def revoke_invitation(invitation_id: str) -> Response:
    invitations.revoke(session(), caller(), uuid.UUID(invitation_id))
    return no_content()


def get_notification_preferences() -> Response:
    return ok(dump_preferences(notifications.preferences(session(), caller())))


def update_notification_preferences(body: dict[str, Any]) -> Response:
    preferences = notifications.set_preferences(session(), caller(), load_choices(body))
    return ok(dump_preferences(preferences))
