"""Operations tagged Telephony: Twilio's voice webhook, its fallback and its callbacks. The spec's
`twilioSignature` security has checked Twilio's signature of the form before any of these runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services import telephony, text_back
from web.context import now, session, settings
from web.responses import Response, ok
from web.twilio import callbacks_url, form

TWIML = "application/xml"


def answer_twilio_call(body: dict[str, Any]) -> Response:
    fields = form()
    twiml = telephony.answer_or_apologise(
        session(), sid=fields["CallSid"], caller=fields["From"], to=fields["To"], now=now(), callbacks=callbacks_url()
    )
    return ok(twiml, media_type=TWIML)


def answer_twilio_fallback(body: dict[str, Any]) -> Response:
    fields = form()
    twiml = telephony.fallback(
        session(), sid=fields["CallSid"], caller=fields["From"], to=fields["To"], callbacks=callbacks_url()
    )
    return ok(twiml, media_type=TWIML)


def answer_twilio_dial_result(body: dict[str, Any]) -> Response:
    return ok(telephony.dial_ended(session(), form(), callbacks_url()), media_type=TWIML)


def screen_twilio_call(body: dict[str, Any], call_sid: str) -> Response:
    return ok(telephony.screen(session(), call_sid, callbacks_url()), media_type=TWIML)


def record_twilio_screening(body: dict[str, Any], call_sid: str) -> Response:
    return ok(telephony.screened(session(), call_sid, form().get("Digits", "")), media_type=TWIML)


def record_twilio_call_status(body: dict[str, Any]) -> Response:
    return ok(telephony.progressed(session(), form(), callbacks_url(), settings()), media_type=TWIML)


def record_twilio_recording(body: dict[str, Any]) -> Response:
    wait = timedelta(seconds=settings().transcript_wait_seconds)
    return ok(telephony.recorded(session(), form(), transcript_wait=wait), media_type=TWIML)


def record_twilio_transcription(body: dict[str, Any]) -> Response:
    return ok(telephony.transcribed(session(), form()), media_type=TWIML)


def receive_twilio_message(body: dict[str, Any]) -> Response:
    return ok(text_back.message_received(session(), form()), media_type=TWIML)
