"""Operations tagged Calls: the call log, and the call simulator."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.twilio_recordings import Audio
from models import Call
from schemas.call import call_list_schema, call_schema
from schemas.events import event_schema
from schemas.receptionist import decision_schema
from services import recordings, telephony
from web.context import app_services, caller, now, session
from web.idempotency import idempotent
from web.responses import Response, created, ok, streamed
from web.validation import utc_instant


def list_calls(
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    direction: str | None = None,
    simulated: bool | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    page = Call.page(
        session(),
        caller().business,
        status=status,
        direction=direction,
        simulated=simulated,
        since=utc_instant(since, "since") if since else None,
        until=utc_instant(until, "until") if until else None,
        limit=limit,
        cursor=cursor,
    )
    return ok(call_list_schema.dump(page))


def get_call(call_id: str) -> Response:
    return ok(call_schema.dump(Call.get(session(), caller().business, uuid.UUID(call_id))))


@idempotent
def simulate_call(body: dict[str, Any]) -> Response:
    fields = {**body, "at": utc_instant(body["at"], "at")} if "at" in body else body
    call, decision, emitted = telephony.simulate(session(), caller(), fields, now=now())
    answer = {
        "call": call_schema.dump(call),
        "decision": decision_schema.dump(decision),
        "events": event_schema.dump(emitted, many=True),
    }
    return created(answer, location=f"/api/v1/calls/{call.id}")


def get_call_recording(call_id: str) -> Any:
    call = uuid.UUID(call_id)
    audio = recordings.open_call_recording(session(), app_services().recordings, caller().business, call)
    return _audio(audio, f"voicemail-{call}.mp3")


def play_recording(token: str) -> Any:
    app = app_services()
    audio = recordings.open_linked_recording(session(), app.cipher, app.recordings, token)
    return _audio(audio, "voicemail.mp3")


def _audio(audio: Audio, filename: str) -> Any:
    headers = {"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"}
    if audio.length is not None:
        headers["Content-Length"] = str(audio.length)
    return streamed(audio.chunks, "audio/mpeg", headers)
