"""Operations tagged Auth."""

from __future__ import annotations

from typing import Any

import flask

from models import AuthSession
from schemas.auth_session import dump_sessions
from schemas.user import user_schema
from services import accounts
from web import oauth
from web.context import caller, session, settings, tokens
from web.responses import NO_STORE, Response, accepted, created, no_content, ok


def register_user(body: dict[str, Any]) -> Response:
    user = accounts.register(session(), settings(), email=body["email"], password=body["password"], name=body["name"])
    return created(user_schema.dump(user), location="/api/v1/users/me")


def login(body: dict[str, Any]) -> Response:
    return ok(_sign_in(body["email"], body["password"]), **NO_STORE)


def refresh_tokens(body: dict[str, Any]) -> Response:
    return ok(accounts.refresh(session(), tokens(), body["refreshToken"]), **NO_STORE)


def issue_token(body: dict[str, Any]) -> Response:
    """RFC 6749's token endpoint: the sign-in and refresh above, in the RFC's names and errors."""
    with oauth.grant_errors():
        if body["grant_type"] == "password":
            pair = _sign_in(*oauth.required(body, "username", "password"))
        elif body["grant_type"] == "refresh_token":
            pair = accounts.refresh(session(), tokens(), *oauth.required(body, "refresh_token"))
        else:
            raise oauth.unsupported_grant(body["grant_type"])
    return ok(oauth.token_response(pair), **oauth.TOKEN_HEADERS)


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


def logout() -> Response:
    accounts.sign_out(session(), caller().session_id)
    return no_content()


def get_jwks() -> Response:
    return ok(tokens().public_jwks())


def list_sessions(limit: int, cursor: str | None = None) -> Response:
    me = caller()
    page = AuthSession.page_of_active(session(), me.person, limit=limit, cursor=cursor)
    return ok(dump_sessions(page, me.session_id or ""))  # an identity provider's token is none of ours


def revoke_session(session_id: str) -> Response:
    accounts.revoke_session(session(), str(caller().person), session_id)
    return no_content()


def verify_email(body: dict[str, Any]) -> Response:
    accounts.verify_email(session(), body["token"])
    return no_content()


def resend_verification_email() -> Response:
    accounts.resend_verification(session(), settings(), str(caller().person))
    return accepted()


def forgot_password(body: dict[str, Any]) -> Response:
    accounts.request_password_reset(session(), settings(), body["email"])
    return accepted()


def reset_password(body: dict[str, Any]) -> Response:
    accounts.reset_password(session(), body["token"], body["newPassword"])
    return no_content()
