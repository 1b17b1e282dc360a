"""Durable jobs on PostgreSQL: transactional enqueue, claiming, retries, dead letters, take-overs."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from connexion import FlaskApp
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Job, JobStatus
from services.jobs import Worker
from tests.conftest import database_of


class Recorder:
    """A job handler that records its payloads and fails the first `failures` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.payloads: list[Mapping[str, Any]] = []
        self.failures = failures

    def __call__(self, payload: Mapping[str, Any]) -> None:
        self.payloads.append(payload)
        if len(self.payloads) <= self.failures:
            raise ConnectionError("relay refused")


def make_worker(app: FlaskApp, **handlers: Any) -> Worker:
    return Worker(database_of(app), handlers, backoff_base=timedelta(seconds=30), poll_interval=0.05)


def enqueue(db: Session, kind: str = "record", *, retry_for: timedelta = timedelta(hours=1), **payload: Any) -> Job:
    job = Job.enqueue(db, kind, payload or {"n": 1}, max_attempts=3, retry_for=retry_for)
    db.commit()
    return job


def skip_the_backoff(db: Session) -> None:
    db.execute(Job.__table__.update().values(run_at=datetime.now(UTC)))
    db.commit()


def test_a_due_job_runs_once_and_its_payload_is_cleared(app: FlaskApp, db: Session) -> None:
    job = enqueue(db, token="one-time-secret")
    record = Recorder()

    assert make_worker(app, record=record).run_until_idle() == 1

    db.refresh(job)
    assert record.payloads == [{"token": "one-time-secret"}]
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert job.payload == {}
    assert job.finished_at is not None
    assert make_worker(app, record=record).run_until_idle() == 0


def test_a_failed_job_is_retried_later_with_backoff(app: FlaskApp, db: Session) -> None:
    job = enqueue(db)
    before = datetime.now(UTC)

    make_worker(app, record=Recorder(failures=1)).run_until_idle()

    db.refresh(job)
    assert job.status == JobStatus.QUEUED
    assert job.attempts == 1
    assert job.last_error == "ConnectionError: relay refused"
    assert before + timedelta(seconds=15) <= job.run_at <= before + timedelta(seconds=31)


def test_a_job_that_keeps_failing_ends_dead_with_its_last_error_and_its_payload(app: FlaskApp, db: Session) -> None:
    job = enqueue(db, token="one-time-secret")
    record = Recorder(failures=99)
    worker = make_worker(app, record=record)

    for _ in range(job.max_attempts):
        skip_the_backoff(db)
        worker.run_until_idle()

    db.refresh(job)
    assert len(record.payloads) == 3
    assert job.status == JobStatus.DEAD
    assert job.attempts == 3
    assert job.last_error == "ConnectionError: relay refused"
    assert job.payload == {"token": "one-time-secret"}  # so a retry after the outage can still do it


def test_retries_end_when_the_retry_window_closes_not_after_a_count(app: FlaskApp, db: Session) -> None:
    job = Job.enqueue(db, "record", {"n": 1}, max_attempts=100, retry_for=timedelta(seconds=60))
    db.commit()
    worker = make_worker(app, record=Recorder(failures=99))  # backoff 30 s, then 60 s, then 120 s (jittered)

    worker.run_until_idle()  # the retry falls within the minute
    db.refresh(job)
    assert job.status == JobStatus.QUEUED
    for _ in range(2):  # the third attempt's retry (60-120 s away) falls after it
        skip_the_backoff(db)
        worker.run_until_idle()

    db.refresh(job)
    assert job.status == JobStatus.DEAD
    assert job.attempts in (2, 3)  # the second's retry lands 30-60 s out: within or past the window
    assert job.max_attempts == 100


def test_the_backoff_is_capped(app: FlaskApp, db: Session) -> None:
    job = enqueue(db, retry_for=timedelta(days=1))
    db.execute(Job.__table__.update().values(attempts=20, max_attempts=50))  # 30 s x 2^20 uncapped
    db.commit()
    worker = Worker(
        database_of(app),
        {"record": Recorder(failures=99)},
        backoff_base=timedelta(seconds=30),
        backoff_cap=timedelta(minutes=2),
    )
    before = datetime.now(UTC)

    worker.run_until_idle()

    db.refresh(job)
    assert job.status == JobStatus.QUEUED
    assert before + timedelta(minutes=1) <= job.run_at <= datetime.now(UTC) + timedelta(minutes=2)


def test_a_retried_dead_job_gets_a_window_as_long_as_its_first(app: FlaskApp, db: Session) -> None:
    job = enqueue(db, retry_for=timedelta(hours=2))
    db.execute(Job.__table__.update().values(status=JobStatus.DEAD, attempts=3))
    db.commit()

    db.refresh(job)
    job.retry()
    db.commit()

    assert job.status == JobStatus.QUEUED
    assert job.attempts == 0
    assert timedelta(hours=2) - timedelta(seconds=5) <= job.retry_until - datetime.now(UTC) <= timedelta(hours=2)


