"""The declarative base: one naming convention for constraints and indexes, so migrations are deterministic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def assign(entity: Base, values: dict[str, tuple[str, Any]]) -> dict[str, list[Any]]:
    """Sets {name: (attribute, value)} on `entity`; returns what changed as {name: [old, new]}, the shape of the
    audit log's `changes` (names are the model's attributes)."""
    changed: dict[str, list[Any]] = {}
    for field, (attribute, value) in values.items():
        if getattr(entity, attribute) != value:
            changed[field] = [getattr(entity, attribute), value]
            setattr(entity, attribute, value)
    return changed
