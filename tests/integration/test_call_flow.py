"""Whole calls played by the fake Twilio (tests/fake_twilio.py) against the app: signed requests with Twilio's
parameter sets, the TwiML we answer executed verb by verb, callbacks duplicated, delayed, late and racing.
The clock the receptionist reads is set per call, so every schedule is tried at the instant that matters."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from connexion import FlaskApp
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Business, Call, Membership, User, WebhookDelivery
from tests.conftest import database_of
from tests.factories import make_business, make_phone_number, make_webhook_endpoint
from tests.fake_twilio import Callee, Caller, FakeTwilio, PlayedCall
from tests.helpers import auth_headers
from tests.integration.conftest import TWILIO_AUTH_TOKEN, TWILIO_PUBLIC_URL

RECEPTIONIST, FORWARD_TO = "+14155550199", "+14155550100"
NEW_YORK = "America/New_York"
WEEKDAY = {"closed": False, "intervals": [{"open": "09:00", "close": "12:00"}, {"open": "13:00", "close": "17:00"}]}
SPLIT_SHIFT = {
    **{day: WEEKDAY for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
    "saturday": {"closed": False, "open": "10:00", "close": "14:00"},  # the one-interval shorthand
    "sunday": {"closed": True},
}


def local(moment: str, zone: str = NEW_YORK) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=ZoneInfo(zone))


def receptionist(db: Session, **settings: Any) -> Business:
    """An enabled receptionist keeping SPLIT_SHIFT in New York, with a webhook endpoint for every call event."""
    business = make_business(db, timezone=NEW_YORK, name="Smile Dental")
    make_phone_number(db, business, e164=RECEPTIONIST)
    fields = {
        "phone_number": RECEPTIONIST,
        "receptionist_enabled": True,
        "greeting": "Thanks for calling Smile Dental.",
        "forwarding_number": FORWARD_TO,
        "business_hours": SPLIT_SHIFT,
        "ring_seconds": 20,
        "screen_calls": True,
        "anonymous_callers": "answer",
    }
    for name, value in (fields | settings).items():
        setattr(business, name, value)
    make_webhook_endpoint(db, business, ["call.completed", "voicemail.received"])
    db.commit()
    return business


def the_call(db: Session, played: PlayedCall) -> Call:
    db.expire_all()
    call = db.scalar(select(Call).where(Call.provider_sid == played.sid))
    assert call is not None
    return call


def events(db: Session, kind: str) -> list[dict[str, Any]]:
    db.expire_all()
    return [d.payload["data"] for d in db.scalars(select(WebhookDelivery).where(WebhookDelivery.event_type == kind))]


MONDAY_10 = local("2026-12-07T10:00")  # open (the morning interval)


def test_a_screened_forward_that_is_accepted_puts_the_caller_through(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    receptionist(db)
    clock(MONDAY_10)
    played = phone.call(RECEPTIONIST, callee=Callee(presses="1", talk_seconds=95))

    assert played.said == ["Thanks for calling Smile Dental."]
    assert played.whisper == ["Call for Smile Dental. Press 1 to accept."]
    assert (played.dial_status, played.bridged, played.recording_url) == ("completed", True, None)
    call = the_call(db, played)
    assert (call.outcome, call.forward_status, call.status) == ("forwarded", "answered", "completed")
    assert [event["outcome"] for event in events(db, "call.completed")] == ["forwarded"]


def test_the_dial_rings_for_the_business_ring_time_and_screens_on_the_forwarded_leg(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    receptionist(db, ring_seconds=35)
    clock(MONDAY_10)
    played = phone.call(RECEPTIONIST)

    voice = played.requests[0].body
    assert 'timeout="35"' in voice
    assert (
        f'<Number url="{TWILIO_PUBLIC_URL}/api/v1/telephony/twilio/screen?callSid={played.sid}" method="POST">' in voice
    )


@pytest.mark.parametrize(
    ("callee", "forward_status"),
    [
        (Callee(presses=None), "not-accepted"),  # the owner's own mobile voicemail picked up
        (Callee(presses="7"), "not-accepted"),
        (Callee(answers=False), "no-answer"),
        (Callee(answers=False, status_if_unanswered="busy"), "busy"),
        (Callee(answers=False, status_if_unanswered="failed"), "failed"),
    ],
)
def test_a_forward_nobody_takes_ends_in_a_voicemail(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None], callee: Callee, forward_status: str
) -> None:
    receptionist(db)
    clock(MONDAY_10)
    played = phone.call(RECEPTIONIST, callee=callee, caller=Caller(message_seconds=14))

    assert played.said == [
        "Thanks for calling Smile Dental.",
        "Sorry, nobody could take your call. Please leave a message after the tone.",
    ]
    assert played.recording_url is not None
    call = the_call(db, played)
    assert (call.outcome, call.forward_status, call.voicemail_url) == (
        "voicemail",
        forward_status,
        played.recording_url,
    )
    assert call.voicemail_seconds == 14
    assert [event["forwardStatus"] for event in events(db, "voicemail.received")] == [forward_status]


def test_without_screening_an_answered_forward_is_put_through_at_once(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    receptionist(db, screen_calls=False)
    clock(MONDAY_10)
    played = phone.call(RECEPTIONIST, callee=Callee(presses=None))

    assert (played.whisper, played.bridged) == ([], True)
    assert the_call(db, played).outcome == "forwarded"


def test_a_caller_who_hangs_up_first_is_a_missed_call(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    receptionist(db)
    clock(MONDAY_10)
    while_ringing = phone.call(RECEPTIONIST, caller=Caller(hangs_up_while_ringing=True))
    at_the_tone = phone.call(RECEPTIONIST, callee=Callee(answers=False), caller=Caller(message_seconds=None))

    assert the_call(db, while_ringing).outcome == "missed"
    assert (the_call(db, at_the_tone).outcome, the_call(db, at_the_tone).forward_status) == ("missed", "no-answer")
    assert sorted(event["outcome"] for event in events(db, "call.completed")) == ["missed", "missed"]
    assert events(db, "voicemail.received") == []


@pytest.mark.parametrize(
    ("when", "heard"),
    [
        (local("2026-12-07T12:30"), "We open again today at 13:00."),  # Monday's lunch break
        (local("2026-12-07T18:00"), "We open again tomorrow at 9:00."),
        (local("2026-12-05T15:00"), "We open again Monday at 9:00."),  # Saturday after 14:00, Sunday closed
        (local("2026-12-07T08:59"), "We open again today at 9:00."),
    ],
)
def test_closed_the_caller_hears_when_the_business_opens_again_and_leaves_a_message(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None], when: datetime, heard: str
) -> None:
    receptionist(db)
    clock(when)
    played = phone.call(RECEPTIONIST)

    assert played.said == ["Thanks for calling Smile Dental.", heard, "Please leave a message after the tone."]
    assert "Dial" not in played.verbs
    call = the_call(db, played)
    assert (call.outcome, call.forward_status, call.voicemail_url) == ("voicemail", None, played.recording_url)


@pytest.mark.parametrize(
    ("when", "forwarded"),
    [
        (local("2026-12-07T09:00"), True),
        (local("2026-12-07T11:59"), True),
        (local("2026-12-07T12:00"), False),
        (local("2026-12-07T13:00"), True),
        (local("2026-12-05T13:59"), True),  # Saturday's shorthand hours
        (local("2026-12-06T11:00"), False),  # Sunday
    ],
)
def test_split_shifts_are_honoured(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None], when: datetime, forwarded: bool
) -> None:
    receptionist(db)
    clock(when)

    assert ("Dial" in phone.call(RECEPTIONIST).verbs) is forwarded


@pytest.mark.parametrize(
    ("when", "forwarded"),
    [
        (local("2026-12-04T21:59"), False),
        (local("2026-12-04T23:30"), True),  # Friday night
        (local("2026-12-05T01:30"), True),  # past midnight, still Friday's interval
        (local("2026-12-05T03:00"), False),
        (local("2026-12-06T01:00"), True),  # Saturday's interval runs into Sunday, a closed day
    ],
)
def test_night_hours_run_past_midnight(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None], when: datetime, forwarded: bool
) -> None:
    night = {"closed": False, "intervals": [{"open": "22:00", "close": "03:00"}]}
    receptionist(db, business_hours={**SPLIT_SHIFT, "friday": night, "saturday": night})
    clock(when)

    assert ("Dial" in phone.call(RECEPTIONIST).verbs) is forwarded


def test_a_closure_sends_callers_to_voicemail_and_names_itself(
    twilio: TestClient, db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    business = receptionist(db)
    owner = auth_headers(twilio, _owner_email(db, business))
    christmas = {"name": "Christmas", "startDate": "2026-12-24", "endDate": "2026-12-26"}
    late_opening = {"name": "Inventory", "startDate": "2026-12-28", "intervals": [{"open": "14:00", "close": "17:00"}]}
    for body in (christmas, late_opening):
        assert twilio.post("/api/v1/business/me/closures", json=body, headers=owner).status_code == 201

    clock(local("2026-12-24T10:00"))  # a Thursday
    holiday = phone.call(RECEPTIONIST)
    clock(local("2026-12-28T10:00"))  # Monday, opening at 14:00 only
    morning = phone.call(RECEPTIONIST)
    clock(local("2026-12-28T15:00"))
    afternoon = phone.call(RECEPTIONIST)

    assert holiday.said == [
        "Thanks for calling Smile Dental.",
        "We are closed for Christmas.",
        "We open again Monday at 14:00.",
        "Please leave a message after the tone.",
    ]
    assert morning.said[1:3] == ["We are closed for Inventory.", "We open again today at 14:00."]
    assert "Dial" in afternoon.verbs


@pytest.mark.parametrize(
    ("zone", "moment", "forwarded"),
    [
        (NEW_YORK, "2026-03-08T09:30", True),  # spring forward, 02:00 -> 03:00: 13:30Z is 09:30 EDT
        (NEW_YORK, "2026-03-08T08:59", False),
        (NEW_YORK, "2026-11-01T16:59", True),  # fall back: 21:59Z is 16:59 EST
        (NEW_YORK, "2026-11-01T17:00", False),
        ("Europe/Berlin", "2026-03-29T09:00", True),
        ("Europe/Berlin", "2026-10-25T08:30", False),
        ("Asia/Kolkata", "2026-03-08T09:00", True),  # 03:30Z
        ("Asia/Kolkata", "2026-03-08T08:45", False),  # 03:15Z
    ],
)
def test_hours_hold_across_daylight_saving_changes_and_half_hour_zones(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None], zone: str, moment: str, forwarded: bool
) -> None:
    every_day = {day: {"closed": False, "open": "09:00", "close": "17:00"} for day in SPLIT_SHIFT}
    receptionist(db, timezone=zone, business_hours=every_day)
    clock(local(moment, zone).astimezone(UTC))

    assert ("Dial" in phone.call(RECEPTIONIST).verbs) is forwarded


def test_blocked_callers_are_rejected_and_logged_as_blocked(
    twilio: TestClient, db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    business = receptionist(db)
    owner = auth_headers(twilio, _owner_email(db, business))
    blocked = twilio.post(
        "/api/v1/business/me/blocked-numbers", json={"number": "+14155550142", "note": "Robocaller"}, headers=owner
    )
    assert (blocked.status_code, blocked.json()["number"]) == (201, "+14155550142")
    clock(MONDAY_10)

    rejected = phone.call(RECEPTIONIST, caller=Caller(number="+14155550142"))
    other = phone.call(RECEPTIONIST, caller=Caller(number="+14155550143"))

    assert (rejected.verbs, rejected.final_status) == (["Reject"], "no-answer")
    assert the_call(db, rejected).outcome == "blocked"
    assert "Dial" in other.verbs


@pytest.mark.parametrize(
    ("setting", "verbs", "outcome"),
    [
        ("answer", ["Say", "Dial"], "forwarded"),
        ("voicemail", ["Say", "Say", "Record"], "voicemail"),
        ("reject", ["Reject"], "rejected"),
    ],
)
@pytest.mark.parametrize("withheld", ["anonymous", "+266696687", "Restricted"])
def test_withheld_callers_are_answered_as_the_business_chose(
    db: Session,
    phone: FakeTwilio,
    clock: Callable[[datetime], None],
    setting: str,
    verbs: list[str],
    outcome: str,
    withheld: str,
) -> None:
    receptionist(db, anonymous_callers=setting)
    clock(MONDAY_10)
    played = phone.call(RECEPTIONIST, caller=Caller(number=withheld))

    assert played.verbs[: len(verbs)] == verbs
    assert the_call(db, played).outcome == outcome


def test_duplicated_delayed_and_late_callbacks_change_nothing(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    receptionist(db)
    clock(MONDAY_10)
    played = phone.call(
        RECEPTIONIST, callee=Callee(answers=False), duplicate_callbacks=True, delay_status=True, late_ringing=True
    )
    before_status = the_call(db, played)
    assert (before_status.outcome, before_status.ended_at) == ("voicemail", None)  # the message is in
    phone.flush(played)  # completed twice, then a late "ringing" twice

    call = the_call(db, played)
    assert (call.status, call.outcome, call.forward_status) == ("completed", "voicemail", "no-answer")
    assert len(events(db, "voicemail.received")) == 1
    assert len(events(db, "call.completed")) == 1


def test_the_end_before_the_message_still_ends_in_a_voicemail(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    receptionist(db, business_hours={day: {"closed": True} for day in SPLIT_SHIFT})
    clock(MONDAY_10)
    played = phone.call(RECEPTIONIST, caller=Caller(message_seconds=None))  # hung up: missed
    recording = {
        "CallSid": played.sid,
        "AccountSid": f"AC{'0' * 32}",
        "From": "+14155550123",
        "To": RECEPTIONIST,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1",
        "RecordingDuration": "9",
    }
    assert the_call(db, played).outcome == "missed"
    assert phone.post("/api/v1/telephony/twilio/recording", recording).status == 200  # arrives late

    assert the_call(db, played).outcome == "voicemail"
    assert len(events(db, "voicemail.received")) == 1


def test_two_identical_status_callbacks_at_the_same_moment_emit_one_event(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    receptionist(db)
    clock(MONDAY_10)
    for _ in range(3):
        played = phone.call(RECEPTIONIST, delay_status=True)
        (path, form), *_ = played.pending
        barrier = threading.Barrier(4)
        statuses: list[int] = []

        def send(
            path: str = path,
            form: dict[str, str] = form,
            barrier: threading.Barrier = barrier,
            out: list[int] = statuses,
        ) -> None:
            barrier.wait()
            out.append(phone.post(path, form).status)

        threads = [threading.Thread(target=send) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 4
    assert len(events(db, "call.completed")) == 3


def test_a_slow_database_is_an_apology_and_a_voicemail_not_a_timeout(
    twilio_app: FlaskApp, db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    receptionist(db)
    clock(MONDAY_10)
    with database_of(twilio_app).engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE"))  # every write to calls waits
        started = datetime.now(UTC)
        answered = phone.post(
            "/api/v1/telephony/twilio/voice",
            {
                "CallSid": (sid := f"CA{uuid.uuid4().hex}"),
                "AccountSid": f"AC{'0' * 32}",
                "From": "+14155550123",
                "To": RECEPTIONIST,
            },
        )
        waited = (datetime.now(UTC) - started).total_seconds()
        blocker.rollback()

    assert answered.status == 200
    assert "Sorry, we cannot take your call right now." in answered.body
    assert "<Record " in answered.body
    assert waited < 10  # well within Twilio's 15 s
    recording = {
        "CallSid": sid,
        "From": "+14155550123",
        "To": RECEPTIONIST,
        "RecordingUrl": "https://api.twilio.com/r/RE2",
    }
    assert phone.post("/api/v1/telephony/twilio/recording", recording).status == 200
    db.expire_all()
    call = db.scalar(select(Call).where(Call.provider_sid == sid))
    assert call is not None
    assert (call.outcome, call.voicemail_url) == ("voicemail", "https://api.twilio.com/r/RE2")


def test_the_fallback_apologises_takes_a_message_and_logs_the_call(
    db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    receptionist(db)
    clock(MONDAY_10)
    form = {
        "CallSid": f"CA{uuid.uuid4().hex}",
        "AccountSid": f"AC{'0' * 32}",
        "From": "+14155550123",
        "To": RECEPTIONIST,
    }
    answered = phone.post(
        "/api/v1/telephony/twilio/fallback", {**form, "ErrorCode": "11200", "ErrorUrl": f"{TWILIO_PUBLIC_URL}/x"}
    )
    unknown = phone.post(
        "/api/v1/telephony/twilio/fallback", {**form, "CallSid": f"CA{uuid.uuid4().hex}", "To": "+14155550000"}
    )

    assert answered.status == 200
    assert "Sorry" in answered.body
    assert "<Record " in answered.body
    assert "<Reject" in unknown.body
    db.expire_all()
    assert db.scalar(select(Call.outcome).where(Call.provider_sid == form["CallSid"])) == "voicemail"


def test_a_failing_voice_webhook_falls_back_and_the_call_is_not_lost(
    db: Session, clock: Callable[[datetime], None], twilio: TestClient
) -> None:
    receptionist(db)
    clock(MONDAY_10)

    def send(path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        if path.endswith("/voice"):
            return 502, "Bad gateway"  # the load balancer found no web server
        response = twilio.post(path, data=form, headers=headers)
        return response.status_code, response.text

    played = FakeTwilio(send, public_base=TWILIO_PUBLIC_URL, auth_token=TWILIO_AUTH_TOKEN).call(RECEPTIONIST)
    call = the_call(db, played)
    assert (call.outcome, call.voicemail_url) == ("voicemail", played.recording_url)
    assert len(events(db, "voicemail.received")) == 1


def _owner_email(db: Session, business: Business) -> str:
    return db.scalar(select(User.email).join(Membership).where(Membership.business_id == business.id))  # type: ignore[return-value]


def test_the_routing_preview_and_the_voice_webhook_decide_alike(
    twilio: TestClient, db: Session, phone: FakeTwilio, clock: Callable[[datetime], None]
) -> None:
    """The preview is what a caller gets: at instants across a week with a split shift, night hours, a
    closure with special hours and a blocked caller, the preview's action and words are the webhook's."""
    night = {"closed": False, "intervals": [{"open": "22:00", "close": "03:00"}]}
    business = receptionist(db, business_hours={**SPLIT_SHIFT, "friday": night})
    owner = auth_headers(twilio, _owner_email(db, business))
    special = {"name": "Inventory", "startDate": "2026-12-09", "intervals": [{"open": "15:00", "close": "16:00"}]}
    assert twilio.post("/api/v1/business/me/closures", json=special, headers=owner).status_code == 201
    assert (
        twilio.post("/api/v1/business/me/blocked-numbers", json={"number": "+14155550142"}, headers=owner).status_code
        == 201
    )
    db.close()  # the loop outlasts the database's client-side deadline for a connection lent this long
    verbs = {"forward": "Dial", "voicemail": "Record", "reject": "Reject", "blocked": "Reject"}
    seen = set()
    for step in range(0, 7 * 24 * 60, 97):  # every 97 minutes: every hour of the week, at odd minutes
        instant = (local("2026-12-07T00:00") + timedelta(minutes=step)).astimezone(UTC)
        caller = "+14155550142" if step % 5 == 0 else "+14155550123"
        clock(instant)
        preview = twilio.get(
            "/api/v1/business/me/routing", params={"caller": caller, "at": instant.isoformat()}, headers=owner
        ).json()
        played = phone.call(RECEPTIONIST, caller=Caller(number=caller), callee=Callee(answers=True))

        assert verbs[preview["action"]] in played.verbs, (instant, preview, played.verbs)
        assert played.said[: len(preview["says"])] == preview["says"], (instant, preview)
        seen.add((preview["action"], preview["reason"]))
    assert seen >= {
        ("forward", "open"),
        ("voicemail", "closed"),
        ("voicemail", "closure"),
        ("blocked", "caller_blocked"),
    }
