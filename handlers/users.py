"""Operations tagged Users."""

from __future__ import annotations

import uuid

from core.db import session
from core.responses import JSON, Response
from models import User
from schemas.user import user_schema


def get_current_user(user: str) -> Response:
    return user_schema.dump(session().get_one(User, uuid.UUID(user))), 200, JSON
