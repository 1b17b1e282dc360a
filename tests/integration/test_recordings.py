"""Voicemail recordings without Twilio's credentials (GET /calls/{callId}/recording and the emailed link,
GET /recordings/{token}) against a real local Twilio REST server (tests/fake_twilio_rest.py), and the
retention of calls (services/recordings.purge_expired_calls)."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from connexion import FlaskApp
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from core.crypto import Cipher
from models import Business, Call, Outcome, Route
from models.base import utcnow
from services import recordings
from tests.conftest import database_of
from tests.factories import make_business, make_user
from tests.fake_twilio_rest import FakeTwilioRest, new_account_sid
from tests.helpers import owner_of_a_business
from tests.live_server import gunicorn

SID = new_account_sid()
TOKEN = "twilio-rest-auth-token-0123456789abcdef"
DATA_KEY = Fernet.generate_key().decode()
MAX_BYTES = 1024 * 1024  # RECORDING_MAX_BYTES here (20 MiB by default)
DEADLINE = 2.0  # RECORDING_FETCH_SECONDS here (60 by default)
AUDIO = b"ID3\x04\x00" + os.urandom(200_000)


def _recording_sid() -> str:
    return f"RE{uuid.uuid4().hex}"


def _settings(settings: Settings, base_url: str) -> Settings:
    return settings.model_copy(
        update={
            "twilio_account_sid": SID,
            "twilio_auth_token": TOKEN,
            "twilio_api_base_url": base_url,
            "recording_fetch_seconds": DEADLINE,
            "recording_max_bytes": MAX_BYTES,
            "data_encryption_keys": (DATA_KEY,),
        }
    )


@pytest.fixture(scope="module")
def rest() -> Iterator[FakeTwilioRest]:
    server = FakeTwilioRest(account_sid=SID, auth_token=TOKEN)
    yield server
    server.close()


@pytest.fixture(scope="module")
def recordings_app(settings: Settings, migrated: None, rest: FakeTwilioRest) -> Iterator[FlaskApp]:
    """The app with a Twilio account, as a deployment configures one, at the fake Twilio."""
    app = create_app(_settings(settings, rest.url))
    yield app
    database_of(app).dispose()


@pytest.fixture
def api(recordings_app: FlaskApp, rest: FakeTwilioRest) -> TestClient:
    rest.requests.clear()
    return recordings_app.test_client()


def _call(
    db: Session, business: Business, *, voicemail_url: str | None, simulated: bool = False, **fields: Any
) -> Call:
    call = Call(
        business_id=business.id, provider_sid=f"CA{uuid.uuid4().hex}", from_number="+14155550123",
        to_number="+14155550199", status="completed", route=Route.VOICEMAIL, outcome=Outcome.VOICEMAIL,
        voicemail_url=voicemail_url, voicemail_seconds=42 if voicemail_url else None, simulated=simulated, **fields,
    )  # fmt: skip
    db.add(call)
    db.commit()
    return call


def _key(api: TestClient, headers: dict[str, str], scopes: list[str]) -> dict[str, str]:
    created = api.post("/api/v1/api-keys", json={"name": "Player", "scopes": scopes}, headers=headers)
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["secret"]}


def _recording_gets(rest: FakeTwilioRest) -> list[str]:
    return [path for method, path in rest.requests if method == "GET"]


def _link(business_id: uuid.UUID, call_id: uuid.UUID) -> str:
    url = recordings.playable_url(Cipher([DATA_KEY]), "https://api.switchboard.test", business_id, call_id)
    return url.removeprefix("https://api.switchboard.test")


def _no_secrets(response: Any, rest: FakeTwilioRest, logged: str = "") -> None:
    """Nothing of Twilio's (its URL, the account, the token) in the answer, nor in what the server logged."""
    shown = (response.text if response.status_code != 200 else "") + json.dumps(dict(response.headers))
    for secret in (rest.url, "127.0.0.1", SID, TOKEN, "api.twilio.com", "/Recordings/"):
        assert secret not in shown
        assert secret not in logged


