"""The audit log: every audited action leaves one event naming who, what, from where and in which request;
the log is read newest first, filtered and paged, by those allowed to, and only for their own business."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import AuditEvent, Business, Job, Role, User
from tests.factories import PASSWORD, make_country, make_member, make_plan, make_user
from tests.helpers import auth_headers, bearer, owner_of_a_business, sign_in

AUDIT = "/api/v1/audit-events"
MEMBERS = "/api/v1/business/me/members"
NEW_PASSWORD = "staple-orbit-lantern-42"
NUMBER = "+14155552671"


# Helpers


def listed(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every event the caller can read with these filters, all pages, in the order served."""
    events: list[dict[str, Any]] = []
    params = {"limit": 100, **params}
    while True:
        response = client.get(AUDIT, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        events.extend(page["data"])
        if page["nextCursor"] is None:
            return events
        params["cursor"] = page["nextCursor"]


def event_of(client: TestClient, headers: dict[str, str], action: str, response: Any) -> dict[str, Any]:
    """The one `action` event of the request that answered `response` (matched by its X-Request-ID)."""
    request_id = response.headers["X-Request-ID"]
    matching = [event for event in listed(client, headers, action=action) if event["requestId"] == request_id]
    assert len(matching) == 1, (action, request_id, listed(client, headers))
    event = matching[0]
    assert event["ipAddress"], event
    assert event["createdAt"], event
    return event


def job_link_token(db: Session, template: str, to: str) -> str:
    db.expire_all()
    jobs = [
        job
        for job in db.scalars(select(Job).where(Job.kind == "send_email").order_by(Job.created_at)).all()
        if job.payload["template"] == template and job.payload["to"] == to
    ]
    assert jobs, f"no {template} email queued to {to}"
    return parse_qs(urlsplit(str(jobs[-1].payload["context"]["link"])).query)["token"][0]


def all_rows_as_json(db: Session) -> str:
    db.expire_all()
    rows = db.scalars(select(AuditEvent)).all()
    return json.dumps(
        [
            {
                column.name: getattr(row, column.key) if column.key != "id" else str(row.id)
                for column in AuditEvent.__table__.columns
            }
            for row in rows
        ],
        default=str,
    )


def add_key(client: TestClient, headers: dict[str, str], scopes: list[str]) -> dict[str, Any]:
    created = client.post("/api/v1/api-keys", json={"name": "CRM sync", "scopes": scopes}, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def user_ref(user: User | uuid.UUID) -> dict[str, str]:
    return {"type": "user", "id": str(user.id if isinstance(user, User) else user)}


# Sign-in and account events


def test_a_sign_in_is_audited(client: TestClient, db: Session) -> None:
    _, owner, headers = owner_of_a_business(client, db)

    response = client.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})

    assert response.status_code == 200
    event = event_of(client, headers, "auth.login_succeeded", response)
    assert event["actor"] == user_ref(owner)
    assert event["target"] == user_ref(owner)


def test_a_failed_sign_in_is_audited_although_the_request_failed(client: TestClient, db: Session) -> None:
    _, owner, headers = owner_of_a_business(client, db)

    response = client.post("/api/v1/auth/login", json={"email": owner.email, "password": "not-the-password-at-all"})

    assert response.status_code == 401
    event = event_of(client, headers, "auth.login_failed", response)
    assert event["actor"] == user_ref(owner)
    assert event["target"] == user_ref(owner)
    assert "not-the-password-at-all" not in all_rows_as_json(db)


def test_a_lockout_is_audited(client: TestClient, db: Session) -> None:
    _, owner, headers = owner_of_a_business(client, db)

    attempts = [
        client.post("/api/v1/auth/login", json={"email": owner.email, "password": f"wrong-guess-{n}"}) for n in range(5)
    ]
    while_locked = client.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})

    assert [a.status_code for a in attempts] == [401, 401, 401, 401, 429]
    assert while_locked.status_code == 429
    for attempt in attempts[:4]:
        assert event_of(client, headers, "auth.login_failed", attempt)["actor"] == user_ref(owner)
    locked = event_of(client, headers, "auth.locked_out", attempts[4])
    assert locked["actor"] == user_ref(owner)
    assert locked["target"] == user_ref(owner)
    assert event_of(client, headers, "auth.locked_out", while_locked)["target"] == user_ref(owner)


