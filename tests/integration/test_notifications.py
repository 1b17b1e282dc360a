"""The owner hears about every call: voicemails (with their transcript) and missed calls, emailed through the job
queue to a real SMTP server (tests/smtp.py) by the real worker loop (services.jobs.Worker with the Notifier and
the Mailer), from calls the fake Twilio (tests/fake_twilio.py) plays against the app; and each member's
notification preferences through the API."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from connexion import FlaskApp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from core.crypto import Cipher
from models import Call, Event, Job, JobStatus, Role
from services.jobs import Worker
from services.mail import SEND_EMAIL, Mailer
from services.notifications import NOTIFY_CALL, Notifier, local_time
from services.recordings import open_token
from tests.conftest import database_of
from tests.factories import make_business, make_member, make_phone_number, make_user
from tests.fake_twilio import Caller, FakeTwilio
from tests.helpers import auth_headers
from tests.integration.conftest import TWILIO_AUTH_TOKEN, TWILIO_PUBLIC_URL
from tests.smtp import Inbox

RECEPTIONIST, CALLER = "+14155550199", "+14155550123"
PREFERENCES = "/api/v1/business/me/notification-preferences"
SAID = "Hi, this is Ada Lovelace. Please call me back about my appointment on Friday."
LINK = re.compile(re.escape(TWILIO_PUBLIC_URL) + r"/api/v1/recordings/([A-Za-z0-9_=-]+)")


class Office:
    """A business whose receptionist takes every call as a voicemail (nowhere to forward to), in New York,
    with an owner, an admin and a member."""

    def __init__(self, db: Session) -> None:
        self.owner, self.admin, self.member = make_user(db), make_user(db), make_user(db)
        self.business = make_business(db, owner=self.owner, name="Smile Dental", timezone="America/New_York")
        make_member(db, self.business, self.admin, Role.ADMIN)
        make_member(db, self.business, self.member, Role.MEMBER)
        make_phone_number(db, self.business, e164=RECEPTIONIST)
        self.business.phone_number, self.business.receptionist_enabled = RECEPTIONIST, True
        self.business.greeting = "Thanks for calling Smile Dental."
        db.commit()


def worker_for(app: FlaskApp, inbox: Inbox, **options: object) -> Worker:
    """A worker as worker.py builds one, for the notifications and the mail they queue."""
    settings: Settings = app.app.extensions["switchboard"].settings
    database = database_of(app)
    mailer = Mailer(settings.model_copy(update={"mail_url": inbox.url}))  # type: ignore[attr-defined]
    return Worker(
        database,
        {NOTIFY_CALL: Notifier(database, settings).notify_job, SEND_EMAIL: mailer.send_job},
        **options,  # type: ignore[arg-type]
    )


def phone_for(client: TestClient) -> FakeTwilio:
    def send(path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(path, data=form, headers=headers)
        return response.status_code, response.text

    return FakeTwilio(send, public_base=TWILIO_PUBLIC_URL, auth_token=TWILIO_AUTH_TOKEN)


@pytest.fixture(scope="module")
def quick_app(settings: Settings, migrated: None) -> Iterator[FlaskApp]:
    """The Twilio-configured app with a one-second TRANSCRIPT_WAIT_SECONDS (the default is two minutes)."""
    app = create_app(
        settings.model_copy(
            update={
                "twilio_auth_token": TWILIO_AUTH_TOKEN,
                "public_base_url": TWILIO_PUBLIC_URL,
                "transcript_wait_seconds": 1,
            }
        )
    )
    yield app
    database_of(app).dispose()


def to_whom(messages: list[EmailMessage]) -> list[str]:
    return sorted(str(message["To"]) for message in messages)


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr, no-any-return]


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()  # type: ignore[union-attr, no-any-return]


def the_call(db: Session, sid: str) -> Call:
    db.expire_all()
    call = db.scalar(select(Call).where(Call.provider_sid == sid))
    assert call is not None
    return call


def time_passes(db: Session) -> None:
    """Every waiting notification is due now (the missed call's grace, the transcript's wait have passed)."""
    db.execute(update(Job).where(Job.kind == NOTIFY_CALL, Job.status == JobStatus.QUEUED).values(run_at=func.now()))
    db.commit()


def events_of(db: Session, kind: str) -> int:
    return int(db.scalar(select(func.count()).select_from(Event).where(Event.type == kind)) or 0)


# -- voicemail -------------------------------------------------------------------------------------------------


def test_a_voicemail_emails_each_owner_and_admin_once_with_its_transcript_and_a_link_when_the_transcript_arrives(
    twilio_app: FlaskApp, twilio: TestClient, db: Session, inbox: Inbox, settings: Settings
) -> None:
    office = Office(db)
    phone, worker = phone_for(twilio), worker_for(twilio_app, inbox)

    played = phone.call(RECEPTIONIST, caller=Caller(number=CALLER, message_seconds=42), delay_transcription=True)
    worker.run_until_idle()
    assert inbox.messages == []  # the email waits (two minutes here) for the transcript

    phone.flush(played)  # Twilio's transcription callback
    worker.run_until_idle()

    assert to_whom(inbox.messages) == sorted([office.owner.email, office.admin.email])  # not the member
    call = the_call(db, played.sid)
    assert (call.transcript, call.transcript_status, call.outcome) == (SAID, "completed", "voicemail")
    for message in inbox.messages:
        assert message["Subject"] == "A caller left you a voicemail"
        text, html = text_of(message), html_of(message)
        assert all(part in text for part in (CALLER, SAID, "42 seconds"))
        assert SAID in html
        assert local_time(call.started_at, "America/New_York") in text  # e.g. "Sunday 6 December 2026, 05:24 EST"
        link = LINK.search(text)
        assert link is not None, text
        assert f'href="{link.group(0)}"' in html
        cipher = Cipher.from_settings(settings)
        assert open_token(cipher, link.group(1)) == (office.business.id, call.id)  # plays this call's voicemail
    assert events_of(db, "voicemail.transcribed") == 1


def test_without_a_transcript_the_voicemail_email_goes_after_the_wait_saying_so(
    quick_app: FlaskApp, db: Session, inbox: Inbox
) -> None:
    office = Office(db)
    client = quick_app.test_client()
    phone, worker = phone_for(client), worker_for(quick_app, inbox)

    played = phone.call(RECEPTIONIST, delay_transcription=True)  # the transcript never comes in time
    worker.run_until_idle()
    assert inbox.messages == []
    time.sleep(1.2)  # TRANSCRIPT_WAIT_SECONDS=1
    worker.run_until_idle()

    assert to_whom(inbox.messages) == sorted([office.owner.email, office.admin.email])
    for message in inbox.messages:
        assert "A transcript of this message is not available." in text_of(message)
        assert SAID not in text_of(message)
        assert LINK.search(text_of(message)) is not None

    phone.flush(played)  # it comes late: kept on the call, and no second email
    worker.run_until_idle()
    assert len(inbox.messages) == 2
    assert the_call(db, played.sid).transcript == SAID


def test_a_failed_transcription_sends_the_email_at_once_without_a_transcript(
    twilio_app: FlaskApp, twilio: TestClient, db: Session, inbox: Inbox
) -> None:
    Office(db)
    phone, worker = phone_for(twilio), worker_for(twilio_app, inbox)

    played = phone.call(RECEPTIONIST, transcription_fails=True)
    worker.run_until_idle()

    assert len(inbox.messages) == 2
    assert "A transcript of this message is not available." in text_of(inbox.messages[0])
    call = the_call(db, played.sid)
    assert (call.transcript, call.transcript_status) == (None, "failed")
    assert events_of(db, "voicemail.transcribed") == 0


def test_duplicated_and_reordered_callbacks_still_give_one_email_each(
    twilio_app: FlaskApp, twilio: TestClient, db: Session, inbox: Inbox
) -> None:
    office = Office(db)
    phone, worker = phone_for(twilio), worker_for(twilio_app, inbox)

    # The recording callback arrives last, twice: after the status callback (the call looks missed for a
    # moment) and after the transcript (kept, though there is no voicemail yet), each of them twice too.
    played = phone.call(RECEPTIONIST, duplicate_callbacks=True, delay_recording=True)
    assert the_call(db, played.sid).outcome == "missed"
    assert the_call(db, played.sid).transcript == SAID
    phone.flush(played)
    time_passes(db)  # the missed call's grace: it is a voicemail now, so that job sends nothing
    worker.run_until_idle()

    assert to_whom(inbox.messages) == sorted([office.owner.email, office.admin.email])
    assert all(message["Subject"] == "A caller left you a voicemail" for message in inbox.messages)
    assert all(SAID in text_of(message) for message in inbox.messages)
    assert the_call(db, played.sid).outcome == "voicemail"
    assert (events_of(db, "voicemail.received"), events_of(db, "voicemail.transcribed")) == (1, 1)


def test_a_member_who_turned_voicemails_off_gets_none_and_one_who_turned_them_on_does(
    twilio_app: FlaskApp, twilio: TestClient, client: TestClient, db: Session, inbox: Inbox
) -> None:
    office = Office(db)
    off = client.patch(PREFERENCES, json={"voicemail": False}, headers=auth_headers(client, office.owner.email))
    on = client.patch(PREFERENCES, json={"voicemail": True}, headers=auth_headers(client, office.member.email))
    assert (off.status_code, on.status_code) == (200, 200), (off.text, on.text)

    phone_for(twilio).call(RECEPTIONIST)
    worker_for(twilio_app, inbox).run_until_idle()

    assert to_whom(inbox.messages) == sorted([office.admin.email, office.member.email])


def test_a_worker_killed_after_queueing_the_emails_does_not_send_them_twice(
    twilio_app: FlaskApp, twilio: TestClient, db: Session, inbox: Inbox
) -> None:
    office = Office(db)
    phone_for(twilio).call(RECEPTIONIST)  # the transcript came: the notification is due
    killed = worker_for(twilio_app, inbox, visibility_timeout=timedelta(seconds=0.5))
    (job,) = killed.claim(1, kind=NOTIFY_CALL)
    killed.queues[NOTIFY_CALL].handler(job.payload)  # its transaction queued the emails and committed; then
    # the process died before it recorded the job as done: the job is still running, and nobody beats it.
    time.sleep(0.6)  # the visibility timeout passes: another worker takes the job over and runs it again

    worker_for(twilio_app, inbox, visibility_timeout=timedelta(seconds=0.5)).run_until_idle()

    db.expire_all()
    assert db.get(Job, job.id).status == JobStatus.SUCCEEDED  # type: ignore[union-attr]
    assert db.get(Job, job.id).attempts == 2  # type: ignore[union-attr]
    assert to_whom(inbox.messages) == sorted([office.owner.email, office.admin.email])


# -- missed calls ----------------------------------------------------------------------------------------------


def test_a_missed_call_emails_those_who_want_missed_calls_after_its_grace(
    twilio_app: FlaskApp, twilio: TestClient, client: TestClient, db: Session, inbox: Inbox
) -> None:
    office = Office(db)
    wants = client.patch(PREFERENCES, json={"missedCall": True}, headers=auth_headers(client, office.member.email))
    assert wants.status_code == 200, wants.text
    admin_off = client.patch(PREFERENCES, json={"missedCall": False}, headers=auth_headers(client, office.admin.email))
    assert admin_off.status_code == 200, admin_off.text
    worker = worker_for(twilio_app, inbox)

    played = phone_for(twilio).call(RECEPTIONIST, caller=Caller(number=CALLER, message_seconds=None))  # silent
    worker.run_until_idle()
    assert inbox.messages == []  # a recording callback may still come
    time_passes(db)
    worker.run_until_idle()

    assert to_whom(inbox.messages) == sorted([office.owner.email, office.member.email])
    call = the_call(db, played.sid)
    assert call.outcome == "missed"
    for message in inbox.messages:
        assert message["Subject"] == "You missed a call"
        assert CALLER in text_of(message)
        assert CALLER in html_of(message)
        assert local_time(call.started_at, "America/New_York") in text_of(message)
        assert LINK.search(text_of(message)) is None
    worker.run_until_idle()
    assert len(inbox.messages) == 2


def test_a_simulated_call_notifies_nobody(client: TestClient, db: Session) -> None:
    office = Office(db)
    headers = auth_headers(client, office.owner.email)
    for leaves_voicemail in (True, False):
        simulated = client.post(
            "/api/v1/calls/simulations",
            json={"from": CALLER, "leavesVoicemail": leaves_voicemail},
            headers=headers,
        )
        assert simulated.status_code == 201, simulated.text

    assert db.scalar(select(func.count()).select_from(Job).where(Job.kind == NOTIFY_CALL)) == 0


# -- preferences -----------------------------------------------------------------------------------------------


def test_preferences_default_by_role_and_each_member_changes_their_own(client: TestClient, db: Session) -> None:
    office = Office(db)
    owner, member = auth_headers(client, office.owner.email), auth_headers(client, office.member.email)

    assert client.get(PREFERENCES, headers=owner).json() == {
        "voicemail": True,
        "missedCall": True,
        "dailyDigest": False,
    }
    assert client.get(PREFERENCES, headers=member).json() == {
        "voicemail": False,
        "missedCall": False,
        "dailyDigest": False,
    }

    changed = client.patch(PREFERENCES, json={"missedCall": False, "dailyDigest": True}, headers=owner)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"voicemail": True, "missedCall": False, "dailyDigest": True}
    assert client.get(PREFERENCES, headers=owner).json() == changed.json()
    assert client.get(PREFERENCES, headers=member).json()["dailyDigest"] is False  # only their own changed
    admin = auth_headers(client, office.admin.email)
    assert client.get(PREFERENCES, headers=admin).json() == {
        "voicemail": True,
        "missedCall": True,
        "dailyDigest": False,
    }


@pytest.mark.parametrize(
    "body",
    [{}, {"voicemail": "yes"}, {"voicemail": None}, {"sms": True}, {"voicemail": True, "role": "owner"}, []],
)
def test_preferences_refuse_a_bad_body(client: TestClient, db: Session, body: object) -> None:
    office = Office(db)
    headers = auth_headers(client, office.owner.email)

    refused = client.patch(PREFERENCES, json=body, headers=headers)

    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "validation_error"
    assert client.get(PREFERENCES, headers=headers).json()["voicemail"] is True


def test_preferences_are_nobody_elses_and_not_for_api_keys(client: TestClient, db: Session) -> None:
    office = Office(db)
    stranger = make_user(db)
    make_business(db, owner=stranger)
    loner = make_user(db)  # belongs to no business
    db.commit()

    changed = client.patch(PREFERENCES, json={"voicemail": False}, headers=auth_headers(client, stranger.email))
    assert changed.status_code == 200
    assert client.get(PREFERENCES, headers=auth_headers(client, office.owner.email)).json()["voicemail"] is True
    nobody = client.get(PREFERENCES, headers=auth_headers(client, loner.email))
    assert (nobody.status_code, nobody.json()["code"]) == (403, "no_business")
    key = client.post(
        "/api/v1/api-keys",
        json={"name": "ci", "scopes": ["business:read"]},
        headers=auth_headers(client, office.owner.email),
    )
    assert key.status_code == 201, key.text
    with_key = client.get(PREFERENCES, headers={"X-API-Key": key.json()["secret"]})
    assert with_key.status_code == 401, with_key.text
