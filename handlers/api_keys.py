"""Operations tagged ApiKeys: keys for a business's own systems."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from models import ApiKey
from models.api_key import ROTATION_GRACE
from schemas.api_key import api_key_list_schema, api_key_schema, dump_with_secret
from services import api_keys
from web.context import caller, session
from web.idempotency import idempotent
from web.responses import NO_STORE, Response, created, no_content, ok
from web.validation import utc_instant


def list_api_keys(limit: int, cursor: str | None = None) -> Response:
    return ok(api_key_list_schema.dump(ApiKey.page(session(), caller().business, limit=limit, cursor=cursor)))


@idempotent(withhold=("secret",))
def create_api_key(body: dict[str, Any]) -> Response:
    expires_at = utc_instant(body["expiresAt"], "expiresAt") if "expiresAt" in body else None
    me = caller()
    key, secret = api_keys.create(
        session(), me, name=body["name"], scopes=body["scopes"], expires_at=expires_at, granter_scopes=list(me.scopes)
    )
    return created(dump_with_secret(key, secret), location=f"/api/v1/api-keys/{key.id}", **NO_STORE)


def get_api_key(api_key_id: str) -> Response:
    return ok(api_key_schema.dump(ApiKey.get(session(), caller().business, uuid.UUID(api_key_id))))


def revoke_api_key(api_key_id: str) -> Response:
    api_keys.revoke(session(), caller(), uuid.UUID(api_key_id))
    return no_content()


def rotate_api_key(api_key_id: str, body: dict[str, Any] | None = None) -> Response:
    grace = timedelta(seconds=(body or {}).get("gracePeriodSeconds", ROTATION_GRACE.total_seconds()))
    key, secret = api_keys.rotate(session(), caller(), uuid.UUID(api_key_id), grace)
    return ok(dump_with_secret(key, secret), **NO_STORE)
