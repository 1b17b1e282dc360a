"""Keyset pagination with opaque cursors: stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, Uuid, literal, tuple_
from sqlalchemy.orm import QueryableAttribute, Session

from core.errors import InvalidCursor

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    data: Sequence[T]
    next_cursor: str | None


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps([str(value) if isinstance(value, uuid.UUID) else value for value in key])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, columns: Sequence[QueryableAttribute[Any]]) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or len(key) != len(columns):
            raise ValueError("wrong shape")
        values = []
        for column, value in zip(columns, key, strict=True):
            if isinstance(column.type, Uuid):
                values.append(uuid.UUID(value))
            elif isinstance(value, column.type.python_type):
                values.append(value)
            else:
                raise ValueError("wrong type")
        return values
    except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor() from None


def paginate(
    session: Session,
    statement: Select[T],
    *,
    order_by: Sequence[QueryableAttribute[Any]],
    key: Callable[[T], Sequence[Any]],
    limit: int,
    cursor: str | None,
) -> Page[T]:
    """One page of `statement` in `order_by` order (which must be unique), after `cursor`."""
    if cursor:
        after = decode_cursor(cursor, order_by)
        bound = [literal(value, column.type) for column, value in zip(order_by, after, strict=True)]
        statement = statement.where(tuple_(*order_by) > tuple_(*bound))
    rows = session.scalars(statement.order_by(*order_by).limit(limit + 1)).all()
    if len(rows) > limit:
        return Page(rows[:limit], encode_cursor(key(rows[limit - 1])))
    return Page(rows, None)
