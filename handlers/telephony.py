"""Operations tagged Telephony: Twilio's voice webhook, its fallback and its callbacks."""

from __future__ import annotations

from typing import Any

from services import telephony
from web.context import now, session
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
    return telephony.progressed(session(), signed_form(), callbacks_url()), 200, TWIML


def record_twilio_recording(body: dict[str, Any]) -> Response:
    return telephony.recorded(session(), signed_form()), 200, TWIML
