"""The owner hears about every call: each voicemail (with its transcript, or without it after
TRANSCRIPT_WAIT_SECONDS) and each missed call is emailed to the business's members who want it
(Membership.wants). Each is a job (`notify_call`), queued in the transaction of the call's facts.

- A voicemail (`voicemail_left`, at the recording callback) queues its job for now + the transcript wait, or
  for now when the transcript came first; the transcription callback (`transcript_known`) brings a waiting
  job forward to now. The job is found by its concurrency key, `call:<id>:voicemail` (`notify_call` has no
  per-key limit, so the key limits nothing): a plain indexed column compared for equality, where the payload
  is JSON that the job system clears once a job succeeds.
- A missed call (`call_ended`, outcome `missed`) queues its job MISSED_CALL_GRACE later, so a recording
  callback that arrives after the status callback can still make it a voicemail: the job reads the call
  again when it runs and sends nothing unless the call is still missed.
- Simulated calls never reach these hooks (services/telephony.py `simulate` emits events only).

The job (`Notifier.notify_job`) is idempotent per call and kind: it locks the call's row, and queues the
emails (services/mail.py) in its own transaction, each marked with the same key. A run that finds an email
with that key already queued for the call sends nothing: so a worker killed after that commit but before
the job was recorded as done, whose job is then run again, does not email twice. (The marks last as long as
the worker keeps finished jobs, JOB_RETENTION_DAYS; a dead notify job retried by an operator after that
would send again.)
"""

from __future__ import annotations

import logging
import uuid
import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.config import Settings
from core.crypto import Cipher
from core.db import Database
from core.errors import ServiceUnavailable
from core.tenancy import Caller
from models import Business, Call, Job, Membership, Notification, Outcome
from models.base import utcnow
from services.mail import SEND_EMAIL, queue_email
from services.recordings import playable_url

log = logging.getLogger(__name__)

NOTIFY_CALL = "notify_call"
# How long a missed call's email waits for a recording callback that may still make it a voicemail (Twilio
# posts the recording before the status callback, but the two may arrive in either order).
MISSED_CALL_GRACE = timedelta(seconds=30)
RETRY_FOR = timedelta(days=1)  # like an email: a database outage of hours loses no notification
MAX_ATTEMPTS = 200
# The marks of a notification's emails are looked for from a while before the call started (clocks of the
# app and the database may differ a little): Job.any_queued_since reads only that part of the index.
_MARK_SLACK = timedelta(hours=1)


def call_ended(session: Session, call: Call) -> None:
    """The call ended (once per call, from Twilio's status callback): a missed call is news."""
    if call.simulated or call.outcome != Outcome.MISSED:
        return
    _queue(session, call, Notification.MISSED_CALL, utcnow() + MISSED_CALL_GRACE)


def voicemail_left(session: Session, call: Call, *, transcript_wait: timedelta) -> None:
    """The caller's message was recorded (once per call): its email waits `transcript_wait` for the
    transcript, unless Twilio's transcription callback came first."""
    if call.simulated:
        return
    wait = transcript_wait if call.transcript_status is None else timedelta(0)
    _queue(session, call, Notification.VOICEMAIL, utcnow() + wait)


def transcript_known(session: Session, call: Call) -> None:
    """The transcription callback (its first report, completed or failed): the voicemail's email goes now."""
    Job.hasten(session, kind=NOTIFY_CALL, concurrency_key=_key(call.id, Notification.VOICEMAIL))


def preferences(session: Session, caller: Caller) -> dict[Notification, bool]:
    """What the signed-in member is emailed about."""
    return Membership.get(session, caller.business, caller.person).notifications()


def set_preferences(session: Session, caller: Caller, choices: Mapping[Notification, bool]) -> dict[Notification, bool]:
    """The signed-in member's own choices (any subset); returns them all."""
    return Membership.get(session, caller.business, caller.person).set_notifications(dict(choices))


def _key(call_id: uuid.UUID, notification: Notification) -> str:
    return f"call:{call_id}:{notification.value}"


def _queue(session: Session, call: Call, notification: Notification, run_at: datetime) -> None:
    payload = {"call": str(call.id), "business": str(call.business_id), "notification": notification.value}
    Job.enqueue(
        session,
        NOTIFY_CALL,
        payload,
        concurrency_key=_key(call.id, notification),
        run_at=run_at,
        retry_for=RETRY_FOR,
        max_attempts=MAX_ATTEMPTS,
    )


class Notifier:
    """The `notify_call` job: emails one call's news to the members who want it."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database, self.settings = database, settings

    def notify_job(self, payload: Mapping[str, Any]) -> None:
        call_id, notification = uuid.UUID(payload["call"]), Notification(payload["notification"])
        key = _key(call_id, notification)
        with self.database.sessions.begin() as session:
            call = session.get(Call, call_id, with_for_update=True)  # one run of this notification at a time
            if call is None or not _is_news(call, notification):
                return  # deleted (retention), or a missed call that became a voicemail
            since = call.started_at - _MARK_SLACK
            if Job.any_queued_since(session, kind=SEND_EMAIL, concurrency_key=key, since=since):
                log.info("call notification already queued", extra={"callId": str(call_id), "key": key})
                return
            members = Membership.notified(session, call.business_id, notification)
            if not members:
                return
            business = session.get(Business, call.business_id)
            if business is None:
                return
            context = self._context(call, business, notification)
            for member in members:
                queue_email(session, to=member.user.email, template=notification.value, context=context, key=key)

    def _context(self, call: Call, business: Business, notification: Notification) -> dict[str, Any]:
        voicemail = notification is Notification.VOICEMAIL
        return {
            "business": business.name,
            "caller": call.from_number if call.from_number.startswith("+") else "a withheld number",
            "when": local_time(call.started_at, business.timezone),
            "duration": spoken_duration(call.voicemail_seconds if voicemail else call.duration_seconds),
            "transcript": call.transcript if voicemail else None,
            "link": self._recording_link(call) if voicemail else None,
        }

    def _recording_link(self, call: Call) -> str | None:
        try:
            cipher = Cipher.from_settings(self.settings)
        except ServiceUnavailable:  # production without DATA_ENCRYPTION_KEYS: the email says where to listen
            log.warning("a voicemail email without its link: no DATA_ENCRYPTION_KEYS", extra={"callId": str(call.id)})
            return None
        return playable_url(cipher, self.settings.public_base_url, call.business_id, call.id)


def _is_news(call: Call, notification: Notification) -> bool:
    if notification is Notification.VOICEMAIL:
        return call.voicemail_url is not None
    return call.outcome == Outcome.MISSED


def local_time(instant: datetime, timezone: str) -> str:
    """`instant` as the business reads it: "Monday 7 December 2026, 10:00 EST"."""
    local = instant.astimezone(zoneinfo.ZoneInfo(timezone))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname()}"


def spoken_duration(seconds: int | None) -> str:
    """42 -> "42 seconds", 65 -> "1 minute 5 seconds"; None -> "unknown"."""
    if seconds is None:
        return "unknown"
    minutes, rest = divmod(seconds, 60)
    parts = [f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes else []
    if rest or not minutes:
        parts.append(f"{rest} second{'s' if rest != 1 else ''}")
    return " ".join(parts)
