"""Operations tagged Telephony: Twilio's voice webhook and its callbacks."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from models.base import utcnow
from services import telephony
from web.context import session
from web.responses import Response
from web.twilio import callbacks_url, signed_form

log = logging.getLogger(__name__)
TWIML = {"Content-Type": "application/xml"}


def answer_twilio_call(body: dict[str, Any]) -> Response:
    form = signed_form()
    try:
        twiml = telephony.answer(
            session(), sid=form["CallSid"], caller=form["From"], to=form["To"], now=utcnow(), callbacks=callbacks_url()
        )
        session().commit()
    except SQLAlchemyError as error:  # the caller hears an apology, never an error
        log.warning("voice webhook answered without the database (%s)", type(error).__name__)
        session().close()
        twiml = telephony.UNAVAILABLE
    return twiml, 200, TWIML


def record_twilio_call_status(body: dict[str, Any]) -> Response:
    return telephony.progressed(session(), signed_form()), 200, TWIML


def record_twilio_recording(body: dict[str, Any]) -> Response:
    return telephony.recorded(session(), signed_form()), 200, TWIML
