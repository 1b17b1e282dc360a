"""The lists the integration suites walk name every operation of their kind in the spec, so a new operation
fails here (at once, without a database) until its suite covers it."""

from __future__ import annotations

from tests.integration.test_idempotent_operations import OPERATIONS
from tests.integration.test_isolation import ID_OPERATIONS, NOT_TENANT_SCOPED
from web.spec import Contract


def test_every_operation_that_takes_an_idempotency_key_is_in_the_retry_list() -> None:
    """A new one fails here until test_idempotent_operations.OPERATIONS arranges its retry."""
    document = Contract.load().document
    idempotent = {
        op["operationId"]
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and {"$ref": "#/components/parameters/IdempotencyKey"} in op.get("parameters", [])
    }

    assert idempotent == set(OPERATIONS)


def test_every_operation_that_takes_an_id_is_in_the_isolation_list_or_says_why_not() -> None:
    """A new operation with an id in its path fails here until it is added to test_isolation.ID_OPERATIONS (or to
    NOT_TENANT_SCOPED, with the reason), and `open_to_keys` follows the spec's security."""
    document = Contract.load().document
    in_spec = {
        op["operationId"]: any("apiKey" in requirement for requirement in op.get("security", []))
        for template, item in document["paths"].items()
        if "{" in template
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    listed = {operation.split(" (")[0]: open_to_keys for operation, _, _, _, open_to_keys in ID_OPERATIONS}

    assert set(listed) | set(NOT_TENANT_SCOPED) == set(in_spec)
    assert not set(listed) & set(NOT_TENANT_SCOPED)
    assert listed == {operation: in_spec[operation] for operation in listed}
