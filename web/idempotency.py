"""`Idempotency-Key` for POST operations: the first successful response to a (caller, key), replayed.

    @idempotent
    def create_thing(body: dict[str, Any]) -> Response: ...

The operation declares `#/components/parameters/IdempotencyKey` (its description is the contract) and
`Idempotent-Replayed` on its success response. What the decorator does with a key:

1. It claims the key: it inserts a record with no status, in a transaction of its own that commits
   before the handler runs, so a concurrent duplicate finds it (409 `idempotency_key_in_progress`).
2. It runs the handler. On a 2xx it writes status, headers and body into the record in the request's
   own session (`web.context.session()`), so the stored response commits if and only if the handler's
   writes do. On an exception or a status other than 2xx it deletes the claim (own transaction), so
   the client can retry with the same key.
3. A later request with the same key and the same fingerprint (method, path, query, canonical JSON
   body) gets the stored response back with `Idempotent-Replayed: true`; another fingerprint gets 422
   `idempotency_key_reused`.

Keys are per caller (`Caller.idempotency_scope`): two callers may use the same key. Records live
RECORD_TTL; an expired one counts as absent and is overwritten. Each claim also deletes a small batch
of expired records, so the table does not grow without bound.

A claim whose request crashed (the process died between the claim and the end of the request, or the
commit at the request boundary failed) stays "in progress": after STALE_CLAIM_AFTER it may be taken
over by a retry. A request that really runs longer than that may therefore run twice; its late
response is then not stored (the record is only written by the claim that owns it, see `_Claim`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, overload

import flask
from connexion.context import context
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import outliving
from core.errors import ApiError
from core.tenancy import Caller
from models.base import utcnow
from models.idempotency import IdempotencyRecord
from web.context import session
from web.responses import Response

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RECORD_TTL = timedelta(hours=24)
# Longer than any request should take (the statement timeout and the clients' timeouts are far
# shorter), short enough that a client retrying after a crash is not locked out for long.
STALE_CLAIM_AFTER = timedelta(seconds=60)
PURGE_BATCH = 50


class IdempotencyKeyInProgress(ApiError):
    status, code, title, type = (
        409,
        "idempotency_key_in_progress",
        "Idempotency key in progress",
        "/problems/idempotency-key-in-progress",
    )

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still running; retry once it has finished.")


class IdempotencyKeyReused(ApiError):
    status, code, title, type = (
        422,
        "idempotency_key_reused",
        "Idempotency key reused",
        "/problems/idempotency-key-reused",
    )

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was used for another request; use a new key for a new request.")


P = ParamSpec("P")


@overload
def idempotent(
    handler: Callable[P, Response], *, withhold: tuple[str, ...] = (), per_person: bool = False
) -> Callable[P, Response]: ...
@overload
def idempotent(
    handler: None = None, *, withhold: tuple[str, ...] = (), per_person: bool = False
) -> Callable[[Callable[P, Response]], Callable[P, Response]]: ...
def idempotent(
    handler: Callable[P, Response] | None = None, *, withhold: tuple[str, ...] = (), per_person: bool = False
) -> Any:
    """Makes a handler honour `Idempotency-Key` (see the module's docstring). `@idempotent`, or
    `@idempotent(withhold=("secret",))` to store (and so replay) those top-level body fields as null:
    a secret shown once is never kept in the clear, not even for a replay. `per_person=True` scopes keys
    to the person alone, for an operation that changes the business the person belongs to.

    functools.wraps keeps the handler's signature visible to Connexion, which passes only the
    parameters a handler declares (it follows `__wrapped__`).
    """
    if handler is None:
        return functools.partial(idempotent, withhold=withhold, per_person=per_person)

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        key = flask.request.headers.get(HEADER)
        if not key:
            return handler(*args, **kwargs)
        scope = _caller_scope(per_person)
        fingerprint = _fingerprint(flask.request)
        outcome = _claim(scope, key, fingerprint)
        if not isinstance(outcome, _Claim):
            return _replay(outcome, fingerprint)
        try:
            body, status, headers = handler(*args, **kwargs)
            if 200 <= status < 300:
                # Flushes the handler's pending writes first: a write the database refuses fails here,
                # while the claim can still be released, rather than at the commit after the response.
                kept = {**body, **dict.fromkeys(withhold)} if withhold and isinstance(body, dict) else body
                outcome.store(session(), kept, status, headers)
                return body, status, headers
        except BaseException:
            _give_up(outcome)
            raise
        _give_up(outcome)
        return body, status, headers

    return wrapper


def _give_up(claim: _Claim) -> None:
    """The request failed: roll its session back (it may hold locks, or be broken), then free the key.

    Never raises: the request's own error is the one to answer with. A claim that cannot be released
    (the database went away) is taken over once stale.
    """
    try:
        session().rollback()
        claim.release()
    except Exception:
        log.warning(
            "could not release an idempotency claim; it frees itself after %s", STALE_CLAIM_AFTER, exc_info=True
        )


def _caller_scope(per_person: bool) -> str:
    token_info = context.get("token_info")
    if not token_info:
        # Keys are per caller; an operation nobody signs in to has no caller to scope them to.
        raise RuntimeError("@idempotent needs an operation with security (no token_info in the context)")
    caller = Caller.of(token_info)
    return caller.person_idempotency_scope if per_person else caller.idempotency_scope


def _fingerprint(request: flask.Request) -> str:
    raw = request.get_data(cache=True)
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:  # not JSON (or no body): the bytes as sent
        canonical = raw
    query = sorted(request.args.items(multi=True))
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), json.dumps(query).encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no two requests share a digest input
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Stored:
    """What an earlier request with the key left behind."""

    fingerprint: str
    status: int | None
    headers: dict[str, str] | None
    body: str | None


@dataclass(frozen=True)
class _Claim:
    """The key is ours for this request. `claimed_at` tells our claim from a later take-over."""

    record_id: uuid.UUID
    claimed_at: datetime

    def _is_ours(self) -> Any:
        return (
            (IdempotencyRecord.id == self.record_id)
            & (IdempotencyRecord.created_at == self.claimed_at)
            & IdempotencyRecord.status.is_(None)
        )

    def store(self, request_session: Session, body: Any, status: int, headers: dict[str, str]) -> None:
        """Writes the response in the request's transaction: committed with the handler's writes, or not at all."""
        request_session.execute(
            update(IdempotencyRecord)
            .where(self._is_ours())
            .values(
                status=status,
                headers={name: str(value) for name, value in headers.items()},
                body=None if body is None else json.dumps(body, separators=(",", ":")),
            )
            .execution_options(synchronize_session=False)
        )

    def release(self) -> None:
        with outliving(session()) as own:
            own.execute(delete(IdempotencyRecord).where(self._is_ours()).execution_options(synchronize_session=False))


def _claim(scope: str, key: str, fingerprint: str) -> _Claim | _Stored:
    # The loop ends: each pass either claims, or finds a record, or saw one vanish (released or purged)
    # between its INSERT and its SELECT, which a retry resolves.
    for _attempt in range(5):
        now = utcnow()
        try:
            with outliving(session()) as own:
                record = IdempotencyRecord(
                    caller=scope,
                    key=key,
                    fingerprint=fingerprint,
                    status=None,
                    created_at=now,
                    expires_at=now + RECORD_TTL,
                )
                own.add(record)
                own.flush()  # a unique violation here means the key exists
                _purge_expired(own, now)
                return _Claim(record.id, now)
        except IntegrityError:
            pass
        with outliving(session()) as own:
            found = own.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.caller == scope, IdempotencyRecord.key == key)
            )
            if found is None:
                continue
            if not _takeable(found, now):
                return _Stored(found.fingerprint, found.status, found.headers, found.body)
            # Lock it and look again: of two requests taking it over, the second then sees a fresh claim.
            found = own.scalar(
                select(IdempotencyRecord)
                .where(IdempotencyRecord.id == found.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if found is None:
                continue
            if not _takeable(found, now):
                return _Stored(found.fingerprint, found.status, found.headers, found.body)
            found.fingerprint, found.status, found.headers, found.body = fingerprint, None, None, None
            found.created_at, found.expires_at = now, now + RECORD_TTL
            return _Claim(found.id, now)
    raise IdempotencyKeyInProgress()


def _takeable(record: IdempotencyRecord, now: datetime) -> bool:
    """Expired (counts as absent), or claimed by a request that has not finished in STALE_CLAIM_AFTER."""
    return record.expires_at <= now or (record.status is None and record.created_at <= now - STALE_CLAIM_AFTER)


def _purge_expired(own: Session, now: datetime) -> None:
    """A few expired records at a time (on the expires_at index), skipping any another request has locked."""
    batch = (
        select(IdempotencyRecord.id)
        .where(IdempotencyRecord.expires_at <= now)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    own.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(batch)).execution_options(synchronize_session=False)
    )


def _replay(stored: _Stored, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if stored.status is None:
        raise IdempotencyKeyInProgress()
    body = None if stored.body is None else json.loads(stored.body)
    return body, stored.status, {**(stored.headers or {}), REPLAYED_HEADER: "true"}
