"""API shape of a background job (components Job, JobList). Payloads are never shown: they may hold tokens."""

from __future__ import annotations

from marshmallow import Schema, fields

from schemas.pagination import page_schema


class JobSchema(Schema):
    id = fields.UUID()
    kind = fields.String()
    status = fields.Function(lambda job: job.status.value)
    attempts = fields.Integer()
    max_attempts = fields.Integer(data_key="maxAttempts")
    run_at = fields.AwareDateTime(data_key="runAt", format="iso")
    retry_until = fields.AwareDateTime(data_key="retryUntil", format="iso")
    locked_at = fields.AwareDateTime(data_key="lockedAt", format="iso", allow_none=True)
    locked_by = fields.String(data_key="lockedBy", allow_none=True)
    last_error = fields.String(data_key="lastError", allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt", format="iso")
    finished_at = fields.AwareDateTime(data_key="finishedAt", format="iso", allow_none=True)


job_schema = JobSchema()
job_list_schema = page_schema(JobSchema)()
