"""Durable background jobs: a row written in the same transaction as the change that caused it.

A rolled-back request therefore enqueues nothing, and a committed one never loses its job. Workers
claim due rows of one kind at a time, in turns (a transaction-scoped advisory lock per kind), so any
number of them can run side by side and a job's concurrency key (a webhook endpoint, say) never has more
running jobs than its kind allows. Enqueueing notifies idle workers at commit (LISTEN/NOTIFY); they also
poll. A worker beats its running jobs' `locked_at` while it lives; a job whose worker died (no beat for
the visibility timeout) is claimed again. Delivery is at least once.

A failed job is retried with capped exponential backoff until its retry window closes (`retry_until`:
a day for mail, so a relay's outage of hours loses nothing) or it has used `max_attempts`. Then it is dead,
and keeps its payload, so a retry after the outage can still do it; the worker purges old finished jobs.
"""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, Index, Integer, String, Text, delete, func, select, text, update
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column

from core.errors import ApiError, NotFound
from core.pagination import Page, paginate
from models.base import Base, utcnow

MAX_ERROR_CHARS = 2000
RETRY_FOR = timedelta(hours=1)  # a job's retry window, unless its kind asks for another
CHANNEL = "switchboard_jobs"  # NOTIFY'd with the job's kind when a job is enqueued
_CLAIM_LOCKS = 0x4A6F  # "Jo": the advisory-lock namespace in which each kind's claims take turns


