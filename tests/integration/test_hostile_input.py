"""Hostile bytes are a 4xx problem, never a 500, and write nothing.

Every operation with a JSON body gets each hostile body twice: from nobody, and from the owner of a business
who is also staff (so passes every security check: the body reaches the validators and, were it let through,
the logic).
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Base
from tests.sign_in import owner_of_a_business
from web.spec import Contract

CONTRACT = Contract.load()
JSON_BODIES = [
    op
    for op in CONTRACT.operations
    if "application/json"
    in CONTRACT.document["paths"][op.path.removeprefix(CONTRACT.base_path)][op.method.lower()]
    .get("requestBody", {})
    .get("content", {})
]
HOSTILE = {
    "nested 400 deep": b"[" * 400 + b"]" * 400,
    "nested 5000 deep": b"[" * 5000 + b"]" * 5000,
    "deep in an object": b'{"name": ' + b'{"a": ' * 300 + b"1" + b"}" * 301,
    "a lone surrogate": b'{"name": "A\\ud800", "greeting": "\\udfff", "label": "x\\ud800", "password": "\\ud800xxxx"}',
    "a reversed surrogate pair": b'{"name": "\\udc00\\ud800"}',
    # Valid for registerUser but for the name, so without the check it reaches the INSERT (a 500).
    "a surrogate in a sign-up": b'{"email": "eve@example.com", "password": "long-passphrase", "name": "Eve\\ud800"}',
}


def _row_counts(db: Session) -> dict[str, int]:
    db.expire_all()
    return {
        table.name: db.scalar(select(func.count()).select_from(table)) or 0 for table in Base.metadata.sorted_tables
    }


def _staff_owner(client: TestClient, db: Session) -> dict[str, str]:
    _, owner, headers = owner_of_a_business(client, db)
    owner.is_staff = True
    db.commit()
    return headers


def _with_ids(template: str) -> str:
    parts = [str(uuid.uuid4()) if part.startswith("{") else part for part in template.split("/")]
    return "/".join(parts)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_json_body_is_a_400_on_every_operation_and_writes_nothing(
    client: TestClient, db: Session, name: str
) -> None:
    owner = _staff_owner(client, db)
    before = _row_counts(db)
    for op in JSON_BODIES:
        for headers in ({}, owner):
            response = client.request(
                op.method,
                _with_ids(op.path),
                content=HOSTILE[name],
                headers={**headers, "Content-Type": "application/json"},
            )
            assert response.status_code in (400, 401), (op.operation_id, response.status_code, response.text)
            if response.status_code == 400:
                assert response.json()["code"] == "malformed_request", (op.operation_id, response.text)
    assert _row_counts(db) == before


def test_a_json_body_without_a_content_type_is_a_415_on_every_operation(client: TestClient, db: Session) -> None:
    owner = _staff_owner(client, db)
    before = _row_counts(db)
    for op in JSON_BODIES:
        for headers in ({}, owner):
            response = client.request(op.method, _with_ids(op.path), content=b'{"name": "Acme"}', headers=headers)
            assert response.status_code in (401, 415), (op.operation_id, response.status_code, response.text)
            if response.status_code == 415:
                assert response.json()["code"] == "unsupported_media_type", response.text
    assert _row_counts(db) == before
