"""Texts through Twilio's Messages API, with the `twilio` library's REST client (as the account, with its
auth token). TWILIO_API_BASE_URL points the client elsewhere (a local fake in tests).

Twilio's answers fall in two kinds: `SmsRefused` when it refuses this text for good (a 4xx with its error
code: 21610 the recipient unsubscribed, 21211 an invalid number, 21408 a region not enabled...), which a
retry cannot change; and `SmsUnavailable` for everything a retry may mend: a 5xx, a timeout, a connection
that failed, too many requests (429), and the account's own trouble (401, 403, 404: wrong credentials or
account), which an operator fixes while the job waits.
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

TIMEOUT_SECONDS = 10.0  # connect and read, each; the job is retried after a timeout
_RETRYABLE_CLIENT_ERRORS = frozenset({401, 403, 404, 408, 409, 429})


class SmsRefused(Exception):
    """Twilio refused the text for good."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"Twilio refused the text ({status}, error {code}): {message}")
        self.status, self.code, self.message = status, code, message


class SmsUnavailable(Exception):
    """Twilio could not take the text now: try again later."""


class TwilioSms:
    def __init__(self, *, account_sid: str, auth_token: str, base_url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        # Its settings come from ours, never from the process environment (TWILIO_EDGE, TWILIO_REGION...):
        # an empty mapping would mean os.environ to the library, so it gets one that names nothing.
        self.client = Client(
            account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout), environment={"_": ""}
        )
        self.client.api.base_url = base_url.rstrip("/")

    def send(self, *, to: str, sender: str, body: str) -> str:
        """Sends `body` from `sender` to `to`; returns Twilio's MessageSid."""
        try:
            message = self.client.api.v2010.account.messages.create(to=to, from_=sender, body=body)
        except TwilioRestException as error:
            if 400 <= error.status < 500 and error.status not in _RETRYABLE_CLIENT_ERRORS:
                raise SmsRefused(error.status, error.code, error.msg) from None
            raise SmsUnavailable(f"Twilio answered {error.status} (error {error.code}): {error.msg}") from None
        except requests.RequestException as error:
            raise SmsUnavailable(f"Twilio could not be reached: {type(error).__name__}") from error
        sid = message.sid
        if not isinstance(sid, str) or not sid:
            raise SmsUnavailable("Twilio accepted the text without a MessageSid")
        return sid
