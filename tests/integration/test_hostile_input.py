"""Hostile bytes are a 4xx problem, never a 500, and write nothing.

Every operation with a JSON body gets each hostile body twice: from nobody, and from the owner of a business
who is also staff (so passes every security check: the body reaches the validators and, were it let through,
the logic).
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from models import Base
from tests.helpers import owner_of_a_business
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


def _json_nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


_TEXT = st.text(max_size=300)
_BODIES = st.one_of(
    st.binary(max_size=2000),  # arbitrary bytes
    st.integers(0, 3000).map(lambda depth: b"[" * depth + b"]" * depth),  # any depth
    st.integers(0, 1000).map(_json_nested),
    st.integers(0xD800, 0xDFFF).map(lambda half: b'{"name": "x\\u%04x", "greeting": "y"}' % half),
    st.tuples(_TEXT, st.sampled_from(["utf-8", "utf-16", "utf-32", "latin-1", "utf-8-sig", "cp1252"])).map(
        lambda text_and_codec: text_and_codec[0].encode(text_and_codec[1], errors="replace")
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
        max_leaves=20,
    ).map(lambda value: json.dumps(value).encode()),
)
_HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=120)
_HEADERS = st.dictionaries(
    st.sampled_from(["Content-Type", "Accept", "Authorization", "X-API-Key", "Idempotency-Key", "If-Match",
                     "X-Request-ID", "Origin", "Accept-Encoding", "X-Forwarded-For"])
    | st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True),
    _HEADER_VALUES
    | st.sampled_from(["application/json", "application/json; charset=utf-16", "text/plain", "*/*",
                       "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "Bearer x.y.z"]),
    max_size=6,
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    index=st.integers(0, len(CONTRACT.operations) - 1),
    path_value=st.one_of(st.uuids().map(str), _TEXT),
    query=st.dictionaries(st.text(min_size=1, max_size=20), _TEXT, max_size=4),
    body=_BODIES,
    headers=_HEADERS,
    as_owner=st.booleans(),
)
def test_no_bytes_depth_encoding_or_header_shape_reaches_a_5xx(
    client: TestClient,
    db: Session,
    index: int,
    path_value: str,
    query: dict[str, str],
    body: bytes,
    headers: dict[str, str],
    as_owner: bool,
) -> None:
    op = CONTRACT.operations[index]
    path = "/".join(quote(path_value, safe="") if part.startswith("{") else part for part in op.path.split("/"))
    credentials = _staff_owner(client, db) if as_owner and not {"Authorization", "X-API-Key"} & set(headers) else {}

    raw_headers = {name: value.encode("latin-1") for name, value in {**credentials, **headers}.items()}

    response = client.request(op.method, path, params=query, content=body, headers=raw_headers)

    assert response.status_code < 500, (op.operation_id, response.status_code, response.text)
