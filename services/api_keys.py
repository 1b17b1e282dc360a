"""API keys: creating, revoking and rotating a business's keys, each recorded in the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.tenancy import Caller
from models import ApiKey
from services import audit


def create(
    session: Session,
    caller: Caller,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    granter_scopes: list[str],
) -> tuple[ApiKey, str]:
    key, secret = ApiKey.create(
        session,
        caller.business,
        name=name,
        scopes=scopes,
        expires_at=expires_at,
        created_by=caller.user_id,
        granter_scopes=granter_scopes,
    )
    audit.record(
        session, "api_key.created", caller=caller, target=("api_key", key.id), changes={"scopes": [None, key.scopes]}
    )
    return key, secret


def revoke(session: Session, caller: Caller, key_id: uuid.UUID) -> None:
    key = ApiKey.get(session, caller.business, key_id, for_update=True)
    key.revoke()
    audit.record(session, "api_key.revoked", caller=caller, target=("api_key", key.id))


def rotate(session: Session, caller: Caller, key_id: uuid.UUID, grace: timedelta) -> tuple[ApiKey, str]:
    key = ApiKey.get(session, caller.business, key_id, for_update=True)
    secret = key.rotate(grace)
    audit.record(
        session,
        "api_key.rotated",
        caller=caller,
        target=("api_key", key.id),
        changes={"gracePeriodSeconds": [None, grace.total_seconds()]},
    )
    return key, secret
