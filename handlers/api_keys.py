"""Operations tagged ApiKeys: keys for a business's own systems."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from core.tenancy import Caller
from models import ApiKey
from models.api_key import ROTATION_GRACE
from schemas.api_key import api_key_list_schema, api_key_schema, dump_with_secret
from services import audit
from web.context import session
from web.idempotency import idempotent
from web.responses import JSON, JSON_NO_STORE, Response
from web.validation import utc_instant


def list_api_keys(token_info: dict[str, Any], limit: int, cursor: str | None = None) -> Response:
    page = ApiKey.page(session(), Caller.of(token_info).business, limit=limit, cursor=cursor)
    return api_key_list_schema.dump(page), 200, JSON


@idempotent(withhold=("secret",))
def create_api_key(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    caller = Caller.of(token_info)
    expires_at = utc_instant(body["expiresAt"], "expiresAt") if "expiresAt" in body else None
    key, secret = ApiKey.create(
        session(),
        caller.business,
        name=body["name"],
        scopes=body["scopes"],
        expires_at=expires_at,
        created_by=caller.user_id,
        granter_scopes=token_info["scope"],
    )
    audit.record(
        session(), "api_key.created", caller=caller, target=("api_key", key.id), changes={"scopes": [None, key.scopes]}
    )
    return dump_with_secret(key, secret), 201, {**JSON_NO_STORE, "Location": f"/api/v1/api-keys/{key.id}"}


def get_api_key(token_info: dict[str, Any], api_key_id: str) -> Response:
    return api_key_schema.dump(ApiKey.get(session(), Caller.of(token_info).business, uuid.UUID(api_key_id))), 200, JSON


def revoke_api_key(token_info: dict[str, Any], api_key_id: str) -> Response:
    caller = Caller.of(token_info)
    key = ApiKey.get(session(), caller.business, uuid.UUID(api_key_id), for_update=True)
    key.revoke()
    audit.record(session(), "api_key.revoked", caller=caller, target=("api_key", key.id))
    return None, 204, {}


def rotate_api_key(token_info: dict[str, Any], api_key_id: str, body: dict[str, Any] | None = None) -> Response:
    caller = Caller.of(token_info)
    key = ApiKey.get(session(), caller.business, uuid.UUID(api_key_id), for_update=True)
    grace = timedelta(seconds=(body or {}).get("gracePeriodSeconds", ROTATION_GRACE.total_seconds()))
    secret = key.rotate(grace)
    audit.record(
        session(),
        "api_key.rotated",
        caller=caller,
        target=("api_key", key.id),
        changes={"gracePeriodSeconds": [None, grace.total_seconds()]},
    )
    return dump_with_secret(key, secret), 200, JSON_NO_STORE
