"""Operations tagged Integrations (Google Calendar). Being built: see issue 4."""

from __future__ import annotations

from typing import Any

from core.responses import Response


def start_google_calendar_connection(token_info: dict[str, Any]) -> Response:
    raise NotImplementedError


def complete_google_calendar_connection(
    state: str, code: str | None = None, error: str | None = None, scope: str | None = None
) -> Response:
    raise NotImplementedError


def get_google_calendar(token_info: dict[str, Any]) -> Response:
    raise NotImplementedError


def disconnect_google_calendar(token_info: dict[str, Any]) -> Response:
    raise NotImplementedError
