"""SQLAlchemy entities. Importing this package registers every table on `Base.metadata`."""

from models.api_key import ApiKey
from models.audit import AuditEvent
from models.auth_session import AuthSession, RefreshToken
from models.base import Base
from models.blocked_number import BlockedNumber
from models.business import Business, Membership, Notification, Role
from models.calendar_connection import CalendarConnection
from models.call import Call, Outcome, Route
from models.catalog import Country, ExternalPlan, ExternalPlanCountry
from models.closure import Closure
from models.digest import Digest
from models.event import Event
from models.idempotency import IdempotencyRecord
from models.invitation import Invitation
from models.job import Job, JobStateConflict, JobStatus
from models.messaging import SmsOptOut, TextBack, TextStatus
from models.phone_number import NumberStatus, PhoneNumber
from models.user import User
from models.user_token import TokenPurpose, UserToken
from models.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "AuditEvent",
    "AuthSession",
    "Base",
    "BlockedNumber",
    "Business",
    "CalendarConnection",
    "Call",
    "Closure",
    "Country",
    "DeliveryStatus",
    "Digest",
    "Event",
    "ExternalPlan",
    "ExternalPlanCountry",
    "IdempotencyRecord",
    "Invitation",
    "Job",
    "JobStateConflict",
    "JobStatus",
    "Membership",
    "Notification",
    "NumberStatus",
    "Outcome",
    "PhoneNumber",
    "RefreshToken",
    "Role",
    "Route",
    "SmsOptOut",
    "TextBack",
    "TextStatus",
    "TokenPurpose",
    "User",
    "UserToken",
    "WebhookDelivery",
    "WebhookEndpoint",
]