def test_a_failed_sign_in_of_an_unknown_email_names_no_one(client: TestClient, db: Session) -> None:
    owner_of_a_business(client, db)

    response = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "whatever-it-is"})

    assert response.status_code == 401
    rows = db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed")).all()
    assert [(r.actor_type, r.actor_id, r.business_id, r.target_id) for r in rows] == [("anonymous", None, None, None)]
    assert "nobody@example.com" not in all_rows_as_json(db)


def test_a_password_change_is_audited(client: TestClient, db: Session) -> None:
    _, owner, headers = owner_of_a_business(client, db)

    response = client.post(
        "/api/v1/users/me/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}, headers=headers
    )

    assert response.status_code == 204, response.text
    event = event_of(client, headers, "auth.password_changed", response)
    assert event["actor"] == user_ref(owner)
    assert event["target"] == user_ref(owner)
    assert event["changes"] is None
    rows = all_rows_as_json(db)
    assert PASSWORD not in rows
    assert NEW_PASSWORD not in rows


def test_a_password_reset_is_audited(client: TestClient, db: Session) -> None:
    _, owner, _ = owner_of_a_business(client, db)
    forgot = client.post("/api/v1/auth/password/forgot", json={"email": owner.email})
    assert forgot.status_code == 202
    token = job_link_token(db, "reset_password", owner.email)

    response = client.post("/api/v1/auth/password/reset", json={"token": token, "newPassword": NEW_PASSWORD})

    assert response.status_code == 204, response.text
    headers = auth_headers(client, owner.email, NEW_PASSWORD)
    event = event_of(client, headers, "auth.password_reset", response)
    assert event["actor"] == user_ref(owner)
    assert event["target"] == user_ref(owner)
    rows = all_rows_as_json(db)
    assert token not in rows
    assert NEW_PASSWORD not in rows


def test_revoking_a_session_is_audited(client: TestClient, db: Session) -> None:
    _, owner, headers = owner_of_a_business(client, db)
    sign_in(client, owner.email)  # a second session
    sessions = client.get("/api/v1/auth/sessions", headers=headers).json()["data"]
    other = next(s["id"] for s in sessions if not s["current"])

    response = client.delete(f"/api/v1/auth/sessions/{other}", headers=headers)

    assert response.status_code == 204, response.text
    event = event_of(client, headers, "auth.session_revoked", response)
    assert event["actor"] == user_ref(owner)
    assert event["target"] == {"type": "session", "id": other}


# Business and members


def test_creating_a_business_is_audited(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    headers = auth_headers(client, user.email)

    response = client.post("/api/v1/business/me", json={"name": "Acme Dental"}, headers=headers)

    assert response.status_code == 201, response.text
    event = event_of(client, headers, "business.created", response)
    assert event["actor"] == user_ref(user)
    assert event["target"] == {"type": "business", "id": response.json()["id"]}


def test_changing_the_settings_is_audited_with_what_changed(client: TestClient, db: Session) -> None:
    business, owner, headers = owner_of_a_business(client, db)
    client.patch("/api/v1/business/me", json={"greeting": "Hello"}, headers=headers)

    response = client.patch("/api/v1/business/me", json={"greeting": "Thanks for calling!"}, headers=headers)
    unchanged = client.patch("/api/v1/business/me", json={"greeting": "Thanks for calling!"}, headers=headers)

    assert response.status_code == 200, response.text
    assert unchanged.status_code == 200, unchanged.text
    event = event_of(client, headers, "business.updated", response)
    assert event["actor"] == user_ref(owner)
    assert event["target"] == {"type": "business", "id": str(business.id)}
    assert event["changes"] == {"greeting": ["Hello", "Thanks for calling!"]}
    assert len(listed(client, headers, action="business.updated")) == 2  # the no-op change records nothing


def test_a_change_by_an_api_key_names_the_key_as_actor(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)
    key = add_key(client, headers, ["business:write", "business:read"])

    response = client.patch(
        "/api/v1/business/me", json={"greeting": "Set by a key"}, headers={"X-API-Key": key["secret"]}
    )

    assert response.status_code == 200, response.text
    event = event_of(client, headers, "business.updated", response)
    assert event["actor"] == {"type": "api_key", "id": key["id"]}
    assert event["changes"] == {"greeting": ["", "Set by a key"]}
    assert [e["id"] for e in listed(client, headers, actorId=key["id"])] == [event["id"]]


def test_the_request_id_the_caller_sent_is_the_one_recorded(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)

    response = client.patch(
        "/api/v1/business/me", json={"greeting": "traced"}, headers={**headers, "X-Request-ID": "trace-4f2a9c1e"}
    )

    assert response.headers["X-Request-ID"] == "trace-4f2a9c1e"
    assert event_of(client, headers, "business.updated", response)["requestId"] == "trace-4f2a9c1e"


def test_inviting_and_joining_are_audited(client: TestClient, db: Session) -> None:
    _, owner, headers = owner_of_a_business(client, db)
    invitee = make_user(db, email="grace@example.com")
    db.commit()

    invited = client.post(
        "/api/v1/business/me/invitations", json={"email": "grace@example.com", "role": "admin"}, headers=headers
    )
    token = job_link_token(db, "invitation", "grace@example.com")
    accepted = client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=auth_headers(client, invitee.email)
    )

    assert invited.status_code == 201, invited.text
    assert accepted.status_code == 200, accepted.text
    invitation = event_of(client, headers, "member.invited", invited)
    assert invitation["actor"] == user_ref(owner)
    assert invitation["target"] == {"type": "invitation", "id": invited.json()["id"]}
    assert invitation["changes"] == {"email": [None, "grace@example.com"], "role": [None, "admin"]}
    added = event_of(client, headers, "member.added", accepted)
    assert added["actor"] == user_ref(invitee)
    assert added["target"] == user_ref(invitee)
    assert added["changes"] == {"role": [None, "admin"]}
    assert token not in all_rows_as_json(db)


