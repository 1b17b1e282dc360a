"""Members: invitations by email, roles that take effect on the next request, and the owner rules."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Business, Invitation, Job, Membership, Role
from tests.factories import PASSWORD, make_business, make_member, make_user
from tests.helpers import auth_headers, owner_of_a_business

INVITATIONS = "/api/v1/business/me/invitations"
ACCEPT = "/api/v1/invitations/accept"
MEMBERS = "/api/v1/business/me/members"


def invitation_token(db: Session, email: str) -> str:
    """The token of the newest invitation email queued to `email`, read from its link."""
    db.expire_all()
    jobs = [
        job
        for job in db.scalars(select(Job).where(Job.kind == "send_email").order_by(Job.created_at)).all()
        if job.payload["to"] == email and job.payload["template"] == "invitation"
    ]
    assert jobs, f"no invitation email queued to {email}"
    link = str(jobs[-1].payload["context"]["link"])
    return parse_qs(urlsplit(link).query)["token"][0]


def invite(client: TestClient, headers: dict[str, str], email: str, role: str = "member") -> str:
    response = client.post(INVITATIONS, json={"email": email, "role": role}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def role_in_db(db: Session, user_id: object) -> Role | None:
    db.expire_all()
    return db.scalar(select(Membership.role).where(Membership.user_id == user_id))


def owners_of(db: Session, business: Business) -> int:
    db.expire_all()
    return (
        db.scalar(select(func.count()).where(Membership.business_id == business.id, Membership.role == Role.OWNER)) or 0
    )


# Invitations


def test_an_invitation_queues_an_email_with_a_link_that_lets_the_invitee_join(client: TestClient, db: Session) -> None:
    business, _, headers = owner_of_a_business(client, db)

    invited = client.post(INVITATIONS, json={"email": " Grace@Example.com ", "role": "admin"}, headers=headers)

    assert invited.status_code == 201, invited.text
    assert invited.headers["Location"] == INVITATIONS
    body = invited.json()
    assert body["email"] == "grace@example.com"
    assert body["role"] == "admin"
    jobs = db.scalars(select(Job).where(Job.kind == "send_email")).all()
    assert len(jobs) == 1
    payload = jobs[0].payload
    assert payload["to"] == "grace@example.com"
    assert payload["template"] == "invitation"
    assert payload["context"]["business"] == business.name
    assert "token=" in payload["context"]["link"]
    token = invitation_token(db, "grace@example.com")

    registered = client.post(
        "/api/v1/auth/register", json={"email": "grace@example.com", "password": PASSWORD, "name": "Grace"}
    )
    assert registered.status_code == 201, registered.text
    grace = auth_headers(client, "grace@example.com")
    accepted = client.post(ACCEPT, json={"token": token}, headers=grace)

    assert accepted.status_code == 200, accepted.text
    member = accepted.json()
    assert member["email"] == "grace@example.com"
    assert member["name"] == "Grace"
    assert member["role"] == "admin"
    assert member["userId"] == registered.json()["id"]
    assert client.get("/api/v1/business/me", headers=grace).json()["id"] == str(business.id)
    listed = client.get(MEMBERS, headers=headers).json()["data"]
    assert ("grace@example.com", "admin") in [(m["email"], m["role"]) for m in listed]


def test_pending_invitations_are_listed_until_accepted(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)
    first = invite(client, headers, "first@example.com", "member")
    second = invite(client, headers, "second@example.com", "admin")
    make_user(db, email="first@example.com")
    db.commit()

    pending = client.get(INVITATIONS, headers=headers)
    client.post(
        ACCEPT,
        json={"token": invitation_token(db, "first@example.com")},
        headers=auth_headers(client, "first@example.com"),
    )
    after = client.get(INVITATIONS, headers=headers)

    assert pending.status_code == 200, pending.text
    assert [(i["id"], i["email"], i["role"]) for i in pending.json()["data"]] == [
        (first, "first@example.com", "member"),
        (second, "second@example.com", "admin"),
    ]
    assert all(i["expiresAt"] > i["createdAt"] for i in pending.json()["data"])
    assert pending.json()["nextCursor"] is None
    assert [i["id"] for i in after.json()["data"]] == [second]


def test_an_invitation_cannot_be_accepted_by_another_email(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)
    invite(client, headers, "grace@example.com")
    mallory = make_user(db, email="mallory@example.com")
    db.commit()

    response = client.post(
        ACCEPT, json={"token": invitation_token(db, "grace@example.com")}, headers=auth_headers(client, mallory.email)
    )

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_token"
    assert role_in_db(db, mallory.id) is None


def test_an_invitation_is_accepted_once(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)
    invite(client, headers, "grace@example.com", "admin")
    grace = make_user(db, email="grace@example.com")
    db.commit()
    token = invitation_token(db, "grace@example.com")
    grace_headers = auth_headers(client, grace.email)

    first = client.post(ACCEPT, json={"token": token}, headers=grace_headers)
    second = client.post(ACCEPT, json={"token": token}, headers=grace_headers)

    assert first.status_code == 200, first.text
    assert second.status_code == 422, second.text
    assert second.json()["code"] == "invalid_token"
    assert role_in_db(db, grace.id) is Role.ADMIN


def test_an_expired_invitation_is_refused(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)
    invitation_id = invite(client, headers, "grace@example.com")
    grace = make_user(db, email="grace@example.com")
    db.execute(
        update(Invitation)
        .where(Invitation.id == uuid.UUID(invitation_id))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.commit()

    response = client.post(
        ACCEPT, json={"token": invitation_token(db, "grace@example.com")}, headers=auth_headers(client, grace.email)
    )
    pending = client.get(INVITATIONS, headers=headers).json()["data"]

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_token"
    assert role_in_db(db, grace.id) is None
    assert pending == []


def test_an_unknown_token_is_refused(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()

    response = client.post(
        ACCEPT, json={"token": "q3Jt0pX9yZ2w8vB6nM4kL1hG7fD5sA3e"}, headers=auth_headers(client, user.email)
    )

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_token"


def test_someone_who_already_belongs_to_a_business_cannot_join_another(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)
    grace = make_user(db, email="grace@example.com")
    elsewhere = make_business(db, owner=grace)
    db.commit()
    invite(client, headers, "grace@example.com")

    response = client.post(
        ACCEPT, json={"token": invitation_token(db, "grace@example.com")}, headers=auth_headers(client, grace.email)
    )

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "business_exists"
    db.expire_all()
    assert db.scalar(select(Membership.business_id).where(Membership.user_id == grace.id)) == elsewhere.id
    assert role_in_db(db, grace.id) is Role.OWNER


def test_inviting_an_existing_member_is_a_conflict(client: TestClient, db: Session) -> None:
    business, _, headers = owner_of_a_business(client, db)
    member = make_member(db, business, make_user(db, email="grace@example.com"))
    db.commit()

    response = client.post(INVITATIONS, json={"email": "GRACE@example.com", "role": "admin"}, headers=headers)

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "already_member"
    assert db.scalars(select(Job)).all() == []
    assert role_in_db(db, member.id) is Role.MEMBER


def test_only_an_owner_invites_an_owner(client: TestClient, db: Session) -> None:
    business, _, owner_headers = owner_of_a_business(client, db)
    admin = make_member(db, business, role=Role.ADMIN)
    db.commit()
    admin_headers = auth_headers(client, admin.email)

    by_admin = client.post(INVITATIONS, json={"email": "boss@example.com", "role": "owner"}, headers=admin_headers)
    admin_invites_admin = client.post(
        INVITATIONS, json={"email": "peer@example.com", "role": "admin"}, headers=admin_headers
    )
    by_owner = client.post(INVITATIONS, json={"email": "boss@example.com", "role": "owner"}, headers=owner_headers)

    assert by_admin.status_code == 403, by_admin.text
    assert by_admin.json()["code"] == "owner_required"
    assert admin_invites_admin.status_code == 201, admin_invites_admin.text
    assert by_owner.status_code == 201, by_owner.text


def test_a_member_cannot_invite(client: TestClient, db: Session) -> None:
    business, _, _ = owner_of_a_business(client, db)
    member = make_member(db, business)
    db.commit()

    response = client.post(
        INVITATIONS, json={"email": "x@example.com", "role": "member"}, headers=auth_headers(client, member.email)
    )

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "insufficient_scope"
    assert db.scalars(select(Job)).all() == []


# Roles


def test_a_role_change_takes_effect_on_the_members_next_request(client: TestClient, db: Session) -> None:
    business, _, owner_headers = owner_of_a_business(client, db)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()
    member_headers = auth_headers(client, member.email)
    refused = client.patch("/api/v1/business/me", json={"greeting": "Hi"}, headers=member_headers)

    promoted = client.patch(f"{MEMBERS}/{member.id}", json={"role": "admin"}, headers=owner_headers)
    allowed = client.patch("/api/v1/business/me", json={"greeting": "Hi"}, headers=member_headers)

    assert refused.status_code == 403, refused.text
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    assert promoted.json()["userId"] == str(member.id)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["greeting"] == "Hi"

    demoted = client.patch(f"{MEMBERS}/{member.id}", json={"role": "member"}, headers=owner_headers)
    refused_again = client.patch("/api/v1/business/me", json={"greeting": "Bye"}, headers=member_headers)

    assert demoted.status_code == 200, demoted.text
    assert refused_again.status_code == 403, refused_again.text


def test_a_removal_takes_effect_on_the_next_request(client: TestClient, db: Session) -> None:
    business, _, owner_headers = owner_of_a_business(client, db)
    admin = make_member(db, business, role=Role.ADMIN)
    db.commit()
    admin_headers = auth_headers(client, admin.email)
    assert client.get("/api/v1/business/me", headers=admin_headers).status_code == 200

    removed = client.delete(f"{MEMBERS}/{admin.id}", headers=owner_headers)
    after = client.get("/api/v1/business/me", headers=admin_headers)
    members = client.get(MEMBERS, headers=owner_headers).json()["data"]

    assert removed.status_code == 204, removed.text
    assert after.status_code == 403, after.text
    assert client.get(MEMBERS, headers=admin_headers).status_code == 403
    assert str(admin.id) not in [m["userId"] for m in members]
    assert role_in_db(db, admin.id) is None


def test_the_last_owner_can_be_neither_demoted_nor_removed(client: TestClient, db: Session) -> None:
    _, owner, headers = owner_of_a_business(client, db)

    demoted = client.patch(f"{MEMBERS}/{owner.id}", json={"role": "admin"}, headers=headers)
    removed = client.delete(f"{MEMBERS}/{owner.id}", headers=headers)

    assert demoted.status_code == 409, demoted.text
    assert demoted.json()["code"] == "last_owner"
    assert removed.status_code == 409, removed.text
    assert removed.json()["code"] == "last_owner"
    assert role_in_db(db, owner.id) is Role.OWNER


def test_an_owner_can_step_down_once_there_is_another_owner(client: TestClient, db: Session) -> None:
    business, owner, headers = owner_of_a_business(client, db)
    other = make_member(db, business, role=Role.ADMIN)
    db.commit()

    promoted = client.patch(f"{MEMBERS}/{other.id}", json={"role": "owner"}, headers=headers)
    stepped_down = client.patch(f"{MEMBERS}/{owner.id}", json={"role": "admin"}, headers=headers)

    assert promoted.status_code == 200, promoted.text
    assert stepped_down.status_code == 200, stepped_down.text
    assert role_in_db(db, owner.id) is Role.ADMIN
    assert role_in_db(db, other.id) is Role.OWNER


def test_an_admin_cannot_demote_remove_or_make_an_owner(client: TestClient, db: Session) -> None:
    business, owner, _ = owner_of_a_business(client, db)
    make_member(db, business, role=Role.OWNER)  # so that last_owner cannot be the reason
    admin = make_member(db, business, role=Role.ADMIN)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()
    headers = auth_headers(client, admin.email)

    demote = client.patch(f"{MEMBERS}/{owner.id}", json={"role": "member"}, headers=headers)
    remove = client.delete(f"{MEMBERS}/{owner.id}", headers=headers)
    promote = client.patch(f"{MEMBERS}/{member.id}", json={"role": "owner"}, headers=headers)
    promote_self = client.patch(f"{MEMBERS}/{admin.id}", json={"role": "owner"}, headers=headers)

    for response in (demote, remove, promote, promote_self):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "owner_required"
    assert role_in_db(db, owner.id) is Role.OWNER
    assert role_in_db(db, member.id) is Role.MEMBER
    assert role_in_db(db, admin.id) is Role.ADMIN


def test_an_admin_manages_members_below_owner(client: TestClient, db: Session) -> None:
    business, _, _ = owner_of_a_business(client, db)
    admin = make_member(db, business, role=Role.ADMIN)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()
    headers = auth_headers(client, admin.email)

    promoted = client.patch(f"{MEMBERS}/{member.id}", json={"role": "admin"}, headers=headers)
    removed = client.delete(f"{MEMBERS}/{member.id}", headers=headers)

    assert promoted.status_code == 200, promoted.text
    assert removed.status_code == 204, removed.text
    assert role_in_db(db, member.id) is None


def test_a_member_cannot_change_roles(client: TestClient, db: Session) -> None:
    business, owner, _ = owner_of_a_business(client, db)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()
    headers = auth_headers(client, member.email)

    promote_self = client.patch(f"{MEMBERS}/{member.id}", json={"role": "admin"}, headers=headers)
    remove_owner = client.delete(f"{MEMBERS}/{owner.id}", headers=headers)

    assert promote_self.status_code == 403, promote_self.text
    assert remove_owner.status_code == 403, remove_owner.text
    assert role_in_db(db, member.id) is Role.MEMBER
    assert role_in_db(db, owner.id) is Role.OWNER


def test_an_unknown_member_is_not_found(client: TestClient, db: Session) -> None:
    _, _, headers = owner_of_a_business(client, db)
    stranger = make_user(db)
    db.commit()

    patched = client.patch(f"{MEMBERS}/{stranger.id}", json={"role": "admin"}, headers=headers)
    removed = client.delete(f"{MEMBERS}/{stranger.id}", headers=headers)

    assert patched.status_code == 404, patched.text
    assert removed.status_code == 404, removed.text


ROUNDS = 10  # the race is timing-dependent: a few rounds make each interleaving likely to occur


def race(client: TestClient, requests: dict[str, tuple[str, str, dict[str, str]]]) -> dict[str, int]:
    """Sends the requests (name: (method, path, headers)) at once from threads; their statuses by name."""
    start = threading.Barrier(len(requests))
    statuses: dict[str, int] = {}

    def send(name: str, method: str, path: str, headers: dict[str, str]) -> None:
        body = {"role": "admin"} if method == "PATCH" else None
        start.wait()
        statuses[name] = client.request(method, path, json=body, headers=headers).status_code

    threads = [threading.Thread(target=send, args=(name, *request)) for name, request in requests.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.parametrize(
    ("method", "won", "lost"),
    [
        # The loser, judged after the winner, is no owner any more (403) or the last one (409).
        ("PATCH", 200, (403, 409)),
        # The loser, judged after the winner, is no member any more (403/404) or the last owner (409).
        ("DELETE", 204, (403, 404, 409)),
    ],
    ids=["demoting", "removing"],
)
def test_two_owners_changing_each_other_at_once_never_leave_the_business_without_an_owner(
    client: TestClient, db: Session, method: str, won: int, lost: tuple[int, ...]
) -> None:
    business, first, first_headers = owner_of_a_business(client, db)
    second = make_member(db, business, role=Role.OWNER)
    db.commit()
    second_headers = auth_headers(client, second.email)
    assert client.get(MEMBERS, headers=first_headers).status_code == 200  # warm the app
    rounds = []

    for _ in range(ROUNDS):
        statuses = race(
            client,
            {
                "first acts on second": (method, f"{MEMBERS}/{second.id}", first_headers),
                "second acts on first": (method, f"{MEMBERS}/{first.id}", second_headers),
            },
        )
        rounds.append((statuses, owners_of(db, business)))
        # Back to two owners for the next round.
        for user in (first, second):
            role = role_in_db(db, user.id)
            if role is None:
                db.add(Membership(business_id=business.id, user_id=user.id, role=Role.OWNER))
            elif role is not Role.OWNER:
                db.execute(update(Membership).where(Membership.user_id == user.id).values(role=Role.OWNER))
        db.commit()

    assert all(owners >= 1 for _, owners in rounds), rounds
    for statuses, _ in rounds:
        # One wins; the other is refused, never a 5xx.
        assert sorted(statuses.values())[0] == won, rounds
        assert max(statuses.values()) in lost, rounds


def test_a_withdrawn_invitation_no_longer_works(client: TestClient, db: Session) -> None:
    owner = make_user(db)
    make_business(db, owner=owner)
    invitee = make_user(db)
    db.commit()
    headers = auth_headers(client, owner.email)
    created = client.post(
        "/api/v1/business/me/invitations", json={"email": invitee.email, "role": "member"}, headers=headers
    )
    token = invitation_token(db, invitee.email)

    withdrawn = client.delete(f"/api/v1/business/me/invitations/{created.json()['id']}", headers=headers)
    again = client.delete(f"/api/v1/business/me/invitations/{created.json()['id']}", headers=headers)
    accepted = client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=auth_headers(client, invitee.email)
    )

    assert withdrawn.status_code == 204
    assert again.status_code == 404
    assert (accepted.status_code, accepted.json()["code"]) == (422, "invalid_token")


def test_an_invitation_ends_when_its_inviter_leaves_and_a_new_one_replaces_it(client: TestClient, db: Session) -> None:
    owner = make_user(db)
    business = make_business(db, owner=owner)
    admin = make_member(db, business, role=Role.ADMIN)
    invitee = make_user(db)
    db.commit()
    admin_headers, owner_headers = auth_headers(client, admin.email), auth_headers(client, owner.email)
    client.post(
        "/api/v1/business/me/invitations", json={"email": invitee.email, "role": "admin"}, headers=admin_headers
    )
    from_admin = invitation_token(db, invitee.email)
    client.post(
        "/api/v1/business/me/invitations", json={"email": invitee.email, "role": "member"}, headers=owner_headers
    )
    from_owner = invitation_token(db, invitee.email)

    pending = client.get("/api/v1/business/me/invitations", headers=owner_headers).json()["data"]
    client.delete(f"/api/v1/business/me/members/{admin.id}", headers=owner_headers)
    invitee_headers = auth_headers(client, invitee.email)
    replaced = client.post("/api/v1/invitations/accept", json={"token": from_admin}, headers=invitee_headers)
    accepted = client.post("/api/v1/invitations/accept", json={"token": from_owner}, headers=invitee_headers)

    assert [item["role"] for item in pending] == ["member"]
    assert replaced.status_code == 422
    assert (accepted.status_code, accepted.json()["role"]) == (200, "member")
