"""Your business: creation, settings with their rules, and optimistic concurrency."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Business, Role
from tests.factories import make_member, make_phone_number, make_user
from tests.helpers import auth_headers, owner_of_a_business

WEEK = {
    "monday": {"closed": False, "open": "08:30", "close": "18:00"},
    "tuesday": {"closed": False, "open": "08:30", "close": "18:00"},
    "wednesday": {"closed": False, "open": "08:30", "close": "18:00"},
    "thursday": {"closed": False, "open": "08:30", "close": "18:00"},
    "friday": {"closed": False, "open": "08:30", "close": "12:00"},
    "saturday": {"closed": True},
    "sunday": {"closed": True},
}
# WEEK as responses show it: every day with its `intervals`, and a one-interval day in the shorthand too.
SHOWN_WEEK = {
    day: {"closed": True, "intervals": []}
    if hours["closed"]
    else {**hours, "intervals": [{"open": hours["open"], "close": hours["close"]}]}
    for day, hours in WEEK.items()
}
SETTINGS: dict[str, Any] = {
    "name": "Acme Dental",
    "timezone": "America/New_York",
    "greeting": "Thanks for calling Acme Dental!",
    "phoneNumber": "+14155552671",
    "forwardingNumber": "+442071838750",
    "receptionistEnabled": True,
    "businessHours": WEEK,
}


def owner_holding_the_number(client: TestClient, db: Session) -> tuple[Business, dict[str, str]]:
    """An owner, signed in, whose business holds SETTINGS' phone number."""
    business, _, headers = owner_of_a_business(client, db)
    make_phone_number(db, business, SETTINGS["phoneNumber"])
    db.commit()
    return business, headers


