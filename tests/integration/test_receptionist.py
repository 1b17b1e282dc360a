"""What the receptionist answers from, through the API: closures, blocked numbers, the schedule and the
routing preview; their rules (4xx naming the field, nothing written), audit entries and events."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import AuditEvent, BlockedNumber, Business, Closure, Role, WebhookDelivery
from tests.factories import make_member, make_webhook_endpoint
from tests.helpers import auth_headers, owner_of_a_business

CLOSURES, BLOCKED = "/api/v1/business/me/closures", "/api/v1/business/me/blocked-numbers"
SCHEDULE, ROUTING = "/api/v1/business/me/schedule", "/api/v1/business/me/routing"
NEW_YORK_WEEK = {
    day: {"closed": False, "intervals": [{"open": "09:00", "close": "12:00"}, {"open": "13:00", "close": "17:00"}]}
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
} | {"saturday": {"closed": True, "intervals": []}, "sunday": {"closed": True, "intervals": []}}


def owner(client: TestClient, db: Session, **settings: Any) -> tuple[Business, dict[str, str]]:
    business, _, headers = owner_of_a_business(client, db)
    values = {"timezone": "America/New_York", "business_hours": NEW_YORK_WEEK, "greeting": "Hi!"} | settings
    for name, value in values.items():
        setattr(business, name, value)
    make_webhook_endpoint(db, business, ["business.updated"])
    db.commit()
    return business, headers


def count(db: Session, model: type[Closure] | type[BlockedNumber]) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_a_closure_is_created_read_listed_and_deleted_audited_and_announced(client: TestClient, db: Session) -> None:
    business, headers = owner(client, db)
    body = {"name": " Inventory day ", "startDate": "2027-01-15", "intervals": [{"open": "13:00", "close": "17:00"}]}

    created = client.post(CLOSURES, json=body, headers=headers)
    assert created.status_code == 201, created.text
    closure = created.json()
    assert closure | {"id": None, "createdAt": None} == {
        "id": None,
        "name": "Inventory day",
        "startDate": "2027-01-15",
        "endDate": "2027-01-15",
        "intervals": [{"open": "13:00", "close": "17:00"}],
        "createdAt": None,
    }
    assert created.headers["Location"] == f"{CLOSURES}/{closure['id']}"
    assert client.get(created.headers["Location"], headers=headers).json() == closure
    assert client.get(CLOSURES, headers=headers).json() == {"data": [closure], "nextCursor": None}

    deleted = client.delete(f"{CLOSURES}/{closure['id']}", headers=headers)
    assert deleted.status_code == 204
    assert client.get(f"{CLOSURES}/{closure['id']}", headers=headers).status_code == 404

    db.expire_all()
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.business_id == business.id)).all()
    assert {"closure.created", "closure.deleted"} <= set(actions)
    announced = db.scalars(select(WebhookDelivery).where(WebhookDelivery.event_type == "business.updated")).all()
    assert [list(d.payload["data"]["changes"]["closure"]) for d in announced] == [
        [
            None,
            {
                "name": "Inventory day",
                "startDate": "2027-01-15",
                "endDate": "2027-01-15",
                "intervals": body["intervals"],
            },
        ],
        [
            {
                "name": "Inventory day",
                "startDate": "2027-01-15",
                "endDate": "2027-01-15",
                "intervals": body["intervals"],
            },
            None,
        ],
    ]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"name": "X", "startDate": "2027-01-15", "endDate": "2027-01-14"}, 422, "invalid_closure", "endDate"),
        ({"name": "X", "startDate": "2027-01-01", "endDate": "2028-01-02"}, 422, "invalid_closure", "endDate"),
        ({"name": "X", "startDate": "1999-12-31"}, 422, "invalid_closure", "startDate"),
        ({"name": "X", "startDate": "2027-01-01", "endDate": "9999-12-31"}, 422, "invalid_closure", "endDate"),
        (
            {
                "name": "X",
                "startDate": "2027-01-01",
                "intervals": [{"open": "09:00", "close": "12:00"}, {"open": "11:00", "close": "13:00"}],
            },
            422,
            "invalid_closure",
            "intervals[1]",
        ),
        (
            {"name": "X", "startDate": "2027-01-01", "intervals": [{"open": "09:00", "close": "09:00"}]},
            422,
            "invalid_closure",
            "intervals[0]",
        ),
        ({"name": "X", "startDate": "2027-13-01"}, 400, "validation_error", "startDate"),
        (
            {"name": "X", "startDate": "2027-01-01", "intervals": [{"open": "09:00", "close": "10:00"}] * 7},
            400,
            "validation_error",
            "intervals",
        ),
        ({"name": "   ", "startDate": "2027-01-01"}, 400, "validation_error", "name"),
    ],
)
def test_a_bad_closure_is_refused_naming_the_field_and_nothing_is_written(
    client: TestClient, db: Session, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    _, headers = owner(client, db)

    refused = client.post(CLOSURES, json=body, headers=headers)

    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert [error["field"] for error in refused.json()["errors"]][:1] == [field]
    assert count(db, Closure) == 0


def test_closures_may_not_overlap_and_a_business_keeps_at_most_200(client: TestClient, db: Session) -> None:
    business, headers = owner(client, db)
    assert (
        client.post(
            CLOSURES, json={"name": "Christmas", "startDate": "2026-12-24", "endDate": "2026-12-26"}, headers=headers
        ).status_code
        == 201
    )

    overlapping = client.post(CLOSURES, json={"name": "Boxing day", "startDate": "2026-12-26"}, headers=headers)
    assert (overlapping.status_code, overlapping.json()["code"]) == (409, "closure_overlaps")
    db.add_all(
        Closure(
            business_id=business.id,
            name=f"Day {n}",
            start_date=date(2030, 1, 1).replace(day=1 + n % 28, month=1 + n // 28),
            end_date=date(2030, 1, 1).replace(day=1 + n % 28, month=1 + n // 28),
        )
        for n in range(199)
    )
    db.commit()
    too_many = client.post(CLOSURES, json={"name": "One more", "startDate": "2031-01-01"}, headers=headers)
    assert (too_many.status_code, too_many.json()["code"]) == (422, "too_many_closures")
    assert count(db, Closure) == 200


def test_a_blocked_number_is_created_listed_read_and_deleted(client: TestClient, db: Session) -> None:
    business, headers = owner(client, db)

    created = client.post(BLOCKED, json={"number": "+14155550142", "note": " Robocaller "}, headers=headers)
    again = client.post(BLOCKED, json={"number": "+14155550142"}, headers=headers)
    invalid = client.post(BLOCKED, json={"number": "+10000000000"}, headers=headers)

    assert created.status_code == 201, created.text
    blocked = created.json()
    assert (blocked["number"], blocked["note"]) == ("+14155550142", "Robocaller")
    assert (again.status_code, again.json()["code"]) == (409, "blocked_number_exists")
    assert (invalid.status_code, invalid.json()["code"], invalid.json()["errors"][0]["field"]) == (
        422,
        "invalid_phone_number",
        "number",
    )
    assert client.get(BLOCKED, headers=headers).json() == {"data": [blocked], "nextCursor": None}
    assert client.get(f"{BLOCKED}/{blocked['id']}", headers=headers).json() == blocked
    assert client.delete(f"{BLOCKED}/{blocked['id']}", headers=headers).status_code == 204
    assert count(db, BlockedNumber) == 0
    db.expire_all()
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.business_id == business.id)).all()
    assert {"blocked_number.created", "blocked_number.deleted"} <= set(actions)


def test_a_business_blocks_at_most_1000_numbers(client: TestClient, db: Session) -> None:
    business, headers = owner(client, db)
    db.add_all(BlockedNumber(business_id=business.id, number=f"+1415555{n:04d}") for n in range(1000))
    db.commit()

    refused = client.post(BLOCKED, json={"number": "+14155560000"}, headers=headers)

    assert (refused.status_code, refused.json()["code"]) == (422, "too_many_blocked_numbers")
    assert count(db, BlockedNumber) == 1000


def test_members_read_the_receptionist_but_only_managers_change_it(client: TestClient, db: Session) -> None:
    business, _ = owner(client, db)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()
    headers = auth_headers(client, member.email)

    for path in (CLOSURES, BLOCKED, SCHEDULE, ROUTING):
        assert client.get(path, headers=headers).status_code == 200, path
    refused = client.post(BLOCKED, json={"number": "+14155550142"}, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")


def test_the_schedule_lists_open_intervals_in_utc_and_local_time_with_closures_applied(
    client: TestClient, db: Session
) -> None:
    _, headers = owner(client, db)
    client.post(
        CLOSURES,
        json={"name": "Late start", "startDate": "2026-12-08", "intervals": [{"open": "14:00", "close": "16:00"}]},
        headers=headers,
    )
    client.post(CLOSURES, json={"name": "Closed", "startDate": "2026-12-09"}, headers=headers)

    got = client.get(
        SCHEDULE, params={"since": "2026-12-07T00:00:00Z", "until": "2026-12-10T00:00:00Z"}, headers=headers
    )

    assert got.status_code == 200, got.text
    assert got.json() == {
        "timezone": "America/New_York",
        "since": "2026-12-07T00:00:00Z",
        "until": "2026-12-10T00:00:00Z",
        "intervals": [
            {
                "start": "2026-12-07T14:00:00Z",
                "end": "2026-12-07T17:00:00Z",
                "localStart": "2026-12-07T09:00:00-05:00",
                "localEnd": "2026-12-07T12:00:00-05:00",
                "source": "weekly",
            },
            {
                "start": "2026-12-07T18:00:00Z",
                "end": "2026-12-07T22:00:00Z",
                "localStart": "2026-12-07T13:00:00-05:00",
                "localEnd": "2026-12-07T17:00:00-05:00",
                "source": "weekly",
            },
            {
                "start": "2026-12-08T19:00:00Z",
                "end": "2026-12-08T21:00:00Z",
                "localStart": "2026-12-08T14:00:00-05:00",
                "localEnd": "2026-12-08T16:00:00-05:00",
                "source": "closure",
            },
        ],
    }


def test_the_schedule_follows_daylight_saving(client: TestClient, db: Session) -> None:
    _, headers = owner(client, db)

    got = client.get(
        SCHEDULE, params={"since": "2026-03-06T00:00:00Z", "until": "2026-03-10T00:00:00Z"}, headers=headers
    )

    starts = [
        (i["start"], i["localStart"])
        for i in got.json()["intervals"]
        if i["localStart"].endswith(("09:00:00-05:00", "09:00:00-04:00"))
    ]
    assert starts == [
        ("2026-03-06T14:00:00Z", "2026-03-06T09:00:00-05:00"),  # Friday, EST
        ("2026-03-09T13:00:00Z", "2026-03-09T09:00:00-04:00"),  # Monday, EDT
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-12-07T00:00:00Z", "until": "2026-12-07T00:00:00Z"}, "until"),
        ({"since": "2026-12-07T00:00:00Z", "until": "2027-01-08T00:00:00Z"}, "until"),
        ({"since": "2200-01-01T00:00:00Z"}, "since"),
        ({"since": "1970-01-01T00:00:00Z", "until": "1970-01-02T00:00:00Z"}, "since"),
    ],
)
def test_a_schedule_range_too_long_or_out_of_range_is_422_naming_the_field(
    client: TestClient, db: Session, params: dict[str, str], field: str
) -> None:
    _, headers = owner(client, db)

    refused = client.get(SCHEDULE, params=params, headers=headers)

    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_range"), refused.text
    assert refused.json()["errors"][0]["field"] == field


def test_the_routing_preview_says_what_the_receptionist_would_do(client: TestClient, db: Session) -> None:
    _, headers = owner(client, db, forwarding_number="+14155550100", receptionist_enabled=True)
    client.post(BLOCKED, json={"number": "+14155550142"}, headers=headers)
    monday_10 = "2026-12-07T15:00:00Z"
    saturday = "2026-12-05T20:00:00Z"

    def preview(**params: str) -> dict[str, Any]:
        response = client.get(ROUTING, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    assert preview(at=monday_10) == {
        "action": "forward",
        "reason": "open",
        "at": monday_10,
        "openNow": True,
        "openUntil": "2026-12-07T17:00:00Z",
        "nextOpening": {"at": "2026-12-07T18:00:00Z", "local": "2026-12-07T13:00:00-05:00"},
        "forwardTo": "+14155550100",
        "ringSeconds": 20,
        "screened": True,
        "closure": None,
        "says": ["Hi!"],
    }
    closed = preview(at=saturday)
    assert (closed["action"], closed["reason"], closed["openNow"], closed["forwardTo"]) == (
        "voicemail",
        "closed",
        False,
        None,
    )
    assert closed["nextOpening"] == {"at": "2026-12-07T14:00:00Z", "local": "2026-12-07T09:00:00-05:00"}
    assert closed["says"] == ["Hi!", "We open again Monday at 9:00.", "Please leave a message after the tone."]
    assert (preview(at=monday_10, caller="+14155550142")["action"]) == "blocked"
    assert (preview(at=monday_10, caller="anonymous")["action"]) == "forward"  # answered as usual by default
    refused = client.get(ROUTING, params={"at": "2999-01-01T00:00:00Z"}, headers=headers)
    assert (refused.status_code, refused.json()["code"], refused.json()["errors"][0]["field"]) == (
        422,
        "invalid_range",
        "at",
    )


def test_a_disabled_receptionist_previews_as_reject(client: TestClient, db: Session) -> None:
    _, headers = owner(client, db)

    decision = client.get(ROUTING, headers=headers).json()

    assert (decision["action"], decision["reason"], decision["says"]) == ("reject", "receptionist_disabled", [])


def test_closures_and_blocked_numbers_page_with_cursors(client: TestClient, db: Session) -> None:
    business, headers = owner(client, db)
    db.add_all(
        Closure(business_id=business.id, name=f"Day {n}", start_date=date(2027, 1, n), end_date=date(2027, 1, n))
        for n in range(1, 6)
    )
    db.add_all(BlockedNumber(business_id=business.id, number=f"+1415555010{n}") for n in range(5))
    db.commit()

    for path, key in ((CLOSURES, "startDate"), (BLOCKED, "number")):
        seen, cursor = [], None
        for _ in range(3):
            page = client.get(path, params={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=headers)
            assert page.status_code == 200, page.text
            seen += [item[key] for item in page.json()["data"]]
            cursor = page.json()["nextCursor"]
        assert cursor is None
        assert len(seen) == len(set(seen)) == 5, seen
