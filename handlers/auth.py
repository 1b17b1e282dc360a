"""Operations tagged Auth."""

from __future__ import annotations

import uuid
from typing import Any

import flask

from models import AuthSession
from schemas.auth_session import dump_sessions
from schemas.user import user_schema
from services import accounts
from web import oauth
from web.context import session, settings, tokens
from web.responses import JSON, JSON_NO_STORE, Response


def register_user(body: dict[str, Any]) -> Response:
    user = accounts.register(session(), settings(), email=body["email"], password=body["password"], name=body["name"])
    return user_schema.dump(user), 201, {**JSON, "Location": "/api/v1/users/me"}


def login(body: dict[str, Any]) -> Response:
    return _sign_in(body["email"], body["password"]), 200, JSON_NO_STORE


def refresh_tokens(body: dict[str, Any]) -> Response:
    return accounts.refresh(session(), tokens(), body["refreshToken"]), 200, JSON_NO_STORE


def issue_token(body: dict[str, Any]) -> Response:
    """RFC 6749's token endpoint: the sign-in and refresh above, in the RFC's names and errors."""
    with oauth.grant_errors():
        if body["grant_type"] == "password":
            pair = _sign_in(*oauth.required(body, "username", "password"))
        elif body["grant_type"] == "refresh_token":
            pair = accounts.refresh(session(), tokens(), *oauth.required(body, "refresh_token"))
        else:
            raise oauth.unsupported_grant(body["grant_type"])
    return oauth.token_response(pair), 200, oauth.TOKEN_HEADERS


def _sign_in(email: str, password: str) -> dict[str, Any]:
    return accounts.sign_in(
        session(),
        settings(),
        tokens(),
        email=email,
        password=password,
        user_agent=flask.request.user_agent.string,
        ip_address=flask.request.remote_addr,
    )


def logout(token_info: dict[str, Any]) -> Response:
    accounts.sign_out(session(), token_info["sid"])
    return None, 204, {}


def get_jwks() -> Response:
    return tokens().public_jwks(), 200, JSON


def list_sessions(user: str, token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = AuthSession.page_of_active(session(), uuid.UUID(user), limit=limit, cursor=cursor)
    return dump_sessions(page, token_info["sid"]), 200, JSON


def revoke_session(user: str, session_id: str) -> Response:
    accounts.revoke_session(session(), user, session_id)
    return None, 204, {}


def verify_email(body: dict[str, Any]) -> Response:
    accounts.verify_email(session(), body["token"])
    return None, 204, {}


def resend_verification_email(user: str) -> Response:
    accounts.resend_verification(session(), settings(), user)
    return None, 202, {}


def forgot_password(body: dict[str, Any]) -> Response:
    accounts.request_password_reset(session(), settings(), body["email"])
    return None, 202, {}


def reset_password(body: dict[str, Any]) -> Response:
    accounts.reset_password(session(), body["token"], body["newPassword"])
    return None, 204, {}
