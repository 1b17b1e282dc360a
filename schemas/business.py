"""API shape of a business and its people (components Business, Member, Invitation and their lists)."""

from __future__ import annotations

from marshmallow import Schema, fields

from models import CalendarConnection
from schemas.pagination import page_schema


class BusinessSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    timezone = fields.String()
    greeting = fields.String()
    phone_number = fields.String(data_key="phoneNumber", allow_none=True)
    forwarding_number = fields.String(data_key="forwardingNumber", allow_none=True)
    receptionist_enabled = fields.Boolean(data_key="receptionistEnabled")
    business_hours = fields.Dict(data_key="businessHours")
    calendar = fields.Function(lambda business: CalendarConnection.status(business.calendar))
    etag = fields.String()  # also the ETag header: some generated clients hide headers
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")
    updated_at = fields.AwareDateTime(data_key="updatedAt", format="iso")


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
