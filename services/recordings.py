"""Voicemail recordings without Twilio's credentials: the API streams them from Twilio (authenticated here,
connectors/twilio_recordings.py), and the owners' emails link to a signed, short-lived URL of one
(`playable_url`), which needs no sign-in; and the retention of calls (`purge_expired_calls`).

The link's token is a Fernet token of the data key (core/crypto.py: AES-128-CBC and HMAC-SHA256, with its
creation time): opaque (it names the business and the call, encrypted), authenticated (a forged or altered
one does not open) and good for LINK_LIFETIME from its creation (`open_token` refuses an older one, like an
unknown one). It is not revocable before then; rotating the data keys out ends every link.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from connectors.twilio_recordings import Audio, NotThisAccounts, RecordingFailed, RecordingGone, TwilioRecordings
from core.crypto import CannotDecrypt, Cipher
from core.errors import ApiError, NotFound, ServiceUnavailable
from models import Call
from models.base import utcnow

LINK_LIFETIME = timedelta(days=7)  # an owner may open the email days later
PURGE_BATCH = 10_000  # calls deleted per run (every 10 minutes): a huge backlog never holds one transaction long


class NoRecording(NotFound):
    code = "no_recording"


class RecordingDeleted(NotFound):
    code = "recording_gone"

    def __init__(self) -> None:
        super().__init__("Twilio no longer has this recording (it was deleted there)")


class RecordingUnavailable(ApiError):
    status, code, title, type = 502, "recording_unavailable", "Recording unavailable", "/problems/recording-unavailable"


class RecordingsNotConfigured(ServiceUnavailable):
    code = "twilio_not_configured"

    def __init__(self) -> None:
        super().__init__("This server has no Twilio account (TWILIO_ACCOUNT_SID) to fetch recordings with")


def playable_url(cipher: Cipher, public_base_url: str, business_id: uuid.UUID, call_id: uuid.UUID) -> str:
    """A URL that plays the call's voicemail for LINK_LIFETIME, to whoever holds it (it goes to the
    business's members by email): GET /api/v1/recordings/{token}."""
    token = cipher.encrypt(json.dumps({"business": str(business_id), "call": str(call_id)}))
    return f"{public_base_url.rstrip('/')}/api/v1/recordings/{token}"


def open_token(cipher: Cipher, token: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(business id, call id) of a token `playable_url` made within LINK_LIFETIME; 404 otherwise (an expired
    link looks like a missing one)."""
    try:
        claims = json.loads(cipher.decrypt(token, max_age_seconds=int(LINK_LIFETIME.total_seconds())))
        return uuid.UUID(claims["business"]), uuid.UUID(claims["call"])
    except (CannotDecrypt, ValueError, KeyError, TypeError):
        raise NotFound("This recording link is unknown or has expired") from None


def open_call_recording(
    session: Session, recordings: TwilioRecordings | None, business_id: uuid.UUID, call_id: uuid.UUID
) -> Audio:
    """The voicemail of the business's call, as Twilio starts sending it (read `chunks`, or close it).
    404 `not_found` for a call of another business, `no_recording` without a recording Twilio keeps for this
    account (none left, or a simulated one), `recording_gone` once deleted at Twilio; 503 without a Twilio
    account; 502 `recording_unavailable` when Twilio fails, is too slow or sends more than the bound."""
    url = Call.get(session, business_id, call_id).recording_url
    if url is None:
        raise NoRecording("This call has no voicemail recording (none was left, or the call was simulated)")
    if recordings is None:
        raise RecordingsNotConfigured()
    try:
        return recordings.open(url)
    except NotThisAccounts:
        raise NoRecording("This call's recording is not kept in this server's Twilio account") from None
    except RecordingGone:
        raise RecordingDeleted() from None
    except RecordingFailed as error:
        raise RecordingUnavailable(f"Twilio could not give the recording: {error}") from None


def open_linked_recording(session: Session, cipher: Cipher, recordings: TwilioRecordings | None, token: str) -> Audio:
    """`open_call_recording` for the call a link's token names (`playable_url`); 404 for a forged or expired one."""
    business_id, call_id = open_token(cipher, token)
    return open_call_recording(session, recordings, business_id, call_id)


def purge_expired_calls(session: Session) -> int:
    """Deletes the calls older than their business's `call_retention_days` (their transcripts and recording
    links with them), at most PURGE_BATCH per run; returns how many. Several workers may run it at once."""
    return Call.purge_expired(session, now=utcnow(), limit=PURGE_BATCH)
