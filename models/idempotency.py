"""Idempotency keys: the first response to a (caller, key) pair, replayed for 24 hours.

web/idempotency.py is the HTTP half (the header, the request's fingerprint, the decorator); the rules are
here. A request claims its key (`IdempotencyRecord.claim`): a record with no status, in a transaction of its
own, so a concurrent duplicate finds it. Its successful response is stored in the request's transaction
(`Claim.store`); a failed request releases the key (`Claim.release`). A later request with the key gets the
stored response (`StoredResponse.replay`) if it is the same request (its fingerprint), 422 if not, and 409
while the first is still running.

Records live RECORD_TTL; an expired one counts as absent and is overwritten. Each claim also deletes a small
batch of expired records, so the table does not grow without bound.

A claim whose request crashed (the process died between the claim and the end of the request, or the
commit at the request boundary failed) stays "in progress": after STALE_CLAIM_AFTER it may be taken
over by a retry. A request that really runs longer than that may therefore run twice; its late
response is then not stored (the record is only written by the claim that owns it, see `Claim`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import outliving
from core.errors import ApiError
from models.base import Base, utcnow

RECORD_TTL = timedelta(hours=24)
# Longer than any request should take (the statement timeout and the clients' timeouts are far
# shorter), short enough that a client retrying after a crash is not locked out for long.
STALE_CLAIM_AFTER = timedelta(seconds=60)
PURGE_BATCH = 50


class IdempotencyKeyInProgress(ApiError):
    status, code, title, type = (
        409,
        "idempotency_key_in_progress",
        "Idempotency key in progress",
        "/problems/idempotency-key-in-progress",
    )

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still running; retry once it has finished.")


class IdempotencyKeyReused(ApiError):
    status, code, title, type = (
        422,
        "idempotency_key_reused",
        "Idempotency key reused",
        "/problems/idempotency-key-reused",
    )

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was used for another request; use a new key for a new request.")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("caller", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    caller: Mapped[str] = mapped_column(String(80))  # "user:<id>" or "api_key:<id>"
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int | None] = mapped_column(Integer)  # None while the first request is in progress
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    @classmethod
    def claim(cls, session: Session, caller: str, key: str, fingerprint: str) -> Claim | StoredResponse:
        """The key for this request (`Claim`), committed at once in a transaction of its own beside `session`'s;
        or what an earlier request with it left (`StoredResponse`). 409 if it stays contested."""
        # The loop ends: each pass either claims, or finds a record, or saw one vanish (released or purged)
        # between its INSERT and its SELECT, which a retry resolves.
        for _attempt in range(5):
            now = utcnow()
            try:
                with outliving(session) as own:
                    record = cls(
                        caller=caller,
                        key=key,
                        fingerprint=fingerprint,
                        status=None,
                        created_at=now,
                        expires_at=now + RECORD_TTL,
                    )
                    own.add(record)
                    own.flush()  # a unique violation here means the key exists
                    cls.purge_expired(own, now)
                    return Claim(record.id, now)
            except IntegrityError:
                pass
            with outliving(session) as own:
                found = own.scalar(select(cls).where(cls.caller == caller, cls.key == key))
                if found is None:
                    continue
                if not found.takeable(now):
                    return found.stored()
                # Lock it and look again: of two requests taking it over, the second then sees a fresh claim.
                found = own.scalar(
                    select(cls).where(cls.id == found.id).with_for_update().execution_options(populate_existing=True)
                )
                if found is None:
                    continue
                if not found.takeable(now):
                    return found.stored()
                found.fingerprint, found.status, found.headers, found.body = fingerprint, None, None, None
                found.created_at, found.expires_at = now, now + RECORD_TTL
                return Claim(found.id, now)
        raise IdempotencyKeyInProgress()

    def takeable(self, now: datetime) -> bool:
        """Expired (counts as absent), or claimed by a request that has not finished in STALE_CLAIM_AFTER."""
        return self.expires_at <= now or (self.status is None and self.created_at <= now - STALE_CLAIM_AFTER)

    def stored(self) -> StoredResponse:
        return StoredResponse(self.fingerprint, self.status, self.headers, self.body)

    @classmethod
    def purge_expired(cls, session: Session, now: datetime) -> None:
        """A few expired records at a time (on the expires_at index), skipping any another request has locked."""
        batch = select(cls.id).where(cls.expires_at <= now).limit(PURGE_BATCH).with_for_update(skip_locked=True)
        session.execute(delete(cls).where(cls.id.in_(batch)).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class StoredResponse:
    """What an earlier request with the key left behind: its response, or no status while it runs."""

    fingerprint: str
    status: int | None
    headers: dict[str, str] | None
    body: str | None

    def replay(self, fingerprint: str) -> tuple[Any, int, dict[str, str]]:
        """The stored (body, status, headers) for the same request (`fingerprint`); 422 for another request,
        409 while the first one is still running."""
        if self.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if self.status is None:
            raise IdempotencyKeyInProgress()
        body = None if self.body is None else json.loads(self.body)
        return body, self.status, dict(self.headers or {})


@dataclass(frozen=True)
class Claim:
    """The key is ours for this request. `claimed_at` tells our claim from a later take-over."""

    record_id: uuid.UUID
    claimed_at: datetime

    def _is_ours(self) -> Any:
        return (
            (IdempotencyRecord.id == self.record_id)
            & (IdempotencyRecord.created_at == self.claimed_at)
            & IdempotencyRecord.status.is_(None)
        )

    def store(self, session: Session, body: Any, status: int, headers: dict[str, str]) -> None:
        """Writes the response in `session`'s transaction (the request's): committed with the handler's
        writes, or not at all. Flushes the pending writes first, so a write the database refuses fails here."""
        session.execute(
            update(IdempotencyRecord)
            .where(self._is_ours())
            .values(
                status=status,
                headers={name: str(value) for name, value in headers.items()},
                body=None if body is None else json.dumps(body, separators=(",", ":")),
            )
            .execution_options(synchronize_session=False)
        )

    def release(self, session: Session) -> None:
        """Frees the key, in a transaction of its own beside `session`'s, so the client can retry with it."""
        with outliving(session) as own:
            own.execute(delete(IdempotencyRecord).where(self._is_ours()).execution_options(synchronize_session=False))
