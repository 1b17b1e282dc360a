"""Operations tagged Integrations (Google Calendar). The flow itself is in services.calendar."""

from __future__ import annotations

from typing import Any

from core.tenancy import Caller
from models import CalendarConnection
from schemas.business import calendar_status_schema
from services import calendar
from web.context import services, session
from web.responses import JSON, Response


def start_google_calendar_connection(token_info: dict[str, Any]) -> Response:
    google = services().google
    if google is None:
        return calendar.NOT_CONFIGURED, 200, JSON
    caller = Caller.of(token_info)
    return _redirect(google.consent_url(caller.business, caller.person))


def complete_google_calendar_connection(
    state: str, code: str | None = None, error: str | None = None, scope: str | None = None
) -> Response:
    app = services()
    outcome = calendar.complete(session(), app.google, app.cipher, state=state, code=code, error=error)
    if app.settings.frontend_url_configured:
        return _redirect(outcome.frontend_location(app.settings.frontend_url))
    return outcome.body(), 200, JSON


def get_google_calendar(token_info: dict[str, Any]) -> Response:
    connection = CalendarConnection.of(session(), Caller.of(token_info).business)
    return calendar_status_schema.dump(CalendarConnection.status(connection)), 200, JSON


def disconnect_google_calendar(token_info: dict[str, Any]) -> Response:
    app = services()
    calendar.disconnect(session(), app.google, app.cipher, Caller.of(token_info))
    return None, 204, {}


def _redirect(url: str) -> Response:
    # No body, but Connexion wants one of the operation's media types named (connexion#1956).
    return None, 302, {**JSON, "Location": url}
