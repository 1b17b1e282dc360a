"""Signing in and out: sessions, token pairs and the settings that govern them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.config import Settings
from core.security import TokenService
from models import AuthSession, User


def token_pair(tokens: TokenService, user: User, auth_session: AuthSession, refresh_token: str) -> dict[str, Any]:
    access_token, expires_in = tokens.issue(user, auth_session)
    return {"accessToken": access_token, "refreshToken": refresh_token, "tokenType": "Bearer", "expiresIn": expires_in}


def sign_in(
    session: Session,
    settings: Settings,
    tokens: TokenService,
    *,
    email: str,
    password: str,
    user_agent: str | None,
    ip_address: str | None,
) -> dict[str, Any]:
    user = User.authenticate(
        session,
        email=email,
        password=password,
        max_failures=settings.login_max_failures,
        lockout=timedelta(minutes=settings.login_lockout_minutes),
    )
    auth_session, refresh_token = AuthSession.start(
        session,
        user,
        lifetime=timedelta(days=settings.refresh_token_ttl_days),
        user_agent=user_agent,
        ip_address=ip_address,
    )
    return token_pair(tokens, user, auth_session, refresh_token)


def refresh(session: Session, tokens: TokenService, presented: str) -> dict[str, Any]:
    auth_session, refresh_token = AuthSession.refresh(session, presented)
    return token_pair(tokens, session.get_one(User, auth_session.user_id), auth_session, refresh_token)


def sign_out(session: Session, session_id: str) -> None:
    session.get_one(AuthSession, uuid.UUID(session_id)).revoke()


def change_password(session: Session, user_id: str, session_id: str, *, current: str, new: str) -> None:
    """A new password ends every other session: whoever knew the old one is signed out."""
    user = session.get_one(User, uuid.UUID(user_id))
    user.change_password(current_password=current, new_password=new)
    AuthSession.revoke_all_of(session, user.id, except_id=uuid.UUID(session_id))
