"""Schemathesis hooks, for the pytest contract suite and the live fuzz (SCHEMATHESIS_HOOKS).

The one thing a schema cannot say: which `cursor` strings the API issued. A cursor is opaque, so the
spec gives it only a pattern; a random string matching it is a cursor we never issued and is rightly
a 400 `invalid_cursor`, which `positive_data_acceptance` would report as a valid request rejected.
So a *positive* case keeps its cursor only if it is one the API could have issued; the rejection of
forged cursors is covered by the negative cases and the integration tests, and real cursors by them too.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case
from schemathesis.generation import GenerationMode

from core.errors import InvalidCursor
from core.pagination import decode_cursor
from models import Country, ExternalPlan

# The keyset each paginated operation orders by.
CURSOR_KEYS: dict[str, list[Any]] = {
    "listCountries": Country.page_order(),
    "listPlans": ExternalPlan.page_order(),
}


def _issuable(operation_id: str, cursor: object) -> bool:
    try:
        decode_cursor(str(cursor), CURSOR_KEYS[operation_id])
    except InvalidCursor:
        return False
    return True


@schemathesis.hook
def map_case(ctx: Any, case: Case) -> Case:
    query = case.query or {}
    operation_id = case.operation.definition.raw.get("operationId")
    positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
    if positive and "cursor" in query and operation_id in CURSOR_KEYS and not _issuable(operation_id, query["cursor"]):
        case.query = {name: value for name, value in query.items() if name != "cursor"}
    return case
