"""The receptionist at work: what it answers a call with (TwiML), and what the provider reports afterwards.

One function decides what happens to a call (models/routing.py `decide`, fed by `route`): forward, voicemail,
reject or blocked. `answer` turns the decision into TwiML; the routing preview returns it as JSON. Nothing
dead-ends: a forward nobody takes (no answer, busy, or under screening nobody pressing 1) continues to the
voicemail flow (`dial_ended`), and when the database cannot answer in time the caller hears an apology and
can still leave a message (`answer_or_apologise`, `fallback`), which the recording callback files on arrival.
Twilio's callbacks take the call's row lock and write each fact once (models/call.py), so duplicates,
late and reordered callbacks change nothing and each event is emitted once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import committed_before_answering
from core.errors import BusinessRuleBroken
from core.tenancy import Caller
from models import BlockedNumber, Business, Call, Event, Route
from models.business import check_instant
from models.call import MAX_VOICEMAIL_SECONDS
from models.routing import NOBODY_ANSWERED, UNAVAILABLE, Decision, decide
from schemas import events
from services import audit, notifications, text_back, webhooks

log = logging.getLogger(__name__)
SCREEN_SECONDS = 6  # how long the forwarded person has to press 1
# The voice webhook's database work must end well within Twilio's 15 s: past this, the caller hears the
# apology and the voicemail flow instead (the client-side deadline covers a server that stops answering).
ANSWER_BUDGET_MS = 3000


def route(session: Session, business: Business, caller: str | None, at: datetime) -> Decision:
    """What the receptionist does with a call from `caller` to `business` at `at`."""
    blocked = caller is not None and BlockedNumber.is_blocked(session, business.id, caller)
    return decide(business, business.schedule(session, at), caller=caller, blocked=blocked, at=at)


def preview(session: Session, business_id: uuid.UUID, caller: str | None, at: datetime) -> Decision:
    check_instant(at, "at")
    return route(session, Business.get(session, business_id), caller, at)


def simulate(
    session: Session, caller: Caller, fields: dict[str, Any], *, now: datetime
) -> tuple[Call, Decision, list[Event]]:
    """The call simulator: a call from `fields["from"]` at `fields["at"]` (default `now`) to the receptionist's
    number, routed as a real one and ended as `fields` say, logged as simulated, with the events a real call
    emits. Nothing reaches the telephony provider."""
    business = Business.get(session, caller.business)
    if business.phone_number is None:
        raise BusinessRuleBroken(
            "no_phone_number", "Give the receptionist a phone number first (updateBusiness).", field="phoneNumber"
        )
    at = fields.get("at", now)
    check_instant(at, "at")
    decision = route(session, business, fields["from"], at)
    call = Call.simulate(
        session,
        business.id,
        caller=fields["from"],
        to=business.phone_number,
        route=decision.action,
        screened=decision.screened,
        at=at,
        answered=fields.get("forwardAnswered", True),
        leaves_voicemail=fields.get("leavesVoicemail", True),
        duration_seconds=fields.get("durationSeconds", 60),
    )
    occurrences = [events.voicemail_received(call)] if call.voicemail_url is not None else []
    emitted = [
        webhooks.emit(session, business.id, occurrence) for occurrence in [*occurrences, events.call_completed(call)]
    ]
    audit.record(session, "call.simulated", caller=caller, target=("call", call.id))
    return call, decision, emitted


def answer(session: Session, *, sid: str, caller: str, to: str, now: datetime, callbacks: str) -> str:
    """TwiML for a call to `to`; `callbacks` is the URL prefix of the telephony callbacks."""
    response = ElementTree.Element("Response")
    business = Business.answering_on(session, to)
    if business is None:
        _verb(response, "Reject")
        return _twiml(response)
    decision = route(session, business, caller, now)
    Call.answered(session, business.id, sid, caller, to, decision.action, screened=decision.screened)
    for line in decision.says:
        _verb(response, "Say", line)
    if decision.action is Route.FORWARD:
        dial = ElementTree.SubElement(
            response, "Dial", action=f"{callbacks}/dial", method="POST", timeout=str(decision.ring_seconds)
        )
        screening = {"url": f"{callbacks}/screen?callSid={sid}", "method": "POST"} if decision.screened else {}
        ElementTree.SubElement(dial, "Number", screening).text = decision.forward_to
    elif decision.action is Route.VOICEMAIL:
        _record(response, callbacks)
    else:
        _verb(response, "Reject")
    return _twiml(response)


def answer_or_apologise(session: Session, *, sid: str, caller: str, to: str, now: datetime, callbacks: str) -> str:
    """`answer`, committed now within ANSWER_BUDGET_MS, so that a slow or failing database, even at the
    commit, is an apology and a voicemail the caller can leave, never an error or Twilio's timeout."""

    def work() -> str:
        return answer(session, sid=sid, caller=caller, to=to, now=now, callbacks=callbacks)

    return _within_budget(session, work, callbacks)