def test_role_changes_and_removals_are_audited(client: TestClient, db: Session) -> None:
    business, owner, headers = owner_of_a_business(client, db)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()

    promoted = client.patch(f"{MEMBERS}/{member.id}", json={"role": "admin"}, headers=headers)
    removed = client.delete(f"{MEMBERS}/{member.id}", headers=headers)

    assert promoted.status_code == 200, promoted.text
    assert removed.status_code == 204, removed.text
    role_changed = event_of(client, headers, "member.role_changed", promoted)
    assert role_changed["actor"] == user_ref(owner)
    assert role_changed["target"] == user_ref(member)
    assert role_changed["changes"] == {"role": ["member", "admin"]}
    removal = event_of(client, headers, "member.removed", removed)
    assert removal["actor"] == user_ref(owner)
    assert removal["target"] == user_ref(member)
    assert removal["changes"] == {"role": ["admin", None]}


def test_a_refused_change_records_nothing(client: TestClient, db: Session) -> None:
    _, owner, headers = owner_of_a_business(client, db)
    before = db.scalars(select(AuditEvent.action)).all()

    last_owner = client.patch(f"{MEMBERS}/{owner.id}", json={"role": "admin"}, headers=headers)
    bad_rule = client.patch("/api/v1/business/me", json={"timezone": "Mars/Olympus_Mons"}, headers=headers)

    assert last_owner.status_code == 409
    assert bad_rule.status_code == 422
    db.expire_all()
    assert db.scalars(select(AuditEvent.action)).all() == before


# Phone numbers and API keys


@pytest.fixture
def plan_id(db: Session) -> str:
    plan = make_plan(db, countries=[make_country(db, code="US", calling_code="+1")])
    db.commit()
    return str(plan.id)


def test_adding_and_releasing_a_number_are_audited(client: TestClient, db: Session, plan_id: str) -> None:
    _, owner, headers = owner_of_a_business(client, db)

    added = client.post(
        "/api/v1/phone-numbers", json={"e164": NUMBER, "planId": plan_id, "label": "Front desk"}, headers=headers
    )
    number_id = added.json()["id"]
    released = client.delete(f"/api/v1/phone-numbers/{number_id}", headers=headers)

    assert added.status_code == 201, added.text
    assert released.status_code == 204, released.text
    addition = event_of(client, headers, "phone_number.added", added)
    assert addition["actor"] == user_ref(owner)
    assert addition["target"] == {"type": "phone_number", "id": number_id}
    assert addition["changes"] == {"e164": [None, NUMBER]}
    release = event_of(client, headers, "phone_number.released", released)
    assert release["actor"] == user_ref(owner)
    assert release["target"] == {"type": "phone_number", "id": number_id}
    assert release["changes"] == {"e164": [NUMBER, None]}


