"""The receptionist at work: what it answers a call with (TwiML), and what the provider reports afterwards.

`answer` decides from the settings of the business whose receptionist answers on the called number:
- enabled and open now (its hours, in its time zone), with a forwarding number: say the greeting, then put
  the caller through (`<Dial>`; how that leg ended comes back to the status callback);
- enabled but closed, or with nowhere to forward to: say the greeting and record a voicemail (`<Record>`;
  the recording comes back to the recording callback);
- disabled, or a number no business's receptionist answers on: `<Reject>`.
The call is logged (models/call.py) unless no business owns the number; its end and its voicemail reach
the business's webhooks (`call.completed`, `voicemail.received`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from models import Business, Call, Outcome
from schemas.call import call_schema
from services import webhooks

log = logging.getLogger(__name__)
MAX_VOICEMAIL_SECONDS = 120
# What a caller hears when the service cannot reach its database: never an error, never silence.
UNAVAILABLE = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry, we cannot take your call right now. '
    "Please try again later.</Say><Hangup/></Response>"
)


def _twiml(response: ElementTree.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(response, encoding="unicode")


def _verb(parent: ElementTree.Element, name: str, text: str | None = None, **attributes: str) -> None:
    ElementTree.SubElement(parent, name, attributes).text = text


def answer(session: Session, *, sid: str, caller: str, to: str, now: datetime, callbacks: str) -> str:
    """TwiML for a call to `to`; `callbacks` is the URL prefix of the status and recording callbacks."""
    response = ElementTree.Element("Response")
    business = Business.answering_on(session, to)
    if business is None or not business.receptionist_enabled:
        if business is not None:
            Call.answered(session, business.id, sid, caller, to, Outcome.REJECTED)
        _verb(response, "Reject")
        return _twiml(response)
    if business.greeting:
        _verb(response, "Say", business.greeting)
    if business.forwarding_number and business.is_open(now):
        Call.answered(session, business.id, sid, caller, to, Outcome.FORWARDED)
        _verb(response, "Dial", business.forwarding_number, action=f"{callbacks}/status", method="POST")
    else:
        Call.answered(session, business.id, sid, caller, to, Outcome.VOICEMAIL)
        recording = {"action": f"{callbacks}/recording", "method": "POST", "maxLength": str(MAX_VOICEMAIL_SECONDS)}
        _verb(response, "Record", **recording)
    return _twiml(response)


def answer_or_apologise(session: Session, **call: Any) -> str:
    """`answer`, committed now so that a database failure, even at the commit, is an apology the caller
    hears (UNAVAILABLE), never an error; Twilio's retry of the call is answered alike."""
    try:
        twiml = answer(session, **call)
        session.commit()
    except SQLAlchemyError as error:
        log.warning("voice webhook answered without the database (%s)", type(error).__name__)
        session.close()
        return UNAVAILABLE
    return twiml


def progressed(session: Session, form: dict[str, str]) -> str:
    """The status callback (the call's, or the forwarded leg's `<Dial>` action); a repeat changes nothing."""
    call = Call.of_provider(session, form["CallSid"])
    if call is not None:
        if "DialCallStatus" in form:
            call.put_through(answered=form["DialCallStatus"] == "completed")
        if "CallStatus" in form:
            ended = call.ended_at is not None
            call.progressed(form["CallStatus"], _seconds(form.get("CallDuration")))
            if not ended and call.ended_at is not None:  # Twilio's retries tell customers nothing twice
                webhooks.emit(session, call.business_id, "call.completed", call_schema.dump(call))
    return _twiml(ElementTree.Element("Response"))  # nothing more to do: the call ends


def recorded(session: Session, form: dict[str, str]) -> str:
    """The recording callback (`<Record>`'s action): the voicemail is kept on the call; a repeat changes nothing."""
    call = Call.of_provider(session, form["CallSid"])
    if call is not None and form.get("RecordingUrl"):
        first = call.voicemail_url is None
        call.recorded(form["RecordingUrl"], _seconds(form.get("RecordingDuration")))
        if first:
            webhooks.emit(session, call.business_id, "voicemail.received", call_schema.dump(call))
    response = ElementTree.Element("Response")
    _verb(response, "Hangup")
    return _twiml(response)


def _seconds(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 7 else None
