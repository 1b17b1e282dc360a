"""API shape of sign-in sessions (components Session, SessionList)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from core.pagination import Page
from models import AuthSession
from schemas.pagination import page_schema


class SessionSchema(Schema):
    id = fields.UUID()
    user_agent = fields.String(data_key="userAgent", allow_none=True)
    ip_address = fields.String(data_key="ipAddress", allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")
    last_used_at = fields.AwareDateTime(data_key="lastUsedAt", format="iso")


_session_list_schema = page_schema(SessionSchema)()


def dump_sessions(page: Page[AuthSession], current_session_id: str) -> dict[str, Any]:
    """The page, each session marked `current` when it is the one making the request."""
    body: dict[str, Any] = _session_list_schema.dump(page)
    for item in body["data"]:
        item["current"] = item["id"] == current_session_id
    return body
