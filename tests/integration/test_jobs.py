"""Durable jobs on PostgreSQL: transactional enqueue, claiming, retries, dead letters, take-overs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from connexion import FlaskApp
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Job, JobStatus
from models.job import CHANNEL
from services.jobs import Postpone, Queue, Worker
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


def test_a_job_of_a_kind_the_worker_does_not_run_waits_for_one_that_does(app: FlaskApp, db: Session) -> None:
    """During a deploy, a new release may queue a kind the old workers do not know: they leave it alone
    (no attempt is used up), and a new worker runs it."""
    job = enqueue(db, kind="newer_kind")

    assert make_worker(app, record=Recorder()).run_until_idle() == 0
    db.refresh(job)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.QUEUED, 0, None)

    newer = Recorder()
    assert make_worker(app, newer_kind=newer).run_until_idle() == 1
    assert newer.payloads == [{"n": 1}]


def claim_concurrently(app: FlaskApp, *, claimants: int, limit: int, per_key: int | None = None) -> list[list[Job]]:
    """Every claimant claims at once, in its own thread and transaction, until one finds nothing."""
    database = database_of(app)
    claims: list[list[Job]] = []
    start = threading.Barrier(claimants)

    def claimant(name: str) -> None:
        start.wait()
        while True:
            with database.sessions.begin() as session:
                claimed = Job.claim(
                    session,
                    kind="record",
                    worker=name,
                    limit=limit,
                    per_key=per_key,
                    visibility_timeout=timedelta(minutes=5),
                )
                session.expunge_all()
            claims.append(claimed)
            if not claimed:
                return

    threads = [threading.Thread(target=claimant, args=(f"w{n}",)) for n in range(claimants)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return claims


def test_concurrent_claims_never_take_more_than_their_limit_nor_the_same_job(app: FlaskApp, db: Session) -> None:
    for n in range(300):
        Job.enqueue(db, "record", {"n": n})
    db.commit()
    db.close()

    claims = claim_concurrently(app, claimants=12, limit=3)

    assert max(len(claimed) for claimed in claims) == 3
    ids = [job.id for claimed in claims for job in claimed]
    assert len(ids) == len(set(ids)) == 300
    running = db.scalars(select(Job.locked_by).where(Job.status == JobStatus.RUNNING)).all()
    assert len(running) == 300  # every row a claim marked was handed to its claimant, and no other


def test_jobs_sharing_a_concurrency_key_run_at_most_per_key_at_once_however_many_workers_claim(
    app: FlaskApp, db: Session
) -> None:
    for n in range(40):
        Job.enqueue(db, "record", {"n": n}, concurrency_key=f"endpoint-{n % 4}")
    Job.enqueue(db, "record", {"n": "keyless"})
    db.commit()
    db.close()

    claims = claim_concurrently(app, claimants=8, limit=5, per_key=2)

    keys = [job.concurrency_key for claimed in claims for job in claimed]
    assert sorted(keys, key=str) == sorted([f"endpoint-{n}" for n in range(4)] * 2 + [None], key=str)


def test_a_key_at_its_limit_does_not_keep_other_jobs_waiting(app: FlaskApp, db: Session) -> None:
    for n in range(50):  # a noisy endpoint's backlog, due first
        Job.enqueue(db, "record", {"n": n}, concurrency_key="noisy")
    quiet = Job.enqueue(db, "record", {"n": "quiet"}, concurrency_key="quiet")
    db.commit()
    worker = Worker(database_of(app), {"record": Queue(Recorder(), concurrency=4, per_key=1)})

    first = worker.claim(4)
    assert [job.concurrency_key for job in first] == ["noisy", "quiet"]
    assert worker.claim(4) == []  # the noisy key's one slot is taken, the quiet job is running
    assert quiet.id in {job.id for job in first}


def test_a_postponed_job_waits_without_using_an_attempt(app: FlaskApp, db: Session) -> None:
    job = enqueue(db)
    until = datetime.now(UTC) + timedelta(minutes=3)

    def paused(payload: Mapping[str, Any]) -> None:
        raise Postpone(until)

    assert make_worker(app, record=paused).run_until_idle() == 1

    db.refresh(job)
    assert (job.status, job.attempts, job.run_at, job.locked_by) == (JobStatus.QUEUED, 0, until, None)


def test_postponing_a_key_moves_only_its_queued_jobs(app: FlaskApp, db: Session) -> None:
    paused = [Job.enqueue(db, "record", {"n": n}, concurrency_key="paused") for n in range(3)]
    other = Job.enqueue(db, "record", {"n": "other"}, concurrency_key="other")
    later = datetime.now(UTC) + timedelta(hours=2)
    paused[0].run_at = later + timedelta(hours=1)  # already due after the pause: left as it is
    db.commit()
    until = datetime.now(UTC) + timedelta(minutes=5)

    assert Job.postpone(db, kind="record", concurrency_key="paused", until=until) == 2
    db.commit()

    for job in [*paused, other]:
        db.refresh(job)
    assert [job.run_at for job in paused] == [later + timedelta(hours=1), until, until]
    assert other.run_at < until


def run_in_background(worker: Worker) -> threading.Thread:
    runner = threading.Thread(target=worker.run)
    runner.start()
    return runner


def wait_until(condition: Callable[[], bool], *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.02)


def test_an_enqueue_wakes_an_idle_worker_at_commit_without_waiting_for_the_poll(app: FlaskApp, db: Session) -> None:
    record = Recorder()
    worker = Worker(database_of(app), {"record": record}, poll_interval=60)  # polling would take a minute
    runner = run_in_background(worker)
    try:
        time.sleep(0.5)  # idle, listening
        Job.enqueue(db, "record", {"n": "rolled back"})
        db.rollback()  # a rolled-back enqueue wakes nobody and runs nothing
        enqueue(db, n="woken")
        wait_until(lambda: len(record.payloads) == 1, seconds=10)
        assert record.payloads == [{"n": "woken"}]
    finally:
        worker.stop()
        runner.join(timeout=10)


def test_a_slow_kind_does_not_hold_the_threads_of_another(app: FlaskApp, db: Session) -> None:
    release = threading.Event()
    mail = Recorder()

    def hanging(payload: Mapping[str, Any]) -> None:
        release.wait(30)

    for n in range(10):
        Job.enqueue(db, "webhook", {"n": n})
    db.commit()
    worker = Worker(
        database_of(app),
        {"webhook": Queue(hanging, concurrency=2), "record": Queue(mail, concurrency=1)},
        poll_interval=60,
    )
    runner = run_in_background(worker)
    try:
        wait_until(lambda: db.scalar(select(func.count()).where(Job.status == JobStatus.RUNNING)) == 2, seconds=10)
        enqueue(db, n="reset your password")
        wait_until(lambda: mail.payloads == [{"n": "reset your password"}], seconds=10)
    finally:
        release.set()
        worker.stop()
        runner.join(timeout=30)


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
        assert make_worker(app, record=Recorder()).claim(1)  # each claimant dies without reporting
        db.execute(Job.__table__.update().values(locked_at=datetime.now(UTC) - timedelta(minutes=6)))
        db.commit()

    assert make_worker(app, record=Recorder()).run_until_idle() == 0

    db.refresh(job)
    assert job.status == JobStatus.DEAD
    assert job.payload == {"token": "one-time-secret"}
    assert "abandoned" in (job.last_error or "")


def listeners(db: Session) -> list[int]:
    """The backends LISTENing for new jobs."""
    found = db.execute(text("SELECT pid FROM pg_stat_activity WHERE query = :q"), {"q": f"LISTEN {CHANNEL}"})
    db.rollback()
    return [pid for (pid,) in found]


def test_a_worker_whose_listening_connection_dies_listens_again(app: FlaskApp, db: Session) -> None:
    record = Recorder()
    worker = Worker(database_of(app), {"record": record}, poll_interval=60)
    runner = run_in_background(worker)
    try:
        wait_until(lambda: len(listeners(db)) == 1, seconds=10)
        (lost,) = listeners(db)
        db.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})  # a failover, a dropped link
        db.commit()
        wait_until(lambda: listeners(db) not in ([], [lost]), seconds=10)

        enqueue(db, n="after the loss")
        wait_until(lambda: len(record.payloads) == 1, seconds=10)  # woken, not found by the minute's poll
    finally:
        worker.stop()
        runner.join(timeout=10)


def test_a_job_whose_outcome_its_worker_could_not_record_gets_no_beat_and_is_taken_over(
    app: FlaskApp, db: Session
) -> None:
    """Its worker lives on, beating the jobs its threads are on; one it lost track of (recording the
    outcome failed: a database blip) must not stay running for ever, holding its endpoint's slot."""
    lost, live = enqueue(db, n="lost"), enqueue(db, n="live")
    worker = make_worker(app, record=Recorder())
    assert {job.id for job in worker.claim(2)} == {lost.id, live.id}
    long_ago = datetime.now(UTC) - timedelta(minutes=6)
    db.execute(Job.__table__.update().values(locked_at=long_ago))
    db.commit()

    worker._running.add(live.id)  # its thread is still on this one
    worker._beat()

    db.refresh(lost)
    db.refresh(live)
    assert lost.locked_at == long_ago
    assert live.locked_at is not None
    assert live.locked_at > long_ago
    assert make_worker(app, record=Recorder()).run_until_idle() == 1  # the lost one, taken over
