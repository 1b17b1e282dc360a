"""API shape of an API key (components ApiKey, ApiKeyWithSecret, ApiKeyList). The secret is never stored:
it is added to the response of the operation that made it."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from models import ApiKey
from schemas.pagination import page_schema


class ApiKeySchema(Schema):
    id = fields.UUID()
    name = fields.String()
    prefix = fields.String()
    scopes = fields.List(fields.String())
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")
    last_used_at = fields.AwareDateTime(data_key="lastUsedAt", format="iso", allow_none=True)
    expires_at = fields.AwareDateTime(data_key="expiresAt", format="iso", allow_none=True)
    rotated_at = fields.AwareDateTime(data_key="rotatedAt", format="iso", allow_none=True)
    previous_expires_at = fields.AwareDateTime(
        attribute="grace_ends_at", data_key="previousExpiresAt", format="iso", allow_none=True
    )


api_key_schema = ApiKeySchema()
api_key_list_schema = page_schema(ApiKeySchema)()


def dump_with_secret(key: ApiKey, secret: str) -> dict[str, Any]:
    return {**api_key_schema.dump(key), "secret": secret}
