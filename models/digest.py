"""The daily digests sent: one row per business and local day, written before its emails are queued, so that
several workers (and restarts) send each digest once.

When a digest is due: the digest of a local day D goes out from `DIGEST_HOUR` (07:00) on D+1 in the business's
time zone until that day's midnight. A day whose whole window passed without a worker running is skipped: no
late digests of old days arrive after an outage. A business is due only while one of its members wants the
digest (opt-in: `Membership.wants(Notification.DAILY_DIGEST)`; nobody does by default).
"""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, DateTime, ForeignKey, String, and_, column, exists, false, or_, select, true, values
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from models.base import Base, utcnow
from models.business import NOTIFICATION_DEFAULTS, Business, Membership, Notification

DIGEST_HOUR = time(7, 0)  # the local hour from which the day before's digest goes out


class Digest(Base):
    __tablename__ = "digests"

    business_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @classmethod
    def due(cls, session: Session, now: datetime, *, limit: int) -> list[DueDigest]:
        """Up to `limit` digests due at `now`, in one query however many businesses there are: the day due
        in each time zone is worked out here (zoneinfo, as the receptionist's schedule does), and the
        database keeps the businesses in a due zone with a member who wants the digest and no digest of
        that day yet. Ordered by business, so workers claiming at once take their rows in one order."""
        due_days = [(name, day) for name in _zone_names() if (day := day_due(name, now)) is not None]
        if not due_days:
            return []
        due = values(column("zone", String), column("local_date", Date), name="due").data(due_days)
        sent = exists().where(cls.business_id == Business.id, cls.local_date == due.c.local_date)
        wanted = exists().where(Membership.business_id == Business.id, _wants_digest())
        rows = session.execute(
            select(Business.id, Business.name, Business.timezone, due.c.local_date)
            .join(due, due.c.zone == Business.timezone)
            .where(wanted, ~sent)
            .order_by(Business.id)
            .limit(limit)
        ).all()
        return [DueDigest(business_id, name, zone, day) for business_id, name, zone, day in rows]

    @classmethod
    def claim(cls, session: Session, business_id: uuid.UUID, local_date: date) -> bool:
        """Writes the digest of this business and day; True for the one caller whose row it is. A worker
        claiming the same day at once waits for the first one's transaction and gets False once it commits
        (or True, if it rolled back: then nothing of it was queued either)."""
        row = {"business_id": business_id, "local_date": local_date, "created_at": utcnow()}
        inserted = session.execute(insert(cls).values(row).on_conflict_do_nothing().returning(cls.business_id))
        return inserted.first() is not None


@dataclass(frozen=True)
class DueDigest:
    business_id: uuid.UUID
    business_name: str
    timezone: str
    local_date: date

    @property
    def span(self) -> tuple[datetime, datetime]:
        """The local day as instants (UTC): 24 hours, or 23 and 25 on the days the clocks change."""
        return local_day(self.timezone, self.local_date)


def day_due(zone_name: str, now: datetime) -> date | None:
    """The local day whose digest is due at `now` in this time zone: yesterday from DIGEST_HOUR on, else none."""
    local = now.astimezone(zoneinfo.ZoneInfo(zone_name))
    return local.date() - timedelta(days=1) if local.time() >= DIGEST_HOUR else None


def local_day(zone_name: str, day: date) -> tuple[datetime, datetime]:
    """From the day's first instant to the next day's, in UTC. Midnight that a clock change skips starts the
    day at the change (zoneinfo reads a missing time with the offset before it); a repeated one, at its first."""
    zone = zoneinfo.ZoneInfo(zone_name)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _wants_digest() -> ColumnElement[bool]:
    """Membership.wants(DAILY_DIGEST) in SQL: the member's own choice, else their role's default."""
    by_default = [role for role, kinds in NOTIFICATION_DEFAULTS.items() if Notification.DAILY_DIGEST in kinds]
    chosen = Membership.notify_daily_digest
    return or_(
        chosen.is_(true()),
        and_(chosen.is_(None), Membership.role.in_(by_default)) if by_default else false(),
    )


@functools.cache
def _zone_names() -> tuple[str, ...]:
    """Every zone a business may be in (models/business.py accepts these names and no others)."""
    return tuple(sorted(zoneinfo.available_timezones()))
