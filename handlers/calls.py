"""Operations tagged Calls: the call log, and the call simulator."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.twilio_recordings import Audio
from core.tenancy import Caller
from models import Call
from schemas.call import call_list_schema, call_schema
from schemas.events import event_schema
from schemas.receptionist import decision_schema
from services import recordings, telephony
from web.context import now, services, session
from web.idempotency import idempotent
from web.responses import JSON, Response, streamed
from web.validation import utc_instant


def list_calls(
    token_info: dict[str, Any],
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
        Caller.of(token_info).business,
        status=status,
        direction=direction,
        simulated=simulated,
        since=utc_instant(since, "since") if since else None,
        until=utc_instant(until, "until") if until else None,
        limit=limit,
        cursor=cursor,
    )
    return call_list_schema.dump(page), 200, JSON


def get_call(token_info: dict[str, Any], call_id: str) -> Response:
    return call_schema.dump(Call.get(session(), Caller.of(token_info).business, uuid.UUID(call_id))), 200, JSON


@idempotent
def simulate_call(token_info: dict[str, Any], body: dict[str, Any]) -> Response:
    fields = {**body, "at": utc_instant(body["at"], "at")} if "at" in body else body
    call, decision, emitted = telephony.simulate(session(), Caller.of(token_info), fields, now=now())
    answer = {
        "call": call_schema.dump(call),
        "decision": decision_schema.dump(decision),
        "events": event_schema.dump(emitted, many=True),
    }
    return answer, 201, {**JSON, "Location": f"/api/v1/calls/{call.id}"}


def get_call_recording(token_info: dict[str, Any], call_id: str) -> Any:
    call = uuid.UUID(call_id)
    audio = recordings.open_call_recording(session(), services().recordings, Caller.of(token_info).business, call)
    return _audio(audio, f"voicemail-{call}.mp3")


def play_recording(token: str) -> Any:
    audio = recordings.open_linked_recording(session(), services().cipher, services().recordings, token)
    return _audio(audio, "voicemail.mp3")


def _audio(audio: Audio, filename: str) -> Any:
    headers = {"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"}
    if audio.length is not None:
        headers["Content-Length"] = str(audio.length)
    return streamed(audio.chunks, "audio/mpeg", headers)
