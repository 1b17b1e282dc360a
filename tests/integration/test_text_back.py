"""Missed-call text-back, played end to end: calls by the fake Twilio (tests/fake_twilio.py) against the app
configured as a user configures it (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_API_BASE_URL, here a
real local fake of Twilio's REST API, tests/fake_twilio_rest.py), the `send_sms` jobs run by a worker (a
real `python worker.py` for the restart), and STOP / START through the signed messaging webhook."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from connexion import FlaskApp
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from models import BlockedNumber, Business, Call, Job, JobStatus, SmsOptOut, TextBack, TextStatus
from models.base import utcnow
from services import text_back
from services.jobs import Worker
from services.text_back import SEND_SMS, Texter
from tests.conftest import database_of
from tests.factories import make_business, make_phone_number
from tests.fake_twilio import Callee, Caller, FakeTwilio, PlayedCall
from tests.fake_twilio_rest import FakeTwilioRest, new_account_sid
from tests.integration.conftest import TWILIO_AUTH_TOKEN, TWILIO_PUBLIC_URL
from tests.integration.test_admin_jobs import staff_headers
from tests.integration.test_mail import start_worker, wait_for

RECEPTIONIST, OTHER_NUMBER, FORWARD_TO = "+14155550199", "+14155550177", "+14155550100"
CALLER = "+14155550123"
SMS_PATH = "/api/v1/telephony/twilio/sms"
ALL_DAY = {"closed": False, "intervals": [{"open": "00:00", "close": "24:00"}]}
EVERY_DAY = {day: ALL_DAY for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
ACCOUNT_SID = new_account_sid()


@pytest.fixture(scope="module")
def rest() -> Iterator[FakeTwilioRest]:
    server = FakeTwilioRest(account_sid=ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN)
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh_rest(rest: FakeTwilioRest) -> None:
    rest.messages.clear()
    rest.requests.clear()
    rest.refused.clear()
    rest.failures = 0


@pytest.fixture(scope="module")
def sms_settings(settings: Settings, rest: FakeTwilioRest) -> Settings:
    """What a user sets to have callers texted back: the account, its auth token (also what signs Twilio's
    webhooks), where Twilio calls us, and (in tests only) where Twilio's REST API is."""
    return settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": TWILIO_AUTH_TOKEN,
            "public_base_url": TWILIO_PUBLIC_URL,
            "twilio_api_base_url": rest.url,
        }
    )


@pytest.fixture(scope="module")
def twilio_app(sms_settings: Settings, migrated: None) -> Iterator[FlaskApp]:
    """The conftest's `twilio_app` (and so its `twilio` and `phone`), with the Twilio account configured."""
    app = create_app(sms_settings)
    yield app
    database_of(app).dispose()


@pytest.fixture
def worker(twilio_app: FlaskApp, sms_settings: Settings) -> Worker:
    texter = Texter(database_of(twilio_app), sms_settings)
    return Worker(database_of(twilio_app), {SEND_SMS: texter.send_job}, backoff_base=timedelta(seconds=30))


def business_texting(db: Session, *, zone: str = "America/New_York", texting: bool = True, **settings: Any) -> Business:
    """A receptionist answering every day, all day, that texts back callers who reached nobody (unless
    `texting` is False: then the setting keeps its default)."""
    business = make_business(db, timezone=zone, name="Smile Dental")
    make_phone_number(db, business, e164=RECEPTIONIST)
    make_phone_number(db, business, e164=OTHER_NUMBER)
    fields = {
        "phone_number": RECEPTIONIST,
        "receptionist_enabled": True,
        "greeting": "Thanks for calling Smile Dental.",
        "forwarding_number": None,  # nowhere to forward to: every call goes to the voicemail
        "business_hours": EVERY_DAY,
        "screen_calls": False,
        "anonymous_callers": "voicemail",
    }
    if texting:
        fields["missed_call_text_enabled"] = True
    for name, value in (fields | settings).items():
        setattr(business, name, value)
    db.commit()
    return business


def missed_call(phone: FakeTwilio, number: str = CALLER, **caller: Any) -> PlayedCall:
    """A caller who hangs up in silence at the voicemail's tone (the call ends `missed`)."""
    return phone.call(RECEPTIONIST, caller=Caller(number=number, message_seconds=None, **caller))


