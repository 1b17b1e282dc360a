"""The staff-only job admin API, and the command that grants staff rights."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from core.config import PROJECT_ROOT
from models import Job, JobStatus, User
from models.base import utcnow
from tests.factories import make_user
from tests.helpers import auth_headers


def staff_headers(client: TestClient, db: Session, *, staff: bool = True) -> dict[str, str]:
    user = make_user(db, is_staff=staff)
    db.commit()
    return auth_headers(client, user.email)


def add_job(db: Session, status: JobStatus, *, kind: str = "send_email", finished_days_ago: int | None = None) -> Job:
    finished = utcnow() - timedelta(days=finished_days_ago) if finished_days_ago is not None else None
    created = (finished or utcnow()) - timedelta(minutes=1)  # a job finishes after it was created
    job = Job(
        kind=kind,
        payload={"token": "secret-in-payload"},
        status=status,
        run_at=created,
        created_at=created,
        finished_at=finished,
    )
    db.add(job)
    db.commit()
    return job


def test_people_without_staff_rights_get_403_insufficient_scope(client: TestClient, db: Session) -> None:
    response = client.get("/api/v1/admin/jobs", headers=staff_headers(client, db, staff=False))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


def test_staff_list_and_filter_jobs_without_seeing_payloads(client: TestClient, db: Session) -> None:
    headers = staff_headers(client, db)
    dead = add_job(db, JobStatus.DEAD)
    add_job(db, JobStatus.QUEUED, kind="other")

    everything = client.get("/api/v1/admin/jobs", headers=headers).json()
    only_dead = client.get("/api/v1/admin/jobs", params={"status": "dead"}, headers=headers).json()
    by_kind = client.get("/api/v1/admin/jobs", params={"kind": "other"}, headers=headers).json()
    one = client.get(f"/api/v1/admin/jobs/{dead.id}", headers=headers)

    assert len(everything["data"]) == 2
    assert [j["id"] for j in only_dead["data"]] == [str(dead.id)]
    assert [j["kind"] for j in by_kind["data"]] == ["other"]
    assert one.json()["status"] == "dead"
    assert "secret-in-payload" not in one.text + str(everything)


def test_a_dead_job_is_retried_with_fresh_attempts_and_others_conflict(client: TestClient, db: Session) -> None:
    headers = staff_headers(client, db)
    dead, done = add_job(db, JobStatus.DEAD), add_job(db, JobStatus.SUCCEEDED)

    retried = client.post(f"/api/v1/admin/jobs/{dead.id}/retry", headers=headers)
    conflict = client.post(f"/api/v1/admin/jobs/{done.id}/retry", headers=headers)

    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["attempts"]) == ("queued", 0)
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "job_state_conflict"


def test_deleting_a_job_but_never_a_running_one(client: TestClient, db: Session) -> None:
    headers = staff_headers(client, db)
    dead, running = add_job(db, JobStatus.DEAD), add_job(db, JobStatus.RUNNING)

    assert client.delete(f"/api/v1/admin/jobs/{dead.id}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/admin/jobs/{dead.id}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/admin/jobs/{running.id}", headers=headers).status_code == 409


def test_cleanup_deletes_only_old_jobs_of_the_given_status(client: TestClient, db: Session) -> None:
    headers = staff_headers(client, db)
    old = add_job(db, JobStatus.SUCCEEDED, finished_days_ago=40)
    recent = add_job(db, JobStatus.SUCCEEDED, finished_days_ago=1)
    old_dead = add_job(db, JobStatus.DEAD, finished_days_ago=40)

    response = client.post(
        "/api/v1/admin/jobs/cleanup", json={"olderThanDays": 30, "status": "succeeded"}, headers=headers
    )

    assert response.json() == {"deleted": 1}
    remaining = set(db.scalars(select(Job.id)))
    assert remaining == {recent.id, old_dead.id}
    assert old.id not in remaining


def test_the_staff_command_grants_and_revokes_rights_effective_on_the_next_request(
    client: TestClient, db: Session, database_url: str
) -> None:
    user = make_user(db)
    db.commit()
    headers = auth_headers(client, user.email)
    env = {**os.environ, "DATABASE_URL": database_url}

    def staff_command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.staff", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
        )

    assert client.get("/api/v1/admin/jobs", headers=headers).status_code == 403
    assert staff_command(user.email.upper()).returncode == 0
    assert client.get("/api/v1/admin/jobs", headers=headers).status_code == 200
    assert staff_command(user.email, "--revoke").returncode == 0
    assert client.get("/api/v1/admin/jobs", headers=headers).status_code == 403
    unknown = staff_command("nobody@example.com")
    assert unknown.returncode == 1
    assert "must register first" in unknown.stderr
    db.expire_all()
    assert db.get(User, user.id).is_staff is False  # type: ignore[union-attr]
