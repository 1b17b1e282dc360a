"""API shape of a phone number (components PhoneNumber, PhoneNumberList)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from schemas.pagination import page_schema


class PhoneNumberSchema(Schema):
    id = fields.UUID()
    e164 = fields.String()
    country_code = fields.String(data_key="countryCode")
    plan_id = fields.UUID(data_key="planId")
    label = fields.String()
    forward_to = fields.String(data_key="forwardTo", allow_none=True)
    status = fields.Function(lambda number: number.status.value)
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")
    updated_at = fields.AwareDateTime(data_key="updatedAt", format="iso")


# updatePhoneNumber's fields and the PhoneNumber attributes they set.
_UPDATABLE = {"label": "label", "forwardTo": "forward_to", "status": "status"}
_FIELDS = {attribute: field for field, attribute in _UPDATABLE.items()}


def changes_of(body: dict[str, Any]) -> dict[str, Any]:
    """An updatePhoneNumber body, by PhoneNumber attribute."""
    return {_UPDATABLE[field]: value for field, value in body.items()}


def api_changes(diff: dict[str, Any]) -> dict[str, Any]:
    """PhoneNumber.update's {attribute: [old, new]}, by API field (the audit log's `changes`)."""
    return {_FIELDS[attribute]: change for attribute, change in diff.items()}


phone_number_schema = PhoneNumberSchema()
phone_number_list_schema = page_schema(PhoneNumberSchema)()