def test_a_number_added_with_an_api_key_names_the_key(client: TestClient, db: Session, plan_id: str) -> None:
    _, _, headers = owner_of_a_business(client, db)
    key = add_key(client, headers, ["numbers:write", "numbers:read"])

    added = client.post(
        "/api/v1/phone-numbers",
        json={"e164": NUMBER, "planId": plan_id, "label": "Front desk"},
        headers={"X-API-Key": key["secret"]},
    )

    assert added.status_code == 201, added.text
    assert event_of(client, headers, "phone_number.added", added)["actor"] == {"type": "api_key", "id": key["id"]}


def test_creating_rotating_and_revoking_a_key_are_audited_and_no_secret_is_kept(
    client: TestClient, db: Session
) -> None:
    _, owner, headers = owner_of_a_business(client, db)

    created = client.post(
        "/api/v1/api-keys", json={"name": "CRM sync", "scopes": ["numbers:read", "business:read"]}, headers=headers
    )
    key_id = created.json()["id"]
    rotated = client.post(f"/api/v1/api-keys/{key_id}/rotate", json={"gracePeriodSeconds": 3600}, headers=headers)
    revoked = client.delete(f"/api/v1/api-keys/{key_id}", headers=headers)

    assert created.status_code == 201, created.text
    assert rotated.status_code == 200, rotated.text
    assert revoked.status_code == 204, revoked.text
    creation = event_of(client, headers, "api_key.created", created)
    assert creation["actor"] == user_ref(owner)
    assert creation["target"] == {"type": "api_key", "id": key_id}
    assert creation["changes"] == {"scopes": [None, ["business:read", "numbers:read"]]}
    rotation = event_of(client, headers, "api_key.rotated", rotated)
    assert rotation["actor"] == user_ref(owner)
    assert rotation["target"] == {"type": "api_key", "id": key_id}
    assert rotation["changes"] == {"gracePeriodSeconds": [None, 3600]}
    revocation = event_of(client, headers, "api_key.revoked", revoked)
    assert revocation["actor"] == user_ref(owner)
    assert revocation["target"] == {"type": "api_key", "id": key_id}
    rows = all_rows_as_json(db)
    for secret in (created.json()["secret"], rotated.json()["secret"]):
        assert secret not in rows
        assert secret[len("sb_live_") :] not in rows
    assert PASSWORD not in rows
    log = client.get(AUDIT, params={"limit": 100}, headers=headers).text
    assert created.json()["secret"] not in log
    assert rotated.json()["secret"] not in log


# Reading the log


def busy_business(client: TestClient, db: Session) -> tuple[Business, User, dict[str, str]]:
    """A business with a handful of events: created by its owner, then three settings changes."""
    business, owner, headers = owner_of_a_business(client, db)
    for greeting in ("one", "two", "three"):
        response = client.patch("/api/v1/business/me", json={"greeting": greeting}, headers=headers)
        assert response.status_code == 200, response.text
    return business, owner, headers


def test_the_log_is_newest_first(client: TestClient, db: Session) -> None:
    _, _, headers = busy_business(client, db)

    events = listed(client, headers)

    stamps = [event["createdAt"] for event in events]
    assert stamps == sorted(stamps, reverse=True)
    updates = [e["changes"]["greeting"][1] for e in events if e["action"] == "business.updated"]
    assert updates == ["three", "two", "one"]
    assert events[-1]["action"] == "auth.login_succeeded"  # the owner's sign-in came first


def test_pages_of_two_cover_the_whole_log_once(client: TestClient, db: Session) -> None:
    _, _, headers = busy_business(client, db)
    client.patch("/api/v1/business/me", json={"greeting": "four"}, headers=headers)
    whole = listed(client, headers)
    assert len(whole) == 5  # the owner's sign-in and four changes: the last page is a partial one

    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = client.get(AUDIT, params=params, headers=headers)
        assert response.status_code == 200, response.text
        pages.append([event["id"] for event in response.json()["data"]])
        if response.json()["nextCursor"] is None:
            break
        params["cursor"] = response.json()["nextCursor"]

    assert all(len(page) <= 2 for page in pages)
    assert len(pages) >= 3
    assert [event_id for page in pages for event_id in page] == [event["id"] for event in whole]


