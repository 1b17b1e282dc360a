"""Missed-call text-back: a caller who reached nobody gets one text from the business's number, when the
business turned it on (at most one per caller, business and local day; never to a withheld or blocked
number or one that texted STOP). Each text is a `send_sms` job through Twilio's Messages API.

`call_ended` queues the text (a TextBack row and its job, in the transaction of the call's end); the worker's
`Texter.send_job` sends it, after checking again that the caller has not opted out or been blocked meanwhile.
Twilio refusing a text for good is recorded on the TextBack and ends the job; anything a retry may mend
(a 5xx, a timeout) fails the job, which is retried with backoff for RETRY_FOR. `message_received` is the
number's messaging webhook: STOP and START from a caller, per business.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from connectors.twilio_sms import SmsRefused, TwilioSms
from core.config import Settings
from core.db import Database
from models import Business, Call, Job, PhoneNumber, SmsOptOut, TextBack, TextStatus

log = logging.getLogger(__name__)

SEND_SMS = "send_sms"
# A text saying "we will call you back" is worth sending within hours, not a day later: Twilio's outage of a
# few hours loses nothing, and the window (about 20 attempts at the default backoff) ends it, not the count.
RETRY_FOR = timedelta(hours=6)
MAX_ATTEMPTS = 50
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def can_text(settings: Settings) -> bool:
    """Whether this deployment has a Twilio account to text from (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)."""
    return bool(settings.twilio_account_sid and settings.twilio_auth_token)


def call_ended(session: Session, call: Call, settings: Settings) -> None:
    """The call ended (once per call): a text is queued if the business texts back this caller, and the
    caller has had none from it yet on this local day."""
    if not can_text(settings):
        return
    business = session.get(Business, call.business_id)
    if business is None or not TextBack.owed(session, business, call):
        return
    text_id = TextBack.queue(session, business, call)
    if text_id is None:
        return  # texted once today already
    payload = {
        "textBack": str(text_id),
        "to": call.from_number,
        "from": call.to_number,
        "body": TextBack.message(business),
    }
    Job.enqueue(session, SEND_SMS, payload, max_attempts=MAX_ATTEMPTS, retry_for=RETRY_FOR)


def message_received(session: Session, form: Mapping[str, str]) -> str:
    """A text to one of the numbers (Twilio's messaging webhook): STOP (and Twilio's other opt-out keywords)
    opts its sender out of the texts of the business holding the number, START opts them back in; anything
    else changes nothing. Idempotent. The answer is empty TwiML: no reply (Twilio answers the keywords)."""
    opted_out = SmsOptOut.choice(form.get("Body", ""), form.get("OptOutType"))
    business_id = PhoneNumber.holder(session, form["To"]) if opted_out is not None else None
    if opted_out is not None and business_id is not None:
        SmsOptOut.record(session, business_id, form["From"], opted_out=opted_out)
        log.info("sms opt-out recorded", extra={"businessId": str(business_id), "optedOut": opted_out})
    return EMPTY_TWIML


class Texter:
    """The `send_sms` job: sends one queued text through Twilio's Messages API."""

    def __init__(self, database: Database, settings: Settings, sms: TwilioSms | None = None) -> None:
        self.database, self.settings = database, settings
        self._sms = sms

    def sms(self) -> TwilioSms:
        if self._sms is None:
            if not can_text(self.settings):
                raise RuntimeError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to send texts")
            self._sms = TwilioSms(
                account_sid=self.settings.twilio_account_sid,
                auth_token=self.settings.twilio_auth_token,
                base_url=self.settings.twilio_api_base_url,
            )
        return self._sms

    def send_job(self, payload: Mapping[str, Any]) -> None:
        """Sends the text once: a text already sent, refused or canceled is not sent again (the row stays
        locked while it is sent, so a second run of the job waits and then finds it done). A failure a retry
        may mend raises, and the job system retries it."""
        with self.database.sessions.begin() as session:
            text = TextBack.for_sending(session, uuid.UUID(payload["textBack"]))
            if text is None or text.status != TextStatus.QUEUED:
                return
            reason = text.withheld_now(session, session.get(Business, text.business_id))
            if reason is not None:
                text.cancel(reason)
                log.info("text canceled", extra={"textBackId": str(text.id), "reason": reason})
                return
            try:
                sid = self.sms().send(to=text.caller, sender=payload["from"], body=payload["body"])
            except SmsRefused as refusal:
                text.refused(refusal.code, refusal.message)
                log.warning("text refused by Twilio", extra={"textBackId": str(text.id), "code": refusal.code})
                return
            text.sent(sid)
            log.info("text sent", extra={"textBackId": str(text.id), "messageSid": sid})