class JobStateConflict(ApiError):
    status, code, title, type = 409, "job_state_conflict", "Job state conflict", "/problems/job-state-conflict"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for run_at
    RUNNING = "running"  # claimed by a worker at locked_at
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # failed until its retry window closed; kept with its payload and last error


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # Small partial indexes for the hot paths, so their cost stays flat however many finished jobs are kept.
        Index("ix_jobs_due", "kind", "run_at", postgresql_where=text("status = 'queued'")),
        Index("ix_jobs_running", "kind", "concurrency_key", postgresql_where=text("status = 'running'")),
        # The admin list, in its order (created_at, id), unfiltered, by status or by kind; the purge by status.
        Index("ix_jobs_created_at_id", "created_at", "id"),
        Index("ix_jobs_status_created_at_id", "status", "created_at", "id"),
        Index("ix_jobs_kind_created_at_id", "kind", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(64))
    # Jobs sharing a key (a webhook endpoint's) run at most `per_key` at a time (see `claim`); None: no limit.
    concurrency_key: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=JobStatus.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retry_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: utcnow() + RETRY_FOR)
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @classmethod
    def enqueue(
        cls,
        session: Session,
        kind: str,
        payload: dict[str, Any],
        *,
        max_attempts: int = 5,
        retry_for: timedelta = RETRY_FOR,
        concurrency_key: str | None = None,
        run_at: datetime | None = None,
    ) -> Job:
        """Adds the job to `session`: it is committed, or rolled back, with the caller's change, and idle
        workers are woken at that commit. It is due at `run_at` (default now) and retried for `retry_for`
        after that, at most `max_attempts` times in all."""
        now = utcnow()
        due = max(run_at, now) if run_at is not None else now
        job = cls(
            kind=kind,
            payload=payload,
            concurrency_key=concurrency_key,
            max_attempts=max_attempts,
            status=JobStatus.QUEUED,
            run_at=due,
            retry_until=due + retry_for,
        )
        session.add(job)
        session.execute(select(func.pg_notify(CHANNEL, kind)))  # delivered at commit, dropped on rollback
        return job

    @classmethod
    def metrics(cls, session: Session, *, alert_kinds: tuple[str, ...] = ()) -> dict[str, int]:
        """Counts by status, how long the oldest due job has waited (0 when none waits), and how many jobs
        of `alert_kinds` (those whose death someone notices, such as an email) are dead."""
        unfinished_or_dead = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DEAD)  # not the many succeeded
        counts = dict(
            session.execute(
                select(cls.status, func.count()).where(cls.status.in_(unfinished_or_dead)).group_by(cls.status)
            ).all()
        )
        dead_alerting = session.scalar(
            select(func.count()).where(cls.status == JobStatus.DEAD, cls.kind.in_(alert_kinds))
        )
        now = utcnow()
        oldest_due = session.scalar(
            select(func.min(cls.run_at)).where(cls.status == JobStatus.QUEUED, cls.run_at <= now)
        )
        return {
            "queued": counts.get(JobStatus.QUEUED, 0),
            "running": counts.get(JobStatus.RUNNING, 0),
            "dead": counts.get(JobStatus.DEAD, 0),
            "deadAlerting": dead_alerting or 0,
            "oldestQueuedSeconds": int((now - oldest_due).total_seconds()) if oldest_due else 0,
        }

    @classmethod
    def claim(
        cls,
        session: Session,
        *,
        kind: str,
        worker: str,
        limit: int,
        visibility_timeout: timedelta,
        per_key: int | None = None,
    ) -> list[Job]:
        """Marks up to `limit` due jobs of `kind` as running by `worker` and returns them (commit to hand them
        over), oldest due first, passing over jobs whose concurrency key already has `per_key` running.

        Claims of a kind take turns (the lock lasts until the caller's commit, a few milliseconds), so the
        running counts they read are exact. The ids are chosen first and updated by id, so a claim can never
        take more than `limit` jobs (an `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`
        may: PostgreSQL is free to run such a subquery more than once)."""
        session.execute(select(func.pg_advisory_xact_lock(_CLAIM_LOCKS, func.hashtext(kind))))
        now = utcnow()
        cls._release_abandoned(session, kind=kind, now=now, visibility_timeout=visibility_timeout)
        running: dict[str, int] = {}
        if per_key is not None:
            running = dict(
                session.execute(  # type: ignore[arg-type]
                    select(cls.concurrency_key, func.count())
                    .where(cls.kind == kind, cls.status == JobStatus.RUNNING, cls.concurrency_key.is_not(None))
                    .group_by(cls.concurrency_key)
                ).all()
            )
        chosen: list[uuid.UUID] = []
        while len(chosen) < limit:  # each round takes at least one job, or finds none left
            full = [key for key, count in running.items() if per_key is not None and count >= per_key]
            candidates = session.execute(
                select(cls.id, cls.concurrency_key)
                .where(cls.kind == kind, cls.status == JobStatus.QUEUED, cls.run_at <= now, cls.id.not_in(chosen))
                .where(cls.concurrency_key.is_(None) | cls.concurrency_key.not_in(full))
                .order_by(cls.run_at)
                .limit(limit - len(chosen))
                .with_for_update(skip_locked=True)  # a row an operator is changing is left for the next turn
            ).all()
            if not candidates:
                break
            for job_id, key in candidates:
                if key is not None and per_key is not None:
                    if running.get(key, 0) >= per_key:
                        continue
                    running[key] = running.get(key, 0) + 1
                chosen.append(job_id)
        if not chosen:
            return []
        claimed = session.scalars(
            update(cls)
            .where(cls.id.in_(chosen))
            .values(status=JobStatus.RUNNING, locked_at=now, locked_by=worker, attempts=cls.attempts + 1)
            .returning(cls),
            execution_options={"synchronize_session": False},
        )
        turn = {job_id: position for position, job_id in enumerate(chosen)}
        return sorted(claimed, key=lambda job: turn[job.id])  # RETURNING follows the scan, not the choice

    @classmethod
    def _release_abandoned(cls, session: Session, *, kind: str, now: datetime, visibility_timeout: timedelta) -> None:
        """Jobs of `kind` whose worker stopped beating are due again; those out of attempts or time (their
        handler may be what kills workers) are dead."""
        abandoned = (cls.kind == kind) & (cls.status == JobStatus.RUNNING) & (cls.locked_at < now - visibility_timeout)
        spent = (cls.attempts >= cls.max_attempts) | (cls.retry_until <= now)
        session.execute(
            update(cls)
            .where(abandoned, spent)
            .values(
                status=JobStatus.DEAD,
                finished_at=now,
                locked_at=None,
                locked_by=None,
                last_error="abandoned: its worker stopped answering on every attempt",
            )
        )
        session.execute(
            update(cls)
            .where(abandoned, ~spent)
            .values(status=JobStatus.QUEUED, run_at=now, locked_at=None, locked_by=None)
        )

    @classmethod
    def postpone(cls, session: Session, *, kind: str, concurrency_key: str, until: datetime) -> int:
        """Makes the queued jobs of `kind` and `concurrency_key` due no sooner than `until` (a paused webhook
        endpoint's, say), so they hold no worker while they could only fail; returns how many."""
        postponed = session.execute(
            update(cls)
            .where(
                cls.kind == kind,
                cls.status == JobStatus.QUEUED,
                cls.concurrency_key == concurrency_key,
                cls.run_at < until,
            )
            .values(run_at=until)
        )
        return int(postponed.rowcount)  # type: ignore[attr-defined]

    @classmethod
    def hasten(cls, session: Session, *, kind: str, concurrency_key: str) -> int:
        """Makes the queued jobs of `kind` and `concurrency_key` that wait for later due now (what they waited
        for has come), and wakes idle workers at commit; returns how many."""
        now = utcnow()
        hastened = session.execute(
            update(cls)
            .where(cls.kind == kind, cls.status == JobStatus.QUEUED, cls.concurrency_key == concurrency_key)
            .where(cls.run_at > now)
            .values(run_at=now)
        )
        if hastened.rowcount:  # type: ignore[attr-defined]
            session.execute(select(func.pg_notify(CHANNEL, kind)))
        return int(hastened.rowcount)  # type: ignore[attr-defined]

    @classmethod
    def any_queued_since(cls, session: Session, *, kind: str, concurrency_key: str, since: datetime) -> bool:
        """Whether a job of `kind` and `concurrency_key` was enqueued at or after `since`, in any state (the
        worker keeps finished jobs JOB_RETENTION_DAYS): `since` bounds the scan of the (kind, created_at) index."""
        found = session.scalar(
            select(cls.id)
            .where(cls.kind == kind, cls.created_at >= since, cls.concurrency_key == concurrency_key)
            .limit(1)
        )
        return found is not None

    @classmethod
    def beat(cls, session: Session, *, worker: str, job_ids: Collection[uuid.UUID]) -> None:
        """`worker` is alive and still running `job_ids`: they are not abandoned. A job it no longer runs
        (its outcome could not be recorded) gets no beat, so it is taken over after the visibility timeout."""
        session.execute(
            update(cls)
            .where(cls.status == JobStatus.RUNNING, cls.locked_by == worker, cls.id.in_(job_ids))
            .values(locked_at=utcnow())
        )

    @classmethod
    def page(
        cls, session: Session, *, status: str | None, kind: str | None, limit: int, cursor: str | None
    ) -> Page[Job]:
        statement = select(cls)
        if status is not None:
            statement = statement.where(cls.status == JobStatus(status))
        if kind is not None:
            statement = statement.where(cls.kind == kind)
        return paginate(session, statement, order_by=cls.page_order(), limit=limit, cursor=cursor)

    @classmethod
    def page_order(cls) -> list[QueryableAttribute[Any]]:
        return [cls.created_at, cls.id]

    @classmethod
    def get(cls, session: Session, job_id: uuid.UUID, *, for_update: bool = False) -> Job:
        """The job; `for_update` locks its row, so no worker claims it while it is being changed."""
        job = session.get(cls, job_id, with_for_update=for_update)
        if job is None:
            raise NotFound("Job not found")
        return job

    @classmethod
    def clean_up(cls, session: Session, *, status: JobStatus, older_than: timedelta) -> int:
        """Deletes finished jobs of `status` that finished longer ago than `older_than`; returns how many."""
        if status not in (JobStatus.SUCCEEDED, JobStatus.DEAD):
            raise JobStateConflict("Only succeeded or dead jobs can be cleaned up")
        cutoff = utcnow() - older_than
        # A job finishes after it is created, so created_at bounds the index range (status, created_at, id).
        deleted = session.execute(
            delete(cls).where(cls.status == status, cls.created_at < cutoff, cls.finished_at < cutoff)
        )
        return int(deleted.rowcount)  # type: ignore[attr-defined]

    def retry(self) -> None:
        """A dead job gets a fresh set of attempts and a fresh window as long as its first, due now."""
        if self.status != JobStatus.DEAD:
            raise JobStateConflict(f"Only dead jobs can be retried; this one is {self.status.value}")
        now = utcnow()
        self.retry_until = now + (self.retry_until - self.created_at)
        self.status, self.attempts, self.run_at, self.finished_at = JobStatus.QUEUED, 0, now, None

    def remove(self, session: Session) -> None:
        """Deletes the job, unless a worker is running it (lock it with `get(..., for_update=True)` first)."""
        if self.status == JobStatus.RUNNING:
            raise JobStateConflict("A running job cannot be deleted; wait for it to finish")
        session.delete(self)

    def succeed(self) -> None:
        self.status, self.finished_at, self.locked_at, self.locked_by = JobStatus.SUCCEEDED, utcnow(), None, None
        self.payload = {}  # payloads may carry one-time tokens: keep them no longer than needed

    def defer(self, until: datetime) -> None:
        """Queued again for `until`, and the attempt it was claimed for is not counted: it was not tried."""
        self.status, self.run_at, self.locked_at, self.locked_by = JobStatus.QUEUED, until, None, None
        self.attempts = max(self.attempts - 1, 0)

    def fail(self, error: str, *, backoff_base: timedelta, backoff_cap: timedelta) -> None:
        """Schedules a retry with capped exponential backoff and jitter, or, when the retry would fall after
        the window or the attempts are used up, gives up: dead, with its payload (a retry can still do it)."""
        self.last_error = error[:MAX_ERROR_CHARS]
        self.locked_at = self.locked_by = None
        now = utcnow()
        delay = min(backoff_cap, backoff_base * 2 ** min(self.attempts - 1, 32))
        run_at = now + delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
        if self.attempts >= self.max_attempts or run_at > self.retry_until:
            self.status, self.finished_at = JobStatus.DEAD, now
            return
        self.status, self.run_at = JobStatus.QUEUED, run_at
