"""Schemathesis hooks, for the pytest contract suite and the live fuzz (SCHEMATHESIS_HOOKS).

The one thing a schema cannot say: which `cursor` strings the API issued. A cursor is opaque, so the
spec gives it only a pattern; a random string matching it is a cursor we never issued and is rightly
a 400 `invalid_cursor`, which `positive_data_acceptance` would report as a valid request rejected.
So a *positive* case keeps its cursor only if it is one the API could have issued; the rejection of
forged cursors is covered by the negative cases and the integration tests, and real cursors by them too.
Likewise a positive case gets a fresh `Idempotency-Key` (see before_call).

Authenticated operations get a real access token of a fuzz user, registered on first use, made staff
(through DATABASE_URL, as `make create-staff` would) so that the admin operations are explored too, and
owner of a business (createBusiness; a 409 once it has one) so that the business operations are.
Its token is checked every few seconds and signed in again when the fuzzer has logged it out or revoked
its session; its wrong guesses at `currentPassword` lock the account: like an operator would, the harness
lifts that lock before it signs in again.

Positive data reaches the logic behind the schema. Schema-valid is not enough for the rules no JSON
Schema keyword carries, and positive cases that break them only ever test the rule's 422. So:
- map_case shapes each positive case, as generated, to those rules: real E.164 numbers (libphonenumber's
  example numbers), instants of this century (the schedule's, the preview's, the simulator's), IANA time
  zones, business hours that open before they close, passwords not on
  data/common-passwords.txt, a new business without a phone number (it holds none yet), and an OAuth
  callback that carries what Google sends (a code of printable ASCII, or `error=access_denied`). Each
  replacement is picked from the drawn value, so a seed still fixes what is sent. Negative cases are left
  as drawn.
- before_call gives positive cases, as they are sent, what only the server knows at that moment. Every
  one: the business's current ETag for If-Match and a number it holds for `phoneNumber`; for
  createBusiness, the token of a newcomer who belongs to no business (the fuzz user owns one); for
  simulateCall, a receptionist number (one it holds, set through updateBusiness, as a user would first).
  Every other one of an operation that takes a secret (the rest keep the drawn secret, so its refusal is fuzzed too):
  the fuzz user's current password; one-time tokens read from the mail the server queued (the
  `send_email` jobs, the outbox a worker would send; no worker runs during the fuzz), for acceptInvitation
  an invitation of the newcomer by the fuzz user; an OAuth `state` the server issued; a dead job for
  retryJob; an event of the fuzz business for getEvent, and a delivery of one for retryWebhookDelivery
  (ids no generator can guess); a member (the newcomer) for updateMember and removeMember; and for the sign-ins
  (login, refreshTokens, issueToken) the newcomer's password or newest refresh token. The examples phase
  applies no case hooks (Schemathesis builds its cases from the spec's examples directly), so before_call
  shapes those cases too.
- after_call follows the fuzz user's password when changePassword succeeds, so later sign-ins work, and
  keeps the newest refresh token a sign-in got.
The harness's own requests carry no generation metadata, so none of these hooks touch them.
"""

from __future__ import annotations

import os
import re
import time
import uuid
import zlib
import zoneinfo
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import phonenumbers
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import TestPhase
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload
from twilio.request_validator import RequestValidator

