"""`Idempotency-Key` for POST operations: the first successful response to a (caller, key), replayed.

    @idempotent
    def create_thing(body: dict[str, Any]) -> Response: ...

The operation declares `#/components/parameters/IdempotencyKey` (its description is the contract) and
`Idempotent-Replayed` on its success response. What the decorator does with a key:

1. It claims the key (`IdempotencyRecord.claim`): a record with no status, in a transaction of its own that
   commits before the handler runs, so a concurrent duplicate finds it (409 `idempotency_key_in_progress`).
2. It runs the handler. On a 2xx it writes status, headers and body into the record in the request's
   own session (`web.context.session()`), so the stored response commits if and only if the handler's
   writes do. On an exception or a status other than 2xx it deletes the claim (own transaction), so
   the client can retry with the same key.
3. A later request with the same key and the same fingerprint (method, path, query, canonical JSON
   body) gets the stored response back with `Idempotent-Replayed: true`; another fingerprint gets 422
   `idempotency_key_reused`.

Keys are per caller (`Caller.idempotency_scope`): two callers may use the same key. The records, their
lifetime and the take-over of a crashed request's claim are models/idempotency.py's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, overload

import flask

from models.idempotency import STALE_CLAIM_AFTER, Claim, IdempotencyRecord
from web.context import caller, session
from web.responses import Response

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

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
        who = caller()
        scope = who.person_idempotency_scope if per_person else who.idempotency_scope
        fingerprint = _fingerprint(flask.request)
        outcome = IdempotencyRecord.claim(session(), scope, key, fingerprint)
        if not isinstance(outcome, Claim):
            body, status, headers = outcome.replay(fingerprint)
            return body, status, {**headers, REPLAYED_HEADER: "true"}
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


def _give_up(claim: Claim) -> None:
    """The request failed: roll its session back (it may hold locks, or be broken), then free the key.

    Never raises: the request's own error is the one to answer with. A claim that cannot be released
    (the database went away) is taken over once stale.
    """
    try:
        session().rollback()
        claim.release(session())
    except Exception:
        log.warning(
            "could not release an idempotency claim; it frees itself after %s", STALE_CLAIM_AFTER, exc_info=True
        )


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
