#!/usr/bin/env python3
"""Starting a Google Calendar connection answers one of the two documented ways, and nothing else.

GET /oauth/google/start (redirects not followed) must be either a 302 to an https consent URL carrying
`state` and a PKCE `code_challenge`, or a 200 with exactly {"available": false, "error": ..., "detail": ...}
(non-empty strings) when the server has no Google credentials. Starting writes nothing, so smoke and full
mode run the same checks. Usage: see tests/e2e/README.md or --help.
"""

from __future__ import annotations

import argparse
import urllib.parse

from e2e_common import API_PREFIX, FETCH_FAILED, UPDATE_FAILED, CheckFailed, Client, passed, run

PATH = "/oauth/google/start"


def checks(client: Client, args: argparse.Namespace) -> None:
    step = "start calendar connection"
    response = client.request("GET", PATH, step=step)
    if response.status == 302:
        check_redirect(step, response.header("Location"))
    elif response.status == 200:
        check_unavailable(step, response.content_type, response.json())
    else:
        raise CheckFailed(FETCH_FAILED, step, f"GET {API_PREFIX}{PATH}: {response.describe()}, not 302 or 200")


def check_redirect(step: str, location: str | None) -> None:
    if not location:
        raise CheckFailed(UPDATE_FAILED, step, "302 without a Location")
    url = urllib.parse.urlsplit(location)
    if url.scheme != "https" or not url.netloc:
        raise CheckFailed(UPDATE_FAILED, step, f"302 to a URL that is not https: {url.scheme}://{url.netloc}")
    query = urllib.parse.parse_qs(url.query)
    missing = [name for name in ("state", "code_challenge") if not query.get(name, [""])[0]]
    if missing:
        raise CheckFailed(UPDATE_FAILED, step, f"302 to {url.netloc}{url.path} without {' or '.join(missing)}")
    method = query.get("code_challenge_method", ["(none)"])[0]
    # The state and challenge are not printed: the state is a bearer of the flow for ten minutes.
    passed(step, f"302 to https://{url.netloc}{url.path} with state and code_challenge (method {method})")


def check_unavailable(step: str, content_type: str, body: object) -> None:
    if content_type != "application/json":
        raise CheckFailed(UPDATE_FAILED, step, f"200 with Content-Type {content_type!r}, not application/json")
    if not isinstance(body, dict):
        raise CheckFailed(UPDATE_FAILED, step, "200 whose body is not a JSON object")
    if set(body) != {"available", "error", "detail"}:
        raise CheckFailed(UPDATE_FAILED, step, f"200 with keys {sorted(body)}, not exactly available/error/detail")
    if body["available"] is not False:
        raise CheckFailed(UPDATE_FAILED, step, f"200 with available={body['available']!r}, not false")
    for key in ("error", "detail"):
        if not isinstance(body[key], str) or not body[key].strip():
            raise CheckFailed(UPDATE_FAILED, step, f"200 with {key}={body[key]!r}, not a non-empty string")
    passed(step, f"200 not configured: {body['error']!r}")


if __name__ == "__main__":
    run("calendar-e2e", __doc__ or "", checks)