from cli import staff
from core.config import load_settings_or_exit
from core.db import Database, create_db_engine
from core.errors import InvalidCursor
from core.pagination import decode_cursor
from core.passwords import common_passwords
from models import (
    ApiKey,
    AuditEvent,
    AuthSession,
    BlockedNumber,
    Business,
    Call,
    Closure,
    Country,
    Event,
    ExternalPlan,
    Invitation,
    Job,
    JobStatus,
    Membership,
    NumberStatus,
    PhoneNumber,
    Role,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from models.base import utcnow
from models.business import API_KEY_SCOPES
from schemas import events
from services import webhooks
from services.mail import SEND_EMAIL

# The keyset each paginated operation orders by.
CURSOR_KEYS: dict[str, list[Any]] = {
    "listCountries": Country.page_order(),
    "listPlans": ExternalPlan.page_order(),
    "listSessions": AuthSession.page_order(),
    "listJobs": Job.page_order(),
    "listMembers": Membership.page_order(),
    "listInvitations": Invitation.page_order(),
    "listPhoneNumbers": PhoneNumber.page_order(),
    "listApiKeys": ApiKey.page_order(),
    "listAuditEvents": AuditEvent.page_order(),
    "listCalls": Call.page_order(),
    "listWebhookEndpoints": WebhookEndpoint.page_order(),
    "listWebhookDeliveries": WebhookDelivery.page_order(),
    "listClosures": Closure.page_order(),
    "listBlockedNumbers": BlockedNumber.page_order(),
    "listEvents": Event.page_order(),
}


def _issuable(operation_id: str, cursor: object) -> bool:
    try:
        decode_cursor(str(cursor), CURSOR_KEYS[operation_id])
    except InvalidCursor:
        return False
    return True


FUZZ_USER = {"email": "fuzz-user@switchboard.test", "password": "fuzzing-is-a-user-too", "name": "Fuzz"}
# Belongs to no business before each createBusiness or acceptInvitation the harness sends as them.
NEWCOMER = {"email": "fuzz-newcomer@switchboard.test", "password": "new-in-town-fuzzing", "name": "Fuzz Newcomer"}
# Asks for password resets; never signs in, so a reset (which ends every session) breaks nothing.
FORGETFUL = {"email": "fuzz-forgetful@switchboard.test", "password": "forgot-it-fuzzing", "name": "Fuzz Forgetful"}

# Real numbers (libphonenumber's example number of each region, valid by its own metadata), and the time
# zones this Python knows (the server's list: the same interpreter and tzdata).
REAL_NUMBERS = tuple(
    phonenumbers.format_number(phonenumbers.example_number(region), phonenumbers.PhoneNumberFormat.E164)
    for region in ("US", "CA", "GB", "IE", "DE", "FR", "ES", "IT", "NL", "SE", "AU", "NZ", "JP", "BR", "MX", "ZA")
)
_TIME_ZONE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_+/-]{0,63}")  # the spec's Timezone
TIME_ZONES = tuple(sorted(zone for zone in zoneinfo.available_timezones() if _TIME_ZONE_PATTERN.fullmatch(zone)))
_TIME_ZONE_SET = frozenset(TIME_ZONES)
# Formats the spec could declare: `format: e164` on E164 and NullableE164, `format: iana-time-zone` on
# Timezone. Once it does, every phase draws these values (coverage and fuzzing alike) and map_case's
# replacements of them change nothing; until then the formats are unused.
schemathesis.openapi.format("e164", st.sampled_from(REAL_NUMBERS))
schemathesis.openapi.format("iana-time-zone", st.sampled_from(TIME_ZONES))
BUSINESS_WRITES = ("createBusiness", "replaceBusiness", "updateBusiness")
NEW_PASSWORD_FIELD = {"registerUser": "password", "changePassword": "newPassword", "resetPassword": "newPassword"}
OAUTH_CALLBACK = "completeGoogleCalendarConnection"
TOKEN_ENDPOINT = "issueToken"
REFRESH_TOKEN_FIELD = {"login": "refreshToken", "refreshTokens": "refreshToken", TOKEN_ENDPOINT: "refresh_token"}
_VSCHAR = re.compile(r"[\x20-\x7e]+")  # RFC 6749 appendix A: what `code` (A.11) and `state` (A.5) are made of


# Generation: the rules a schema cannot carry.


@schemathesis.hook
def map_case(ctx: Any, case: Case) -> Case:
    if not _is_positive(case):
        return case
    _shape(case, _operation_id(case))
    return case


def _shape(case: Case, operation_id: str) -> None:
    """Assigns only what changed: an assignment marks the component for Schemathesis to validate again."""
    query = case.query or {}
    if "cursor" in query and operation_id in CURSOR_KEYS and not _issuable(operation_id, query["cursor"]):
        case.query = {name: value for name, value in query.items() if name != "cursor"}
    if isinstance(case.body, dict):
        body = _shaped_body(operation_id, case.body)
        if body != case.body:
            case.body = body
    if operation_id == OAUTH_CALLBACK:
        query = _shaped_callback(dict(case.query or {}))
        if query != case.query:
            case.query = query
    if operation_id in ("getSchedule", "previewRouting") and case.query:
        query = _shaped_times(dict(case.query))
        if query != case.query:
            case.query = query
    if operation_id == "simulateCall" and isinstance(case.body, dict) and "at" in case.body:
        body = _shaped_times(dict(case.body))
        if body != case.body:
            case.body = body