def test_a_bad_cursor_is_refused(client: TestClient, db: Session) -> None:
    _, _, headers = busy_business(client, db)

    response = client.get(AUDIT, params={"cursor": "not-a-cursor"}, headers=headers)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_filters_by_action_and_actor(client: TestClient, db: Session) -> None:
    business, owner, headers = busy_business(client, db)
    admin = make_member(db, business, role=Role.ADMIN)
    db.commit()
    admin_headers = auth_headers(client, admin.email)
    client.patch("/api/v1/business/me", json={"greeting": "by the admin"}, headers=admin_headers)

    updates = listed(client, headers, action="business.updated")
    by_admin = listed(client, headers, actorId=str(admin.id))
    admin_updates = listed(client, headers, action="business.updated", actorId=str(admin.id))

    assert [e["changes"]["greeting"][1] for e in updates] == ["by the admin", "three", "two", "one"]
    assert {e["actor"]["id"] for e in by_admin} == {str(admin.id)}
    assert sorted(e["action"] for e in by_admin) == ["auth.login_succeeded", "business.updated"]
    assert [e["changes"]["greeting"][1] for e in admin_updates] == ["by the admin"]
    assert listed(client, headers, action="api_key.revoked") == []
    assert listed(client, headers, actorId=str(uuid.uuid4())) == []
    assert str(owner.id) not in {e["actor"]["id"] for e in admin_updates}


