"""Operations tagged Telephony: Twilio's voice webhook, its fallback and its callbacks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services import telephony, text_back
from web.context import now, session, settings
from web.responses import Response
from web.twilio import callbacks_url, signed_form

TWIML = {"Content-Type": "application/xml"}


def answer_twilio_call(body: dict[str, Any]) -> Response:
    form = signed_form()
    twiml = telephony.answer_or_apologise(
        session(), sid=form["CallSid"], caller=form["From"], to=form["To"], now=now(), callbacks=callbacks_url()
    )
    return twiml, 200, TWIML


def answer_twilio_fallback(body: dict[str, Any]) -> Response:
    form = signed_form()
    twiml = telephony.fallback(
        session(), sid=form["CallSid"], caller=form["From"], to=form["To"], callbacks=callbacks_url()
    )
    return twiml, 200, TWIML


def answer_twilio_dial_result(body: dict[str, Any]) -> Response:
    return telephony.dial_ended(session(), signed_form(), callbacks_url()), 200, TWIML


def screen_twilio_call(body: dict[str, Any], call_sid: str) -> Response:
    signed_form()
    return telephony.screen(session(), call_sid, callbacks_url()), 200, TWIML


def record_twilio_screening(body: dict[str, Any], call_sid: str) -> Response:
    return telephony.screened(session(), call_sid, signed_form().get("Digits", "")), 200, TWIML


def record_twilio_call_status(body: dict[str, Any]) -> Response:
    return telephony.progressed(session(), signed_form(), callbacks_url(), settings()), 200, TWIML


def record_twilio_recording(body: dict[str, Any]) -> Response:
    wait = timedelta(seconds=settings().transcript_wait_seconds)
    return telephony.recorded(session(), signed_form(), transcript_wait=wait), 200, TWIML


def record_twilio_transcription(body: dict[str, Any]) -> Response:
    return telephony.transcribed(session(), signed_form()), 200, TWIML


def receive_twilio_message(body: dict[str, Any]) -> Response:
    return text_back.message_received(session(), signed_form()), 200, TWIML
