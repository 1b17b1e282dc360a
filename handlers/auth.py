"""Operations tagged Auth."""

from __future__ import annotations

from typing import Any

import flask

from core import auth
from core.config import current_settings
from core.db import session
from core.responses import JSON, JSON_NO_STORE, Response
from core.security import tokens
from models import User
from schemas.user import user_schema


def register_user(body: dict[str, Any]) -> Response:
    user = User.register(session(), email=body["email"], password=body["password"], name=body["name"])
    return user_schema.dump(user), 201, {**JSON, "Location": "/api/v1/users/me"}


def login(body: dict[str, Any]) -> Response:
    pair = auth.sign_in(
        session(),
        current_settings(),
        tokens(),
        email=body["email"],
        password=body["password"],
        user_agent=flask.request.user_agent.string,
        ip_address=flask.request.remote_addr,
    )
    return pair, 200, JSON_NO_STORE


def refresh_tokens(body: dict[str, Any]) -> Response:
    return auth.refresh(session(), tokens(), body["refreshToken"]), 200, JSON_NO_STORE


def logout(token_info: dict[str, Any]) -> Response:
    auth.sign_out(session(), token_info["sid"])
    return None, 204, {}


def get_jwks() -> Response:
    return tokens().public_jwks(), 200, JSON
