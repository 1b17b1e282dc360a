"""Operations tagged Telephony: Twilio's voice webhook and its callbacks."""

from __future__ import annotations

from typing import Any

from models.base import utcnow
from services import telephony
from web.context import session
from web.responses import Response
from web.twilio import callbacks_url, signed_form

TWIML = {"Content-Type": "application/xml"}


def answer_twilio_call(body: dict[str, Any]) -> Response:
    form = signed_form()
    call = {"sid": form["CallSid"], "caller": form["From"], "to": form["To"], "now": utcnow()}
    return telephony.answer_or_apologise(session(), **call, callbacks=callbacks_url()), 200, TWIML


def record_twilio_call_status(body: dict[str, Any]) -> Response:
    return telephony.progressed(session(), signed_form()), 200, TWIML


def record_twilio_recording(body: dict[str, Any]) -> Response:
    return telephony.recorded(session(), signed_form()), 200, TWIML
