"""The receptionist answering calls: Twilio's signed voice webhook and callbacks, TwiML read as XML, and the
call log they leave (services/telephony.py, web/twilio.py, models/call.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from app import create_app
from core.config import Settings
from models import Business, Call, NumberStatus, PhoneNumber, Role
from tests.conftest import database_of
from tests.factories import make_business, make_member, make_phone_number, make_user
from tests.helpers import auth_headers, free_port
from tests.integration.conftest import TWILIO_AUTH_TOKEN as AUTH_TOKEN
from tests.integration.conftest import TWILIO_PUBLIC_URL as PUBLIC

VOICE, STATUS, RECORDING, DIAL = (
    f"/api/v1/telephony/twilio/{name}" for name in ("voice", "status", "recording", "dial")
)
RECEPTIONIST, FORWARD_TO, CALLER = "+14155550199", "+14155550100", "+14155550123"
ALWAYS_OPEN = {
    day: {"closed": False, "intervals": [{"open": "00:00", "close": "24:00"}]}
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
ALWAYS_CLOSED = {day: {"closed": True, "intervals": []} for day in ALWAYS_OPEN}


def signed_post(client: TestClient, path: str, form: dict[str, str], token: str = AUTH_TOKEN) -> Any:
    """A request built the way Twilio builds it: the signature covers the public URL and the sorted fields."""
    signature = RequestValidator(token).compute_signature(PUBLIC + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def call_form(sid: str | None = None, to: str = RECEPTIONIST, **extra: str) -> dict[str, str]:
    return {
        "CallSid": sid or f"CA{uuid.uuid4().hex}",
        "AccountSid": f"AC{'0' * 32}",
        "From": CALLER,
        "To": to,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",  # Twilio sends more than the spec names
        "CallerCity": "SAN FRANCISCO",
        **extra,
    }


def receptionist(db: Session, **settings: Any) -> Business:
    business = make_business(db, timezone="America/Los_Angeles")
    make_phone_number(db, business, e164=RECEPTIONIST)
    fields = {
        "phone_number": RECEPTIONIST,
        "receptionist_enabled": True,
        "greeting": "Thanks for calling Smile Dental.",
    }
    for name, value in (fields | {"forwarding_number": FORWARD_TO, "business_hours": ALWAYS_OPEN} | settings).items():
        setattr(business, name, value)
    db.commit()
    return business


def twiml(response: Any) -> ElementTree.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.text)  # noqa: S314 - our own server's TwiML
    assert root.tag == "Response"
    return root


def calls_of(db: Session, business: Business) -> list[Call]:
    db.expire_all()
    return list(db.scalars(select(Call).where(Call.business_id == business.id)))


def test_open_the_greeting_then_the_forwarding_number(twilio: TestClient, db: Session) -> None:
    business = receptionist(db)
    form = call_form()
    root = twiml(signed_post(twilio, VOICE, form))

    assert [child.tag for child in root] == ["Say", "Dial"]
    assert root[0].text == "Thanks for calling Smile Dental."
    assert root[1].attrib == {"action": f"{PUBLIC}/api/v1/telephony/twilio/dial", "method": "POST", "timeout": "20"}
    (number,) = root[1]
    assert (number.tag, number.text) == ("Number", FORWARD_TO)
    assert number.attrib == {
        "url": f"{PUBLIC}/api/v1/telephony/twilio/screen?callSid={form['CallSid']}",
        "method": "POST",
    }
    (call,) = calls_of(db, business)
    assert (call.from_number, call.to_number, call.outcome, call.direction) == (
        CALLER,
        RECEPTIONIST,
        "forwarded",
        "inbound",
    )


def test_closed_the_greeting_then_a_voicemail(twilio: TestClient, db: Session) -> None:
    business = receptionist(db, business_hours=ALWAYS_CLOSED)
    root = twiml(signed_post(twilio, VOICE, call_form()))

    assert [child.tag for child in root] == ["Say", "Say", "Record"]
    assert root[1].text == "Please leave a message after the tone."  # never open: no next opening to name
    assert root[2].attrib["action"] == f"{PUBLIC}/api/v1/telephony/twilio/recording"
    assert [call.outcome for call in calls_of(db, business)] == ["voicemail"]


def test_open_without_a_forwarding_number_takes_a_voicemail(twilio: TestClient, db: Session) -> None:
    receptionist(db, forwarding_number=None)

    assert [child.tag for child in twiml(signed_post(twilio, VOICE, call_form()))] == ["Say", "Say", "Record"]


def test_the_hours_are_read_in_the_business_time_zone(db: Session) -> None:
    hours = {"monday": {"closed": False, "intervals": [{"open": "09:00", "close": "17:00"}]}}
    business = Business(timezone="Asia/Tokyo", business_hours=hours)
    monday_10_tokyo = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 10:00 in Tokyo, Monday 01:00 UTC
    schedule = business.schedule(db, monday_10_tokyo)

    assert schedule.is_open(monday_10_tokyo)
    assert not schedule.is_open(monday_10_tokyo + timedelta(hours=8))  # 18:00 in Tokyo
    assert not schedule.is_open(monday_10_tokyo + timedelta(days=1))  # Tuesday: no hours given


def test_a_disabled_receptionist_rejects_and_logs_the_call(twilio: TestClient, db: Session) -> None:
    business = receptionist(db, receptionist_enabled=False)

    assert [child.tag for child in twiml(signed_post(twilio, VOICE, call_form()))] == ["Reject"]
    assert [call.outcome for call in calls_of(db, business)] == ["rejected"]


def test_unknown_and_suspended_numbers_are_rejected(twilio: TestClient, db: Session) -> None:
    business = receptionist(db)
    db.execute(PhoneNumber.__table__.update().values(status=NumberStatus.SUSPENDED))
    db.commit()

    for to in ("+14155550000", RECEPTIONIST):
        assert [child.tag for child in twiml(signed_post(twilio, VOICE, call_form(to=to)))] == ["Reject"]
    assert calls_of(db, business) == []


def test_the_greeting_is_text_not_markup(twilio: TestClient, db: Session) -> None:
    receptionist(db, greeting='Hi & welcome <Hangup/> "friends"')
    root = twiml(signed_post(twilio, VOICE, call_form()))

    assert root[0].text == 'Hi & welcome <Hangup/> "friends"'
    assert [child.tag for child in root] == ["Say", "Dial"]


@pytest.mark.parametrize("path", [VOICE, STATUS, RECORDING])
def test_unsigned_or_wrongly_signed_requests_are_403(twilio: TestClient, db: Session, path: str) -> None:
    business = receptionist(db)
    form = call_form(RecordingUrl="https://api.twilio.com/rec/RE1")
    unsigned = twilio.post(path, data=form, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    wrong_key = signed_post(twilio, path, form, token="another-account-token")
    tampered = twilio.post(
        path,
        data={**form, "To": "+14155550000"},
        headers={"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, form)},
    )
    missing = twilio.post(path, data=form)

    for response in (unsigned, wrong_key, tampered):
        assert (response.status_code, response.json()["code"]) == (403, "invalid_signature"), response.text
    assert missing.status_code == 400  # the spec requires the header
    assert calls_of(db, business) == []


def test_without_an_auth_token_every_twilio_request_is_403(settings: Settings, migrated: None, db: Session) -> None:
    receptionist(db)
    app = create_app(settings.model_copy(update={"public_base_url": PUBLIC}))
    try:
        response = signed_post(app.test_client(), VOICE, call_form(), token="")
    finally:
        database_of(app).dispose()

    assert (response.status_code, response.json()["code"]) == (403, "invalid_signature")


def test_twilios_retries_change_nothing(twilio: TestClient, db: Session) -> None:
    business = receptionist(db)
    form = call_form()
    for _ in range(2):
        twiml(signed_post(twilio, VOICE, form))
    for _ in range(2):
        twiml(
            signed_post(twilio, STATUS, {"CallSid": form["CallSid"], "CallStatus": "completed", "CallDuration": "42"})
        )

    (call,) = calls_of(db, business)
    assert (call.status, call.duration_seconds) == ("completed", 42)
    ended = call.ended_at
    twiml(signed_post(twilio, STATUS, {"CallSid": form["CallSid"], "CallStatus": "completed", "CallDuration": "42"}))
    assert calls_of(db, business)[0].ended_at == ended


def test_a_forwarded_call_nobody_answers_goes_on_to_voicemail(twilio: TestClient, db: Session) -> None:
    business = receptionist(db)
    form = call_form()
    twiml(signed_post(twilio, VOICE, form))
    root = twiml(signed_post(twilio, DIAL, {"CallSid": form["CallSid"], "DialCallStatus": "no-answer"}))

    assert [child.tag for child in root] == ["Say", "Record"]  # never an empty answer that hangs up
    assert root[1].attrib["action"] == f"{PUBLIC}/api/v1/telephony/twilio/recording"
    (call,) = calls_of(db, business)
    assert (call.outcome, call.forward_status) == ("voicemail", "no-answer")
    twiml(signed_post(twilio, STATUS, {"CallSid": form["CallSid"], "CallStatus": "completed"}))
    assert [call.outcome for call in calls_of(db, business)] == ["missed"]  # no message was left


def test_a_dial_result_sent_to_the_status_callback_is_answered_like_the_dial_action(
    twilio: TestClient, db: Session
) -> None:
    receptionist(db)
    form = call_form()
    twiml(signed_post(twilio, VOICE, form))
    root = twiml(signed_post(twilio, STATUS, {"CallSid": form["CallSid"], "DialCallStatus": "busy"}))

    assert [child.tag for child in root] == ["Say", "Record"]  # calls answered before the dial action had a path


def test_a_voicemail_is_kept_on_the_call(twilio: TestClient, db: Session) -> None:
    business = receptionist(db, business_hours=ALWAYS_CLOSED)
    form = call_form()
    twiml(signed_post(twilio, VOICE, form))
    url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"
    root = twiml(
        signed_post(twilio, RECORDING, {"CallSid": form["CallSid"], "RecordingUrl": url, "RecordingDuration": "17"})
    )

    assert [child.tag for child in root] == ["Hangup"]
    (call,) = calls_of(db, business)
    assert (call.outcome, call.voicemail_url, call.voicemail_seconds) == ("voicemail", url, 17)


def test_callbacks_for_calls_we_did_not_answer_are_ignored(twilio: TestClient) -> None:
    assert (
        list(twiml(signed_post(twilio, STATUS, {"CallSid": f"CA{uuid.uuid4().hex}", "CallStatus": "completed"}))) == []
    )


def test_a_database_outage_is_an_apology_not_an_error(settings: Settings) -> None:
    unreachable = f"postgresql+psycopg2://switchboard@127.0.0.1:{free_port()}/switchboard?connect_timeout=2"
    update = {"database_url": unreachable, "twilio_auth_token": AUTH_TOKEN, "public_base_url": PUBLIC}
    app = create_app(settings.model_copy(update=update))
    try:
        root = twiml(signed_post(app.test_client(), VOICE, call_form()))
    finally:
        database_of(app).dispose()

    assert [child.tag for child in root] == ["Say", "Record"]  # the apology, and a message is still taken


def test_the_call_log_newest_first_with_filters(twilio: TestClient, db: Session) -> None:
    business = receptionist(db, screen_calls=False)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()
    sids = [f"CA{uuid.uuid4().hex}" for _ in range(3)]
    for sid in sids:
        twiml(signed_post(twilio, VOICE, call_form(sid)))
    twiml(signed_post(twilio, DIAL, {"CallSid": sids[0], "DialCallStatus": "completed"}))
    twiml(signed_post(twilio, STATUS, {"CallSid": sids[0], "CallStatus": "completed", "CallDuration": "5"}))
    headers = auth_headers(twilio, member.email)

    listed = twilio.get("/api/v1/calls", headers=headers)
    completed = twilio.get("/api/v1/calls?status=completed", headers=headers)
    in_future = twilio.get("/api/v1/calls?since=2999-01-01T00:00:00Z", headers=headers)

    assert listed.status_code == 200, listed.text
    assert [call["status"] for call in listed.json()["data"]] == ["in-progress", "in-progress", "completed"]
    first = db.scalar(select(Call.id).where(Call.provider_sid == sids[0]))
    assert [call["id"] for call in completed.json()["data"]] == [str(first)]
    assert in_future.json()["data"] == []
    one = twilio.get(f"/api/v1/calls/{completed.json()['data'][0]['id']}", headers=headers).json()
    assert {k: one[k] for k in ("from", "to", "status", "durationSeconds", "outcome")} == {
        "from": CALLER,
        "to": RECEPTIONIST,
        "status": "completed",
        "durationSeconds": 5,
        "outcome": "forwarded",
    }
    assert one["endedAt"] is not None


def test_another_business_call_is_404_like_a_missing_one(twilio: TestClient, db: Session) -> None:
    receptionist(db)
    twiml(signed_post(twilio, VOICE, call_form()))
    stranger = make_user(db)
    make_business(db, owner=stranger)
    db.commit()
    headers = auth_headers(twilio, stranger.email)
    theirs = db.scalar(select(Call.id))

    assert twilio.get("/api/v1/calls", headers=headers).json()["data"] == []
    other = twilio.get(f"/api/v1/calls/{theirs}", headers=headers)
    missing = twilio.get(f"/api/v1/calls/{uuid.uuid4()}", headers=headers)
    assert (other.status_code, other.json()) == (404, {**missing.json(), "requestId": other.json()["requestId"]})


def test_an_api_key_reads_calls_with_calls_read_only(twilio: TestClient, db: Session) -> None:
    owner = make_user(db)
    make_business(db, owner=owner)
    db.commit()
    headers = auth_headers(twilio, owner.email)
    keys = {}
    for scopes in (["calls:read"], ["business:read"]):
        created = twilio.post("/api/v1/api-keys", json={"name": "CRM", "scopes": scopes}, headers=headers)
        keys[scopes[0]] = created.json()["secret"]

    assert twilio.get("/api/v1/calls", headers={"X-API-Key": keys["calls:read"]}).status_code == 200
    refused = twilio.get("/api/v1/calls", headers={"X-API-Key": keys["business:read"]})
    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")
