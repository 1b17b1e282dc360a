"""Idempotency-Key (web.idempotency), through the probe's createThing: each success enqueues one job."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from connexion import FlaskApp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Job
from models.base import utcnow
from models.idempotency import IdempotencyRecord
from services import accounts
from tests.factories import PASSWORD, make_country, make_user
from tests.helpers import assert_problem, bearer
from tests.integration.probe import probe as probe_handlers
from web.context import settings, tokens
from web.idempotency import STALE_CLAIM_AFTER

THINGS = "/api/v1/probe/things"


@pytest.fixture(autouse=True)
def _no_gates_or_refusals() -> Iterator[None]:
    yield
    for gate in probe_handlers.GATES.values():
        gate.release.set()
    probe_handlers.GATES.clear()
    probe_handlers.REFUSALS.clear()


def signed_in(probe_app: FlaskApp, db: Session) -> dict[str, str]:
    """A new user's bearer header. Signed in through services.accounts, as POST /auth/login does: the probe app
    serves no login operation, and this keeps these tests independent of the product spec."""
    user = make_user(db)
    db.commit()  # the password check reads the user in a transaction of its own
    with probe_app.app.app_context():
        pair = accounts.sign_in(
            db, settings(), tokens(), email=user.email, password=PASSWORD, user_agent=None, ip_address=None
        )
    db.commit()
    return bearer(pair["accessToken"])


@pytest.fixture
def user_auth(probe_app: FlaskApp, db: Session) -> dict[str, str]:
    return signed_in(probe_app, db)


@pytest.fixture
def other_auth(probe_app: FlaskApp, db: Session) -> dict[str, str]:
    return signed_in(probe_app, db)


def post(probe: TestClient, auth: dict[str, str], body: dict[str, Any], key: str | None = None) -> Any:
    headers = {**auth, **({"Idempotency-Key": key} if key else {})}
    return probe.post(THINGS, json=body, headers=headers)


def things(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Job).where(Job.kind == "probe-thing")) or 0


def records(db: Session) -> list[IdempotencyRecord]:
    db.expire_all()
    return list(db.scalars(select(IdempotencyRecord)))


def caller_of(db: Session, auth: dict[str, str], probe: TestClient) -> str:
    """The record's caller column for `auth`: made by a request with a throwaway key."""
    post(probe, auth, {"name": "whoami"}, key="whoami")
    (record,) = [r for r in records(db) if r.key == "whoami"]
    return record.caller


def test_the_same_key_and_body_replay_the_first_response_and_write_nothing_more(
    probe: TestClient, db: Session, user_auth: dict[str, str]
) -> None:
    first = post(probe, user_auth, {"name": "a", "note": "x"}, key="key-1")
    # The same JSON, keys in another order and spaced otherwise: the same request.
    again = probe.post(
        THINGS,
        content=b'{ "note" : "x",  "name": "a" }',
        headers={**user_auth, "Idempotency-Key": "key-1", "Content-Type": "application/json"},
    )

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"] == f"{THINGS}/{first.json()['id']}"
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert things(db) == 1
    (record,) = records(db)
    assert record.status == 201
    assert record.expires_at - record.created_at == timedelta(hours=24)


def test_the_same_key_with_another_body_is_422_and_runs_nothing(
    probe: TestClient, db: Session, user_auth: dict[str, str]
) -> None:
    assert post(probe, user_auth, {"name": "a"}, key="key-1").status_code == 201

    assert_problem(post(probe, user_auth, {"name": "b"}, key="key-1"), 422, "idempotency_key_reused")
    assert_problem(post(probe, user_auth, {"name": "a", "note": "n"}, key="key-1"), 422, "idempotency_key_reused")
    assert things(db) == 1


def test_a_duplicate_while_the_first_is_running_is_409(
    probe: TestClient, db: Session, user_auth: dict[str, str]
) -> None:
    post(probe, user_auth, {"name": "warm-up"})  # Connexion builds its stack on first use: not in two threads
    gate = probe_handlers.GATES["slow"] = probe_handlers.Gate()
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.update(first=post(probe, user_auth, {"name": "slow"}, key="k")))
    first.start()
    try:
        assert gate.entered.wait(timeout=10), "the first request never reached the handler"
        duplicate = post(probe, user_auth, {"name": "slow"}, key="k")
    finally:
        gate.release.set()
        first.join(timeout=10)

    assert_problem(duplicate, 409, "idempotency_key_in_progress")
    assert results["first"].status_code == 201, results["first"].text
    replay = post(probe, user_auth, {"name": "slow"}, key="k")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == results["first"].json()
    assert things(db) == 2  # the warm-up and the slow one


@pytest.mark.parametrize("refusal", ["raise", "status"])
def test_a_failed_request_stores_nothing_and_its_retry_runs(
    probe: TestClient, db: Session, user_auth: dict[str, str], refusal: str
) -> None:
    probe_handlers.REFUSALS["picky"] = refusal
    failed = post(probe, user_auth, {"name": "picky"}, key="key-1")
    assert failed.status_code == 422, failed.text
    assert records(db) == []
    assert things(db) == 0  # the job the handler enqueued was rolled back

    del probe_handlers.REFUSALS["picky"]
    retry = post(probe, user_auth, {"name": "picky"}, key="key-1")

    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert things(db) == 1