def test_a_live_worker_beats_its_claim_so_a_slow_job_is_not_taken_over(app: FlaskApp, db: Session) -> None:
    job = enqueue(db)

    def slow(payload: Mapping[str, Any]) -> None:
        time.sleep(2.5)  # well past the visibility timeout

    alive = Worker(database_of(app), {"record": slow}, visibility_timeout=timedelta(seconds=1), poll_interval=0.05)
    runner = threading.Thread(target=alive.run)
    runner.start()
    other = Worker(database_of(app), {"record": Recorder()}, visibility_timeout=timedelta(seconds=1))
    try:
        while db.get(Job, job.id).status != JobStatus.RUNNING:  # type: ignore[union-attr]
            time.sleep(0.02)
            db.expire_all()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert other.run_until_idle() == 0  # never abandoned: its worker keeps beating
            time.sleep(0.1)
        while db.get(Job, job.id).status not in (JobStatus.SUCCEEDED, JobStatus.DEAD):  # type: ignore[union-attr]
            assert time.monotonic() < deadline + 15
            time.sleep(0.05)
            db.expire_all()
    finally:
        alive.stop()
        runner.join(timeout=10)

    db.refresh(job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1  # without the beats, even its own worker takes it over, again and again


def test_a_job_of_an_unknown_kind_fails_instead_of_vanishing(app: FlaskApp, db: Session) -> None:
    job = enqueue(db, kind="nobody_handles_this")

    make_worker(app).run_until_idle()

    db.refresh(job)
    assert job.status == JobStatus.QUEUED
    assert job.last_error == "LookupError: no handler for job kind 'nobody_handles_this'"


def test_two_workers_never_claim_the_same_job(app: FlaskApp, db: Session) -> None:
    for n in range(4):
        enqueue(db, n=n)
    database = database_of(app)

    with database.sessions.begin() as first, database.sessions.begin() as second:
        mine = Job.claim(first, worker="a", limit=2, visibility_timeout=timedelta(minutes=5))
        theirs = Job.claim(second, worker="b", limit=10, visibility_timeout=timedelta(minutes=5))
        assert len(mine) == 2
        assert len(theirs) == 2
        assert not {j.id for j in mine} & {j.id for j in theirs}


def test_a_job_whose_worker_died_is_claimed_again_after_the_visibility_timeout(app: FlaskApp, db: Session) -> None:
    job = enqueue(db)
    dead_worker = make_worker(app, record=Recorder())
    assert dead_worker.claim(1)  # claims, then "dies" without reporting
    record = Recorder()
    survivor = make_worker(app, record=record)

    assert survivor.run_until_idle() == 0  # still within the visibility timeout
    db.execute(Job.__table__.update().values(locked_at=datetime.now(UTC) - timedelta(minutes=6)))
    db.commit()
    assert survivor.run_until_idle() == 1

    db.refresh(job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    assert len(record.payloads) == 1


def test_a_late_outcome_from_a_worker_that_lost_its_claim_is_ignored(app: FlaskApp, db: Session) -> None:
    job = enqueue(db)
    slow = make_worker(app, record=Recorder(failures=1))
    (claimed,) = slow.claim(1)
    db.execute(Job.__table__.update().values(locked_at=datetime.now(UTC) - timedelta(minutes=6)))
    db.commit()
    make_worker(app, record=Recorder()).run_until_idle()  # takes over and succeeds

    slow.execute(claimed.id, claimed.attempts)  # the slow one fails late

    db.refresh(job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.last_error is None


@pytest.mark.parametrize(("fail", "status", "jobs"), [(False, 202, 1), (True, 400, 0)])
def test_a_request_enqueues_its_job_only_if_its_change_is_committed(
    probe: TestClient, db: Session, fail: bool, status: int, jobs: int
) -> None:
    response = probe.post("/api/v1/probe/jobs", params={"fail": str(fail).lower()})

    assert response.status_code == status
    assert len(db.scalars(select(Job)).all()) == jobs


def test_a_job_that_keeps_killing_its_workers_ends_dead_with_its_payload(app: FlaskApp, db: Session) -> None:
    job = enqueue(db, token="one-time-secret")
    for _ in range(job.max_attempts):
        assert make_worker(app).claim(1)  # each claimant dies without reporting
        db.execute(Job.__table__.update().values(locked_at=datetime.now(UTC) - timedelta(minutes=6)))
        db.commit()

    assert make_worker(app, record=Recorder()).run_until_idle() == 0

    db.refresh(job)
    assert job.status == JobStatus.DEAD
    assert job.payload == {"token": "one-time-secret"}
    assert "abandoned" in (job.last_error or "")
