"""Operations tagged Users."""

from __future__ import annotations

import uuid
from typing import Any

from models import User
from schemas.user import user_schema
from services import accounts
from web.context import session, settings
from web.responses import JSON, Response


def get_current_user(user: str) -> Response:
    return user_schema.dump(session().get_one(User, uuid.UUID(user))), 200, JSON


def update_current_user(user: str, body: dict[str, Any]) -> Response:
    me = session().get_one(User, uuid.UUID(user))
    me.rename(body["name"])
    return user_schema.dump(me), 200, JSON


def change_password(user: str, token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    current, new = body["currentPassword"], body["newPassword"]
    accounts.change_password(session(), settings(), user, token_info["sid"], current=current, new=new)
    return None, 204, {}
