"""API shape of a phone number (components PhoneNumber, PhoneNumberList)."""

from __future__ import annotations

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


phone_number_schema = PhoneNumberSchema()
phone_number_list_schema = page_schema(PhoneNumberSchema)()
