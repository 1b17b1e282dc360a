"""The request context: how handlers and the web layer reach the app's services, one way.

`create_app` builds one `AppServices` and `attach`es it: to Flask, where handlers read it (`app_services()`
and the shortcuts below), and to every ASGI scope, where the spec's security functions, which Connexion
runs outside Flask, read the same object (`of_request`). Who calls an operation is read one way too:
`caller()`, from what those security functions confirmed. Nothing below web/ reaches for it: services,
models and connectors get what they need as arguments.

It also owns the unit of work: one session per request (`session()`), the one where the database half of
the credential check runs too (`await_confirmation`), committed at the request boundary
when the handler succeeded and rolled back when it failed. A commit that fails raises, and the error
registry answers with a problem (503 when the database is unavailable), never with the 2xx the handler
meant to send. The only other commits are core.db's `outliving`, `commit_early` and `committed_before_answering`
(Twilio's voice webhook and its fallback); tests/unit/test_commit_rule.py checks that nothing else commits or
closes a session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import flask
from connexion import FlaskApp
from connexion.context import context as connexion_context
from connexion.lifecycle import ConnexionRequest
from sqlalchemy.orm import Session

from connectors.google_oauth import GoogleCalendar
from connectors.identity_provider import ExternalIdp
from connectors.twilio_recordings import TwilioRecordings
from core.config import Settings
from core.crypto import Cipher
from core.db import Database
from core.tenancy import Caller
from core.tokens import TokenService
from models.base import utcnow

_KEY = "switchboard"


class AppServices:
    """What one app serves with, built once from its settings; the cipher and Google client on first use."""

    def __init__(
        self, settings: Settings, database: Database, tokens: TokenService, key_scopes: Mapping[str, frozenset[str]]
    ) -> None:
        self.settings = settings
        self.database = database
        self.tokens = tokens
        self.key_scopes = key_scopes  # operationId -> the scopes an API key needs for it
        self.clock: Callable[[], datetime] = utcnow  # the time calls are answered at (tests set the hour)
        self.identity_provider = (
            ExternalIdp(settings.jwt_issuer, settings.jwt_audience, settings.jwt_jwks_uri)
            if settings.external_idp_enabled
            else None
        )

    @cached_property
    def cipher(self) -> Cipher:
        return Cipher.from_settings(self.settings)  # outside production it may write a development key

    @cached_property
    def recordings(self) -> TwilioRecordings | None:
        """Twilio's recordings, as this deployment's account; None without one (TWILIO_ACCOUNT_SID)."""
        if not (self.settings.twilio_account_sid and self.settings.twilio_auth_token):
            return None
        return TwilioRecordings(
            self.settings.twilio_account_sid,
            self.settings.twilio_auth_token,
            self.settings.twilio_api_base_url,
            deadline_seconds=self.settings.recording_fetch_seconds,
            max_bytes=self.settings.recording_max_bytes,
        )

    @cached_property
    def google(self) -> GoogleCalendar | None:
        """The Google Calendar client; None when Google is not configured."""
        if not self.settings.google_calendar_enabled:
            return None
        return GoogleCalendar.from_settings(self.settings, self.cipher)


def attach(app: FlaskApp, app_services: AppServices) -> None:
    """Makes `app_services` the app's in Flask (the ASGI scope gets it from web.middleware.Edge: `scope_state`),
    and installs the unit of work."""
    app.app.extensions[_KEY] = app_services
    app.app.before_request(_confirm_credentials)
    app.app.after_request(_finish_unit_of_work)
    app.app.teardown_request(_close_session)


def scope_state(app_services: AppServices) -> dict[str, Any]:
    """What web.middleware.Edge puts in every request's ASGI scope state: `app_services`, for `of_request`."""
    return {_KEY: app_services}


def of_request(request: ConnexionRequest) -> AppServices:
    """The app's services, for code that runs in the ASGI layer (the security functions)."""
    return request.scope["state"][_KEY]  # type: ignore[no-any-return]


_CONFIRMATION = "switchboard.confirm_credentials"


def await_confirmation(request: ConnexionRequest, confirm: Callable[[Session], object]) -> None:
    """Leaves the database half of a credential check (web.security) to run in the request's session, before
    its handler: `confirm` raises the problem if the credential no longer stands."""
    request.scope["state"][_CONFIRMATION] = confirm


def _confirm_credentials() -> None:
    confirm = flask.request.environ["asgi.scope"]["state"].pop(_CONFIRMATION, None)
    if confirm is not None:
        confirm(session())


def app_services() -> AppServices:
    """The services of the app serving the current request."""
    return flask.current_app.extensions[_KEY]  # type: ignore[no-any-return]


def settings() -> Settings:
    return app_services().settings


def database() -> Database:
    return app_services().database


def tokens() -> TokenService:
    return app_services().tokens


def now() -> datetime:
    return app_services().clock()


@dataclass(frozen=True)
class RequestCaller(Caller):
    """The caller, with what only the request's credential tells: the sign-in session it belongs to (None for an
    API key, or a token of the external identity provider) and the scopes it was granted."""

    session_id: str | None = None
    scopes: tuple[str, ...] = ()


def caller() -> RequestCaller:
    """Who calls the current operation, a person or an API key, as the spec's security functions confirmed it
    (web/security.py; Connexion's `token_info`). Only for operations that declare a person's or a key's security."""
    info: dict[str, Any] | None = connexion_context.get("token_info")
    if not info:
        raise RuntimeError("the operation declares no security, so it has no caller (no token_info in the context)")
    found = Caller.of(info)
    return RequestCaller(
        found.business_id,
        found.user_id,
        found.api_key_id,
        session_id=info.get("sid"),
        scopes=tuple(info.get("scope", ())),
    )


def session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in flask.g:
        flask.g.db_session = app_services().database.sessions()
    return flask.g.db_session  # type: ignore[no-any-return]


def _finish_unit_of_work(response: flask.Response) -> flask.Response:
    db_session: Session | None = flask.g.get("db_session")
    if db_session is not None:
        if response.status_code < 400:
            db_session.commit()
        else:
            db_session.rollback()
    return response


def _close_session(_exc: BaseException | None) -> None:
    db_session: Session | None = flask.g.pop("db_session", None)
    if db_session is not None:
        db_session.close()  # rolls back whatever was not committed