def fallback(session: Session, *, sid: str, caller: str, to: str, callbacks: str) -> str:
    """Twilio's fallback, after the voice webhook failed: the apology and the voicemail flow, the call
    logged if the database answers (the recording callback logs it otherwise)."""

    def log_call() -> str:
        business = Business.answering_on(session, to)
        if business is None:
            return _twiml(_with(ElementTree.Element("Response"), "Reject"))
        Call.answered(session, business.id, sid, caller, to, Route.VOICEMAIL)
        return _apology(callbacks)

    return _within_budget(session, log_call, callbacks)


def dial_ended(session: Session, form: dict[str, str], callbacks: str) -> str:
    """The `<Dial>` action: a call someone took ends; any other goes on to the voicemail flow."""
    call = Call.of_provider(session, form["CallSid"])
    # A call we have no row of (it was answered with the apology) is never refused a message either.
    taken = call is not None and call.forward_ended(form["DialCallStatus"])
    response = ElementTree.Element("Response")
    if taken:
        _verb(response, "Hangup")
    else:
        _verb(response, "Say", NOBODY_ANSWERED)
        _record(response, callbacks)
    return _twiml(response)


def screen(session: Session, parent_sid: str, callbacks: str) -> str:
    """The whisper the forwarded person hears before the caller is put through."""
    call = Call.of_provider(session, parent_sid)
    business = session.get(Business, call.business_id) if call is not None else None
    response = ElementTree.Element("Response")
    gather = ElementTree.SubElement(
        response,
        "Gather",
        numDigits="1",
        timeout=str(SCREEN_SECONDS),
        action=f"{callbacks}/screen-result?callSid={parent_sid}",
        method="POST",
    )
    name = business.name if business is not None else "your business"
    _verb(gather, "Say", f"Call for {name}. Press 1 to accept.")
    _verb(response, "Hangup")  # no key: the forwarded leg ends, and the caller goes on to voicemail
    return _twiml(response)


def screened(session: Session, parent_sid: str, digits: str) -> str:
    """The forwarded person's key: 1 joins the calls (an empty answer), anything else drops their leg."""
    call = Call.of_provider(session, parent_sid)
    if call is not None:
        call.screening_answered(digits == "1")
    accepted = call.screen_accepted if call is not None else digits == "1"
    response = ElementTree.Element("Response")
    return _twiml(response if accepted else _with(response, "Hangup"))


def progressed(session: Session, form: dict[str, str], callbacks: str, settings: Settings | None = None) -> str:
    """The status callback. Calls answered before the `<Dial>` action had its own path sent their dial
    result here: it is answered like the action. With the deployment's `settings`, a caller who reached
    nobody may be texted back (services/text_back.py)."""
    if "DialCallStatus" in form:
        return dial_ended(session, form, callbacks)
    call = Call.of_provider(session, form["CallSid"])
    if call is None or "CallStatus" not in form:
        return _twiml(ElementTree.Element("Response"))
    if call.progressed(form["CallStatus"], _seconds(form.get("CallDuration"))):
        webhooks.emit(session, call.business_id, events.call_completed(call))
        notifications.call_ended(session, call)
        if settings is not None:
            text_back.call_ended(session, call, settings)
    return _twiml(ElementTree.Element("Response"))  # nothing more to do


