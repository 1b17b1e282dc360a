"""API shape of a user (component User)."""

from __future__ import annotations

from marshmallow import Schema, fields


class UserSchema(Schema):
    id = fields.UUID()
    email = fields.String()
    name = fields.String()
    email_verified = fields.Boolean(data_key="emailVerified")
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")


user_schema = UserSchema()