def _shaped_body(operation_id: str, body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    if operation_id in BUSINESS_WRITES:
        if isinstance(body.get("timezone"), str) and body["timezone"] not in _TIME_ZONE_SET:
            body["timezone"] = _pick(TIME_ZONES, body["timezone"])
        if isinstance(body.get("forwardingNumber"), str) and not _is_real_number(body["forwardingNumber"]):
            body["forwardingNumber"] = _pick(REAL_NUMBERS, body["forwardingNumber"])
        if isinstance(body.get("businessHours"), dict):
            body["businessHours"] = {day: _open_day(hours) for day, hours in body["businessHours"].items()}
        if operation_id == "createBusiness":
            # A new business holds no number yet, so it can name none (phone_number_not_held) and its
            # receptionist cannot be enabled; numbers come after (createPhoneNumber, then updateBusiness).
            if body.get("phoneNumber") is not None:
                body["phoneNumber"] = None
            if body.get("receptionistEnabled"):
                body["receptionistEnabled"] = False
    if operation_id == "createClosure":
        body = _shaped_closure(body)
    number = body.get("number")
    if operation_id == "createBlockedNumber" and isinstance(number, str) and not _is_real_number(number):
        body["number"] = _pick(REAL_NUMBERS, number)
    field = NEW_PASSWORD_FIELD.get(operation_id)
    if field is not None and isinstance(body.get(field), str):
        body[field] = _uncommon(body[field])
    return body


def _shaped_callback(query: dict[str, Any]) -> dict[str, Any]:
    """Google's redirect carries a `code` of printable ASCII, or `error` (`access_denied` when the person
    declined)."""
    if "error" in query:
        query["error"] = "access_denied"
    elif not isinstance(query.get("code"), str) or not _VSCHAR.fullmatch(query["code"]):
        code = "".join(char for char in str(query.get("code", "")) if " " <= char <= "~")
        query["code"] = code or f"4/fuzz-{zlib.crc32(repr(sorted(query.items())).encode()):08x}"
    return query


def _pick(options: Sequence[str], drawn: object) -> str:
    return options[zlib.crc32(repr(drawn).encode()) % len(options)]


def _is_real_number(value: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        return False


def _open_day(hours: object) -> object:
    """An open day as the rules want it: the shorthand with open before close, or intervals that do not
    overlap (the times drawn, sorted and paired; none runs past midnight, so no day overlaps the next)."""
    if not isinstance(hours, dict) or hours.get("closed") is not False:
        return hours
    if isinstance(hours.get("intervals"), list):
        day = {key: value for key, value in hours.items() if key not in ("open", "close")}
        return {**day, "intervals": _paired(hours["intervals"])}
    opens, closes = sorted((str(hours.get("open", "09:00")), str(hours.get("close", "17:00"))))
    if opens == closes:
        minutes = int(opens[:2]) * 60 + int(opens[3:])
        opens, closes = (opens, _clock(minutes + 1)) if minutes < 24 * 60 - 1 else (_clock(minutes - 1), closes)
    return {**hours, "open": opens, "close": closes}


def _paired(intervals: list[Any]) -> list[dict[str, str]]:
    times = sorted(
        {
            time
            for interval in intervals
            if isinstance(interval, dict)
            for time in (interval.get("open"), interval.get("close"))
            if isinstance(time, str) and time != "24:00"
        }
    )
    pairs = [{"open": opens, "close": closes} for opens, closes in zip(times[::2], times[1::2], strict=False)]
    return pairs or [{"open": "09:00", "close": "17:00"}]


def _in_century(day: date) -> date:
    """The same day of a year from 2000 to 2099 (the calendar the schedule is worked out in)."""
    year = 2000 + day.year % 100
    return day.replace(year=year, day=min(day.day, 28)) if day.month == 2 else day.replace(year=year)


def _shaped_closure(body: dict[str, Any]) -> dict[str, Any]:
    """Dates from 2000 to 2099, the end at most 30 days after the start, special hours that do not overlap."""
    try:
        start = _in_century(date.fromisoformat(str(body.get("startDate"))))
    except ValueError:
        return body
    body["startDate"] = start.isoformat()
    if "endDate" in body:
        body["endDate"] = (start + timedelta(days=zlib.crc32(str(body["endDate"]).encode()) % 31)).isoformat()
    if isinstance(body.get("intervals"), list):
        body["intervals"] = _paired(body["intervals"])
    return body


def _shaped_times(query: dict[str, Any]) -> dict[str, Any]:
    """Instants from 2000 to 2099, and `until` after `since` by at most the 31 days a schedule spans."""
    for name in ("since", "at"):
        if isinstance(query.get(name), str):
            try:
                instant = datetime.fromisoformat(query[name]).astimezone(UTC)
            except (ValueError, OverflowError):
                continue
            if not 2000 <= instant.year <= 2098:
                query[name] = instant.replace(year=2000 + instant.year % 98, day=min(instant.day, 28)).isoformat()
    if "until" in query:
        try:
            start = datetime.fromisoformat(str(query.get("since")))
        except ValueError:
            start = utcnow()
        minutes = 1 + zlib.crc32(str(query["until"]).encode()) % (31 * 24 * 60)
        query["until"] = (start + timedelta(minutes=minutes)).isoformat()
    return query


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _uncommon(password: str) -> str:
    while password.lower() in common_passwords():
        password += "-fz"
    return password


# Call time: what only the server knows, as the case is sent.


@schemathesis.hook
def before_call(ctx: Any, case: Case, kwargs: dict[str, Any]) -> None:
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return
    if str(case.method).upper() != str(case.operation.method).upper():
        return  # a check's probe of another method: nothing of this operation runs
    operation_id = _operation_id(case)
    if meta.phase.name == TestPhase.EXAMPLES:
        _shape(case, operation_id)
    if case.headers and "Idempotency-Key" in case.headers:
        # A generated key repeats (its example, shrunk values): a repeat is a client's retry and rightly
        # replays the first response, even of a resource deleted since, which the stateful checks read
        # as a create that did not create. New requests get new keys; replays are tested in integration.
        case.headers = {**case.headers, "Idempotency-Key": str(uuid.uuid4())}
    if operation_id in _STATE:
        _STATE[operation_id](case)
    elif operation_id in _SECRETS and _takes_turn(case, operation_id, str(meta.phase.name)):
        _SECRETS[operation_id](case)


def _takes_turn(case: Case, operation_id: str, phase: str) -> bool:
    """Every other positive case of an operation that takes a secret gets the real one, starting with the
    first of each phase; the others keep the secret drawn, so the refusal (422, 401, the callback's and the
    token endpoint's 400) is fuzzed too, and the costly successes (a password hashed) stay half the cases.
    A case sent again (Schemathesis replays a 401 after signing in again) keeps its turn."""
    if case.id not in _harness.turn_of:
        turn = _harness.turns.get((operation_id, phase), 0)
        _harness.turns[(operation_id, phase)] = turn + 1
        _harness.turn_of[case.id] = turn % 2 == 0
    return _harness.turn_of[case.id]


@schemathesis.hook
def after_call(ctx: Any, case: Case, response: Any) -> None:
    if case.meta is None or not isinstance(case.body, dict):
        return
    operation_id = _operation_id(case)
    if (
        operation_id == "changePassword"
        and response.status_code == 204
        and (case.headers or {}).get("Authorization") in _harness.fuzz_bearers
    ):
        _harness.passwords[FUZZ_USER["email"]] = case.body["newPassword"]
    elif operation_id in REFRESH_TOKEN_FIELD and response.status_code == 200 and _is_positive(case):
        _harness.refresh_token = response.json()[REFRESH_TOKEN_FIELD[operation_id]]


def _business_settings(case: Case) -> None:
    """If-Match: the current ETag. phoneNumber: one the business holds, active, or none; the receptionist
    only with a number (PATCH adds the held number where it enables the receptionist)."""
    body = dict(case.body) if isinstance(case.body, dict) else {}
    etag, held = _fuzz_business()
    if not held and (body.get("phoneNumber") is not None or body.get("receptionistEnabled")):
        _new_number(case)
        etag, held = _fuzz_business()
    if case.headers and "If-Match" in case.headers:
        case.headers = {**case.headers, "If-Match": etag}
    if not isinstance(case.body, dict):
        return
    if body.get("phoneNumber") is not None:
        body["phoneNumber"] = _pick(held, body["phoneNumber"]) if held else None
    if "phoneNumber" in body and body["phoneNumber"] is None:
        body["receptionistEnabled"] = False
    elif body.get("receptionistEnabled") and "phoneNumber" not in body:
        if held:
            body["phoneNumber"] = held[0]
        else:
            body["receptionistEnabled"] = False
    if body != case.body:
        case.body = body


def _create_business(case: Case) -> None:
    _leave_business(NEWCOMER["email"])
    _as_newcomer(case)


def _accept_invitation(case: Case) -> None:
    """An invitation of the fuzz user's business to the newcomer (never as owner: the fuzz user stays its
    only owner, whom the fuzzer therefore cannot demote), and the token from its email."""
    _leave_business(NEWCOMER["email"])
    invite = {"email": NEWCOMER["email"], "role": _pick(("member", "admin"), case.body)}
    invited = _as_fuzz_user(
        case, "POST", "/business/me/invitations", body=invite, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    if invited.status_code == 201:
        _set_token(case, _mailed_token(NEWCOMER["email"], "invitation"))
    _as_newcomer(case)


def _change_password(case: Case) -> None:
    _lift_lockout(FUZZ_USER["email"])
    if isinstance(case.body, dict):
        case.body = {**case.body, "currentPassword": _harness.passwords[FUZZ_USER["email"]]}


def _reset_password(case: Case) -> None:
    _ensure_account(case, FORGETFUL)
    if _call(case, "POST", "/auth/password/forgot", body={"email": FORGETFUL["email"]}).status_code == 202:
        _set_token(case, _mailed_token(FORGETFUL["email"], "reset_password"))


def _verify_email(case: Case) -> None:
    """The fuzz user's address, unverified again (as an operator could) so that a new link is sent."""
    with _database().sessions.begin() as session:
        session.execute(update(User).where(User.email == FUZZ_USER["email"]).values(email_verified_at=None))
    if _as_fuzz_user(case, "POST", "/auth/verify-email/resend").status_code == 202:
        _set_token(case, _mailed_token(FUZZ_USER["email"], "verify_email"))


def _sign_in_credentials(case: Case) -> None:
    """A credential of the newcomer: their password, or the newest refresh token a sign-in got (each is good
    once; spending one twice ends its family). The token endpoint's refresh grant while there is a token,
    else its password grant (the sign-in login runs, fuzzed there)."""
    if not isinstance(case.body, dict):
        return
    _ensure_account(case, NEWCOMER)
    email, password = NEWCOMER["email"], _harness.passwords[NEWCOMER["email"]]
    body, refresh_token = dict(case.body), _harness.refresh_token
    operation_id = _operation_id(case)
    if operation_id == "login":
        body.update(email=email, password=password)
    elif operation_id == "refreshTokens" and refresh_token is not None:
        body["refreshToken"], _harness.refresh_token = refresh_token, None
    elif operation_id == TOKEN_ENDPOINT:
        body = {name: value for name, value in body.items() if name not in ("username", "password", "refresh_token")}
        if refresh_token is not None:
            body.update(grant_type="refresh_token", refresh_token=refresh_token)
            _harness.refresh_token = None
        else:
            body.update(grant_type="password", username=email, password=password)
    case.body = body


def _dead_job(case: Case) -> None:
    """A job that died (as one does when its attempts run out), for the retry to queue again."""
    with _database().sessions.begin() as session:
        job = Job.enqueue(session, "fuzz_probe", {}, max_attempts=1)
        job.status, job.attempts, job.finished_at = JobStatus.DEAD, 1, utcnow()
        session.flush()
        case.path_parameters = {**(case.path_parameters or {}), "jobId": str(job.id)}


def _fuzz_event(session: Session) -> tuple[Event, WebhookEndpoint] | None:
    """A business.updated event of the fuzz business, delivered to an endpoint of its that is switched on (one
    is added when the fuzzer deleted or switched off them all): what a customer's integration has."""
    business = _fuzz_business_row(session)
    if business is None:
        return None
    endpoint = session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.business_id == business.id, WebhookEndpoint.enabled.is_(True))
    )
    if endpoint is None:
        endpoint = WebhookEndpoint(
            business_id=business.id, url="https://hooks.example.com/fuzz", events=[], secret_ciphertext="-"
        )
        session.add(endpoint)
        session.flush()
    endpoint.events = sorted({*endpoint.events, "business.updated"})
    event = webhooks.emit(session, business.id, events.business_updated(business.id, {"greeting": [None, "Fuzz"]}))
    return event, endpoint


def _real_event(case: Case) -> None:
    """getEvent: an event of the fuzz business (the fuzzer can guess none: ids are random)."""
    with _database().sessions.begin() as session:
        made = _fuzz_event(session)
        if made is not None:
            case.path_parameters = {**(case.path_parameters or {}), "eventId": made[0].id}


def _real_delivery(case: Case) -> None:
    """retryWebhookDelivery: a delivery of the fuzz business's, to an endpoint that is switched on."""
    with _database().sessions.begin() as session:
        made = _fuzz_event(session)
        if made is None:
            return
        event, endpoint = made
        session.flush()
        delivery = session.scalar(
            select(WebhookDelivery.id).where(
                WebhookDelivery.event_id == event.id, WebhookDelivery.endpoint_id == endpoint.id
            )
        )
        ids = {"endpointId": str(endpoint.id), "deliveryId": str(delivery)}
        case.path_parameters = {**(case.path_parameters or {}), **ids}


def _member(case: Case) -> None:
    """A member of the fuzz business to change or remove: the newcomer, joined again as a member."""
    _ensure_account(case, NEWCOMER)
    with _database().sessions.begin() as session:
        fuzz_user = select(User.id).where(User.email == FUZZ_USER["email"]).scalar_subquery()
        business_id = session.scalar(select(Membership.business_id).where(Membership.user_id == fuzz_user))
        newcomer_id = session.scalar(select(User.id).where(User.email == NEWCOMER["email"]))
        if business_id is None or newcomer_id is None:
            return
        session.execute(delete(Membership).where(Membership.user_id == newcomer_id))
        session.add(Membership(business_id=business_id, user_id=newcomer_id, role=Role.MEMBER))
    case.path_parameters = {**(case.path_parameters or {}), "userId": str(newcomer_id)}


def _oauth_callback(case: Case) -> None:
    state = _oauth_state(case)
    if state is not None:
        case.query = {**(case.query or {}), "state": state}


# What every positive case gets, and the secrets every other one gets.
def _twilio_signed(case: Case) -> None:
    """Signs a Twilio request as Twilio would (the server's TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL, shared by
    scripts/live-fuzz), so the fuzz reaches the receptionist, not only the signature check: a call goes to a
    number of the fuzz business every other time, and a callback names a call the server answered."""
    body = dict(case.body) if isinstance(case.body, dict) else {}
    operation_id = _operation_id(case)
    with _database().sessions() as session:
        known = list(session.scalars(select(Call.provider_sid).order_by(Call.started_at.desc()).limit(20)))
    if operation_id in ("answerTwilioCall", "answerTwilioFallback"):
        numbers = _fuzz_business()[1]
        if numbers and _takes_turn(case, operation_id, "number"):
            body["To"] = _pick(numbers, body.get("CallSid"))
    elif operation_id == "receiveTwilioMessage":  # a STOP or START to a number of the fuzz business
        numbers = _fuzz_business()[1]
        if numbers and _takes_turn(case, operation_id, "number"):
            body["To"] = _pick(numbers, body.get("MessageSid"))
            body["Body"] = _pick(["STOP", " start ", "Unsubscribe", "YES"], body.get("Body"))
    elif "CallSid" in body and known and operation_id not in ("screenTwilioCall", "recordTwilioScreening"):
        body["CallSid"] = _pick(known, body["CallSid"])
    if body != case.body:
        case.body = body
    if known and case.query and "callSid" in case.query:  # the whisper's: the caller's call
        case.query = {**case.query, "callSid": _pick(known, case.query["callSid"])}
    settings = load_settings_or_exit()
    query = f"?{urlencode(case.query)}" if case.query else ""
    url = settings.public_base_url.rstrip("/") + "/api/v1" + case.formatted_path + query
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(
        url, {k: str(v) for k, v in body.items()}
    )
    case.headers = {**(case.headers or {}), "X-Twilio-Signature": signature}


def _receptionist_number(case: Case) -> None:
    """simulateCall: the receptionist has a number, as a user gives it one before simulating a call (the fuzzer
    clears and releases them; 422 no_phone_number without one is tested in integration)."""
    with _database().sessions() as session:
        business = _fuzz_business_row(session)
        if business is None or business.phone_number is not None:
            return
    _, held = _fuzz_business()
    if not held:
        _new_number(case)
        _, held = _fuzz_business()
    if held:
        _as_fuzz_user(case, "PATCH", "/business/me", body={"phoneNumber": held[0]})


_STATE: dict[str, Callable[[Case], None]] = {
    "replaceBusiness": _business_settings,
    "updateBusiness": _business_settings,
    "createBusiness": _create_business,
    "simulateCall": _receptionist_number,
    "answerTwilioCall": _twilio_signed,
    "recordTwilioCallStatus": _twilio_signed,
    "recordTwilioRecording": _twilio_signed,
    "answerTwilioFallback": _twilio_signed,
    "answerTwilioDialResult": _twilio_signed,
    "screenTwilioCall": _twilio_signed,
    "recordTwilioScreening": _twilio_signed,
    "receiveTwilioMessage": _twilio_signed,
}
_SECRETS: dict[str, Callable[[Case], None]] = {
    "acceptInvitation": _accept_invitation,
    "changePassword": _change_password,
    "resetPassword": _reset_password,
    "verifyEmail": _verify_email,
    OAUTH_CALLBACK: _oauth_callback,
    "retryJob": _dead_job,
    "getEvent": _real_event,
    "retryWebhookDelivery": _real_delivery,
    "updateMember": _member,
    "removeMember": _member,
    "login": _sign_in_credentials,
    "refreshTokens": _sign_in_credentials,
    TOKEN_ENDPOINT: _sign_in_credentials,
}


# The harness: its accounts, and what it reads from the database.


class _Harness:
    def __init__(self) -> None:
        self.passwords = {account["email"]: account["password"] for account in (FUZZ_USER, NEWCOMER, FORGETFUL)}
        self.fuzz_bearer: str | None = None
        self.fuzz_bearers: set[str] = set()  # every token the harness got for the fuzz user
        self.newcomer_bearer: tuple[str, float] | None = None
        self.registered: set[str] = set()
        self.oauth_state: tuple[str | None, float] | None = None
        self.refresh_token: str | None = None  # the newest a positive sign-in got, not spent yet
        self.turns: dict[tuple[str, str], int] = {}  # positive cases so far, by operation and phase
        self.turn_of: dict[str, bool] = {}  # whether a case (by id) gets the real secret


_harness = _Harness()
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
_NEWCOMER_TOKEN_SECONDS = 600  # well inside the access token's 15 minutes
_OAUTH_STATE_SECONDS = 300  # a state is good for 10 minutes (connectors.google_oauth.STATE_TTL_SECONDS)


@schemathesis.auth(refresh_interval=2)
class FuzzUserToken:
    """Credentials of the fuzz user: an access token, and an API key of its business. Operations that
    accept API keys get the key (so the key path is fuzzed, and Schemathesis's ignored_auth probe, which
    removes the declared `X-API-Key`, leaves no credential behind); the others get the bearer token."""

    api_key: str | None = None

    def get(self, case: Case, ctx: Any) -> tuple[str, str]:
        if _as_fuzz_user(case, "GET", "/business/me").status_code != 200:
            _as_fuzz_user(case, "POST", "/business/me", body={"name": "Fuzz Dental"})
        bearer, api_key = _fuzz_bearer(case), self.api_key
        if api_key is None or _call(case, "GET", "/business/me", headers={"X-API-Key": api_key}).status_code == 401:
            key = {"name": "fuzz", "scopes": list(API_KEY_SCOPES)}
            created = _call(case, "POST", "/api-keys", body=key, headers={"Authorization": bearer})
            self.api_key = str(created.json()["secret"])
        return bearer, self.api_key

    def set(self, case: Case, data: tuple[str, str], ctx: Any) -> None:
        bearer, api_key = data
        requirements = case.operation.definition.raw.get("security", [])
        accepts_keys = any("apiKey" in requirement for requirement in requirements)
        credential = {"X-API-Key": api_key} if accepts_keys else {"Authorization": bearer}
        if any("metricsToken" in requirement for requirement in requirements):
            credential = {"Authorization": f"Bearer {METRICS_TOKEN}"}  # the scraper's, set by scripts/live-fuzz
        case.headers = {**(case.headers or {}), **credential}


def _fuzz_bearer(case: Case, *, renew: bool = False) -> str:
    """The fuzz user's token; with `renew`, a new one (the fuzzer logged it out or revoked its session)."""
    bearer = _harness.fuzz_bearer
    if bearer is None or renew:
        bearer = _sign_in(case, FUZZ_USER, on_register=lambda: staff.main([FUZZ_USER["email"]]))
        _harness.fuzz_bearer = bearer
        _harness.fuzz_bearers.add(bearer)
    return bearer


def _as_fuzz_user(
    case: Case, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    response = _call(case, method, path, body=body, headers={**(headers or {}), "Authorization": _fuzz_bearer(case)})
    if response.status_code == 401:
        bearer = _fuzz_bearer(case, renew=True)
        response = _call(case, method, path, body=body, headers={**(headers or {}), "Authorization": bearer})
    return response


def _as_newcomer(case: Case) -> None:
    """The newcomer's token where the case carries the fuzz user's (never where a check took it away)."""
    if (case.headers or {}).get("Authorization") not in _harness.fuzz_bearers:
        return
    cached = _harness.newcomer_bearer
    if cached is None or time.monotonic() - cached[1] > _NEWCOMER_TOKEN_SECONDS:
        cached = _harness.newcomer_bearer = (_sign_in(case, NEWCOMER), time.monotonic())
    case.headers = {**case.headers, "Authorization": cached[0]}


def _sign_in(case: Case, account: dict[str, str], on_register: Callable[[], object] | None = None) -> str:
    email = account["email"]
    credentials = {"email": email, "password": _harness.passwords[email]}
    _lift_lockout(email)
    response = _call(case, "POST", "/auth/login", body=credentials)
    if response.status_code == 401:
        registered = _call(case, "POST", "/auth/register", body={**account, **credentials})
        if registered.status_code == 201 and on_register is not None:
            on_register()
        elif registered.status_code == 409:  # the password changed in a way the harness missed: reset it
            _restore_password(email, credentials["password"])
        response = _call(case, "POST", "/auth/login", body=credentials)
    return f"Bearer {response.json()['accessToken']}"


def _oauth_state(case: Case) -> str | None:
    """A state the server issued to the fuzz user (starting the flow as its web app would), reused while
    it is fresh. None where Google is not configured (the in-process suite): no state is valid there."""
    cached = _harness.oauth_state
    if cached is None or time.monotonic() - cached[1] > _OAUTH_STATE_SECONDS:
        started = _as_fuzz_user(case, "GET", "/oauth/google/start")
        consent_url = started.headers.get("location", [""])[0] if started.status_code == 302 else ""
        states = parse_qs(urlsplit(consent_url).query).get("state")
        cached = _harness.oauth_state = (states[0] if states else None, time.monotonic())
    return cached[0]


def _call(case: Case, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    operation = case.operation.schema[path][method]
    payload = {} if body is None else {"body": body, "media_type": "application/json"}
    return operation.Case(headers=headers or {}, **payload).call()


def _ensure_account(case: Case, account: dict[str, str]) -> None:
    if account["email"] not in _harness.registered:
        _call(case, "POST", "/auth/register", body={**account, "password": _harness.passwords[account["email"]]})
        _harness.registered.add(account["email"])


def _set_token(case: Case, token: str | None) -> None:
    if token is not None and isinstance(case.body, dict):
        case.body = {**case.body, "token": token}


@cache
def _database() -> Database:
    return Database(create_db_engine(load_settings_or_exit()))


def _lift_lockout(email: str) -> None:
    with _database().sessions.begin() as session:
        session.execute(update(User).where(User.email == email).values(failed_logins=0, locked_until=None))


def _restore_password(email: str, password: str) -> None:
    with _database().sessions.begin() as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is not None:
            user.reset_password(password)


def _leave_business(email: str) -> None:
    """The person belongs to no business any more (an operator's fix; the API keeps a business's last owner)."""
    with _database().sessions.begin() as session:
        user_id = select(User.id).where(User.email == email).scalar_subquery()
        session.execute(delete(Membership).where(Membership.user_id == user_id))


def _mailed_token(to: str, template: str) -> str | None:
    """The token in the link of the newest email of `template` queued to `to`."""
    with _database().sessions() as session:
        payload = session.scalar(
            select(Job.payload)
            .where(Job.kind == SEND_EMAIL, Job.payload["to"].as_string() == to)
            .where(Job.payload["template"].as_string() == template)
            .order_by(Job.created_at.desc())
            .limit(1)
        )
    link = payload["context"]["link"] if payload else None
    tokens = parse_qs(urlsplit(link).query).get("token") if link else None
    return tokens[0] if tokens else None


def _fuzz_business_row(session: Session) -> Business | None:
    return session.scalar(
        select(Business)
        .join(Membership, Membership.business_id == Business.id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == FUZZ_USER["email"])
    )


def _fuzz_business() -> tuple[str, list[str]]:
    """The fuzz business's ETag and its active numbers, in one read."""
    with _database().sessions() as session:
        business = _fuzz_business_row(session)
        if business is None:
            return '"v0"', []
        held = session.scalars(
            select(PhoneNumber.e164)
            .where(PhoneNumber.business_id == business.id, PhoneNumber.status == NumberStatus.ACTIVE)
            .order_by(PhoneNumber.created_at, PhoneNumber.id)
        )
        return business.etag, list(held)


def _new_number(case: Case) -> None:
    """A number for the fuzz business (the fuzzer released or suspended the ones it held): an example
    number of a country an active plan sells that nobody holds yet."""
    with _database().sessions() as session:
        plans = session.scalars(
            select(ExternalPlan).where(ExternalPlan.active.is_(True)).options(selectinload(ExternalPlan.country_links))
        )
        offers = [(str(plan.id), country) for plan in plans for country in plan.country_codes]
    for plan_id, country in offers:
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(country, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            number = {"e164": e164, "planId": plan_id, "label": "Fuzz front desk"}
            if _as_fuzz_user(case, "POST", "/phone-numbers", body=number).status_code == 201:
                return


def _is_positive(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def _operation_id(case: Case) -> str:
    return str(case.operation.definition.raw.get("operationId"))
