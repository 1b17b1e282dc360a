"""Requests from Twilio: each one signed with the account's auth token (`X-Twilio-Signature`, an HMAC-SHA1 of
the URL Twilio called and its sorted form fields), checked by the `twilio` library's RequestValidator."""

from __future__ import annotations

import flask
from twilio.request_validator import RequestValidator

from core.errors import InvalidSignature
from web.context import settings


def signed_form() -> dict[str, str]:
    """The request's form fields, when Twilio signed them; 403 `invalid_signature` otherwise, and for every
    request while TWILIO_AUTH_TOKEN is unset."""
    token = settings().twilio_auth_token
    signature = flask.request.headers.get("X-Twilio-Signature", "")
    form = flask.request.form.to_dict()
    if not token or not signature or not RequestValidator(token).validate(called_url(), form, signature):
        raise InvalidSignature("The request is not signed by our Twilio account")
    return form


def called_url() -> str:
    """The URL Twilio called: this service's public origin (PUBLIC_BASE_URL), the path and the query."""
    query = flask.request.query_string.decode("latin-1")
    return settings().public_base_url.rstrip("/") + flask.request.path + (f"?{query}" if query else "")


def callbacks_url() -> str:
    """Where Twilio posts what happens next: the telephony paths beside this one."""
    return settings().public_base_url.rstrip("/") + flask.request.path.rsplit("/", 1)[0]
