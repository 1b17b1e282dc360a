"""Keyset pagination with opaque cursors: stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Date, DateTime, Select, Uuid, literal, tuple_
from sqlalchemy.orm import QueryableAttribute, Session

from core.errors import InvalidCursor

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    data: Sequence[T]
    next_cursor: str | None


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    return value


def encode_cursor(key: Sequence[Any]) -> str:
    values = [_jsonable(value) for value in key]
    raw = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _is_sane_text(value: str) -> bool:
    # JSON can carry what no database column holds: NUL, or a lone surrogate that is not encodable.
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def decode_cursor(cursor: str, columns: Sequence[QueryableAttribute[Any]]) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or len(key) != len(columns):
            raise ValueError("wrong shape")
        values: list[Any] = []
        for column, value in zip(columns, key, strict=True):
            column_type = getattr(column.type, "impl", column.type)  # a TypeDecorator's underlying type
            if isinstance(column_type, Uuid):
                values.append(uuid.UUID(value))
            elif isinstance(column_type, DateTime):
                # Ours are UTC; a forged offset PostgreSQL cannot store would otherwise be a DataError.
                instant = datetime.fromisoformat(value)
                if instant.tzinfo is None:
                    raise ValueError("naive time")
                values.append(instant.astimezone(UTC))
            elif isinstance(column_type, Date):
                values.append(date.fromisoformat(value))
            elif isinstance(value, column_type.python_type) and (not isinstance(value, str) or _is_sane_text(value)):
                values.append(value)
            else:
                raise ValueError("wrong type")
        return values
    except (ValueError, TypeError, AttributeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor() from None


def paginate(
    session: Session,
    statement: Select[T],
    *,
    order_by: Sequence[QueryableAttribute[Any]],
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
) -> Page[T]:
    """One page of `statement` in `order_by` order (which must be unique; descending if `newest_first`),
    after `cursor`. `order_by` are attributes of the entity selected; the last row's values of them make
    the next cursor.
    """
    if cursor:
        after = decode_cursor(cursor, order_by)
        bound = tuple_(*[literal(value, column.type) for column, value in zip(order_by, after, strict=True)])
        statement = statement.where(tuple_(*order_by) < bound if newest_first else tuple_(*order_by) > bound)
    ordering = [column.desc() for column in order_by] if newest_first else order_by
    rows = session.scalars(statement.order_by(*ordering).limit(limit + 1)).all()
    if len(rows) > limit:
        last = rows[limit - 1]
        return Page(rows[:limit], encode_cursor([getattr(last, attribute.key) for attribute in order_by]))
    return Page(rows, None)


def within(
    statement: Select[T], column: QueryableAttribute[Any], since: datetime | None, until: datetime | None
) -> Select[T]:
    """`statement` narrowed to rows whose `column` is at or after `since` and before `until` (either open)."""
    if since is not None:
        statement = statement.where(column >= since)
    if until is not None:
        statement = statement.where(column < until)
    return statement