def test_the_owner_and_a_key_with_calls_read_hear_the_voicemail(
    api: TestClient, db: Session, rest: FakeTwilioRest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    business, _, owner = owner_of_a_business(api, db)
    sid = _recording_sid()
    call = _call(db, business, voicemail_url=rest.add_recording(sid, AUDIO))

    for headers in (owner, _key(api, owner, ["calls:read"])):
        response = api.get(f"/api/v1/calls/{call.id}/recording", headers=headers)

        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["content-length"] == str(len(AUDIO))
        assert response.headers["cache-control"] == "no-store"
        assert response.content == AUDIO
        _no_secrets(response, rest, caplog.text)
    assert _recording_gets(rest) == [f"/2010-04-01/Accounts/{SID}/Recordings/{sid}.mp3"] * 2

    without_scope = api.get(
        f"/api/v1/calls/{call.id}/recording", headers=_key(api, owner, ["business:read"])
    )  # a key that may not read calls
    assert without_scope.status_code == 403, without_scope.text
    assert without_scope.json()["code"] == "insufficient_scope"
    assert len(_recording_gets(rest)) == 2


def test_another_business_gets_404_and_twilio_is_never_asked(
    api: TestClient, db: Session, rest: FakeTwilioRest
) -> None:
    business, _, _ = owner_of_a_business(api, db)
    call = _call(db, business, voicemail_url=rest.add_recording(_recording_sid(), AUDIO))
    _, _, other = owner_of_a_business(api, db)

    foreign = api.get(f"/api/v1/calls/{call.id}/recording", headers=other)
    unknown = api.get(f"/api/v1/calls/{uuid.uuid4()}/recording", headers=other)

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["code"] == unknown.json()["code"] == "not_found"
    assert foreign.json()["detail"] == unknown.json()["detail"]
    assert _recording_gets(rest) == []


@pytest.mark.parametrize(
    ("voicemail_url", "simulated"),
    [
        (None, False),  # no voicemail was left
        ("https://recordings.switchboard.invalid/simulated/{call}", True),  # the call simulator's
        # Not a recording of this account at TWILIO_API_BASE_URL: never fetched (a URL in the database is no
        # licence to fetch it).
        ("{rest}/2010-04-01/Accounts/AC00000000000000000000000000000000/Recordings/RE{hex}", False),
        ("http://169.254.169.254/2010-04-01/Accounts/{sid}/Recordings/RE{hex}", False),
        ("{rest}/2010-04-01/Accounts/{sid}/Recordings/RE{hex}/../../../../Messages.json", False),
        ("{rest}/2010-04-01/Accounts/{sid}/Calls/CA{hex}", False),
        ("{rest}/2010-04-01/Accounts/{sid}/Recordings/RE{hex}?redirect=http://example.com", False),
    ],
    ids=["none", "simulated", "another account", "another host", "dot segments", "not a recording", "a query"],
)
def test_a_call_without_a_recording_of_this_account_has_none_to_play(
    api: TestClient, db: Session, rest: FakeTwilioRest, voicemail_url: str | None, simulated: bool
) -> None:
    business, _, owner = owner_of_a_business(api, db)
    url = voicemail_url and voicemail_url.format(rest=rest.url, sid=SID, hex=uuid.uuid4().hex, call=uuid.uuid4())
    call = _call(db, business, voicemail_url=url, simulated=simulated)

    response = api.get(f"/api/v1/calls/{call.id}/recording", headers=owner)

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "no_recording"
    assert rest.requests == []
    _no_secrets(response, rest)


def test_a_recording_deleted_at_twilio_is_gone(api: TestClient, db: Session, rest: FakeTwilioRest) -> None:
    business, _, owner = owner_of_a_business(api, db)
    call = _call(db, business, voicemail_url=f"{rest.url}/2010-04-01/Accounts/{SID}/Recordings/{_recording_sid()}")

    response = api.get(f"/api/v1/calls/{call.id}/recording", headers=owner)

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "recording_gone"
    assert len(_recording_gets(rest)) == 1


def test_without_a_twilio_account_recordings_are_503(client: TestClient, db: Session) -> None:
    business, _, owner = owner_of_a_business(client, db)
    recording = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Recordings/{_recording_sid()}"
    call = _call(db, business, voicemail_url=recording)

    response = client.get(f"/api/v1/calls/{call.id}/recording", headers=owner)

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "twilio_not_configured"


def test_twilio_down_is_502(settings: Settings, migrated: None, db: Session) -> None:
    stopped = FakeTwilioRest(account_sid=SID, auth_token=TOKEN)
    url = stopped.add_recording(_recording_sid(), AUDIO)
    stopped.close()  # nothing listens at its address any more
    app = create_app(_settings(settings, stopped.url))
    try:
        api = app.test_client()
        business, _, owner = owner_of_a_business(api, db)
        call = _call(db, business, voicemail_url=url)

        started = time.monotonic()
        response = api.get(f"/api/v1/calls/{call.id}/recording", headers=owner)

        assert time.monotonic() - started < DEADLINE + 1
        assert response.status_code == 502, response.text
        assert response.json()["code"] == "recording_unavailable"
        _no_secrets(response, stopped)
    finally:
        database_of(app).dispose()


def test_twilio_refusing_the_account_is_502(
    settings: Settings, migrated: None, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = FakeTwilioRest(account_sid=SID, auth_token="another-token")  # the account's token was rotated
    app = create_app(_settings(settings, elsewhere.url))
    logging.getLogger().addHandler(caplog.handler)  # the app's logging setup replaced the root's handlers
    caplog.set_level(logging.INFO)
    try:
        api = app.test_client()
        business, _, owner = owner_of_a_business(api, db)
        call = _call(db, business, voicemail_url=elsewhere.add_recording(_recording_sid(), AUDIO))

        response = api.get(f"/api/v1/calls/{call.id}/recording", headers=owner)

        assert response.status_code == 502, response.text
        assert response.json()["code"] == "recording_unavailable"
        assert "Twilio answered 401" in caplog.text  # what the server logged, and nothing of Twilio's:
        _no_secrets(response, elsewhere, caplog.text)
    finally:
        database_of(app).dispose()
        elsewhere.close()


def test_twilio_hanging_is_502_within_the_deadline(api: TestClient, db: Session, rest: FakeTwilioRest) -> None:
    business, _, owner = owner_of_a_business(api, db)
    call = _call(db, business, voicemail_url=rest.add_recording(_recording_sid(), AUDIO, delay=DEADLINE + 5))

    started = time.monotonic()
    response = api.get(f"/api/v1/calls/{call.id}/recording", headers=owner)

    assert time.monotonic() - started < DEADLINE + 1
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "recording_unavailable"


def test_a_trickle_is_cut_off_at_the_deadline(api: TestClient, db: Session, rest: FakeTwilioRest) -> None:
    """Twilio answers at once, then sends 1 KB every 0.25 s: each read is quick, the whole would take 25 s."""
    business, _, owner = owner_of_a_business(api, db)
    sid = _recording_sid()
    call = _call(db, business, voicemail_url=rest.add_recording(sid, b"x" * 1000, repeat=100, pause=0.25))

    started = time.monotonic()
    response = api.get(f"/api/v1/calls/{call.id}/recording", headers=owner)

    assert time.monotonic() - started < DEADLINE + 1
    assert response.status_code == 200  # it had started
    assert len(response.content) < 100_000 == int(response.headers["content-length"])  # cut off, not complete


def test_a_recording_announced_over_the_bound_is_refused_unread(
    api: TestClient, db: Session, rest: FakeTwilioRest
) -> None:
    business, _, owner = owner_of_a_business(api, db)
    sid = _recording_sid()
    total = 64 * 1024 * 64  # 4 MiB, over the bound of 1 MiB
    call = _call(db, business, voicemail_url=rest.add_recording(sid, b"x" * 64 * 1024, repeat=64))

    response = api.get(f"/api/v1/calls/{call.id}/recording", headers=owner)

    assert response.status_code == 502, response.text
    assert response.json()["code"] == "recording_unavailable"
    time.sleep(0.5)  # the fake writes until its socket refuses more
    assert rest.sent[sid] < total


def test_a_recording_over_the_bound_without_a_length_is_cut_off_there(
    api: TestClient, db: Session, rest: FakeTwilioRest
) -> None:
    """100 MiB that Twilio does not announce: the server passes on at most the bound and stops reading."""
    business, _, owner = owner_of_a_business(api, db)
    sid = _recording_sid()
    piece = b"y" * 64 * 1024
    url = rest.add_recording(sid, piece, repeat=1600, declare_length=False)
    call = _call(db, business, voicemail_url=url)

    response = api.get(f"/api/v1/calls/{call.id}/recording", headers=owner)

    assert response.status_code == 200
    assert "content-length" not in response.headers
    assert 0 < len(response.content) <= MAX_BYTES
    time.sleep(0.5)
    assert rest.sent[sid] < 10 * MAX_BYTES  # not read to its end (100 MiB), nor held


def test_the_emailed_link_plays_without_credentials(api: TestClient, db: Session, rest: FakeTwilioRest) -> None:
    business, _, _ = owner_of_a_business(api, db)
    call = _call(db, business, voicemail_url=rest.add_recording(_recording_sid(), AUDIO))

    response = api.get(_link(business.id, call.id))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["cache-control"] == "no-store"
    assert response.content == AUDIO
    _no_secrets(response, rest)


def test_an_expired_forged_or_foreign_link_is_404(api: TestClient, db: Session, rest: FakeTwilioRest) -> None:
    business, _, _ = owner_of_a_business(api, db)
    call = _call(db, business, voicemail_url=rest.add_recording(_recording_sid(), AUDIO))
    claims = json.dumps({"business": str(business.id), "call": str(call.id)}).encode()
    eight_days_ago = int(time.time() - timedelta(days=8).total_seconds())
    six_days_ago = int(time.time() - timedelta(days=6).total_seconds())
    other, _, _ = owner_of_a_business(api, db)

    expired = Fernet(DATA_KEY.encode()).encrypt_at_time(claims, eight_days_ago).decode()
    forged = Fernet(Fernet.generate_key()).encrypt(claims).decode()  # not this server's key
    tampered = _link(business.id, call.id)
    tampered = tampered[:-6] + ("A" if tampered[-6] != "A" else "B") + tampered[-5:]
    foreign = _link(other.id, call.id)  # a genuine link, naming a business the call is not of
    for path in (f"/api/v1/recordings/{expired}", f"/api/v1/recordings/{forged}", tampered, foreign):
        response = api.get(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "not_found"
    assert rest.requests == []

    still_good = Fernet(DATA_KEY.encode()).encrypt_at_time(claims, six_days_ago).decode()
    assert api.get(f"/api/v1/recordings/{still_good}").status_code == 200


def test_the_audio_is_streamed_as_twilio_sends_it_and_a_cut_is_an_error(
    database_url: str, migrated: None, db: Session, rest: FakeTwilioRest, tmp_path: Path
) -> None:
    """Through gunicorn, as production serves it: the first bytes reach the client long before Twilio has sent
    the last (nothing holds the whole recording), and a recording cut off at the bound ends in an error for
    the client, never in a body that looks complete."""
    business = make_business(db, owner=make_user(db))
    trickle = _call(db, business, voicemail_url=rest.add_recording(_recording_sid(), b"z" * 8192, repeat=8, pause=0.4))
    endless = _recording_sid()
    huge = _call(
        db, business, voicemail_url=rest.add_recording(endless, b"y" * 65536, repeat=1600, declare_length=False)
    )
    environment = {
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": rest.url,
        "RECORDING_MAX_BYTES": str(MAX_BYTES),
        "DATA_ENCRYPTION_KEYS": DATA_KEY,
    }
    with gunicorn(database_url, tmp_path / "server.log", **environment) as (_, base):
        started = time.monotonic()
        with httpx2.stream("GET", base + _link(business.id, trickle.id), timeout=10) as response:
            assert response.status_code == 200
            chunks = response.iter_raw()
            first = next(chunks)
            first_at = time.monotonic() - started
            body = first + b"".join(chunks)
        assert body == b"z" * 8192 * 8
        assert first_at < 1.0 < 2.5 < time.monotonic() - started  # Twilio took 2.8 s to send it all

        received, error = 0, None
        with httpx2.stream("GET", base + _link(business.id, huge.id), timeout=10) as response:
            assert response.status_code == 200
            try:
                for chunk in response.iter_raw():
                    received += len(chunk)
            except httpx2.RemoteProtocolError as cut:  # the connection closed mid-body
                error = cut
        assert error is not None
        assert received <= MAX_BYTES
        assert rest.sent[endless] < 10 * MAX_BYTES


def test_retention_deletes_only_the_calls_older_than_each_businesss_own_setting(
    client: TestClient, db: Session, app: FlaskApp
) -> None:
    now = utcnow()
    month = make_business(db, owner=make_user(db), call_retention_days=30)
    year = make_business(db, owner=make_user(db), call_retention_days=365)
    forever = make_business(db, owner=make_user(db))  # call_retention_days null: kept
    db.commit()
    ages = {"new": 1, "past a month": 31, "past a year": 400}
    made = {
        (business.id, age): _call(db, business, voicemail_url=None, started_at=now - timedelta(days=days)).id
        for business in (month, year, forever)
        for age, days in ages.items()
    }
    with database_of(app).sessions.begin() as session:
        assert Call.purge_expired(session, now=now, limit=2) == 2  # batched: at most `limit` per run
    with database_of(app).sessions.begin() as session:
        assert recordings.purge_expired_calls(session) == 1
    with database_of(app).sessions.begin() as session:
        assert recordings.purge_expired_calls(session) == 0

    left = set(db.scalars(select(Call.id)))
    gone = {made[month.id, "past a month"], made[month.id, "past a year"], made[year.id, "past a year"]}
    assert left == set(made.values()) - gone
