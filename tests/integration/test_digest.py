"""The daily digest (services/digest.py): once per business and local day, from 07:00 the next morning in the
business's time zone, to the members who asked for it, with the day's calls by outcome. The clock is passed
in (`send_due(session, now)`), except where real `python worker.py` processes run it on the real clock."""

from __future__ import annotations

import re
import threading
import time as monotonic
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from connexion import FlaskApp
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Business, Call, Digest, Job, JobStatus, Membership, Outcome, Route, User
from services.digest import send_due
from services.mail import SEND_EMAIL
from tests.conftest import database_of
from tests.factories import make_business, make_member
from tests.integration.test_mail import start_worker, wait_for
from tests.smtp import Inbox

NEW_YORK = ZoneInfo("America/New_York")
DAY = date(2026, 11, 10)  # a Tuesday of 24 hours
NEXT = DAY + timedelta(days=1)


def local(day: date, hour: int, minute: int = 0, *, zone: ZoneInfo = NEW_YORK, fold: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone).replace(fold=fold)


def opt_in(db: Session, user: User, wants: bool | None = True) -> None:
    db.execute(update(Membership).where(Membership.user_id == user.id).values(notify_daily_digest=wants))


def owner_of(db: Session, business: Business) -> User:
    membership = db.scalar(select(Membership).where(Membership.business_id == business.id))
    assert membership is not None
    return db.get_one(User, membership.user_id)


def make_call(
    db: Session, business: Business, at: datetime, outcome: Outcome, *, caller: str = "+12025550100", **extra: Any
) -> Call:
    route = {Outcome.REJECTED: Route.REJECT, Outcome.BLOCKED: Route.BLOCKED}.get(outcome, Route.FORWARD)
    call = Call(
        business_id=business.id,
        provider_sid=f"CA{uuid.uuid4().hex}",
        from_number=caller,
        to_number="+14155552671",
        status="completed",
        route=route,
        outcome=outcome,
        started_at=at,
        ended_at=at + timedelta(minutes=1),
        **extra,
    )
    db.add(call)
    return call


def run(app: FlaskApp, now: datetime, **kwargs: Any) -> int:
    """One run of the scheduler's chore, as the worker runs it: a transaction of its own."""
    with database_of(app).sessions.begin() as session:
        return send_due(session, now, **kwargs)


def digest_emails(db: Session) -> list[dict[str, Any]]:
    db.expire_all()
    jobs = db.scalars(select(Job).where(Job.kind == SEND_EMAIL).order_by(Job.created_at)).all()
    return [job.payload for job in jobs if job.payload.get("template") == "daily_digest"]


def counts(payload: dict[str, Any]) -> dict[str, int]:
    return {line["label"]: line["count"] for line in payload["context"]["outcomes"]} | {
        "total": payload["context"]["total"]
    }


def by_outcome(forwarded: int = 0, voicemail: int = 0, missed: int = 0, rejected: int = 0, blocked: int = 0) -> dict:
    total = forwarded + voicemail + missed + rejected + blocked
    return {
        "Forwarded and answered": forwarded,
        "Voicemail left": voicemail,
        "Missed": missed,
        "Rejected": rejected,
        "Blocked": blocked,
        "total": total,
    }


def test_the_digest_of_a_day_goes_out_once_from_seven_the_next_morning_with_that_days_calls(
    app: FlaskApp, db: Session
) -> None:
    business = make_business(db, timezone="America/New_York", name="Ada's Bakery")
    owner = owner_of(db, business)
    opt_in(db, owner)
    quiet = make_member(db, business)  # did not ask for it
    opt_in(db, quiet, False)
    make_call(db, business, local(DAY - timedelta(days=1), 23, 59), Outcome.FORWARDED)  # the day before
    make_call(db, business, local(DAY, 0, 0), Outcome.FORWARDED)  # the day's first instant
    make_call(db, business, local(DAY, 9, 15), Outcome.VOICEMAIL, caller="+12025550111")
    make_call(db, business, local(DAY, 11, 30), Outcome.VOICEMAIL, caller="+12025550122")
    make_call(db, business, local(DAY, 12, 0), Outcome.MISSED)
    make_call(db, business, local(DAY, 13, 0), Outcome.REJECTED, caller="anonymous")
    make_call(db, business, local(DAY, 23, 59), Outcome.BLOCKED)
    make_call(db, business, local(DAY, 14, 0), Outcome.MISSED, simulated=True)  # the simulator's, not a caller's
    make_call(db, business, local(NEXT, 0, 0), Outcome.MISSED)  # the next day
    other = make_business(db, timezone="America/New_York")
    make_call(db, other, local(DAY, 10, 0), Outcome.MISSED)  # another business's, whose members want none
    db.commit()

    assert run(app, local(NEXT, 6, 59)) == 0  # not yet
    assert digest_emails(db) == []

    assert run(app, local(NEXT, 7, 0)) == 1
    (email,) = digest_emails(db)
    assert email["to"] == owner.email
    assert counts(email) == by_outcome(forwarded=1, voicemail=2, missed=1, rejected=1, blocked=1)
    context = email["context"]
    assert context["voicemails"] == [
        {"caller": "+12025550111", "time": "09:15"},
        {"caller": "+12025550122", "time": "11:30"},
    ]
    assert (context["business"], context["date"], context["hours"]) == ("Ada's Bakery", "2026-11-10", 24)
    assert (context["since"], context["until"]) == ("2026-11-10T05:00:00Z", "2026-11-11T05:00:00Z")

    for later in (local(NEXT, 7, 1), local(NEXT, 12, 0), local(NEXT, 23, 59)):
        assert run(app, later) == 0  # the same day: nothing more
    assert len(digest_emails(db)) == 1

    assert run(app, local(NEXT + timedelta(days=1), 7, 0)) == 1  # the next morning, the next day's
    assert counts(digest_emails(db)[-1]) == by_outcome(missed=1)


