"""The collection envelope: {"data": [...], "nextCursor": "..." | null}."""

from __future__ import annotations

from marshmallow import Schema, fields


def page_schema(item_schema: type[Schema]) -> type[Schema]:
    return Schema.from_dict(
        {
            "data": fields.List(fields.Nested(item_schema)),
            "next_cursor": fields.String(data_key="nextCursor", allow_none=True),
        },
        name=f"{item_schema.__name__.removesuffix('Schema')}ListSchema",
    )
