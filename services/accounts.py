"""Account flows: registration, signing in and out, ending a session, email verification, password changes and
resets."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.tokens import TokenService
from models import AuthSession, TokenPurpose, User, UserToken
from models.user import AccountLocked, CurrentPasswordIncorrect, InvalidCredentials, normalise_email
from services import audit
from services.mail import queue_email


def token_pair(tokens: TokenService, user: User, auth_session: AuthSession, refresh_token: str) -> dict[str, Any]:
    access_token, expires_in = tokens.issue(user.id, auth_session.id)
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
    user = _check_password(session, settings, email, password)
    audit.record(session, "auth.login_succeeded", user_id=user.id, target=("user", user.id))
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


def sign_out(session: Session, session_id: str | None) -> None:
    """Ends our session; a token of an external provider has none of ours (sid None): nothing to end."""
    if session_id is not None:
        session.get_one(AuthSession, uuid.UUID(session_id)).revoke()


def revoke_session(session: Session, user_id: str, session_id: str) -> None:
    AuthSession.get_own(session, uuid.UUID(session_id), uuid.UUID(user_id)).revoke()
    audit.record(session, "auth.session_revoked", user_id=uuid.UUID(user_id), target=("session", session_id))


def change_password(
    session: Session, settings: Settings, user_id: str, session_id: str | None, *, current: str, new: str
) -> None:
    """A new password ends every other session: whoever knew the old one is signed out.

    The current password is checked like a sign-in, failures counting towards the lockout, so a stolen
    access token cannot be used to guess it.
    """
    user = session.get_one(User, uuid.UUID(user_id))
    try:
        _check_password(session, settings, user.email, current)
    except InvalidCredentials:
        raise CurrentPasswordIncorrect() from None
    user.set_password(new)
    AuthSession.revoke_all_of(session, user.id, except_id=uuid.UUID(session_id) if session_id else None)
    audit.record(session, "auth.password_changed", user_id=user.id, target=("user", user.id))


def _check_password(session: Session, settings: Settings, email: str, password: str) -> User:
    try:
        return User.authenticate(
            session,
            email=email,
            password=password,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )
    except (InvalidCredentials, AccountLocked) as refusal:
        # Committed on its own: the request that failed rolls back. Unknown emails are not recorded by
        # address (the log would become a list of guesses); they count as anonymous failures.
        user_id = session.scalar(select(User.id).where(User.email == normalise_email(email)))
        action = "auth.locked_out" if isinstance(refusal, AccountLocked) else "auth.login_failed"
        audit.record_now(session, action, user_id=user_id, target=("user", user_id) if user_id else None)
        raise


def register(session: Session, settings: Settings, *, email: str, password: str, name: str) -> User:
    user = User.register(session, email=email, password=password, name=name)
    send_verification(session, settings, user)
    return user


def send_verification(session: Session, settings: Settings, user: User) -> None:
    """Queues the email in this transaction: it goes out only if the change commits."""
    token = UserToken.issue(session, user, TokenPurpose.VERIFY_EMAIL)
    link = f"{settings.frontend_url}/verify-email?token={token}"
    queue_email(session, to=user.email, template="verify_email", context={"name": user.name, "link": link})


def resend_verification(session: Session, settings: Settings, user_id: str) -> None:
    user = session.get_one(User, uuid.UUID(user_id))
    user.require_unverified_email()
    send_verification(session, settings, user)


def verify_email(session: Session, token: str) -> None:
    UserToken.redeem(session, token, TokenPurpose.VERIFY_EMAIL).verify_email()


def request_password_reset(session: Session, settings: Settings, email: str) -> None:
    """Queues a reset email if the account exists; the caller answers the same either way."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        return
    token = UserToken.issue(session, user, TokenPurpose.RESET_PASSWORD)
    link = f"{settings.frontend_url}/reset-password?token={token}"
    queue_email(session, to=user.email, template="reset_password", context={"name": user.name, "link": link})


def reset_password(session: Session, token: str, new_password: str) -> None:
    """A new password from the emailed token; every session of the user ends."""
    user = UserToken.redeem(session, token, TokenPurpose.RESET_PASSWORD)
    user.reset_password(new_password)
    AuthSession.revoke_all_of(session, user.id)
    audit.record(session, "auth.password_reset", user_id=user.id, target=("user", user.id))
