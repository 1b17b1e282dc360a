"""Operations tagged Admin (staff only: scope admin:jobs)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from models import Job, JobStatus
from schemas.job import job_list_schema, job_schema
from web.context import session
from web.responses import Response, no_content, ok


def list_jobs(limit: int, cursor: str | None = None, status: str | None = None, kind: str | None = None) -> Response:
    return ok(job_list_schema.dump(Job.page(session(), status=status, kind=kind, limit=limit, cursor=cursor)))


def get_job(job_id: str) -> Response:
    return ok(job_schema.dump(Job.get(session(), uuid.UUID(job_id))))


def retry_job(job_id: str) -> Response:
    job = Job.get(session(), uuid.UUID(job_id), for_update=True)
    job.retry()
    return ok(job_schema.dump(job))


def delete_job(job_id: str) -> Response:
    Job.get(session(), uuid.UUID(job_id), for_update=True).remove(session())
    return no_content()


def clean_up_jobs(body: dict[str, Any]) -> Response:
    older_than = timedelta(days=body["olderThanDays"])
    deleted = Job.clean_up(session(), status=JobStatus(body["status"]), older_than=older_than)
    return ok({"deleted": deleted})