def test_filters_by_time_since_inclusive_and_until_exclusive(client: TestClient, db: Session) -> None:
    _, _, headers = busy_business(client, db)
    events = listed(client, headers)
    middle = events[len(events) // 2]["createdAt"]

    since = listed(client, headers, since=middle)
    until = listed(client, headers, until=middle)

    assert since, "events at or after the middle one"
    assert until, "events before the middle one"
    assert all(e["createdAt"] >= middle for e in since)
    assert all(e["createdAt"] < middle for e in until)
    assert [e["id"] for e in since] + [e["id"] for e in until] == [e["id"] for e in events]
    assert listed(client, headers, since=middle, until=middle) == []
    far_future = "2999-01-01T00:00:00+00:00"
    assert listed(client, headers, since=far_future) == []
    assert [e["id"] for e in listed(client, headers, until=far_future)] == [e["id"] for e in events]


@pytest.mark.parametrize(
    "query",
    [
        {"since": "yesterday"},
        {"until": "2026-13-45T99:00:00Z"},
        {"actorId": "not-a-uuid"},
        {"action": "Business Updated!"},
        {"limit": 0},
        {"limit": 1000},
    ],
)
def test_malformed_filters_are_refused_with_400(client: TestClient, db: Session, query: dict[str, Any]) -> None:
    _, _, headers = busy_business(client, db)

    response = client.get(AUDIT, params=query, headers=headers)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"


def test_a_time_filter_in_another_offset_means_the_same_instant(client: TestClient, db: Session) -> None:
    _, _, headers = busy_business(client, db)
    events = listed(client, headers)
    all_since_a_while = listed(client, headers, since="2000-01-01T02:00:00+02:00")

    assert [e["id"] for e in all_since_a_while] == [e["id"] for e in events]


def test_an_api_key_with_audit_read_reads_the_log_and_one_without_cannot(client: TestClient, db: Session) -> None:
    _, _, headers = busy_business(client, db)
    reader = add_key(client, headers, ["audit:read"])
    other = add_key(client, headers, ["business:read", "numbers:read"])

    read = client.get(AUDIT, params={"limit": 100}, headers={"X-API-Key": reader["secret"]})
    refused = client.get(AUDIT, headers={"X-API-Key": other["secret"]})

    assert read.status_code == 200, read.text
    assert read.json() == {"data": listed(client, headers), "nextCursor": None}
    assert {e["action"] for e in read.json()["data"]} >= {"business.updated", "api_key.created"}
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "insufficient_scope"


def test_a_member_cannot_read_the_log(client: TestClient, db: Session) -> None:
    business, _, _ = busy_business(client, db)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()

    response = client.get(AUDIT, headers=auth_headers(client, member.email))

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "insufficient_scope"


def test_a_person_without_a_business_cannot_read_a_log(client: TestClient, db: Session) -> None:
    busy_business(client, db)
    loner = make_user(db)
    db.commit()

    response = client.get(AUDIT, headers=auth_headers(client, loner.email))

    assert response.status_code in (403, 404), response.text


def test_another_businesss_events_are_never_visible(client: TestClient, db: Session) -> None:
    _, owner_a, headers_a = busy_business(client, db)
    key_a = add_key(client, headers_a, ["audit:read"])
    client.post("/api/v1/auth/login", json={"email": owner_a.email, "password": "a-wrong-guess-here"})
    business_b, owner_b, headers_b = owner_of_a_business(client, db)
    client.patch("/api/v1/business/me", json={"greeting": "B's greeting"}, headers=headers_b)
    key_b = add_key(client, headers_b, ["audit:read"])

    a_sees = listed(client, headers_a) + listed(client, {"X-API-Key": key_a["secret"]})
    b_sees = listed(client, headers_b) + listed(client, {"X-API-Key": key_b["secret"]})
    b_filtered = listed(client, headers_b, actorId=str(owner_a.id)) + listed(
        client, headers_b, action="business.updated"
    )

    a_actors = {str(owner_a.id), key_a["id"]}
    b_actors = {str(owner_b.id), key_b["id"]}
    assert a_sees
    assert b_sees
    assert {e["actor"]["id"] for e in a_sees} <= a_actors
    assert {e["actor"]["id"] for e in b_sees} <= b_actors
    assert "B's greeting" not in json.dumps(a_sees)
    assert {e["id"] for e in a_sees}.isdisjoint({e["id"] for e in b_sees})
    assert [e["changes"] for e in b_filtered] == [{"greeting": ["", "B's greeting"]}]
    db.expire_all()
    b_rows = db.scalars(select(AuditEvent.id).where(AuditEvent.business_id == business_b.id)).all()
    assert {e["id"] for e in b_sees} == {str(row) for row in b_rows}


def test_no_secret_appears_anywhere_in_the_log(client: TestClient, db: Session, plan_id: str) -> None:
    """Everything audited, done once, then the whole table searched for every secret used on the way."""
    business, owner, headers = owner_of_a_business(client, db)
    invitee = make_user(db, email="grace@example.com")
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()
    secrets: list[str] = [PASSWORD, NEW_PASSWORD, "a-wrong-guess-here"]

    client.post("/api/v1/auth/login", json={"email": owner.email, "password": "a-wrong-guess-here"})
    pair = sign_in(client, owner.email)
    secrets += [pair["accessToken"], pair["refreshToken"], headers["Authorization"].removeprefix("Bearer ")]
    key = add_key(client, headers, ["business:write", "audit:read"])
    rotated = client.post(f"/api/v1/api-keys/{key['id']}/rotate", headers=headers).json()
    secrets += [key["secret"], rotated["secret"]]
    client.patch("/api/v1/business/me", json={"greeting": "Hi"}, headers={"X-API-Key": rotated["secret"]})
    client.post("/api/v1/business/me/invitations", json={"email": invitee.email, "role": "admin"}, headers=headers)
    invitation = job_link_token(db, "invitation", invitee.email)
    secrets.append(invitation)
    client.post("/api/v1/invitations/accept", json={"token": invitation}, headers=auth_headers(client, invitee.email))
    client.patch(f"{MEMBERS}/{member.id}", json={"role": "admin"}, headers=headers)
    client.delete(f"{MEMBERS}/{member.id}", headers=headers)
    number = client.post(
        "/api/v1/phone-numbers", json={"e164": NUMBER, "planId": plan_id, "label": "Desk"}, headers=headers
    )
    client.delete(f"/api/v1/phone-numbers/{number.json()['id']}", headers=headers)
    client.delete(f"/api/v1/api-keys/{key['id']}", headers=headers)
    client.post("/api/v1/auth/password/forgot", json={"email": owner.email})
    reset = job_link_token(db, "reset_password", owner.email)
    secrets.append(reset)
    client.post("/api/v1/auth/password/reset", json={"token": reset, "newPassword": NEW_PASSWORD})
    headers = auth_headers(client, owner.email, NEW_PASSWORD)
    client.post(
        "/api/v1/users/me/password", json={"currentPassword": NEW_PASSWORD, "newPassword": PASSWORD}, headers=headers
    )

    rows = all_rows_as_json(db)
    served = json.dumps(listed(client, bearer(sign_in(client, owner.email)["accessToken"])))

    actions = {row.action for row in db.scalars(select(AuditEvent)).all()}
    assert actions >= {
        "auth.login_failed",
        "auth.login_succeeded",
        "api_key.created",
        "api_key.rotated",
        "business.updated",
        "member.invited",
        "member.added",
        "member.role_changed",
        "member.removed",
        "phone_number.added",
        "phone_number.released",
        "api_key.revoked",
        "auth.password_reset",
        "auth.password_changed",
    }
    for secret in secrets:
        assert secret not in rows, secret[:12]
        assert secret not in served, secret[:12]
