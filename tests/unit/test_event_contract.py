"""The events in the contract: each type the code emits has its schema in `x-webhooks`, the `Event` union and
the `WebhookEvent` enum; every body schemas/events.py builds matches its schema; and the check every test's
receiver runs (tests/webhook_events.py) does refuse a delivery that strays."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from models import Call, Route
from models.event import TYPES, new_event_id
from schemas import events
from tests.webhook_events import check_delivery
from web.spec import Contract

DOCUMENT = Contract.load().document
SCHEMAS = DOCUMENT["components"]["schemas"]
AT = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)


def _call() -> Call:
    return Call.simulate(
        _NoSession(),  # type: ignore[arg-type]
        uuid.uuid4(),
        caller="+14155550123",
        to="+14155550199",
        route=Route.VOICEMAIL,
        screened=False,
        at=AT,
        answered=False,
        leaves_voicemail=True,
        duration_seconds=42,
    )


def _transcribed(call: Call) -> Call:
    call.transcribed("Hi, this is Ada. Please call me back about Friday.", "completed")
    return call


class _NoSession:
    def add(self, _instance: object) -> None:
        pass


def _delivery(occurrence: events.Occurrence) -> tuple[bytes, dict[str, str]]:
    event_id = new_event_id()
    body = json.dumps(events.body(event_id, occurrence, AT)).encode()
    return body, {"webhook-id": event_id, "webhook-timestamp": "1796682600", "webhook-signature": "v1,c2lnbmVk"}


def test_every_event_type_is_in_each_place_the_spec_names_them() -> None:
    assert set(DOCUMENT["x-webhooks"]) == set(TYPES)
    assert set(SCHEMAS["WebhookEvent"]["enum"]) == set(TYPES)
    assert set(SCHEMAS["Event"]["discriminator"]["mapping"]) == set(TYPES)
    callback = DOCUMENT["paths"]["/webhook-endpoints"]["post"]["callbacks"]["event"]["{$request.body#/url}"]["post"]
    assert callback["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Event"}
    for name, hook in DOCUMENT["x-webhooks"].items():
        ref = hook["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert SCHEMAS["Event"]["discriminator"]["mapping"][name] == ref
        assert SCHEMAS[ref.rsplit("/", 1)[1]]["properties"]["type"]["enum"] == [name]


BUILT = {
    "call.completed": lambda: events.call_completed(_call()),
    "voicemail.received": lambda: events.voicemail_received(_call()),
    "voicemail.transcribed": lambda: events.voicemail_transcribed(_transcribed(_call())),
    "business.updated": lambda: events.business_updated(
        uuid.uuid4(), {"greeting": [None, "Hi!"], "closure": [{"name": "Christmas"}, None], "ringSeconds": [20, 30]}
    ),
}


def test_a_builder_for_every_type() -> None:
    assert set(BUILT) == set(TYPES)


@pytest.mark.parametrize("event_type", sorted(BUILT))
def test_every_body_built_matches_its_schema(event_type: str) -> None:
    occurrence = BUILT[event_type]()

    event = check_delivery(*_delivery(occurrence))

    assert (event["type"], event["data"]) == (event_type, occurrence.data)


STRAYS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "a field left out": ({"drop": "timestamp"}, {}),
    "a wrong type of data": ({"data": {"id": "not-a-uuid", "changes": {}}}, {}),
    "an unknown type": ({"type": "call.started"}, {}),
    "another event's id in the header": ({}, {"webhook-id": f"msg_{'1' * 32}"}),
    "no signature header": ({}, {"webhook-signature": ""}),
}


@pytest.mark.parametrize("stray", sorted(STRAYS))
def test_the_receivers_check_refuses_a_delivery_that_strays(stray: str) -> None:
    changes, header_changes = STRAYS[stray]
    body, headers = _delivery(events.business_updated(uuid.uuid4(), {"greeting": [None, "Hi!"]}))
    event = json.loads(body)
    event.pop(changes.pop("drop", ""), None)
    event.update(changes)
    headers.update(header_changes)
    headers = {name: value for name, value in headers.items() if value}

    with pytest.raises(AssertionError):
        check_delivery(json.dumps(event).encode(), headers)
