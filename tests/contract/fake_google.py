"""Google's OAuth endpoints as far as the Calendar flow uses them, for the live fuzz:
`python -m tests.contract.fake_google PORT` (scripts/live-fuzz starts it and points GOOGLE_*_URL here).

Without a Google client the server holds no key to seal a `state` with, so every callback is 400
invalid_oauth_state whatever the fuzzer sends. With one pointing here, the hooks give positive callback
cases a state the server issued (schemathesis_hooks), and the code the fuzzer drew is exchanged here for
the tokens of one account, as Google would exchange a code it issued: the callback's logic (connect,
decline, replace a grant) is fuzzed. The protocol itself (PKCE, one-time codes, Google's failures) is
tested against a stricter fake in tests/integration/test_google_calendar.py. Standard library only.
"""

from __future__ import annotations

import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT_EMAIL = "fuzz-calendar@switchboard.test"
SCOPE = "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/calendar"


class FakeGoogle(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/userinfo":
            self._json(200, {"sub": "1234567890", "email": ACCOUNT_EMAIL, "email_verified": True})
        elif path in ("/authorize", "/health"):  # the consent page; its answer is the callback, made by the hooks
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        form = {name: values[0] for name, values in parse_qs(self._read().decode("utf-8", "replace")).items()}
        if path == "/token":
            if form.get("grant_type") != "authorization_code" or not form.get("code"):
                self._json(400, {"error": "invalid_grant", "error_description": "Bad Request"})
                return
            tokens = {
                "access_token": f"ya29.{secrets.token_urlsafe(24)}",
                "refresh_token": f"1//{secrets.token_urlsafe(24)}",
                "expires_in": 3599,
                "scope": SCOPE,
                "token_type": "Bearer",
            }
            self._json(200, tokens)
        elif path == "/revoke":
            self._json(200, {})
        else:
            self._json(404, {"error": "not_found"})

    def _read(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self, status: int, body: dict[str, object]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the server under test logs its side of every exchange."""


def main(argv: list[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(argv[0])), FakeGoogle)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
