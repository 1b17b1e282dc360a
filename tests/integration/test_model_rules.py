"""The main rules of the models and services, called directly (not through HTTP), on the real database:
a business's settings (Business.apply and services.business), an idempotency key's claim, replay and
conflict (models/idempotency.py), and a voicemail transcript's first report winning (Call.transcribed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from core.errors import ApiError
from core.tenancy import Caller
from models import Call, Route
from models.business import SETTINGS
from models.idempotency import (
    Claim,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    IdempotencyRecord,
    StoredResponse,
)
from schemas.business import SETTING_ATTRIBUTES
from services import business as business_service
from tests.factories import make_business, make_phone_number, make_user


def problem(error: pytest.ExceptionInfo[ApiError]) -> tuple[int, str, str | None]:
    """(status, code, the field it names)."""
    fields = [found["field"] for found in error.value.errors]
    return error.value.status, error.value.code, fields[0] if fields else None


# Business settings


def test_apply_sets_settings_by_attribute_and_returns_what_changed(db: Session) -> None:
    business = make_business(db, greeting="Hello", ring_seconds=20)
    version = business.version

    diff = business.apply(db, {"greeting": "Thanks for calling", "ring_seconds": 20, "name": "  Ada's  "})

    assert diff == {"greeting": ["Hello", "Thanks for calling"], "name": [diff["name"][0], "Ada's"]}
    assert (business.greeting, business.name, business.version) == ("Thanks for calling", "Ada's", version + 1)


def test_apply_of_nothing_new_changes_nothing_and_keeps_the_etag(db: Session) -> None:
    business = make_business(db, greeting="Hello")
    etag = business.etag

    assert business.apply(db, {"greeting": "Hello"}) == {}
    assert business.etag == etag


def test_apply_takes_python_names_not_api_fields(db: Session) -> None:
    business = make_business(db)

    with pytest.raises(ValueError, match="ringSeconds"):
        business.apply(db, {"ringSeconds": 30})


def test_the_api_names_every_setting_the_model_takes() -> None:
    assert sorted(SETTING_ATTRIBUTES.values()) == sorted(SETTINGS)
    assert SETTING_ATTRIBUTES["phoneNumber"] == "phone_number"


def test_the_receptionist_needs_a_phone_number(db: Session) -> None:
    business = make_business(db)

    with pytest.raises(ApiError) as refused:
        business.apply(db, {"receptionist_enabled": True})

    assert problem(refused) == (422, "receptionist_requires_phone", "phoneNumber")


def test_the_receptionist_answers_only_on_a_number_the_business_holds(db: Session) -> None:
    business = make_business(db)
    make_phone_number(db, make_business(db), "+14155552671")  # another business's

    with pytest.raises(ApiError) as refused:
        business.apply(db, {"phone_number": "+1 415 555 2671"})

    assert problem(refused) == (422, "phone_number_not_held", "phoneNumber")
    make_phone_number(db, business, "+14155550100")
    assert business.apply(db, {"phone_number": "+1 (415) 555-0100"})["phone_number"][1] == "+14155550100"


def test_settings_are_normalised_or_refused_naming_the_api_field(db: Session) -> None:
    business = make_business(db)

    with pytest.raises(ApiError) as refused:
        business.apply(db, {"timezone": "Mars/Olympus_Mons"})
    assert problem(refused) == (422, "invalid_timezone", "timezone")

    with pytest.raises(ApiError) as refused:
        business.apply(db, {"forwarding_number": "12"})
    assert problem(refused) == (422, "invalid_phone_number", "forwardingNumber")


def test_a_settings_update_reports_api_fields_and_returns_the_new_updated_at(db: Session) -> None:
    owner = make_user(db)
    business = make_business(db, owner, greeting="Hello")
    db.commit()
    before = business.updated_at
    caller = Caller(business_id=business.id, user_id=owner.id)

    updated = business_service.update(db, caller, {"greeting": "Hi", "ringSeconds": 25}, if_match=business.etag)

    assert (updated.greeting, updated.ring_seconds) == ("Hi", 25)
    assert updated.updated_at > before  # flushed: the database's updated_at, not the last one
    with pytest.raises(ApiError) as stale:
        business_service.update(db, caller, {"greeting": "Hey"}, if_match='"v1"')
    assert stale.value.status == 412


# Idempotency keys


def test_a_claimed_key_is_in_progress_for_the_same_request_and_reused_for_another(db: Session) -> None:
    claim = IdempotencyRecord.claim(db, "user:ada", "key-1", "fingerprint-a")
    assert isinstance(claim, Claim)

    again = IdempotencyRecord.claim(db, "user:ada", "key-1", "fingerprint-a")

    assert isinstance(again, StoredResponse)
    with pytest.raises(IdempotencyKeyInProgress):
        again.replay("fingerprint-a")
    with pytest.raises(IdempotencyKeyReused):
        again.replay("fingerprint-b")


def test_a_stored_response_is_replayed_only_to_the_same_request(db: Session) -> None:
    claim = IdempotencyRecord.claim(db, "user:ada", "key-1", "fingerprint-a")
    assert isinstance(claim, Claim)
    claim.store(db, {"id": "thing-1"}, 201, {"Location": "/things/1"})
    db.commit()

    stored = IdempotencyRecord.claim(db, "user:ada", "key-1", "fingerprint-a")

    assert isinstance(stored, StoredResponse)
    assert stored.replay("fingerprint-a") == ({"id": "thing-1"}, 201, {"Location": "/things/1"})
    with pytest.raises(IdempotencyKeyReused):
        stored.replay("fingerprint-b")


def test_keys_are_per_caller_and_a_released_key_can_be_claimed_again(db: Session) -> None:
    mine = IdempotencyRecord.claim(db, "user:ada", "key-1", "fingerprint-a")
    assert isinstance(IdempotencyRecord.claim(db, "user:bob", "key-1", "fingerprint-b"), Claim)
    assert isinstance(mine, Claim)

    mine.release(db)

    assert isinstance(IdempotencyRecord.claim(db, "user:ada", "key-1", "fingerprint-c"), Claim)


def test_a_response_is_stored_only_by_the_claim_that_owns_the_key(db: Session) -> None:
    first = IdempotencyRecord.claim(db, "user:ada", "key-1", "fingerprint-a")
    assert isinstance(first, Claim)
    taken_over = Claim(first.record_id, datetime(2001, 1, 1, tzinfo=UTC))  # an older claim of the same record

    taken_over.store(db, {"late": True}, 201, {})
    db.commit()

    pending = IdempotencyRecord.claim(db, "user:ada", "key-1", "fingerprint-a")
    assert isinstance(pending, StoredResponse)
    assert pending.status is None


# Calls


def a_voicemail(db: Session) -> Call:
    """A 30-second voicemail, as the call simulator records one."""
    return Call.simulate(
        db,
        make_business(db).id,
        caller="+14155550123",
        to="+14155550199",
        route=Route.VOICEMAIL,
        screened=False,
        at=datetime(2026, 12, 7, 10, tzinfo=UTC),
        answered=False,
        leaves_voicemail=True,
        duration_seconds=30,
    )


def test_the_first_transcription_report_wins(db: Session) -> None:
    call = a_voicemail(db)

    assert call.transcribed("  Please call me back.  ", "completed") is True
    assert call.transcribed("Something else entirely", "completed") is False
    assert call.transcribed(None, "failed") is False

    assert (call.transcript_status, call.transcript) == ("completed", "Please call me back.")


def test_a_failed_transcription_keeps_no_text(db: Session) -> None:
    call = a_voicemail(db)

    assert call.transcribed("garbled", "failed") is True
    assert call.transcript is None
    assert call.transcribed("Please call me back.", "completed") is False
