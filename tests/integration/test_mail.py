"""Email goes out through the job queue to a real SMTP server (aiosmtpd); the worker process is real too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from connexion import FlaskApp
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from core.config import PROJECT_ROOT, Settings
from models import Job, JobStatus
from models.base import utcnow
from services.jobs import Worker
from services.mail import SEND_EMAIL, Mailer, queue_email
from tests.conftest import database_of
from tests.integration.test_admin_jobs import staff_headers
from tests.smtp import Inbox, free_port, start_smtp

PYTHON = sys.executable


def queue_verification(db: Session, to: str = "ada@example.com") -> Job:
    job = queue_email(db, to=to, template="verify_email", context={"name": "Ada", "link": "https://x.test/v?t=1"})
    db.commit()
    return job


def worker_for(app: FlaskApp, settings: Settings, mail_url: str) -> Worker:
    mailer = Mailer(settings.model_copy(update={"mail_url": mail_url}))
    return Worker(database_of(app), {SEND_EMAIL: mailer.send_job}, backoff_base=timedelta(seconds=30))


def test_a_queued_email_is_delivered_over_smtp_as_text_and_html(
    app: FlaskApp, db: Session, settings: Settings, inbox: Inbox
) -> None:
    job = queue_verification(db)

    worker_for(app, settings, inbox.url).run_until_idle()  # type: ignore[attr-defined]

    (message,) = inbox.messages
    assert message["To"] == "ada@example.com"
    assert message["From"] == settings.mail_from
    assert message["Subject"] == "Confirm your email address"
    assert "https://x.test/v?t=1" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert 'href="https://x.test/v?t=1"' in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    db.refresh(job)
    assert job.status == JobStatus.SUCCEEDED


def test_smtp_login_is_used_when_the_url_has_credentials(app: FlaskApp, db: Session, settings: Settings) -> None:
    inbox = Inbox()
    controller = start_smtp(inbox, credentials=("mailer", "p@ss word"))
    try:
        queue_verification(db)
        worker_for(app, settings, f"smtp://mailer:p%40ss%20word@127.0.0.1:{controller.port}").run_until_idle()
        queue_verification(db, to="eve@example.com")
        worker_for(app, settings, f"smtp://mailer:wrong@127.0.0.1:{controller.port}").run_until_idle()
    finally:
        controller.stop()

    assert [m["To"] for m in inbox.messages] == ["ada@example.com"]
    refused = db.scalar(select(Job).where(Job.status == JobStatus.QUEUED))
    assert refused is not None
    assert "SMTPAuthenticationError" in (refused.last_error or "")


def test_an_unreachable_smtp_server_means_a_retry_not_a_lost_email(
    app: FlaskApp, db: Session, settings: Settings
) -> None:
    job = queue_verification(db)

    worker_for(app, settings, f"smtp://127.0.0.1:{free_port()}").run_until_idle()

    db.refresh(job)
    assert job.status == JobStatus.QUEUED
    assert job.attempts == 1
    assert "ConnectionRefusedError" in (job.last_error or "")
    assert job.payload["to"] == "ada@example.com"


def test_an_email_that_died_in_an_outage_keeps_its_payload_and_a_retry_delivers_it(
    app: FlaskApp, client: TestClient, db: Session, settings: Settings, inbox: Inbox
) -> None:
    job = queue_verification(db)
    assert abs(job.retry_until - job.created_at - timedelta(days=1)) < timedelta(minutes=1)  # a day of retries
    down = worker_for(app, settings, f"smtp://127.0.0.1:{free_port()}")
    down.run_until_idle()
    db.execute(Job.__table__.update().values(run_at=utcnow(), retry_until=utcnow()))  # the day has passed
    db.commit()
    down.run_until_idle()
    db.refresh(job)
    assert job.status == JobStatus.DEAD
    assert job.payload["to"] == "ada@example.com"
    health = client.get("/api/v1/health").json()
    assert (health["status"], health["jobs"]["deadAlerting"]) == ("degraded", 1)

    retried = client.post(f"/api/v1/admin/jobs/{job.id}/retry", headers=staff_headers(client, db))
    assert retried.status_code == 200, retried.text
    worker_for(app, settings, inbox.url).run_until_idle()  # type: ignore[attr-defined]

    db.refresh(job)
    assert job.status == JobStatus.SUCCEEDED
    assert [message["To"] for message in inbox.messages] == ["ada@example.com"]
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_every_send_of_a_job_carries_the_same_message_id(settings: Settings, inbox: Inbox, db: Session) -> None:
    payload = queue_verification(db).payload
    mailer = Mailer(settings.model_copy(update={"mail_url": inbox.url}))  # type: ignore[attr-defined]

    mailer.send_job(payload)
    mailer.send_job(payload)  # sent again: a worker died before it could record the first

    first, again = inbox.messages
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"] == f"<{payload['messageKey']}@switchboard.localhost>"


def test_without_an_smtp_url_mail_is_written_to_files(tmp_path: Path, settings: Settings) -> None:
    mailer = Mailer(settings.model_copy(update={"mail_url": ""}))
    mailer.transport = type(mailer.transport)(tmp_path)  # type: ignore[call-arg]

    mailer.send_job({"to": "ada@example.com", "template": "reset_password", "context": {"name": "A", "link": "L"}})

    (eml,) = tmp_path.glob("*.eml")
    assert b"Subject: Reset your Switchboard password" in eml.read_bytes()


def start_worker(
    database_url: str, mail_url: str, log: Path, visibility_timeout: int = 300, **settings: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MAIL_URL": mail_url,
        "JOB_VISIBILITY_TIMEOUT_SECONDS": str(visibility_timeout),
        "WORKER_CONCURRENCY": "2",
        **settings,
    }
    out = log.open("ab")
    return subprocess.Popen([PYTHON, "worker.py"], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out)


def wait_for(condition, seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_job_of_a_killed_worker_is_completed_by_another(
    db: Session, database_url: str, inbox: Inbox, tmp_path: Path
) -> None:
    job = queue_verification(db)
    inbox.hold_messages()
    first = start_worker(database_url, inbox.url, tmp_path / "first.log", visibility_timeout=2)  # type: ignore[attr-defined]
    wait_for(inbox.receiving.is_set)

    first.kill()  # mid-send, as a crash or an OOM kill would
    first.wait(timeout=10)
    inbox.release()
    second = start_worker(database_url, inbox.url, tmp_path / "second.log", visibility_timeout=2)  # type: ignore[attr-defined]
    try:

        def succeeded() -> bool:
            db.expire_all()
            return db.get(Job, job.id).status == JobStatus.SUCCEEDED  # type: ignore[union-attr]

        wait_for(succeeded)
    finally:
        second.terminate()
        second.wait(timeout=30)

    assert db.get(Job, job.id).attempts == 2  # type: ignore[union-attr]
    assert [m["To"] for m in inbox.messages][-1] == "ada@example.com"
    assert len({m["Message-ID"] for m in inbox.messages}) == 1  # the killed send, if it arrived, is the same email


def test_sigterm_lets_the_running_job_finish_before_the_worker_exits(
    db: Session, database_url: str, inbox: Inbox, tmp_path: Path
) -> None:
    job = queue_verification(db)
    inbox.hold_messages()
    worker = start_worker(database_url, inbox.url, tmp_path / "worker.log")  # type: ignore[attr-defined]
    wait_for(inbox.receiving.is_set)

    worker.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.poll() is None  # still finishing the job
    inbox.release()

    assert worker.wait(timeout=30) == 0
    db.expire_all()
    assert db.get(Job, job.id).status == JobStatus.SUCCEEDED  # type: ignore[union-attr]
    assert len(inbox.messages) == 1


def test_mail_queued_during_an_smtp_outage_outlasting_five_attempts_is_all_delivered_once(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    recipients = [f"person-{n}@example.com" for n in range(3)]
    jobs = [queue_verification(db, to=to) for to in recipients]
    port = free_port()  # nothing listens there yet: the relay is down
    # Backoff scaled down a thousandfold (base 10 ms, cap 0.2 s), so the outage lasts seconds, not hours.
    worker = start_worker(
        database_url,
        f"smtp://127.0.0.1:{port}",
        tmp_path / "worker.log",
        JOB_BACKOFF_BASE_SECONDS="0.01",
        JOB_BACKOFF_CAP_SECONDS="0.2",
    )
    inbox = Inbox()

    def each_failed_more_than_five_times() -> bool:  # five attempts used to be all an email got
        db.expire_all()
        return all(db.get(Job, job.id).attempts > 5 for job in jobs)  # type: ignore[union-attr]

    try:
        wait_for(each_failed_more_than_five_times, seconds=60)  # the relay stays down that long
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()  # the relay is back

        def all_delivered() -> bool:
            db.expire_all()
            return all(db.get(Job, job.id).status == JobStatus.SUCCEEDED for job in jobs)  # type: ignore[union-attr]

        wait_for(all_delivered)
        controller.stop()
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert sorted(message["To"] for message in inbox.messages) == recipients  # each once
    assert db.scalars(select(Job).where(Job.status == JobStatus.DEAD)).all() == []