def texts(db: Session) -> list[TextBack]:
    db.expire_all()
    return list(db.scalars(select(TextBack).order_by(TextBack.created_at)))


def sms_jobs(db: Session) -> list[Job]:
    db.expire_all()
    return list(db.scalars(select(Job).where(Job.kind == SEND_SMS).order_by(Job.created_at)))


def outcome(db: Session, played: PlayedCall) -> str:
    db.expire_all()
    return str(db.scalar(select(Call.outcome).where(Call.provider_sid == played.sid)))


def text_in(phone: FakeTwilio, word: str, *, sender: str = CALLER, to: str = OTHER_NUMBER) -> int:
    """The caller texts `word` to one of the business's numbers; Twilio posts it to the messaging webhook,
    signed. Returns the status, after checking the answer is empty TwiML."""
    form = {
        "MessageSid": "SM" + "ab" * 16,
        "SmsSid": "SM" + "ab" * 16,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": to,
        "Body": word,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    request = phone.post(SMS_PATH, form)
    if request.status == 200:
        assert request.body == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    return request.status


def a_zone_whose_date_is_not_utcs() -> str:
    """A time zone in which today's date differs from UTC's right now, so a day counted in UTC shows."""
    return "Pacific/Kiritimati" if utcnow().hour >= 11 else "Pacific/Pago_Pago"  # UTC+14, UTC-11


def test_a_missed_call_texts_the_caller_once_a_local_day_and_again_the_next_day(
    db: Session, phone: FakeTwilio, rest: FakeTwilioRest, worker: Worker
) -> None:
    zone = a_zone_whose_date_is_not_utcs()
    business_texting(db, zone=zone)

    first = missed_call(phone)
    assert outcome(db, first) == "missed"
    worker.run_until_idle()

    assert [(m["From"], m["To"], m["Body"]) for m in rest.messages] == [
        (RECEPTIONIST, CALLER, "Sorry we missed your call to Smile Dental. We will call you back soon.")
    ]
    (text,) = texts(db)
    assert (text.status, text.provider_sid, text.error) == (TextStatus.SENT, rest.messages[0]["sid"], None)
    assert text.sent_at is not None
    started = db.scalar(select(Call.started_at).where(Call.provider_sid == first.sid))
    assert started is not None
    assert text.local_date == started.astimezone(zoneinfo.ZoneInfo(zone)).date() != started.astimezone(UTC).date()

    missed_call(phone)  # the same caller, the same local day
    worker.run_until_idle()
    assert (len(rest.messages), len(texts(db)), len(sms_jobs(db))) == (1, 1, 1)

    db.execute(update(TextBack).values(local_date=TextBack.local_date - 1))  # the first text was yesterday's
    db.commit()
    missed_call(phone)
    worker.run_until_idle()
    assert [m["To"] for m in rest.messages] == [CALLER, CALLER]
    assert [t.status for t in texts(db)] == [TextStatus.SENT, TextStatus.SENT]


def test_a_voicemail_and_a_forward_nobody_took_text_back_but_an_answered_call_does_not(
    db: Session, phone: FakeTwilio, rest: FakeTwilioRest, worker: Worker
) -> None:
    business_texting(db, forwarding_number=FORWARD_TO, missed_call_text="Sorry! Smile Dental calls you back today.")
    voicemail = phone.call(RECEPTIONIST, caller=Caller(number="+14155550111"), callee=Callee(answers=False))
    nobody_took = phone.call(
        RECEPTIONIST, caller=Caller(number="+14155550122", message_seconds=None), callee=Callee(answers=False)
    )
    answered = phone.call(RECEPTIONIST, caller=Caller(number="+14155550133"), callee=Callee(answers=True))
    assert [outcome(db, call) for call in (voicemail, nobody_took, answered)] == ["voicemail", "missed", "forwarded"]

    worker.run_until_idle()

    assert sorted((m["From"], m["To"], m["Body"]) for m in rest.messages) == [
        (RECEPTIONIST, "+14155550111", "Sorry! Smile Dental calls you back today."),
        (RECEPTIONIST, "+14155550122", "Sorry! Smile Dental calls you back today."),
    ]


def test_text_back_is_off_by_default(db: Session, phone: FakeTwilio, rest: FakeTwilioRest, worker: Worker) -> None:
    business = business_texting(db, texting=False)
    db.refresh(business)
    assert business.missed_call_text_enabled is False

    missed_call(phone)
    phone.call(RECEPTIONIST, caller=Caller(number="+14155550111"))  # a voicemail
    worker.run_until_idle()

    assert (rest.messages, rest.requests, texts(db), sms_jobs(db)) == ([], [], [], [])


def test_without_the_deployments_twilio_account_nothing_is_queued(
    db: Session, phone: FakeTwilio, sms_settings: Settings
) -> None:
    business = business_texting(db)
    call = db.scalar(select(Call).where(Call.provider_sid == missed_call(phone, "+14155550111").sid))
    assert call is not None
    db.execute(delete(TextBack))
    db.execute(delete(Job))
    db.commit()

    for unset in ({"twilio_account_sid": ""}, {"twilio_auth_token": ""}):
        text_back.call_ended(db, call, sms_settings.model_copy(update=unset))
    assert (texts(db), sms_jobs(db)) == ([], [])
    text_back.call_ended(db, call, sms_settings)  # the same call, with the account: queued
    db.commit()
    assert [(t.business_id, t.caller) for t in texts(db)] == [(business.id, "+14155550111")]
    assert [job.payload["textBack"] for job in sms_jobs(db)] == [str(texts(db)[0].id)]


@pytest.mark.parametrize(
    ("caller", "arrange"),
    [
        ("anonymous", None),  # withheld, as Twilio reports it
        ("+266696687", None),  # withheld: "ANONYMOUS" on a keypad
        (CALLER, "opted out"),
        (CALLER, "blocked after the call"),  # a blocked caller is rejected, so never texted: blocked meanwhile
    ],
)
def test_a_withheld_blocked_or_opted_out_caller_is_never_texted(
    db: Session, phone: FakeTwilio, rest: FakeTwilioRest, worker: Worker, caller: str, arrange: str | None
) -> None:
    business = business_texting(db)
    if arrange == "opted out":
        assert text_in(phone, "STOP") == 200

    played = missed_call(phone, caller)
    assert outcome(db, played) == "missed"
    if arrange == "blocked after the call":
        BlockedNumber.add(db, business.id, number=caller, note=None)
        db.commit()
    worker.run_until_idle()

    assert rest.messages == []
    assert [t.status for t in texts(db)] == ([TextStatus.CANCELED] if arrange == "blocked after the call" else [])
    assert all(job.status == JobStatus.SUCCEEDED for job in sms_jobs(db))


def test_stop_stops_the_texts_and_start_resumes_them_through_the_signed_webhook(
    db: Session, phone: FakeTwilio, twilio: TestClient, rest: FakeTwilioRest, worker: Worker
) -> None:
    business = business_texting(db)
    other = make_business(db, name="Other Dental")
    make_phone_number(db, other, e164="+14155550166")
    db.commit()

    assert text_in(phone, "  stop ") == 200  # to the business's other number: it opts out of the business's texts
    assert text_in(phone, "STOP") == 200  # Twilio's retry, or a second STOP: the same
    assert text_in(phone, "START", to="+14155550166") == 200  # another business's number: not this one's
    assert text_in(phone, "Stop calling me maybe") == 200  # not a keyword: nothing changes
    assert text_in(phone, "START", to="+14155550155") == 200  # a number nobody holds: ignored
    form = {"MessageSid": "SM" + "cd" * 16, "AccountSid": ACCOUNT_SID, "From": CALLER, "To": OTHER_NUMBER}
    unsigned = twilio.post(SMS_PATH, data=form | {"Body": "START"}, headers={"X-Twilio-Signature": "bm90IHNpZ25lZA=="})
    assert (unsigned.status_code, unsigned.json()["code"]) == (403, "invalid_signature")
    assert twilio.post(SMS_PATH, data=form | {"Body": "START"}).status_code == 400  # the header is required
    db.expire_all()
    opt_outs = {(o.business_id, o.number): o.opted_out for o in db.scalars(select(SmsOptOut))}
    assert opt_outs == {(business.id, CALLER): True, (other.id, CALLER): False}

    missed_call(phone)
    worker.run_until_idle()
    assert (rest.messages, texts(db), sms_jobs(db)) == ([], [], [])

    assert text_in(phone, "Start", to=RECEPTIONIST) == 200
    missed_call(phone)
    worker.run_until_idle()
    assert [m["To"] for m in rest.messages] == [CALLER]

    # A STOP between the call and the text stops that text too.
    db.execute(update(TextBack).values(local_date=TextBack.local_date - 1))
    db.commit()
    missed_call(phone)
    assert text_in(phone, "unsubscribe") == 200
    worker.run_until_idle()
    assert [m["To"] for m in rest.messages] == [CALLER]
    assert [(t.status, t.error) for t in texts(db)] == [
        (TextStatus.SENT, None),
        (TextStatus.CANCELED, "the caller opted out"),
    ]


def test_a_text_twilio_refuses_is_recorded_and_not_retried(
    db: Session, phone: FakeTwilio, rest: FakeTwilioRest, worker: Worker, client: TestClient
) -> None:
    business_texting(db)
    rest.refuse(CALLER, code=21610)  # the caller unsubscribed at Twilio

    missed_call(phone)
    worker.run_until_idle()
    db.execute(update(Job).values(run_at=utcnow()))  # were it queued again, it would be due now
    db.commit()
    worker.run_until_idle()

    (text,) = texts(db)
    assert text.status == TextStatus.REFUSED
    assert text.provider_sid is None
    assert "21610" in (text.error or "")
    assert rest.messages == []
    assert len([path for method, path in rest.requests if path.endswith("/Messages.json")]) == 1
    listed = client.get(f"/api/v1/admin/jobs?kind={SEND_SMS}", headers=staff_headers(client, db)).json()["data"]
    assert [(job["kind"], job["status"], job["attempts"]) for job in listed] == [(SEND_SMS, "succeeded", 1)]


def test_a_text_twilio_cannot_take_now_is_retried_and_sent_once(
    db: Session, phone: FakeTwilio, rest: FakeTwilioRest, worker: Worker, twilio_app: FlaskApp, sms_settings: Settings
) -> None:
    business_texting(db)
    rest.fail_next(1)  # Twilio answers 503 once

    missed_call(phone)
    worker.run_until_idle()
    (job,) = sms_jobs(db)
    payload = dict(job.payload)  # a finished job keeps none
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 1)
    assert "503" in (job.last_error or "")
    assert job.run_at > utcnow()  # backing off
    assert timedelta(hours=1) < job.retry_until - job.created_at <= timedelta(days=1)  # bounded, like mail
    assert job.max_attempts <= 200
    assert [t.status for t in texts(db)] == [TextStatus.QUEUED]
    assert rest.messages == []

    db.execute(update(Job).values(run_at=utcnow()))  # the backoff has passed
    db.commit()
    worker.run_until_idle()
    worker.run_until_idle()

    (job,) = sms_jobs(db)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert [m["To"] for m in rest.messages] == [CALLER]
    assert [t.status for t in texts(db)] == [TextStatus.SENT]

    Texter(database_of(twilio_app), sms_settings).send_job(payload)  # delivered again (at least once)
    assert [m["To"] for m in rest.messages] == [CALLER]


def test_a_worker_restart_between_queueing_and_sending_loses_no_text(
    db: Session,
    phone: FakeTwilio,
    rest: FakeTwilioRest,
    twilio_app: FlaskApp,
    sms_settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    business_texting(db)
    missed_call(phone)
    texter = Texter(database_of(twilio_app), sms_settings)
    died = Worker(database_of(twilio_app), {SEND_SMS: texter.send_job}, visibility_timeout=timedelta(seconds=2))
    (claimed,) = died.claim(1)  # the worker took the job and died before it sent anything
    assert claimed.kind == SEND_SMS

    # A new worker, started as `make run` starts it, with the settings a user sets.
    restarted = start_worker(
        database_url,
        "",
        tmp_path / "worker.log",
        visibility_timeout=2,
        VAR_DIR=str(tmp_path),
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN,
        TWILIO_API_BASE_URL=rest.url,
        PUBLIC_BASE_URL=TWILIO_PUBLIC_URL,
    )
    try:
        wait_for(lambda: [t.status for t in texts(db)] == [TextStatus.SENT], seconds=30)
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)

    assert [(m["From"], m["To"]) for m in rest.messages] == [(RECEPTIONIST, CALLER)]
    (job,) = sms_jobs(db)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
