"""Phone numbers: bought on a plan that sells the number's country, held by one business at a time."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Country, PhoneNumber
from tests.factories import make_country, make_plan
from tests.helpers import owner_of_a_business

US_NUMBER, UK_NUMBER = "+14155552671", "+442071838750"


def us_plan(db: Session, **overrides: object) -> str:
    us = db.get(Country, "US") or make_country(db, code="US")
    plan = make_plan(db, countries=[us], **overrides)
    db.commit()
    return str(plan.id)


def add(client: TestClient, headers: dict[str, str], plan_id: str, e164: str = US_NUMBER, **extra: object):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/phone-numbers", json={"e164": e164, "planId": plan_id, "label": "Front desk", **extra}, headers=headers
    )


def test_a_number_is_added_read_listed_changed_and_released(client: TestClient, db: Session) -> None:
    headers, plan_id = owner_of_a_business(client, db).headers, us_plan(db)

    created = add(client, headers, plan_id, forwardTo="+14155550199")
    assert created.status_code == 201, created.text
    number = created.json()
    assert created.headers["Location"] == f"/api/v1/phone-numbers/{number['id']}"
    assert (number["e164"], number["countryCode"], number["status"]) == (US_NUMBER, "US", "active")

    assert client.get(created.headers["Location"], headers=headers).json() == number
    listed = client.get("/api/v1/phone-numbers?country=US&status=active", headers=headers).json()
    assert [item["id"] for item in listed["data"]] == [number["id"]]
    assert client.get("/api/v1/phone-numbers?status=suspended", headers=headers).json()["data"] == []

    patched = client.patch(
        created.headers["Location"], json={"status": "suspended", "forwardTo": None}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["status"], patched.json()["forwardTo"]) == ("suspended", None)

    assert client.delete(created.headers["Location"], headers=headers).status_code == 204
    assert client.get(created.headers["Location"], headers=headers).status_code == 404


def test_the_plan_must_sell_the_numbers_country_and_be_active(client: TestClient, db: Session) -> None:
    headers, plan_id = owner_of_a_business(client, db).headers, us_plan(db)
    inactive_id = us_plan(db, active=False)

    cases = {
        "plan_not_available_in_country": add(client, headers, plan_id, UK_NUMBER),
        "plan_inactive": add(client, headers, inactive_id),
        "plan_not_found": add(client, headers, "00000000-0000-4000-8000-000000000000"),
        "invalid_phone_number": add(client, headers, plan_id, "+10000000000"),
    }

    for code, response in cases.items():
        assert response.status_code == 422, (code, response.text)
        assert response.json()["code"] == code
    assert db.query(PhoneNumber).count() == 0


def test_a_number_held_by_anyone_is_taken(client: TestClient, db: Session) -> None:
    plan_id = us_plan(db)
    first, second = owner_of_a_business(client, db).headers, owner_of_a_business(client, db).headers
    assert add(client, first, plan_id).status_code == 201

    taken = add(client, second, plan_id)

    assert taken.status_code == 409
    assert taken.json()["code"] == "number_taken"


def test_the_receptionists_number_cannot_be_released_while_it_answers(client: TestClient, db: Session) -> None:
    headers, plan_id = owner_of_a_business(client, db).headers, us_plan(db)
    location = add(client, headers, plan_id).headers["Location"]
    client.patch("/api/v1/business/me", json={"phoneNumber": US_NUMBER, "receptionistEnabled": True}, headers=headers)

    refused = client.delete(location, headers=headers)
    not_suspended = client.patch(location, json={"status": "suspended"}, headers=headers)
    client.patch("/api/v1/business/me", json={"receptionistEnabled": False}, headers=headers)
    released = client.delete(location, headers=headers)

    assert refused.status_code == 409
    assert refused.json()["code"] == "number_in_use"
    assert (not_suspended.status_code, not_suspended.json()["code"]) == (409, "number_in_use")
    assert released.status_code == 204
    assert client.get("/api/v1/business/me", headers=headers).json()["phoneNumber"] is None  # cleared with it


def test_an_idempotent_retry_adds_the_number_once(client: TestClient, db: Session) -> None:
    headers, plan_id = owner_of_a_business(client, db).headers, us_plan(db)
    retry_headers = {**headers, "Idempotency-Key": "add-front-desk-1"}

    first = add(client, retry_headers, plan_id)
    replay = add(client, retry_headers, plan_id)
    other_body = add(client, retry_headers, plan_id, UK_NUMBER)

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Location"] == first.headers["Location"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"
    assert db.query(PhoneNumber).count() == 1
