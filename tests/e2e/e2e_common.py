"""What the end-to-end scripts share: arguments, one HTTP helper, sign-in, steps and exit codes.

Standard library only, so the scripts run with any python3 (no virtualenv). Never prints the password or
a token: requests are described by method and path, and response bodies are only echoed for errors
(problem details), never for sign-in.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

# Exit codes (documented in tests/e2e/README.md).
PASSED = 0
AUTH_FAILED = 1
FETCH_FAILED = 2
UPDATE_FAILED = 3
PERSISTENCE_FAILED = 4
UNEXPECTED = 5

MEANINGS = {
    PASSED: "passed",
    AUTH_FAILED: "auth failed",
    FETCH_FAILED: "fetch failed",
    UPDATE_FAILED: "update/integration failed",
    PERSISTENCE_FAILED: "persistence/consistency failed",
    UNEXPECTED: "unexpected error",
}

API_PREFIX = "/api/v1"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
TRUTHY = {"1", "true", "yes", "on"}
# What PUT /business/me takes: the full representation minus the read-only id, calendar, createdAt, updatedAt.
BUSINESS_WRITABLE = (
    "name",
    "timezone",
    "greeting",
    "phoneNumber",
    "forwardingNumber",
    "receptionistEnabled",
    "businessHours",
)


class CheckFailed(Exception):
    """A check did not hold: ends the script with `exit_code` after printing `message` as a FAIL step."""

    def __init__(self, exit_code: int, step: str, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.step = step
        self.message = message


class Response:
    """An HTTP answer, whatever its status (redirects are never followed)."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, ValueError):
            return None

    @property
    def problem_code(self) -> str | None:
        body = self.json()
        code = body.get("code") if isinstance(body, dict) else None
        return code if isinstance(code, str) else None

    def describe(self) -> str:
        """`HTTP 422 receptionist_requires_phone` (plus the problem's detail when there is one)."""
        text = f"HTTP {self.status}"
        body = self.json()
        if isinstance(body, dict) and self.content_type == "application/problem+json":
            if body.get("code"):
                text += f" {body['code']}"
            if body.get("detail"):
                text += f": {str(body['detail'])[:200]}"
        return text


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then hands the 3xx back as an HTTPError, which request() turns into a Response


