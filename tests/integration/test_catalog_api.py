from __future__ import annotations

import base64
import uuid

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from core.pagination import encode_cursor
from tests.factories import make_country, make_plan


def test_plans_of_a_country_are_listed_with_their_fields(client: TestClient, db: Session) -> None:
    us, ca = make_country(db, code="US"), make_country(db, code="CA")
    plan = make_plan(db, countries=[us, ca], name="North America", monthly_price_minor=115, sms=False)
    make_plan(db, countries=[make_country(db, code="DE")])
    db.commit()

    response = client.get("/api/v1/plans", params={"country": "CA"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "data": [
            {
                "id": str(plan.id),
                "name": "North America",
                "provider": "Telnyx",
                "monthlyPriceMinor": 115,
                "currency": "USD",
                "capabilities": {"voice": True, "sms": False},
                "countries": ["CA", "US"],
                "active": True,
            }
        ],
        "nextCursor": None,
    }


def test_walking_the_pages_returns_every_active_plan_once_in_name_order(client: TestClient, db: Session) -> None:
    country = make_country(db)
    names = [f"Plan {i:02d}" for i in range(11)]
    for name in reversed(names):
        make_plan(db, countries=[country], name=name)
    make_plan(db, countries=[country], name="Plan withdrawn", active=False)
    db.commit()

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/plans", params=params).json()
        seen += [plan["name"] for plan in body["data"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break

    assert seen == names
    assert pages == 3


def test_plans_with_the_same_name_are_ordered_by_id_across_pages(client: TestClient, db: Session) -> None:
    country = make_country(db)
    ids = sorted(str(make_plan(db, countries=[country], name="Same").id) for _ in range(3))
    db.commit()

    first = client.get("/api/v1/plans", params={"limit": 2}).json()
    second = client.get("/api/v1/plans", params={"limit": 2, "cursor": first["nextCursor"]}).json()

    assert [p["id"] for p in first["data"] + second["data"]] == ids


def test_a_country_without_plans_gives_an_empty_page(client: TestClient, db: Session) -> None:
    make_plan(db, countries=[make_country(db, code="US")])
    db.commit()

    assert client.get("/api/v1/plans", params={"country": "ZZ"}).json() == {"data": [], "nextCursor": None}


def test_a_withdrawn_plan_is_not_listed_but_can_still_be_read(client: TestClient, db: Session) -> None:
    plan = make_plan(db, active=False)
    db.commit()

    assert client.get("/api/v1/plans").json()["data"] == []
    response = client.get(f"/api/v1/plans/{plan.id}")
    assert response.status_code == 200
    assert response.json()["active"] is False


def test_an_unknown_plan_is_a_404_problem(client: TestClient) -> None:
    response = client.get(f"/api/v1/plans/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
    assert response.json()["requestId"] == response.headers["x-request-id"]


def test_countries_are_listed_by_code_and_paginated(client: TestClient, db: Session) -> None:
    for code in ("SE", "AU", "US"):
        make_country(db, code=code, name=f"Name of {code}", calling_code="+46")
    db.commit()

    first = client.get("/api/v1/countries", params={"limit": 2}).json()
    second = client.get("/api/v1/countries", params={"limit": 2, "cursor": first["nextCursor"]}).json()

    assert [c["code"] for c in first["data"]] == ["AU", "SE"]
    assert first["data"][0] == {"code": "AU", "name": "Name of AU", "callingCode": "+46"}
    assert [c["code"] for c in second["data"]] == ["US"]
    assert second["nextCursor"] is None


def test_a_forged_cursor_is_a_400_invalid_cursor(client: TestClient) -> None:
    forged = {
        "abc": "garbage",
        "WyJVUyJd": "a countries cursor",
        "bm90IGpzb24": "base64 of text that is not JSON",
        encode_cursor(["\x00", uuid.uuid4()]): "a NUL, which PostgreSQL cannot take",
        base64.urlsafe_b64encode(b'["\\udfff","' + str(uuid.uuid4()).encode() + b'"]').decode(): "a lone surrogate",
    }
    for cursor, what in forged.items():
        response = client.get("/api/v1/plans", params={"cursor": cursor.rstrip("=")})

        assert response.status_code == 400, what
        assert response.json()["code"] == "invalid_cursor", what


def test_limit_out_of_bounds_is_a_400_naming_the_field(client: TestClient) -> None:
    response = client.get("/api/v1/plans", params={"limit": 101, "country": "usa"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == ["country", "limit"]
