"""API shapes of the catalog (components Country, Plan, CountryList, PlanList)."""

from __future__ import annotations

from marshmallow import Schema, fields

from schemas.pagination import page_schema


class CountrySchema(Schema):
    code = fields.String()
    name = fields.String()
    calling_code = fields.String(data_key="callingCode")


class CapabilitiesSchema(Schema):
    voice = fields.Boolean()
    sms = fields.Boolean()


class PlanSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    provider = fields.String()
    monthly_price_minor = fields.Integer(data_key="monthlyPriceMinor")
    currency = fields.String()
    capabilities = fields.Function(lambda plan: CapabilitiesSchema().dump(plan))
    countries = fields.List(fields.String(), attribute="country_codes")
    active = fields.Boolean()


CountryListSchema = page_schema(CountrySchema)
PlanListSchema = page_schema(PlanSchema)