class Client:
    """Talks to one server's API (`<url>/api/v1`); carries the access token once signed in."""

    def __init__(self, base_url: str, timeout: float, verbose: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_url = self.base_url + API_PREFIX
        self.timeout = timeout
        self.verbose = verbose
        self._token: str | None = None
        self._opener = urllib.request.build_opener(_NoRedirects())

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        step: str = "request",
        authenticated: bool = True,
    ) -> Response:
        """Sends a request to `/api/v1<path>`; any HTTP status is returned, a transport failure exits 2."""
        url = self.api_url + path
        sent = {"Accept": "application/json, application/problem+json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        if authenticated and self._token:
            sent["Authorization"] = f"Bearer {self._token}"
        sent.update(headers or {})
        req = urllib.request.Request(url, data=data, headers=sent, method=method)  # noqa: S310 - the URL we were given
        try:
            with self._opener.open(req, timeout=self.timeout) as answer:
                response = Response(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            response = Response(error.code, dict(error.headers.items()), error.read())
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CheckFailed(
                FETCH_FAILED, step, f"{method} {API_PREFIX}{path}: server unreachable ({reason})"
            ) from None
        if self.verbose:
            print(f"        {method} {API_PREFIX}{path} -> {response.status}", flush=True)
        return response

    def login(self, email: str, password: str) -> None:
        """Signs in; exits 1 on anything but 200 with an access token."""
        step = "login"
        response = self.request(
            "POST", "/auth/login", {"email": email, "password": password}, step=step, authenticated=False
        )
        if response.status != 200:
            raise CheckFailed(AUTH_FAILED, step, f"POST /auth/login as {email}: {response.describe()}")
        tokens = response.json()
        token = tokens.get("accessToken") if isinstance(tokens, dict) else None
        if not isinstance(token, str) or not token:
            raise CheckFailed(AUTH_FAILED, step, "POST /auth/login answered 200 without an accessToken")
        self._token = token
        passed(step, f"signed in as {email} (200)")

    def get_json(self, path: str, step: str, fail_code: int = FETCH_FAILED) -> Response:
        """GET that must answer 200 with a JSON object (else exits `fail_code`)."""
        response = self.request("GET", path, step=step)
        if response.status != 200:
            hint = ""
            if path == "/business/me" and response.status == 404:
                hint = " (does this user have a business? POST /business/me creates it)"
            raise CheckFailed(fail_code, step, f"GET {API_PREFIX}{path}: {response.describe()}{hint}")
        if not isinstance(response.json(), dict):
            raise CheckFailed(fail_code, step, f"GET {API_PREFIX}{path}: 200 but the body is not a JSON object")
        return response


def passed(step: str, detail: str) -> None:
    print(f"  PASS  {step}: {detail}", flush=True)


def info(step: str, detail: str) -> None:
    print(f"  ....  {step}: {detail}", flush=True)


def warn(step: str, detail: str) -> None:
    print(f"  WARN  {step}: {detail}", flush=True)


def is_e164(value: Any) -> bool:
    return isinstance(value, str) and E164.match(value) is not None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse exits 2 on bad usage, which would read as "fetch failed": usage errors are unexpected.
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(UNEXPECTED)


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(
        description=description,
        epilog="Exit codes: 0 passed, 1 auth failed, 2 fetch failed, 3 update/integration failed, "
        "4 persistence/consistency failed, 5 unexpected.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("E2E_URL", "http://127.0.0.1:3001"),
        help="the server's base URL, without /api/v1 (env E2E_URL; default %(default)s)",
    )
    parser.add_argument("--email", default=os.environ.get("E2E_EMAIL"), help="the account's email (env E2E_EMAIL)")
    parser.add_argument(
        "--password",
        default=os.environ.get("E2E_PASSWORD"),
        help="the account's password (env E2E_PASSWORD; prefer the environment: arguments show in ps)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        default=os.environ.get("SMOKE_TEST", "").strip().lower() in TRUTHY,
        help="read-only checks, safe against production (env SMOKE_TEST=true)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="print each request and tracebacks")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if urllib.parse.urlsplit(args.url).scheme not in ("http", "https"):
        parser.error(f"--url must be an http(s) URL, not {args.url!r}")
    return args


Checks = Callable[[Client, argparse.Namespace], None]


def run(name: str, description: str, checks: Checks, before_login: Checks | None = None) -> NoReturn:
    """Parses the arguments, signs in, runs `checks` and exits with the outcome's code."""
    args = parse_args(description)
    mode = "smoke" if args.smoke else "full"
    print(f"{name} ({mode} mode) against {args.url.rstrip('/')}{API_PREFIX}", flush=True)
    code = PASSED
    try:
        if not args.email or not args.password:
            raise CheckFailed(
                AUTH_FAILED, "login", "no credentials: pass --email/--password or set E2E_EMAIL/E2E_PASSWORD"
            )
        client = Client(args.url, args.timeout, args.verbose)
        if before_login is not None:
            before_login(client, args)
        client.login(args.email, args.password)
        checks(client, args)
    except CheckFailed as failure:
        print(f"  FAIL  {failure.step}: {failure.message}", flush=True)
        code = failure.exit_code
    except KeyboardInterrupt:
        print("  FAIL  interrupted", flush=True)
        code = UNEXPECTED
    except Exception as error:
        if args.verbose:
            traceback.print_exc()
        print(f"  FAIL  unexpected {type(error).__name__}: {error}", flush=True)
        code = UNEXPECTED
    print(f"{name}: {'PASSED' if code == PASSED else 'FAILED'} (exit {code}: {MEANINGS[code]})", flush=True)
    sys.exit(code)
