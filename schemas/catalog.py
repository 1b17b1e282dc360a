"""API shapes of the catalog (components Country, Plan, CountryList, PlanList)."""

from __future__ import annotations

from marshmallow import Schema, fields

from schemas.pagination import page_schema


class CountrySchema(Schema):
    code = fields.String()
    name = fields.String()
    calling_code = fields.String(data_key="callingCode")


class PlanSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    provider = fields.String()
    monthly_price_minor = fields.Integer(data_key="monthlyPriceMinor")
    currency = fields.String()
    capabilities = fields.Function(lambda plan: {"voice": plan.voice, "sms": plan.sms})
    countries = fields.List(fields.String(), attribute="country_codes")
    active = fields.Boolean()


# Instances are stateless once built: build them once, not per request.
plan_schema = PlanSchema()
country_list_schema = page_schema(CountrySchema)()
plan_list_schema = page_schema(PlanSchema)()