def test_a_write_refused_after_the_handler_returned_frees_the_key(
    probe: TestClient, db: Session, user_auth: dict[str, str]
) -> None:
    country = make_country(db)
    db.commit()
    probe_handlers.REFUSALS["dup"] = f"country:{country.code}"
    failed = post(probe, user_auth, {"name": "dup"}, key="key-1")
    assert failed.status_code == 500, failed.text
    assert records(db) == []

    del probe_handlers.REFUSALS["dup"]
    retry = post(probe, user_auth, {"name": "dup"}, key="key-1")

    assert retry.status_code == 201, retry.text
    assert things(db) == 1


def test_keys_are_per_caller(
    probe: TestClient, db: Session, user_auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    mine = post(probe, user_auth, {"name": "mine"}, key="shared")
    theirs = post(probe, other_auth, {"name": "theirs"}, key="shared")
    theirs_again = post(probe, other_auth, {"name": "theirs"}, key="shared")

    assert mine.status_code == theirs.status_code == 201
    assert theirs.json()["name"] == "theirs"
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs_again.json() == theirs.json()
    assert things(db) == 2
    assert len({r.caller for r in records(db)}) == 2


def test_an_expired_record_is_not_replayed(probe: TestClient, db: Session, user_auth: dict[str, str]) -> None:
    first = post(probe, user_auth, {"name": "a"}, key="key-1")
    db.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()

    second = post(probe, user_auth, {"name": "a"}, key="key-1")
    third = post(probe, user_auth, {"name": "a"}, key="key-1")

    assert second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]
    assert third.headers["idempotent-replayed"] == "true"
    assert third.json() == second.json()
    assert things(db) == 2
    (record,) = records(db)
    assert record.expires_at > utcnow() + timedelta(hours=23)


def test_expired_records_of_anyone_are_purged_by_later_claims(
    probe: TestClient, db: Session, user_auth: dict[str, str]
) -> None:
    old = utcnow() - timedelta(days=2)
    db.add(IdempotencyRecord(caller="user:gone", key="old", fingerprint="f", status=201, body="{}", headers={},
                             created_at=old, expires_at=old + timedelta(hours=24)))  # fmt: skip
    db.commit()

    post(probe, user_auth, {"name": "a"}, key="key-1")

    assert [r.key for r in records(db)] == ["key-1"]


def test_a_claim_left_by_a_crashed_request_can_be_taken_after_a_while(
    probe: TestClient, db: Session, user_auth: dict[str, str]
) -> None:
    caller = caller_of(db, user_auth, probe)

    def abandoned(key: str, age: timedelta) -> None:
        at = utcnow() - age
        db.add(IdempotencyRecord(caller=caller, key=key, fingerprint="f", status=None, created_at=at,
                                 expires_at=at + timedelta(hours=24)))  # fmt: skip
        db.commit()

    abandoned("recent", timedelta(seconds=5))
    abandoned("stale", STALE_CLAIM_AFTER + timedelta(seconds=1))

    assert_problem(post(probe, user_auth, {"name": "a"}, key="recent"), 422, "idempotency_key_reused")
    taken = post(probe, user_auth, {"name": "a"}, key="stale")
    assert taken.status_code == 201, taken.text
    assert post(probe, user_auth, {"name": "a"}, key="stale").headers["idempotent-replayed"] == "true"


def test_a_fresh_claim_with_the_same_fingerprint_is_409(
    probe: TestClient, db: Session, user_auth: dict[str, str]
) -> None:
    assert post(probe, user_auth, {"name": "a"}, key="key-1").status_code == 201
    # Put the record back as a claim still in progress, the fingerprint unchanged.
    db.execute(update(IdempotencyRecord).values(status=None, headers=None, body=None, created_at=utcnow()))
    db.commit()

    assert_problem(post(probe, user_auth, {"name": "a"}, key="key-1"), 409, "idempotency_key_in_progress")
    assert things(db) == 1


def test_without_a_key_every_request_runs(probe: TestClient, db: Session, user_auth: dict[str, str]) -> None:
    first = post(probe, user_auth, {"name": "a"})
    second = post(probe, user_auth, {"name": "a"})

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replayed" not in second.headers
    assert things(db) == 2
    assert records(db) == []


def test_a_key_outside_the_allowed_characters_is_400(probe: TestClient, user_auth: dict[str, str]) -> None:
    assert_problem(post(probe, user_auth, {"name": "a"}, key="with space"), 400, "validation_error")


def test_the_operation_still_needs_a_signed_in_caller(probe: TestClient) -> None:
    assert probe.post(THINGS, json={"name": "a"}, headers={"Idempotency-Key": str(uuid.uuid4())}).status_code == 401
