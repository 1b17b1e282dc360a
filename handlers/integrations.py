"""Operations tagged Integrations (Google Calendar). The flow itself is in services.calendar."""

from __future__ import annotations

from models import CalendarConnection
from schemas.business import calendar_status_schema
from services import calendar
from web.context import app_services, caller, session
from web.responses import Response, no_content, ok, redirect


def start_google_calendar_connection() -> Response:
    google = app_services().google
    if google is None:
        return ok(calendar.NOT_CONFIGURED)
    me = caller()
    return redirect(google.consent_url(me.business, me.person))


def complete_google_calendar_connection(
    state: str, code: str | None = None, error: str | None = None, scope: str | None = None
) -> Response:
    app = app_services()
    outcome = calendar.complete(session(), app.google, app.cipher, state=state, code=code, error=error)
    if app.settings.frontend_url_configured:
        return redirect(outcome.frontend_location(app.settings.frontend_url))
    return ok(outcome.body())


def get_google_calendar() -> Response:
    connection = CalendarConnection.of(session(), caller().business)
    return ok(calendar_status_schema.dump(CalendarConnection.status(connection)))


def disconnect_google_calendar() -> Response:
    app = app_services()
    calendar.disconnect(session(), app.google, app.cipher, caller())
    return no_content()
