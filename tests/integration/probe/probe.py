"""Handlers of the probe API (tag Probe)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from core.errors import ApiError, ValidationFailed
from models import Country, Job
from web.context import session
from web.idempotency import idempotent
from web.responses import JSON, Response


def echo_body(body: dict[str, Any]) -> Response:
    return body, 200, JSON


def old_way(count: int = 0) -> Response:
    return {"count": count}, 200, JSON


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


@dataclass
class Gate:
    """Holds createThing for a name until the test opens it."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


GATES: dict[str, Gate] = {}
# name -> "raise" (an ApiError), "status" (a 422 returned) or "country:<code>" (a write refused at flush)
REFUSALS: dict[str, str] = {}


class Refused(ApiError):
    status, code, title = 422, "refused", "Refused"


@idempotent
def create_thing(body: dict[str, Any]) -> Response:
    gate = GATES.get(body["name"])
    if gate is not None:
        gate.entered.set()
        gate.release.wait(timeout=10)
    job = Job.enqueue(session(), "probe-thing", {"name": body["name"]})
    session().flush()
    refusal = REFUSALS.get(body["name"])
    if refusal == "raise":
        raise Refused("the thing is refused after its job was enqueued")
    if refusal == "status":
        return {"refused": True}, 422, JSON
    if refusal is not None and refusal.startswith("country:"):
        # Left for the next flush: a country code the test made already, refused by the database then.
        session().add(Country(code=refusal.removeprefix("country:"), name="Duplicate", calling_code="+1"))
    return {"id": str(job.id), "name": body["name"]}, 201, {**JSON, "Location": f"/api/v1/probe/things/{job.id}"}
