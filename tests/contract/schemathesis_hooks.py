"""Schemathesis hooks, for the pytest contract suite and the live fuzz (SCHEMATHESIS_HOOKS).

The one thing a schema cannot say: which `cursor` strings the API issued. A cursor is opaque, so the
spec gives it only a pattern; a random string matching it is a cursor we never issued and is rightly
a 400 `invalid_cursor`, which `positive_data_acceptance` would report as a valid request rejected.
So a *positive* case keeps its cursor only if it is one the API could have issued; the rejection of
forged cursors is covered by the negative cases and the integration tests, and real cursors by them too.

Authenticated operations get a real access token of a fuzz user, registered on first use and made staff
(through DATABASE_URL, as `make create-staff` would) so that the admin operations are explored too.
Tokens are fetched again every few seconds, since the fuzzer itself logs out and revokes sessions, and
its wrong guesses at `currentPassword` lock the account: like an operator would, the harness lifts
that lock before it signs in again.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import schemathesis
from schemathesis import Case
from schemathesis.generation import GenerationMode
from sqlalchemy import update

from core import staff
from core.config import load_settings_or_exit
from core.db import Database, create_db_engine
from core.errors import InvalidCursor
from core.pagination import decode_cursor
from models import AuthSession, Country, ExternalPlan, Job, User

# The keyset each paginated operation orders by.
CURSOR_KEYS: dict[str, list[Any]] = {
    "listCountries": Country.page_order(),
    "listPlans": ExternalPlan.page_order(),
    "listSessions": AuthSession.page_order(),
    "listJobs": Job.page_order(),
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
    return case


FUZZ_USER = {"email": "fuzz-user@switchboard.test", "password": "fuzzing-is-a-user-too", "name": "Fuzz"}


@schemathesis.auth(refresh_interval=2)
class FuzzUserToken:
    def get(self, case: Case, ctx: Any) -> str:
        _lift_lockout(FUZZ_USER["email"])
        schema = case.operation.schema
        credentials = {"email": FUZZ_USER["email"], "password": FUZZ_USER["password"]}
        response = schema["/auth/login"]["POST"].Case(body=credentials, media_type="application/json").call()
        if response.status_code == 401:
            schema["/auth/register"]["POST"].Case(body=FUZZ_USER, media_type="application/json").call()
            staff.main([FUZZ_USER["email"]])
            response = schema["/auth/login"]["POST"].Case(body=credentials, media_type="application/json").call()
        return str(response.json()["accessToken"])

    def set(self, case: Case, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@cache
def _database() -> Database:
    return Database(create_db_engine(load_settings_or_exit()))


def _lift_lockout(email: str) -> None:
    with _database().sessions.begin() as session:
        session.execute(update(User).where(User.email == email).values(failed_logins=0, locked_until=None))
