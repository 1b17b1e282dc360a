"""Schemathesis hooks, for the pytest contract suite and the live fuzz (SCHEMATHESIS_HOOKS).

The one thing a schema cannot say: which `cursor` strings the API issued. A cursor is opaque, so the
spec gives it only a pattern; a random string matching it is a cursor we never issued and is rightly
a 400 `invalid_cursor`, which `positive_data_acceptance` would report as a valid request rejected.
So a *positive* case keeps its cursor only if it is one the API could have issued; the rejection of
forged cursors is covered by the negative cases and the integration tests, and real cursors by them too.
Likewise a positive case gets a fresh `Idempotency-Key` (see map_case).

Authenticated operations get a real access token of a fuzz user, registered on first use, made staff
(through DATABASE_URL, as `make create-staff` would) so that the admin operations are explored too, and
owner of a business (createBusiness; a 409 once it has one) so that the business operations are.
Tokens are fetched again every few seconds, since the fuzzer itself logs out and revokes sessions, and
its wrong guesses at `currentPassword` lock the account: like an operator would, the harness lifts
that lock before it signs in again.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

import schemathesis
from schemathesis import Case
from schemathesis.generation import GenerationMode
from sqlalchemy import update

from cli import staff
from core.config import load_settings_or_exit
from core.db import Database, create_db_engine
from core.errors import InvalidCursor
from core.pagination import decode_cursor
from models import (
    ApiKey,
    AuditEvent,
    AuthSession,
    Country,
    ExternalPlan,
    Invitation,
    Job,
    Membership,
    PhoneNumber,
    User,
)
from models.business import API_KEY_SCOPES

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
}


def _issuable(operation_id: str, cursor: object) -> bool:
    try:
        decode_cursor(str(cursor), CURSOR_KEYS[operation_id])
    except InvalidCursor:
        return False
    return True


@schemathesis.hook
def map_case(ctx: Any, case: Case) -> Case:
    query = case.query or {}
    operation_id = case.operation.definition.raw.get("operationId")
    positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
    if positive and "cursor" in query and operation_id in CURSOR_KEYS and not _issuable(operation_id, query["cursor"]):
        case.query = {name: value for name, value in query.items() if name != "cursor"}
    if positive and case.headers and "Idempotency-Key" in case.headers:
        # A generated key repeats (its example, shrunk values): a repeat is a client's retry and rightly
        # replays the first response, even of a resource deleted since, which the stateful checks read
        # as a create that did not create. New requests get new keys; replays are tested in integration.
        case.headers = {**case.headers, "Idempotency-Key": str(uuid.uuid4())}
    return case


FUZZ_USER = {"email": "fuzz-user@switchboard.test", "password": "fuzzing-is-a-user-too", "name": "Fuzz"}


@schemathesis.auth(refresh_interval=2)
class FuzzUserToken:
    """Credentials of the fuzz user: an access token, and an API key of its business. Operations that
    accept API keys get the key (so the key path is fuzzed, and Schemathesis's ignored_auth probe, which
    removes the declared `X-API-Key`, leaves no credential behind); the others get the bearer token."""

    api_key: str | None = None

    def get(self, case: Case, ctx: Any) -> tuple[str, str]:
        _lift_lockout(FUZZ_USER["email"])
        schema = case.operation.schema
        credentials = {"email": FUZZ_USER["email"], "password": FUZZ_USER["password"]}
        response = schema["/auth/login"]["POST"].Case(body=credentials, media_type="application/json").call()
        if response.status_code == 401:
            schema["/auth/register"]["POST"].Case(body=FUZZ_USER, media_type="application/json").call()
            staff.main([FUZZ_USER["email"]])
            response = schema["/auth/login"]["POST"].Case(body=credentials, media_type="application/json").call()
        bearer = {"Authorization": f"Bearer {response.json()['accessToken']}"}
        schema["/business/me"]["POST"].Case(
            body={"name": "Fuzz Dental"}, media_type="application/json", headers=bearer
        ).call()
        if (
            self.api_key is None
            or schema["/business/me"]["GET"].Case(headers={"X-API-Key": self.api_key}).call().status_code == 401
        ):
            key = {"name": "fuzz", "scopes": list(API_KEY_SCOPES)}
            created = schema["/api-keys"]["POST"].Case(body=key, media_type="application/json", headers=bearer).call()
            self.api_key = str(created.json()["secret"])
        return bearer["Authorization"], self.api_key

    def set(self, case: Case, data: tuple[str, str], ctx: Any) -> None:
        bearer, api_key = data
        accepts_keys = any("apiKey" in requirement for requirement in case.operation.definition.raw.get("security", []))
        credential = {"X-API-Key": api_key} if accepts_keys else {"Authorization": bearer}
        case.headers = {**(case.headers or {}), **credential}


@cache
def _database() -> Database:
    return Database(create_db_engine(load_settings_or_exit()))


def _lift_lockout(email: str) -> None:
    with _database().sessions.begin() as session:
        session.execute(update(User).where(User.email == email).values(failed_logins=0, locked_until=None))