def test_a_run_that_does_not_commit_leaves_the_digest_to_the_next_run(app: FlaskApp, db: Session) -> None:
    business = make_business(db, timezone="America/New_York")
    opt_in(db, owner_of(db, business))
    db.commit()

    with database_of(app).sessions() as session:  # a worker that dies before its commit
        assert send_due(session, local(NEXT, 8, 0)) == 1
        session.rollback()
    assert db.scalars(select(Digest)).all() == []
    assert digest_emails(db) == []

    assert run(app, local(NEXT, 8, 1)) == 1
    assert len(digest_emails(db)) == 1


def test_only_members_who_asked_for_it_get_a_digest(app: FlaskApp, db: Session) -> None:
    nobody_asked = make_business(db, timezone="America/New_York")  # an owner on the defaults: no digest
    make_member(db, nobody_asked)
    declined = make_business(db, timezone="America/New_York")
    opt_in(db, owner_of(db, declined), False)
    asked = make_business(db, timezone="America/New_York")
    member = make_member(db, asked)  # a plain member may ask too; the owner did not
    opt_in(db, member)
    db.commit()

    assert run(app, local(NEXT, 9, 0)) == 1

    (email,) = digest_emails(db)
    assert email["to"] == member.email
    assert counts(email) == by_outcome()  # a business without calls hears that it had none
    assert [digest.business_id for digest in db.scalars(select(Digest))] == [asked.id]


@pytest.mark.parametrize(
    ("day", "hours", "inside", "outside"),
    [
        (  # spring forward: 02:00 EST becomes 03:00 EDT
            date(2026, 3, 8),
            23,
            [(0, 30, 0), (1, 59, 0), (3, 0, 0), (23, 59, 0)],
            [(date(2026, 3, 7), 23, 59), (date(2026, 3, 9), 0, 0), (date(2026, 3, 9), 0, 30)],
        ),
        (  # fall back: 02:00 EDT becomes 01:00 EST, so 01:30 comes twice
            date(2026, 11, 1),
            25,
            [(0, 30, 0), (1, 30, 0), (1, 30, 1), (23, 30, 0), (23, 59, 0)],
            [(date(2026, 10, 31), 23, 59), (date(2026, 11, 2), 0, 0)],
        ),
    ],
)
def test_a_day_when_the_clocks_change_counts_its_own_hours(
    app: FlaskApp,
    db: Session,
    day: date,
    hours: int,
    inside: list[tuple[int, int, int]],
    outside: list[tuple[date, int, int]],
) -> None:
    business = make_business(db, timezone="America/New_York")
    opt_in(db, owner_of(db, business))
    for hour, minute, fold in inside:
        make_call(db, business, local(day, hour, minute, fold=fold), Outcome.MISSED)
    for other_day, hour, minute in outside:
        make_call(db, business, local(other_day, hour, minute), Outcome.FORWARDED)
    db.commit()

    assert run(app, local(day + timedelta(days=1), 7, 0)) == 1

    (email,) = digest_emails(db)
    assert counts(email) == by_outcome(missed=len(inside))
    assert email["context"]["hours"] == hours
    since = datetime.fromisoformat(email["context"]["since"])
    until = datetime.fromisoformat(email["context"]["until"])
    assert until - since == timedelta(hours=hours)


def test_one_run_queues_a_bounded_number_and_the_next_run_the_rest(app: FlaskApp, db: Session) -> None:
    for _ in range(3):
        opt_in(db, owner_of(db, make_business(db, timezone="Europe/Berlin")))
    db.commit()
    morning = local(NEXT, 7, 30, zone=ZoneInfo("Europe/Berlin"))

    assert run(app, morning, limit=2) == 2
    assert run(app, morning + timedelta(minutes=1), limit=2) == 1
    assert run(app, morning + timedelta(minutes=2), limit=2) == 0
    assert len(digest_emails(db)) == 3