def recorded(session: Session, form: dict[str, str], *, transcript_wait: timedelta) -> str:
    """The recording callback (`<Record>`'s action): the voicemail is kept on the call, which is logged now
    if its answer could not be (the apology); a repeat changes nothing. The owners' email waits up to
    `transcript_wait` for the transcript (`transcribed`), unless it came first."""
    call = _voicemail_call(session, form)
    if call is not None and call.recorded(form["RecordingUrl"], _seconds(form.get("RecordingDuration"))):
        webhooks.emit(session, call.business_id, events.voicemail_received(call))
        if call.transcript is not None:  # the transcript came first: announced now that there is a voicemail
            webhooks.emit(session, call.business_id, events.voicemail_transcribed(call))
        notifications.voicemail_left(session, call, transcript_wait=transcript_wait)
    return _twiml(_with(ElementTree.Element("Response"), "Hangup"))


def transcribed(session: Session, form: dict[str, str]) -> str:
    """The transcription callback (`<Record transcribeCallback>`): the first report of the voicemail's text
    (or of its failure) is kept, a repeat changes nothing. `voicemail.transcribed` is emitted once, when the
    call has both a voicemail and its text (here, or at the recording callback when the text came first),
    and the owners' email waits no longer."""
    call = _voicemail_call(session, form)
    if call is None or not call.transcribed(form.get("TranscriptionText"), form["TranscriptionStatus"]):
        return _twiml(ElementTree.Element("Response"))
    if call.transcript is not None and call.voicemail_url is not None:
        webhooks.emit(session, call.business_id, events.voicemail_transcribed(call))
    notifications.transcript_known(session, call)
    return _twiml(ElementTree.Element("Response"))


def _voicemail_call(session: Session, form: dict[str, str]) -> Call | None:
    """The call a recording or transcription callback is about, locked; logged now if its answer could not
    be (the apology), under the business of `To`."""
    call = Call.of_provider(session, form["CallSid"])
    if call is None and form.get("To") and form.get("From"):
        business = Business.answering_on(session, form["To"])
        if business is not None:
            Call.answered(session, business.id, form["CallSid"], form["From"], form["To"], Route.VOICEMAIL)
            call = Call.of_provider(session, form["CallSid"])
    return call


def _within_budget(session: Session, work: Callable[[], str], callbacks: str) -> str:
    """`work`'s TwiML, committed within ANSWER_BUDGET_MS; the apology and the voicemail flow if the database
    fails or is too slow."""
    try:
        with committed_before_answering(session):
            session.execute(text(f"SET LOCAL statement_timeout = {ANSWER_BUDGET_MS}"))
            twiml = work()
    except SQLAlchemyError as error:
        log.warning("a call was answered without the database (%s)", type(error).__name__)
        return _apology(callbacks)
    return twiml


def _apology(callbacks: str) -> str:
    response = ElementTree.Element("Response")
    _verb(response, "Say", UNAVAILABLE)
    _record(response, callbacks)
    return _twiml(response)


def _record(response: ElementTree.Element, callbacks: str) -> None:
    """`<Record>` the message, and ask Twilio to transcribe it (it does for recordings of 2 to 120 s)."""
    attributes = {
        "action": f"{callbacks}/recording",
        "method": "POST",
        "maxLength": str(MAX_VOICEMAIL_SECONDS),
        "transcribe": "true",
        "transcribeCallback": f"{callbacks}/transcription",
    }
    _verb(response, "Record", **attributes)


def _twiml(response: ElementTree.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(response, encoding="unicode")


def _verb(parent: ElementTree.Element, name: str, text: str | None = None, **attributes: str) -> None:
    ElementTree.SubElement(parent, name, attributes).text = text


def _with(response: ElementTree.Element, verb: str) -> ElementTree.Element:
    _verb(response, verb)
    return response


def _seconds(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 7 else None
