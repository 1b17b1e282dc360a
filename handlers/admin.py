"""Operations tagged Admin (staff only: scope admin:jobs)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from models import Job, JobStatus
from schemas.job import job_list_schema, job_schema
from web.context import session
from web.responses import JSON, Response


def list_jobs(limit: int, cursor: str | None = None, status: str | None = None, kind: str | None = None) -> Response:
    return job_list_schema.dump(Job.page(session(), status=status, kind=kind, limit=limit, cursor=cursor)), 200, JSON


def get_job(job_id: str) -> Response:
    return job_schema.dump(Job.get(session(), uuid.UUID(job_id))), 200, JSON


def retry_job(job_id: str) -> Response:
    job = Job.get(session(), uuid.UUID(job_id), for_update=True)
    job.retry()
    return job_schema.dump(job), 200, JSON


def delete_job(job_id: str) -> Response:
    Job.get(session(), uuid.UUID(job_id), for_update=True).remove(session())
    return None, 204, {}


def clean_up_jobs(body: dict[str, Any]) -> Response:
    older_than = timedelta(days=body["olderThanDays"])
    deleted = Job.clean_up(session(), status=JobStatus(body["status"]), older_than=older_than)
    return {"deleted": deleted}, 200, JSON