def test_workers_running_the_scheduler_at_once_queue_each_digest_once(app: FlaskApp, db: Session) -> None:
    owners = []
    for _ in range(6):
        business = make_business(db, timezone="America/New_York")
        owners.append(owner_of(db, business))
        opt_in(db, owners[-1])
        make_call(db, business, local(DAY, 10, 0), Outcome.VOICEMAIL)
    db.commit()
    workers = 4
    start = threading.Barrier(workers)
    sent: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=10)
            sent.append(run(app, local(NEXT, 7, 0)))  # all of them find the same six due
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sum(sent) == 6
    emails = digest_emails(db)
    assert sorted(email["to"] for email in emails) == sorted(owner.email for owner in owners)
    assert all(counts(email) == by_outcome(voicemail=1) for email in emails)


# Real worker processes on the real clock: a zone where it is now between 08:00 and 22:00, so yesterday's
# digest there is due and stays due for the whole test. The offsets of these three are never more than 9 hours
# apart around the clock, so one of them always has a 14-hour window open.
ZONES = ("Asia/Tokyo", "Europe/London", "America/Los_Angeles")


def a_zone_in_daytime() -> ZoneInfo:
    now = datetime.now(UTC)
    return next(ZoneInfo(name) for name in ZONES if 8 <= now.astimezone(ZoneInfo(name)).hour < 22)


def business_with_yesterdays_calls(db: Session, zone: ZoneInfo) -> tuple[User, User]:
    """A business whose owner wants the digest and whose other member does not; yesterday's calls there."""
    business = make_business(db, timezone=zone.key)
    owner = owner_of(db, business)
    opt_in(db, owner)
    bystander = make_member(db, business)
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    for hour, outcome in ((9, Outcome.FORWARDED), (10, Outcome.VOICEMAIL), (11, Outcome.MISSED), (12, Outcome.MISSED)):
        make_call(db, business, local(yesterday, hour, zone=zone), outcome, caller="+12025550199")
    return owner, bystander


def text_of(message: Any) -> str:
    return str(message.get_body(("plain",)).get_content())


def assert_digest_counts(message: Any) -> None:
    text = text_of(message)
    for label, count in (("Forwarded and answered", 1), ("Voicemail left", 1), ("Missed", 2), ("Total", 4)):
        assert re.search(rf"^{label} +{count}\r?$", text, re.MULTILINE), text
    assert "+12025550199 at 10:00" in text


def test_two_worker_processes_send_each_digest_once_to_a_real_smtp_server(
    db: Session, database_url: str, inbox: Inbox, tmp_path: Path
) -> None:
    zone = a_zone_in_daytime()
    people = [business_with_yesterdays_calls(db, zone) for _ in range(3)]
    db.commit()
    url = inbox.url  # type: ignore[attr-defined]
    # Each worker looks every 0.2 s instead of every minute, so both look many times during the test.
    workers = [start_worker(database_url, url, tmp_path / f"w{n}.log", DIGEST_CHECK_SECONDS="0.2") for n in range(2)]
    try:
        wait_for(lambda: len(inbox.messages) >= 3, seconds=60)
        monotonic.sleep(2)  # a dozen more looks by each worker: nothing more may arrive
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            assert worker.wait(timeout=30) == 0

    assert sorted(message["To"] for message in inbox.messages) == sorted(owner.email for owner, _ in people)
    for message in inbox.messages:
        assert message["Subject"] == "Your calls yesterday"
        assert_digest_counts(message)
    db.expire_all()
    assert len(db.scalars(select(Digest)).all()) == 3


def test_a_worker_killed_after_queuing_a_digest_loses_nothing(
    db: Session, database_url: str, inbox: Inbox, tmp_path: Path
) -> None:
    owner, _ = business_with_yesterdays_calls(db, a_zone_in_daytime())
    db.commit()
    url = inbox.url  # type: ignore[attr-defined]
    inbox.hold_messages()
    first = start_worker(database_url, url, tmp_path / "first.log", visibility_timeout=2, DIGEST_CHECK_SECONDS="0.2")
    wait_for(inbox.receiving.is_set, seconds=60)  # the digest is claimed and its email is being sent

    first.kill()  # mid-send
    first.wait(timeout=10)
    inbox.release()
    second = start_worker(database_url, url, tmp_path / "second.log", visibility_timeout=2, DIGEST_CHECK_SECONDS="0.2")
    try:

        def sent() -> bool:
            db.expire_all()
            jobs = db.scalars(select(Job).where(Job.kind == SEND_EMAIL)).all()
            return len(jobs) == 1 and jobs[0].status == JobStatus.SUCCEEDED

        wait_for(sent, seconds=60)
        monotonic.sleep(1)  # more looks by the second worker: the day is claimed, nothing is queued again
    finally:
        second.terminate()
        assert second.wait(timeout=30) == 0

    assert {message["To"] for message in inbox.messages} == {owner.email}
    assert len({message["Message-ID"] for message in inbox.messages}) == 1  # a resend of the same email, at most
    assert_digest_counts(inbox.messages[-1])
    db.expire_all()
    assert len(db.scalars(select(Job).where(Job.kind == SEND_EMAIL)).all()) == 1  # sent: its payload is cleared
    assert len(db.scalars(select(Digest)).all()) == 1
