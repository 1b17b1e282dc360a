"""The rules behind the owners' notifications, without I/O: a voicemail's transcript written once, the
preferences by role, and how an email tells the time and a duration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from models import Call, Membership, Notification, Role
from models.call import MAX_TRANSCRIPT_CHARS
from services.notifications import local_time, spoken_duration


def test_the_first_transcription_report_wins_and_a_repeat_changes_nothing() -> None:
    call = Call()

    assert call.transcribed("  Please call me back.  ", "completed") is True
    assert call.transcribed("Something else", "completed") is False
    assert call.transcribed(None, "failed") is False
    assert (call.transcript, call.transcript_status) == ("Please call me back.", "completed")


def test_a_failed_transcription_keeps_no_text_and_a_long_one_is_bounded() -> None:
    failed, long = Call(), Call()

    assert failed.transcribed("partial words", "failed") is True
    assert long.transcribed("word " * 5000, "completed") is True

    assert (failed.transcript, failed.transcript_status) == (None, "failed")
    assert long.transcript is not None
    assert len(long.transcript) == MAX_TRANSCRIPT_CHARS


@pytest.mark.parametrize(
    ("role", "voicemail", "missed_call", "digest"),
    [(Role.OWNER, True, True, False), (Role.ADMIN, True, True, False), (Role.MEMBER, False, False, False)],
)
def test_preferences_default_by_role_until_the_member_chooses(
    role: Role, voicemail: bool, missed_call: bool, digest: bool
) -> None:
    member = Membership(business_id=uuid.uuid4(), user_id=uuid.uuid4(), role=role)
    assert member.notifications() == {
        Notification.VOICEMAIL: voicemail,
        Notification.MISSED_CALL: missed_call,
        Notification.DAILY_DIGEST: digest,
    }

    chosen = member.set_notifications({Notification.DAILY_DIGEST: True, Notification.VOICEMAIL: not voicemail})

    assert chosen == {
        Notification.VOICEMAIL: not voicemail,
        Notification.MISSED_CALL: missed_call,
        Notification.DAILY_DIGEST: True,
    }


def test_the_time_is_told_in_the_business_zone() -> None:
    assert (
        local_time(datetime(2026, 12, 7, 15, 5, tzinfo=UTC), "America/New_York") == "Monday 7 December 2026, 10:05 EST"
    )
    assert local_time(datetime(2026, 7, 6, 8, 0, tzinfo=UTC), "Europe/Berlin") == "Monday 6 July 2026, 10:00 CEST"


@pytest.mark.parametrize(
    ("seconds", "spoken"),
    [
        (None, "unknown"),
        (0, "0 seconds"),
        (1, "1 second"),
        (42, "42 seconds"),
        (60, "1 minute"),
        (125, "2 minutes 5 seconds"),
    ],
)
def test_a_duration_is_spoken(seconds: int | None, spoken: str) -> None:
    assert spoken_duration(seconds) == spoken
