"""Customers' webhook endpoints, and every delivery of an event to one."""

from __future__ import annotations

import base64
import enum
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, delete, func, select, text
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.crypto import Cipher
from core.errors import NotFound
from core.pagination import Page, paginate
from models.base import Base, utcnow

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks form: whsec_ and base64 of the key
DISABLE_AFTER = timedelta(days=1)  # an endpoint failing this long without a success is disabled
# The circuit breaker: after this many failures in a row an endpoint is paused, first for PAUSE_BASE, then
# twice as long at each further failure up to PAUSE_CAP; the deliveries due meanwhile wait without trying.
PAUSE_AFTER_FAILURES = 5
PAUSE_BASE = timedelta(seconds=30)
PAUSE_CAP = timedelta(minutes=30)
KEPT = timedelta(days=30)  # settled deliveries, like the events they copy (models/event.py RETENTION)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # not delivered yet; retried with backoff
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # given up: the endpoint was disabled, deleted or is not allowed


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_business_id_created_at_id", "business_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_ciphertext: Mapped[str] = mapped_column(Text)  # encrypted: it signs, so it must be read back
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # With a server default: the release before 0011 inserts endpoints without it during a deploy.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    paused_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=func.now())

    @classmethod
    def create(
        cls, session: Session, cipher: Cipher, business_id: uuid.UUID, fields: dict[str, Any]
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its signing secret, which is shown this once."""
        secret = new_secret()
        endpoint = cls(
            id=uuid.uuid4(),
            business_id=business_id,
            url=fields["url"],
            events=sorted(set(fields["events"])),
            enabled=fields.get("enabled", True),
            secret_ciphertext=cipher.encrypt(secret),
            consecutive_failures=0,
            created_at=utcnow(),
        )
        session.add(endpoint)
        session.flush()
        return endpoint, secret

    def change(self, fields: dict[str, Any]) -> None:
        if "url" in fields:
            self.url = fields["url"]
        if "events" in fields:
            self.events = sorted(set(fields["events"]))
        if "enabled" in fields:
            self.enabled = fields["enabled"]
            if self.enabled:  # switched back on: its failures start counting again
                self.failing_since, self.disabled_reason = None, None
                self.consecutive_failures, self.paused_until = 0, None

    def rotate(self, cipher: Cipher) -> str:
        secret = new_secret()
        self.secret_ciphertext = cipher.encrypt(secret)
        return secret

    @property
    def concurrency_key(self) -> str:
        """Its deliveries' key: the worker runs at most a few of them at a time (services/webhooks.py)."""
        return f"webhook_endpoint:{self.id}"

    def pause_ends(self, now: datetime) -> datetime | None:
        """When its pause ends, if it is paused at `now`."""
        return self.paused_until if self.paused_until is not None and self.paused_until > now else None

    def succeeded(self) -> None:
        self.failing_since, self.consecutive_failures, self.paused_until = None, 0, None

    def failed(self, now: datetime) -> bool:
        """Notes a failed attempt, pausing the endpoint after several in a row (see PAUSE_AFTER_FAILURES);
        True when it has failed long enough to be disabled (and is now)."""
        self.failing_since = self.failing_since or now
        self.consecutive_failures += 1
        beyond = self.consecutive_failures - PAUSE_AFTER_FAILURES
        if beyond >= 0:
            self.paused_until = now + min(PAUSE_CAP, PAUSE_BASE * 2 ** min(beyond, 16))
        if self.enabled and now - self.failing_since >= DISABLE_AFTER:
            self.enabled = False
            self.disabled_reason = f"Every delivery failed since {self.failing_since.isoformat(timespec='seconds')}"
            return True
        return False

    @classmethod
    def subscribed(cls, session: Session, business_id: uuid.UUID, event: str) -> list[WebhookEndpoint]:
        endpoints = session.scalars(select(cls).where(cls.business_id == business_id, cls.enabled.is_(True)))
        return [endpoint for endpoint in endpoints if event in endpoint.events]

    @classmethod
    def get(cls, session: Session, business_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        endpoint = session.scalar(select(cls).where(cls.id == endpoint_id, cls.business_id == business_id))
        if endpoint is None:
            raise NotFound("No webhook endpoint with this id in your business")
        return endpoint

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def page(cls, session: Session, business_id: uuid.UUID, *, limit: int, cursor: str | None) -> Page[WebhookEndpoint]:
        statement = select(cls).where(cls.business_id == business_id)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_created_at_id", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_deliveries_created_at", "created_at"),  # the purge of settled ones (clean_up)
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))  # the webhook-id header: the same for every attempt
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[DeliveryStatus] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def attempted(self, now: datetime, status_code: int | None, error: str | None) -> None:
        self.attempts += 1
        self.last_attempt_at, self.last_status_code, self.last_error = now, status_code, error
        if error is None and status_code is not None and 200 <= status_code < 300:
            self.status, self.delivered_at = DeliveryStatus.SUCCEEDED, now

    def give_up(self, reason: str) -> None:
        self.status, self.last_error = DeliveryStatus.FAILED, reason[:500]

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def get(cls, session: Session, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
        """One of the endpoint's deliveries (look the endpoint up in the caller's business first)."""
        delivery = session.scalar(select(cls).where(cls.id == delivery_id, cls.endpoint_id == endpoint_id))
        if delivery is None:
            raise NotFound("No delivery with this id to this endpoint")
        return delivery

    @classmethod
    def clean_up(cls, session: Session, *, older_than: timedelta = KEPT) -> int:
        """Deletes the settled deliveries (their copies of events) older than `older_than`; returns how many. A
        pending one stays: its job still sends it."""
        cutoff = utcnow() - older_than
        deleted = session.execute(delete(cls).where(cls.created_at < cutoff, cls.status != DeliveryStatus.PENDING))
        return int(deleted.rowcount)  # type: ignore[attr-defined]

    @classmethod
    def page(cls, session: Session, endpoint_id: uuid.UUID, *, limit: int, cursor: str | None) -> Page[WebhookDelivery]:
        """The endpoint's deliveries, newest first."""
        statement = select(cls).where(cls.endpoint_id == endpoint_id)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor, newest_first=True)
