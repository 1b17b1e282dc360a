"""API shape of a business and its people (components Business, CalendarStatus, Member, Invitation and their
lists), and the writable settings' API fields mapped to Business attributes (`settings_of`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields

from models import Business, CalendarConnection
from models.business import SETTINGS
from schemas.pagination import page_schema


def week(hours: dict[str, Any]) -> dict[str, Any]:
    """Each day with its `intervals`, and `open`/`close` too for a day of one interval (the shape clients
    knew before days had several)."""
    shown = {}
    for day, value in hours.items():
        intervals = value.get("intervals")
        if intervals is None:  # a row written in the shape before migration 0010
            intervals = [] if value["closed"] else [{"open": value["open"], "close": value["close"]}]
        shown[day] = {"closed": value["closed"], "intervals": intervals}
        if len(intervals) == 1:
            shown[day] |= intervals[0]
    return shown


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CalendarStatusSchema(Schema):
    provider = fields.String()
    connected = fields.Boolean()
    account_email = fields.String(data_key="accountEmail", allow_none=True)
    connected_at = fields.Function(
        lambda status: _rfc3339(status.connected_at) if status.connected_at else None, data_key="connectedAt"
    )


calendar_status_schema = CalendarStatusSchema()


class BusinessSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    timezone = fields.String()
    greeting = fields.String()
    phone_number = fields.String(data_key="phoneNumber", allow_none=True)
    forwarding_number = fields.String(data_key="forwardingNumber", allow_none=True)
    receptionist_enabled = fields.Boolean(data_key="receptionistEnabled")
    business_hours = fields.Function(lambda business: week(business.business_hours), data_key="businessHours")
    ring_seconds = fields.Integer(data_key="ringSeconds")
    screen_calls = fields.Boolean(data_key="screenCalls")
    anonymous_callers = fields.String(data_key="anonymousCallers")
    missed_call_text_enabled = fields.Boolean(data_key="missedCallTextEnabled")
    missed_call_text = fields.String(data_key="missedCallText", allow_none=True)
    call_retention_days = fields.Integer(data_key="callRetentionDays", allow_none=True)
    calendar = fields.Method("_calendar")
    etag = fields.String()  # also the ETag header: some generated clients hide headers
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")
    updated_at = fields.AwareDateTime(data_key="updatedAt", format="iso")

    def _calendar(self, business: Business) -> Any:
        return calendar_status_schema.dump(CalendarConnection.status(business.calendar))


# The writable settings: API field -> Business attribute (the model takes attributes, the API sends fields).
SETTING_ATTRIBUTES = {
    field.data_key or name: name for name, field in BusinessSchema().fields.items() if name in SETTINGS
}
SETTING_FIELDS = {attribute: field for field, attribute in SETTING_ATTRIBUTES.items()}


def settings_of(body: dict[str, Any]) -> dict[str, Any]:
    """The settings of a createBusiness / updateBusiness body, by Business attribute."""
    return {SETTING_ATTRIBUTES[field]: value for field, value in body.items()}


class MemberSchema(Schema):
    user_id = fields.UUID(data_key="userId")
    email = fields.Function(lambda membership: membership.user.email)
    name = fields.Function(lambda membership: membership.user.name)
    role = fields.Function(lambda membership: membership.role.value)
    joined_at = fields.AwareDateTime(attribute="created_at", data_key="joinedAt", format="iso")


class InvitationSchema(Schema):
    id = fields.UUID()
    email = fields.String()
    role = fields.Function(lambda invitation: invitation.role.value)
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")
    expires_at = fields.AwareDateTime(data_key="expiresAt", format="iso")


business_schema = BusinessSchema()
member_schema = MemberSchema()
member_list_schema = page_schema(MemberSchema)()
invitation_schema = InvitationSchema()
invitation_list_schema = page_schema(InvitationSchema)()
