from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from core.errors import InvalidCursor
from core.pagination import decode_cursor, encode_cursor
from models import Closure, Country, ExternalPlan, PhoneNumber
from web.spec import Contract

PLAN_KEY = ExternalPlan.page_order()
CLOSURE_KEY = Closure.page_order()


def test_a_cursor_decodes_to_the_key_it_was_made_from() -> None:
    plan_id = uuid.uuid4()

    cursor = encode_cursor(["Plan ü", plan_id])

    assert decode_cursor(cursor, PLAN_KEY) == ["Plan ü", plan_id]
    assert "=" not in cursor


def test_a_date_key_makes_a_cursor_too() -> None:
    closure_id = uuid.uuid4()

    assert decode_cursor(encode_cursor([date(2026, 12, 24), closure_id]), CLOSURE_KEY) == [
        date(2026, 12, 24),
        closure_id,
    ]
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor(["2026-13-01", closure_id]), CLOSURE_KEY)


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",  # not base64
        encode_cursor(["only one value"]),  # wrong arity
        encode_cursor(["name", "not-a-uuid"]),  # wrong type
        encode_cursor([1, str(uuid.uuid4())]),  # wrong type
        "bm90IGpzb24",  # base64 of text that is not JSON
        "_w",  # base64 of a byte that is not UTF-8
        encode_cursor(["nul \x00 inside", uuid.uuid4()]),  # no database column holds NUL
        base64.urlsafe_b64encode(b'["\\ud800", "00000000-0000-4000-8000-000000000000"]').decode(),  # lone surrogate
    ],
)
def test_a_cursor_we_did_not_issue_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, PLAN_KEY)


def test_the_longest_possible_cursor_fits_the_spec() -> None:
    schema = Contract.load().document["components"]["schemas"]["NextCursor"]
    longest_name = "\U0001f4de" * 80  # 80 four-byte characters, the most a plan name holds

    cursor = encode_cursor([longest_name, uuid.uuid4()])

    assert len(cursor) <= schema["maxLength"]
    assert decode_cursor(cursor, PLAN_KEY)[0] == longest_name


def test_a_cursor_of_one_collection_is_invalid_for_another() -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor(["US"]), PLAN_KEY)
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor(["name", uuid.uuid4()]), [Country.code])


@pytest.mark.parametrize(
    "instant",
    [
        "0001-01-01T00:00:00+05:00",  # before year 1 once in UTC
        "2020-01-01T00:00:00",  # naive: we only issue UTC times
    ],
)
def test_a_forged_time_in_a_cursor_is_invalid(instant: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor([instant, str(uuid.uuid4())]), PhoneNumber.page_order())


def test_a_time_in_a_cursor_comes_back_in_utc() -> None:
    """Even with an offset PostgreSQL cannot store (beyond ±15:59), which was a DataError and a 500."""
    key = decode_cursor(encode_cursor(["2020-01-01T20:00:00+20:00", str(uuid.uuid4())]), PhoneNumber.page_order())

    assert key[0] == datetime(2020, 1, 1, tzinfo=UTC)
    assert key[0].utcoffset() == timedelta(0)
