"""Operations tagged ApiKeys: keys for a business's own systems."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from core.tenancy import Caller
from models import ApiKey
from models.api_key import ROTATION_GRACE
from schemas.api_key import api_key_list_schema, api_key_schema, dump_with_secret
from services import api_keys
from web.context import session
from web.idempotency import idempotent
from web.responses import JSON, JSON_NO_STORE, Response
from web.validation import utc_instant


def list_api_keys(token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = ApiKey.page(session(), Caller.of(token_info).business, limit=limit, cursor=cursor)
    return api_key_list_schema.dump(page), 200, JSON


@idempotent(withhold=("secret",))
def create_api_key(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    expires_at = utc_instant(body["expiresAt"], "expiresAt") if "expiresAt" in body else None
    key, secret = api_keys.create(
        session(),
        Caller.of(token_info),
        name=body["name"],
        scopes=body["scopes"],
        expires_at=expires_at,
        granter_scopes=token_info["scope"],
    )
    return dump_with_secret(key, secret), 201, {**JSON_NO_STORE, "Location": f"/api/v1/api-keys/{key.id}"}


def get_api_key(token_info: dict[str, Any], api_key_id: str) -> Response:
    return api_key_schema.dump(ApiKey.get(session(), Caller.of(token_info).business, uuid.UUID(api_key_id))), 200, JSON


def revoke_api_key(token_info: dict[str, Any], api_key_id: str) -> Response:
    api_keys.revoke(session(), Caller.of(token_info), uuid.UUID(api_key_id))
    return None, 204, {}


def rotate_api_key(token_info: dict[str, Any], api_key_id: str, body: dict[str, Any] | None = None) -> Response:
    grace = timedelta(seconds=(body or {}).get("gracePeriodSeconds", ROTATION_GRACE.total_seconds()))
    key, secret = api_keys.rotate(session(), Caller.of(token_info), uuid.UUID(api_key_id), grace)
    return dump_with_secret(key, secret), 200, JSON_NO_STORE
