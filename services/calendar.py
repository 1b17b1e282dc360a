"""Connecting a business's Google Calendar (the OAuth protocol itself is connectors/google_oauth.py).

1. The start hands the person Google's consent URL, whose sealed `state` carries the business, the person
   and the PKCE verifier.
2. `complete` (Google's redirect, no bearer token: the state is the binding) opens the state, checks
   the person may still change that business, exchanges the code, and stores the tokens encrypted
   (models.calendar_connection).
3. `disconnect` forgets the tokens and revokes them at Google, best effort.

No database transaction stays open while Google is asked (`core.db.commit_early`). Tokens are never
logged, audited or put in an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from connectors.google_oauth import (
    CALENDAR_SCOPE,
    GoogleCalendar,
    IntegrationUnavailable,
    InvalidOAuthState,
    OAuthExchangeFailed,
    PendingGrant,
)
from core.crypto import CannotDecrypt, Cipher
from core.db import commit_early
from core.errors import FieldError, ValidationFailed
from core.tenancy import Caller
from models import CalendarConnection, Membership
from models.calendar_connection import CalendarStatus
from schemas.business import calendar_status_schema
from services import audit

log = logging.getLogger(__name__)

NOT_CONFIGURED = {
    "available": False,
    "error": "Google Calendar integration is not configured on this server",
    "detail": "Contact your administrator to enable Google Calendar integration",
}


@dataclass(frozen=True)
class Outcome:
    result: Literal["connected", "declined"]
    calendar: CalendarStatus

    def body(self) -> dict[str, Any]:
        return {"result": self.result, "calendar": calendar_status_schema.dump(self.calendar)}

    def frontend_location(self, frontend_url: str) -> str:
        return f"{frontend_url.rstrip('/')}/settings/calendar?calendar={self.result}"


def complete(
    session: Session,
    google: GoogleCalendar | None,
    cipher: Cipher,
    *,
    state: str,
    code: str | None,
    error: str | None,
) -> Outcome:
    """The callback: the outcome of the person's visit to Google, the connection stored if they agreed."""
    if google is None:
        raise InvalidOAuthState("Google Calendar is not configured on this server, so no state of it is valid.")
    grant = google.read_state(state)
    _require_writer(session, grant)
    if error is not None:
        if error in ("server_error", "temporarily_unavailable"):
            raise IntegrationUnavailable("Google could not handle the request; try again shortly.")
        if error != "access_denied":
            log.warning("google oauth: authorization refused (%s)", error[:60])
            raise OAuthExchangeFailed(f"Google did not authorize the connection ({error[:60]}); connect again.")
        return Outcome("declined", CalendarConnection.status(CalendarConnection.of(session, grant.business_id)))
    if code is None:
        missing: FieldError = {"field": "code", "message": "required when `error` is absent"}
        raise ValidationFailed("Google's redirect carries either `code` or `error`", errors=[missing])
    commit_early(session)  # ends the read transaction: no pooled connection waits on Google, up to its timeout
    tokens = google.exchange(code, grant.code_verifier)
    if tokens.scope is not None and CALENDAR_SCOPE not in tokens.scope.split():
        # Google lets people untick scopes: without the calendar there is nothing to connect.
        google.revoke(tokens.refresh_token or tokens.access_token)
        return Outcome("declined", CalendarConnection.status(CalendarConnection.of(session, grant.business_id)))
    connection, replaced_token = CalendarConnection.connect(session, cipher, grant.business_id, grant.user_id, tokens)
    audit.record(
        session,
        "calendar.connected",
        business_id=grant.business_id,
        user_id=grant.user_id,
        target=("business", grant.business_id),
        changes={"accountEmail": [None, tokens.account_email]},
    )
    status = CalendarConnection.status(connection)
    if replaced_token is not None:  # another account's grant we no longer use: best effort, after commit
        commit_early(session)
        google.revoke(replaced_token)
    return Outcome("connected", status)


def _require_writer(session: Session, grant: PendingGrant) -> None:
    """The person who started the flow must still be allowed to change that business's settings."""
    membership = Membership.of_user(session, grant.user_id)
    if membership is None or membership.business_id != grant.business_id or "business:write" not in membership.scopes:
        raise InvalidOAuthState("This sign-in with Google was started for a business you can no longer change.")


def disconnect(session: Session, google: GoogleCalendar | None, cipher: Cipher, caller: Caller) -> None:
    """Forgets the business's connection (if any) and revokes its grant at Google, best effort."""
    connection = CalendarConnection.disconnect(session, caller.business)
    if connection is None:
        return
    audit.record(session, "calendar.disconnected", caller=caller, target=("business", caller.business))
    try:
        token: str | None = connection.revocable_token(cipher)
    except CannotDecrypt:
        log.warning("google oauth: a stored token could not be decrypted, so it was not revoked")
        token = None
    commit_early(session)  # the connection is gone whatever Google says; no row lock is held while we ask it
    if google is None:
        log.warning("google oauth: not configured, so the grant of a forgotten connection was not revoked")
    elif token is not None:
        google.revoke(token)
