#!/usr/bin/env python3
"""The business's receptionist settings survive a round trip: GET, PUT (with If-Match), GET again.

Full mode changes the greeting to a unique value, checks that the change and the new ETag persisted and
that a write with the stale ETag is refused (412), then puts the original greeting back (best effort).
Smoke mode signs in and reads the settings only. Usage: see tests/e2e/README.md or --help.
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from e2e_common import (
    BUSINESS_WRITABLE,
    FETCH_FAILED,
    PERSISTENCE_FAILED,
    UPDATE_FAILED,
    CheckFailed,
    Client,
    info,
    passed,
    run,
    warn,
)

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
REQUIRED = (*BUSINESS_WRITABLE, "id", "calendar", "createdAt", "updatedAt")


def writable(business: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {key: business[key] for key in BUSINESS_WRITABLE}
    body.update(changes)
    return body


def read_settings(client: Client, step: str, fail_code: int = FETCH_FAILED) -> tuple[dict[str, Any], str]:
    response = client.get_json("/business/me", step, fail_code)
    business: dict[str, Any] = response.json()
    missing = [key for key in REQUIRED if key not in business]
    if missing:
        raise CheckFailed(fail_code, step, f"GET /business/me lacks {', '.join(missing)}")
    hours = business["businessHours"]
    if not isinstance(hours, dict) or any(day not in hours for day in DAYS):
        raise CheckFailed(fail_code, step, "businessHours does not list every day of the week")
    etag = response.header("ETag")
    if not etag:
        raise CheckFailed(fail_code, step, "GET /business/me answered without an ETag")
    return business, etag


def checks(client: Client, args: argparse.Namespace) -> None:
    original, etag = read_settings(client, "read settings")
    passed("read settings", f"business {original['id']} {original['name']!r}, ETag {etag}")
    if args.smoke:
        info("update settings", "skipped (smoke mode: no writes)")
        return

    greeting = f"E2E check {time.strftime('%Y%m%d-%H%M%S')} {uuid.uuid4().hex[:8]}"
    step = "update greeting"
    response = client.request("PUT", "/business/me", writable(original, greeting=greeting), {"If-Match": etag}, step)
    if response.status != 200:
        raise CheckFailed(UPDATE_FAILED, step, f"PUT /business/me with If-Match: {response.describe()}")
    try:
        put_body = response.json()
        if not isinstance(put_body, dict) or put_body.get("greeting") != greeting:
            raise CheckFailed(UPDATE_FAILED, step, "PUT /business/me answered 200 without the new greeting")
        new_etag = response.header("ETag")
        if not new_etag or new_etag == etag:
            raise CheckFailed(UPDATE_FAILED, step, f"PUT /business/me answered ETag {new_etag!r}, not a new one")
        passed(step, f"200, ETag {etag} -> {new_etag}")
        check_persisted(client, original, etag, greeting, new_etag)
        check_stale_etag_refused(client, original, etag, greeting)
    finally:
        restore(client, original)


def check_persisted(client: Client, original: dict[str, Any], old_etag: str, greeting: str, new_etag: str) -> None:
    step = "read back"
    business, etag = read_settings(client, step, PERSISTENCE_FAILED)
    if business["greeting"] != greeting:
        raise CheckFailed(PERSISTENCE_FAILED, step, f"greeting is {business['greeting']!r}, not {greeting!r}")
    changed = [key for key in BUSINESS_WRITABLE if key != "greeting" and business[key] != original[key]]
    if changed:
        raise CheckFailed(PERSISTENCE_FAILED, step, f"fields that were sent unchanged changed: {', '.join(changed)}")
    if etag == old_etag:
        raise CheckFailed(PERSISTENCE_FAILED, step, f"the ETag is still {etag} after the change")
    if etag != new_etag:
        raise CheckFailed(PERSISTENCE_FAILED, step, f"GET's ETag {etag} differs from the PUT's {new_etag}")
    passed(step, f"greeting persisted, other fields unchanged, ETag {etag}")


def check_stale_etag_refused(client: Client, original: dict[str, Any], stale_etag: str, greeting: str) -> None:
    step = "stale If-Match"
    response = client.request(
        "PUT", "/business/me", writable(original, greeting=greeting + " (stale)"), {"If-Match": stale_etag}, step
    )
    if response.status != 412:
        raise CheckFailed(PERSISTENCE_FAILED, step, f"a PUT with the old ETag answered {response.describe()}, not 412")
    business, _ = read_settings(client, step, PERSISTENCE_FAILED)
    if business["greeting"] != greeting:
        raise CheckFailed(PERSISTENCE_FAILED, step, "the refused write changed the greeting")
    passed(step, f"412 {response.problem_code or ''}".rstrip() + ", nothing changed")


def restore(client: Client, original: dict[str, Any]) -> None:
    """Puts the original greeting back; never fails the run (the check itself already passed or failed)."""
    step = "restore greeting"
    try:
        current, etag = read_settings(client, step)
        if current["greeting"] == original["greeting"]:
            info(step, "already the original")
            return
        response = client.request(
            "PUT", "/business/me", writable(current, greeting=original["greeting"]), {"If-Match": etag}, step
        )
        if response.status == 200:
            passed(step, "original greeting back")
        else:
            warn(step, f"could not restore the original greeting: {response.describe()}")
    except CheckFailed as failure:
        warn(step, f"could not restore the original greeting: {failure.message}")


if __name__ == "__main__":
    run("settings-e2e", __doc__ or "", checks)
