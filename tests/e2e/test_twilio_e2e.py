#!/usr/bin/env python3
"""The business's telephony settings are consistent, and the receptionist cannot be enabled without a number.

Reads GET /business/me: phoneNumber and forwardingNumber are null or E.164, and an enabled receptionist has
a phone number. Reads GET /phone-numbers (every page): every number is E.164. Full mode also sends a PUT
enabling the receptionist with no phone number: it must be refused (422 receptionist_requires_phone) and
change nothing. Usage: see tests/e2e/README.md or --help.
"""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from e2e_common import (
    API_PREFIX,
    BUSINESS_WRITABLE,
    FETCH_FAILED,
    PERSISTENCE_FAILED,
    UPDATE_FAILED,
    CheckFailed,
    Client,
    info,
    is_e164,
    passed,
    run,
)

MAX_PAGES = 50


def read_business(client: Client, step: str, fail_code: int = FETCH_FAILED) -> tuple[dict[str, Any], str | None]:
    response = client.get_json("/business/me", step, fail_code)
    business: dict[str, Any] = response.json()
    missing = [key for key in ("phoneNumber", "forwardingNumber", "receptionistEnabled") if key not in business]
    if missing:
        raise CheckFailed(fail_code, step, f"GET /business/me lacks {', '.join(missing)}")
    return business, response.header("ETag")


def check_numbers(business: dict[str, Any]) -> None:
    step = "business numbers"
    for key in ("phoneNumber", "forwardingNumber"):
        value = business[key]
        if value is not None and not is_e164(value):
            raise CheckFailed(PERSISTENCE_FAILED, step, f"{key} {value!r} is neither null nor E.164")
    enabled = business["receptionistEnabled"]
    if not isinstance(enabled, bool):
        raise CheckFailed(PERSISTENCE_FAILED, step, f"receptionistEnabled is {enabled!r}, not a boolean")
    if enabled and business["phoneNumber"] is None:
        raise CheckFailed(PERSISTENCE_FAILED, step, "the receptionist is enabled but the business has no phoneNumber")
    passed(
        step,
        f"phoneNumber {business['phoneNumber'] or 'null'}, forwardingNumber {business['forwardingNumber'] or 'null'}, "
        f"receptionist {'enabled' if enabled else 'disabled'}",
    )


def check_phone_numbers(client: Client) -> None:
    step = "phone numbers"
    count, cursor, pages = 0, None, 0
    while True:
        path = "/phone-numbers" + (f"?cursor={urllib.parse.quote(cursor)}" if cursor else "")
        body = client.get_json(path, step).json()
        items = body.get("data")
        if not isinstance(items, list):
            raise CheckFailed(FETCH_FAILED, step, f"GET {API_PREFIX}/phone-numbers: `data` is not a list")
        for item in items:
            e164 = item.get("e164") if isinstance(item, dict) else None
            if not is_e164(e164):
                item_id = item.get("id") if isinstance(item, dict) else None
                raise CheckFailed(PERSISTENCE_FAILED, step, f"number {item_id} has e164 {e164!r}, not E.164")
        count += len(items)
        pages += 1
        cursor = body.get("nextCursor")
        if not cursor:
            break
        if pages >= MAX_PAGES:
            info(step, f"stopped after {pages} pages")
            break
    passed(step, f"{count} number(s), all E.164")


def check_enable_without_phone_refused(client: Client, before: dict[str, Any], etag: str | None) -> None:
    step = "enable without phone"
    body = {key: before[key] for key in BUSINESS_WRITABLE if key in before}
    body.update(receptionistEnabled=True, phoneNumber=None)
    response = client.request("PUT", "/business/me", body, {"If-Match": etag} if etag else None, step)
    if response.status != 422 or response.problem_code != "receptionist_requires_phone":
        raise CheckFailed(UPDATE_FAILED, step, f"{response.describe()}, not 422 receptionist_requires_phone")
    passed(step, "422 receptionist_requires_phone")

    step = "unchanged after refusal"
    after, etag_after = read_business(client, step, PERSISTENCE_FAILED)
    changed = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
    if changed:
        raise CheckFailed(PERSISTENCE_FAILED, step, f"the refused PUT changed {', '.join(changed)}")
    if etag_after != etag:
        raise CheckFailed(PERSISTENCE_FAILED, step, f"the ETag moved from {etag} to {etag_after}")
    passed(step, "settings and ETag as before")


def checks(client: Client, args: argparse.Namespace) -> None:
    business, etag = read_business(client, "read business")
    passed("read business", f"business {business.get('id')}")
    check_numbers(business)
    check_phone_numbers(client)
    if args.smoke:
        info("enable without phone", "skipped (smoke mode: no writes)")
        return
    check_enable_without_phone_refused(client, business, etag)


if __name__ == "__main__":
    run("twilio-e2e", __doc__ or "", checks)
