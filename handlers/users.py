"""Operations tagged Users."""

from __future__ import annotations

from typing import Any

from models import User
from schemas.user import user_schema
from services import accounts
from web.context import caller, session, settings
from web.responses import Response, no_content, ok


def get_current_user() -> Response:
    return ok(user_schema.dump(session().get_one(User, caller().person)))


def update_current_user(body: dict[str, Any]) -> Response:
    me = session().get_one(User, caller().person)
    me.rename(body["name"])
    return ok(user_schema.dump(me))


def change_password(body: dict[str, Any]) -> Response:
    me, current, new = caller(), body["currentPassword"], body["newPassword"]
    accounts.change_password(session(), settings(), str(me.person), me.session_id, current=current, new=new)
    return no_content()
