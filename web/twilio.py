"""Requests from Twilio: each one signed with the account's auth token (`X-Twilio-Signature`, an HMAC-SHA1 of
the URL Twilio called and its sorted form fields), checked by the `twilio` library's RequestValidator.

The spec's `twilioSignature` security scheme names the header; its function (web.security.twilio_signature_info)
leaves the check itself to `check_signature`, which runs before the handler, as the form it covers is read in
Flask. So a handler only ever sees signed forms.
"""

from __future__ import annotations

import flask
from twilio.request_validator import RequestValidator

from core.errors import InvalidSignature
from web.context import settings


def check_signature(signature: str) -> None:
    """403 `invalid_signature` unless our Twilio account signed this request's URL and form fields, and for every
    request while TWILIO_AUTH_TOKEN is unset."""
    token = settings().twilio_auth_token
    if not token or not signature or not RequestValidator(token).validate(called_url(), form(), signature):
        raise InvalidSignature("The request is not signed by our Twilio account")


def form() -> dict[str, str]:
    """The form fields Twilio posted, as posted (signed: `check_signature` ran before the handler)."""
    return flask.request.form.to_dict()


def called_url() -> str:
    """The URL Twilio called: this service's public origin (PUBLIC_BASE_URL), the path and the query."""
    query = flask.request.query_string.decode("latin-1")
    return settings().public_base_url.rstrip("/") + flask.request.path + (f"?{query}" if query else "")


def callbacks_url() -> str:
    """Where Twilio posts what happens next: the telephony paths beside this one."""
    return settings().public_base_url.rstrip("/") + flask.request.path.rsplit("/", 1)[0]
