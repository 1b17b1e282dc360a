"""What the health operations report."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from core import __version__
from core.db import Database
from core.errors import DatabaseUnavailable, ServiceUnavailable

log = logging.getLogger(__name__)
STARTED = time.monotonic()


def readiness(database: Database) -> dict[str, Any]:
    """Ready when the database answers and is at the migration this code expects; else 503."""
    try:
        revision = database.schema_revision()
    except SQLAlchemyError as error:
        log.warning("not ready: database unavailable (%s)", type(error).__name__)
        raise DatabaseUnavailable("The database is not answering") from None
    if database.is_behind(revision):
        raise ServiceUnavailable("The database schema is older than this release; apply the migrations")
    return {"status": "ready", "database": "ok", "schemaRevision": revision}


def service_health(database: Database) -> dict[str, Any]:
    try:
        database.schema_revision()
        database_state = "ok"
    except SQLAlchemyError:
        database_state = "unavailable"
    return {
        "status": "ok" if database_state == "ok" else "degraded",
        "version": __version__,
        "uptimeSeconds": int(time.monotonic() - STARTED),
        "database": database_state,
    }
