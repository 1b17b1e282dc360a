"""Operations tagged Members: the people of your business, their roles, and invitations."""

from __future__ import annotations

import uuid
from typing import Any

from core.tenancy import Caller
from models import Invitation, Membership, Role
from schemas.business import invitation_list_schema, invitation_schema, member_list_schema, member_schema
from schemas.notifications import dump_preferences, load_choices
from services import invitations, members, notifications
from web.context import session, settings
from web.idempotency import idempotent
from web.responses import JSON, Response


def list_members(token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = Membership.page(session(), Caller.of(token_info).business, limit=limit, cursor=cursor)
    return member_list_schema.dump(page), 200, JSON


def update_member(token_info: dict[str, Any], user_id: str, body: dict[str, Any]) -> Response:
    member = members.change_role(session(), Caller.of(token_info), uuid.UUID(user_id), Role(body["role"]))
    return member_schema.dump(member), 200, JSON


def remove_member(token_info: dict[str, Any], user_id: str) -> Response:
    members.remove(session(), Caller.of(token_info), uuid.UUID(user_id))
    return None, 204, {}


def list_invitations(token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = Invitation.page_of_pending(session(), Caller.of(token_info).business, limit=limit, cursor=cursor)
    return invitation_list_schema.dump(page), 200, JSON


@idempotent
def create_invitation(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    invitation = invitations.invite(
        session(), settings(), Caller.of(token_info), email=body["email"], role=Role(body["role"])
    )
    return invitation_schema.dump(invitation), 201, {**JSON, "Location": "/api/v1/business/me/invitations"}


def accept_invitation(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    membership = invitations.accept(session(), Caller.of(token_info), body["token"])
    return member_schema.dump(membership), 200, JSON


def revoke_invitation(token_info: dict[str, Any], invitation_id: str) -> Response:
    invitations.revoke(session(), Caller.of(token_info), uuid.UUID(invitation_id))
    return None, 204, {}


def get_notification_preferences(token_info: dict[str, Any]) -> Response:
    return dump_preferences(notifications.preferences(session(), Caller.of(token_info))), 200, JSON


def update_notification_preferences(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    preferences = notifications.set_preferences(session(), Caller.of(token_info), load_choices(body))
    return dump_preferences(preferences), 200, JSON
