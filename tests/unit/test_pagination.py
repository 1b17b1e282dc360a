from __future__ import annotations

import uuid

import pytest

from core.errors import InvalidCursor
from core.pagination import decode_cursor, encode_cursor
from models import Country, ExternalPlan

PLAN_KEY = [ExternalPlan.name, ExternalPlan.id]


def test_a_cursor_decodes_to_the_key_it_was_made_from() -> None:
    plan_id = uuid.uuid4()

    cursor = encode_cursor(["Plan ü", plan_id])

    assert decode_cursor(cursor, PLAN_KEY) == ["Plan ü", plan_id]
    assert "=" not in cursor


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",  # not base64
        encode_cursor(["only one value"]),  # wrong arity
        encode_cursor(["name", "not-a-uuid"]),  # wrong type
        encode_cursor([1, str(uuid.uuid4())]),  # wrong type
        "bm90IGpzb24",  # base64 of text that is not JSON
        "_w",  # base64 of a byte that is not UTF-8
    ],
)
def test_a_cursor_we_did_not_issue_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, PLAN_KEY)


def test_a_cursor_of_one_collection_is_invalid_for_another() -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor(["US"]), PLAN_KEY)
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor(["name", uuid.uuid4()]), [Country.code])