def test_a_person_creates_one_business_and_becomes_its_owner(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    headers = auth_headers(client, user.email)

    created = client.post("/api/v1/business/me", json={"name": "  Acme Dental "}, headers=headers)
    again = client.post("/api/v1/business/me", json={"name": "Second"}, headers=headers)

    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/api/v1/business/me"
    assert created.headers["ETag"] == '"v1"'
    body = created.json()
    assert body["name"] == "Acme Dental"
    assert body["timezone"] == "UTC"
    assert body["receptionistEnabled"] is False
    assert body["calendar"] == {"provider": "google", "connected": False, "accountEmail": None, "connectedAt": None}
    assert again.status_code == 409
    assert again.json()["code"] == "business_exists"
    members = client.get("/api/v1/business/me/members", headers=headers).json()["data"]
    assert [(m["email"], m["role"]) for m in members] == [(user.email, "owner")]


def test_a_person_without_a_business_cannot_read_one(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()

    response = client.get("/api/v1/business/me", headers=auth_headers(client, user.email))

    assert response.status_code == 403
    assert response.json()["code"] == "no_business"


def test_put_replaces_the_settings_and_get_shows_them(client: TestClient, db: Session) -> None:
    _, headers = owner_holding_the_number(client, db)
    etag = client.get("/api/v1/business/me", headers=headers).headers["ETag"]

    put = client.put("/api/v1/business/me", json=SETTINGS, headers={**headers, "If-Match": etag})
    got = client.get("/api/v1/business/me", headers=headers)

    assert put.status_code == 200, put.text
    assert put.headers["ETag"] != etag
    assert got.headers["ETag"] == put.headers["ETag"]
    assert {field: got.json()[field] for field in SETTINGS} == SETTINGS | {"businessHours": SHOWN_WEEK}
    assert {field: got.json()[field] for field in ("ringSeconds", "screenCalls", "anonymousCallers")} == {
        "ringSeconds": 20,
        "screenCalls": True,
        "anonymousCallers": "answer",
    }  # a body without the newer settings keeps them


def test_patch_changes_only_what_it_names(client: TestClient, db: Session) -> None:
    _, headers = owner_holding_the_number(client, db)
    client.put("/api/v1/business/me", json=SETTINGS, headers=headers)

    patched = client.patch("/api/v1/business/me", json={"greeting": "Hi!", "forwardingNumber": None}, headers=headers)

    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["greeting"] == "Hi!"
    assert body["forwardingNumber"] is None
    assert body["phoneNumber"] == SETTINGS["phoneNumber"]
    assert body["businessHours"] == SHOWN_WEEK


def test_rules_refuse_a_change_with_422_and_change_nothing(client: TestClient, db: Session) -> None:
    _, headers = owner_holding_the_number(client, db)
    before = client.get("/api/v1/business/me", headers=headers).json()
    cases = {
        "receptionist_requires_phone": {"receptionistEnabled": True, "phoneNumber": None},
        "invalid_phone_number": {"phoneNumber": "+10000000000"},
        "phone_number_not_held": {"phoneNumber": "+14155550100"},
        "invalid_timezone": {"timezone": "Mars/Olympus_Mons"},
        "invalid_business_hours": {
            "businessHours": {**WEEK, "monday": {"closed": False, "open": "09:00", "close": "09:00"}}
        },
    }

    for code, change in cases.items():
        response = client.patch("/api/v1/business/me", json={"greeting": "changed", **change}, headers=headers)
        assert response.status_code == 422, (code, response.text)
        assert response.json()["code"] == code

    assert client.get("/api/v1/business/me", headers=headers).json() == before


def test_read_only_fields_are_refused_on_write(client: TestClient, db: Session) -> None:
    _, headers = owner_holding_the_number(client, db)

    response = client.patch(
        "/api/v1/business/me", json={"greeting": "x", "createdAt": "2020-01-01T00:00:00Z"}, headers=headers
    )

    assert response.status_code == 400


def test_a_stale_if_match_is_412_and_changes_nothing(client: TestClient, db: Session) -> None:
    _, headers = owner_holding_the_number(client, db)
    stale = client.get("/api/v1/business/me", headers=headers).headers["ETag"]
    client.patch("/api/v1/business/me", json={"greeting": "first"}, headers={**headers, "If-Match": stale})

    second = client.patch("/api/v1/business/me", json={"greeting": "second"}, headers={**headers, "If-Match": stale})

    assert second.status_code == 412
    assert second.json()["code"] == "precondition_failed"
    assert client.get("/api/v1/business/me", headers=headers).json()["greeting"] == "first"


def test_two_concurrent_writers_with_the_same_etag_never_both_win(client: TestClient, db: Session) -> None:
    _, headers = owner_holding_the_number(client, db)
    etag = client.get("/api/v1/business/me", headers=headers).headers["ETag"]
    start = threading.Barrier(2)
    statuses: dict[str, int] = {}

    def write(greeting: str) -> None:
        start.wait()
        response = client.patch(
            "/api/v1/business/me", json={"greeting": greeting}, headers={**headers, "If-Match": etag}
        )
        statuses[greeting] = response.status_code

    writers = [threading.Thread(target=write, args=(greeting,)) for greeting in ("alpha", "beta")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    assert sorted(statuses.values()) == [200, 412]
    winner = next(greeting for greeting, status in statuses.items() if status == 200)
    assert client.get("/api/v1/business/me", headers=headers).json()["greeting"] == winner


def test_members_read_but_do_not_write(client: TestClient, db: Session) -> None:
    business, _ = owner_holding_the_number(client, db)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()
    headers = auth_headers(client, member.email)

    assert client.get("/api/v1/business/me", headers=headers).status_code == 200
    refused = client.patch("/api/v1/business/me", json={"greeting": "x"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"


def test_days_take_several_intervals_and_night_hours_past_midnight(client: TestClient, db: Session) -> None:
    _, headers = owner_holding_the_number(client, db)
    split = {"closed": False, "intervals": [{"open": "13:00", "close": "17:00"}, {"open": "08:00", "close": "12:00"}]}
    night = {"closed": False, "open": "22:00", "close": "02:00"}
    change = {"businessHours": {**WEEK, "monday": split, "saturday": night}, "ringSeconds": 30, "screenCalls": False}

    patched = client.patch("/api/v1/business/me", json=change, headers=headers)

    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["businessHours"]["monday"] == {"closed": False, "intervals": sorted(split["intervals"], key=str)}
    assert body["businessHours"]["saturday"] == {**night, "intervals": [{"open": "22:00", "close": "02:00"}]}
    assert (body["ringSeconds"], body["screenCalls"]) == (30, False)
    writable = {field: body[field] for field in SETTINGS}
    written_back = client.put("/api/v1/business/me", json=writable, headers=headers)  # as read, unchanged
    assert (written_back.status_code, written_back.json()["etag"]) == (200, body["etag"]), written_back.text


def test_hours_that_overlap_are_422_naming_the_interval_and_change_nothing(client: TestClient, db: Session) -> None:
    _, headers = owner_holding_the_number(client, db)
    client.put("/api/v1/business/me", json=SETTINGS, headers=headers)
    before = client.get("/api/v1/business/me", headers=headers).json()
    overlapping = {
        "closed": False,
        "intervals": [{"open": "09:00", "close": "12:00"}, {"open": "11:00", "close": "14:00"}],
    }
    into_monday = {
        "closed": False,
        "intervals": [{"open": "20:00", "close": "09:00"}],
    }  # Sunday night into Monday 08:30
    cases = {
        "businessHours.tuesday.intervals[1]": {**WEEK, "tuesday": overlapping},
        "businessHours.monday": {**WEEK, "sunday": into_monday},
    }

    for field, week in cases.items():
        response = client.patch("/api/v1/business/me", json={"businessHours": week}, headers=headers)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_business_hours"), response.text
        assert [error["field"] for error in response.json()["errors"]] == [field]
    too_many = {"closed": False, "intervals": [{"open": f"0{h}:00", "close": f"0{h}:30"} for h in range(7)]}
    response = client.patch(
        "/api/v1/business/me", json={"businessHours": {**WEEK, "friday": too_many}}, headers=headers
    )
    assert response.status_code == 400  # the schema bounds a day to 6 intervals
    assert client.get("/api/v1/business/me", headers=headers).json() == before
