"""Handlers of the probe API (tag Probe)."""

from __future__ import annotations

from typing import Any

from core.db import session
from core.errors import ValidationFailed
from core.responses import JSON, Response
from models import Country, Job


def echo_body(body: dict[str, Any]) -> Response:
    return body, 200, JSON


def explode() -> Response:
    raise RuntimeError("SELECT secret FROM settings WHERE password='hunter2'")


def fail_commit() -> Response:
    # Nothing is flushed here: the commit at the request boundary meets the existing "US" row.
    session().add(Country(code="NW", name="New", calling_code="+2"))
    session().add(Country(code="US", name="Duplicate", calling_code="+1"))
    return {}, 201, JSON


def enqueue_job(fail: bool) -> Response:
    Job.enqueue(session(), "record", {"from": "a request"})
    if fail:
        raise ValidationFailed("the change is refused after its job was enqueued")
    return {}, 202, JSON
