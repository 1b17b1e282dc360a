"""Schemathesis over every operation, in-process (ASGI), with every check and response validation on.

The live fuzz (scripts/live-fuzz) runs the same against gunicorn, adding the stateful phase.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator

import pytest
import schemathesis
from connexion import FlaskApp
from hypothesis import HealthCheck, settings
from schemathesis import Case
from sqlalchemy.orm import Session

import tests.contract.schemathesis_hooks  # noqa: F401 - registers the hooks
from core.config import PROJECT_ROOT
from services.catalog import read_catalog, sync_catalog
from tests.conftest import database_of, empty_tables
from tests.contract.schemathesis_hooks import CURSOR_KEYS
from web.spec import Contract


@pytest.fixture(scope="module")
def api_schema(app: FlaskApp) -> Iterator[schemathesis.BaseSchema]:
    with Session(database_of(app).engine) as session:
        sync_catalog(session, read_catalog())
        session.commit()
    # The whole spec, internal operations included (probes, JWKS, metrics, Twilio's callbacks): the served
    # openapi.json is only its public part.
    loaded = schemathesis.openapi.from_dict(json.loads(json.dumps(Contract.load().document)))
    loaded.app = app
    loaded.location = "/api/v1/openapi.json"
    yield loaded
    empty_tables(app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_operation_keeps_its_contract(case: Case) -> None:
    case.call_and_validate()


def test_every_cursor_paged_operation_has_its_keyset_in_the_hooks() -> None:
    """A new cursor-paged operation fails here, not late in a fuzz run, until CURSOR_KEYS names its keyset."""
    document = Contract.load().document
    paged = {
        op["operationId"]
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and {"$ref": "#/components/parameters/Cursor"} in op.get("parameters", [])
    }

    assert paged == set(CURSOR_KEYS)


def test_a_forged_cursor_is_expected_to_be_refused_by_every_cursor_paged_operation() -> None:
    """schemathesis.toml's 400 for a cursor this API did not issue names exactly the operations of CURSOR_KEYS."""
    entries = tomllib.loads((PROJECT_ROOT / "schemathesis.toml").read_text(encoding="utf-8"))["operations"]
    (pattern,) = [
        entry["include-operation-id-regex"]
        for entry in entries
        if re.search(entry.get("include-operation-id-regex", "^$"), "listCountries")
    ]
    document = Contract.load().document
    operations = [op for item in document["paths"].values() for op in item.values() if isinstance(op, dict)]
    operation_ids = {op["operationId"] for op in operations if "operationId" in op}

    assert {operation_id for operation_id in operation_ids if re.search(pattern, operation_id)} == set(CURSOR_KEYS)
