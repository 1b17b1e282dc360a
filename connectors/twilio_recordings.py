"""Voicemail recordings kept at Twilio, fetched as this deployment's account (TWILIO_ACCOUNT_SID and
TWILIO_AUTH_TOKEN, HTTP Basic), so nobody else needs Twilio's credentials to play one.

Only a recording of this account is fetched, and only from TWILIO_API_BASE_URL: the URL stored on a call is
parsed for its recording SID, and the request goes to a URL built here from the base URL, the account and
that SID (never to a URL read from the database, which would let whoever wrote one make us fetch anything).
Twilio serves `<RecordingUrl>.mp3` as audio/mpeg. A fetch is bounded in time (each connect and read within
`timeout`, the whole within `deadline_seconds`) and in size (`max_bytes`), and streamed: at most one chunk
of it is held here at a time. Errors never carry the URL or the credentials.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2

from connectors import http

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
_RECORDING_PATH = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>AC[0-9a-fA-F]{{32}})/Recordings/(?P<sid>RE[0-9a-fA-F]{{32}})"
    r"(?:\.(?:mp3|wav|json))?$"
)
MAX_TIMEOUT = 10.0  # seconds for one connect or one read, within the deadline


class NotThisAccounts(Exception):
    """The URL is not a recording of this account at TWILIO_API_BASE_URL, so it is not fetched."""


class RecordingGone(Exception):
    """Twilio has no such recording (any more: deleted there)."""


class RecordingFailed(Exception):
    """Twilio failed, refused our credentials, did not answer in time, or the recording is over the bound."""


@dataclass
class Audio:
    """A recording being fetched, as MP3 (audio/mpeg): read `chunks` to its end, or close it (closing frees
    the connection)."""

    length: int | None  # Twilio's Content-Length, when it sent one (at most the bound)
    chunks: Iterator[bytes]

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class TwilioRecordings:
    account_sid: str
    auth_token: str = field(repr=False)
    base_url: str  # an origin: scheme://host[:port]
    deadline_seconds: float = 60.0
    max_bytes: int = 20 * 1024 * 1024

    def recording_sid(self, url: str) -> str:
        """The SID of the recording `url` names, if it is one of this account at TWILIO_API_BASE_URL."""
        parts, base = urlsplit(url), urlsplit(self.base_url)
        match = _RECORDING_PATH.match(parts.path)
        same_origin = (parts.scheme, parts.netloc.lower()) == (base.scheme, base.netloc.lower())
        if not same_origin or match is None or match["account"] != self.account_sid or parts.query or parts.fragment:
            raise NotThisAccounts()
        return match["sid"]

    def open(self, url: str) -> Audio:
        """Starts fetching the recording `url` names as MP3: Twilio has answered 200 with a body no longer
        than the bound when this returns. NotThisAccounts, RecordingGone or RecordingFailed otherwise."""
        sid = self.recording_sid(url)
        deadline = time.monotonic() + self.deadline_seconds
        client = http.client(min(MAX_TIMEOUT, self.deadline_seconds))
        request = client.build_request(
            "GET", f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}.mp3"
        )
        try:
            response = client.send(request, auth=httpx2.BasicAuth(self.account_sid, self.auth_token), stream=True)
        except http.HTTPError as error:
            client.close()
            log.warning("twilio recording %s: no answer (%s)", sid, type(error).__name__)
            raise RecordingFailed("Twilio did not answer in time") from None
        try:
            length = _length(response)
            if response.status_code == 404:
                raise RecordingGone()
            if response.status_code != 200:
                log.warning("twilio recording %s: Twilio answered %s", sid, response.status_code)
                raise RecordingFailed(f"Twilio answered {response.status_code}")
            if length is not None and length > self.max_bytes:
                log.warning("twilio recording %s: %s bytes, over the bound of %s", sid, length, self.max_bytes)
                raise RecordingFailed("The recording is larger than this server passes on")
        except BaseException:
            response.close()
            client.close()
            raise
        return Audio(length, self._chunks(sid, client, response, deadline))

    def _chunks(self, sid: str, client: httpx2.Client, response: httpx2.Response, deadline: float) -> Iterator[bytes]:
        """The body, chunk by chunk; RecordingFailed past the deadline or the bound (what was passed on is cut
        off there), or when Twilio stops sending."""
        passed = 0
        try:
            for chunk in response.iter_raw():  # as they arrive (a chunk size would hold them back to fill it)
                passed += len(chunk)
                if passed > self.max_bytes:
                    log.warning("twilio recording %s: cut off at the bound of %s bytes", sid, self.max_bytes)
                    raise RecordingFailed("The recording is larger than this server passes on")
                if time.monotonic() > deadline:
                    log.warning("twilio recording %s: cut off at the deadline of %s s", sid, self.deadline_seconds)
                    raise RecordingFailed("Twilio did not send the recording in time")
                yield chunk
        except http.HTTPError as error:
            log.warning("twilio recording %s: cut off after %s bytes (%s)", sid, passed, type(error).__name__)
            raise RecordingFailed("Twilio stopped sending the recording") from None
        finally:
            response.close()
            client.close()


def _length(response: httpx2.Response) -> int | None:
    try:
        length = int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None
    return length if length >= 0 else None
