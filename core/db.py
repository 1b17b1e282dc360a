"""The database: one engine per process, its sessions, the migrations this code knows, and the three
sanctioned exceptions to "one commit at the request boundary" (web/context.py owns that boundary).

- `outliving(session)`: a write that must hold although the request then fails (a refused sign-in, the
  revocation of a stolen refresh token's family, an idempotency claim) runs in a transaction of its own.
- `commit_early(session)`: before a call to an outside system, the request's transaction ends, so no
  pooled connection or row lock waits on that system. After it, the request writes in a new transaction.
- `committed_before_answering(session)`: Twilio's voice webhook and fallback commit inside the handler, so
  that a failing or slow commit can still be answered with TwiML (the apology), not an error.

tests/unit/test_commit_rule.py checks that no other code commits or closes a session it was lent.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)


# A peer that vanished (a dropped network path) is noticed in seconds, not the kernel's 15 minutes.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
}


def create_db_engine(settings: Settings, *, deadline: float | None = None) -> Engine:
    """The engine; with `deadline` (seconds), no connection stays lent longer (see `Deadlines`)."""
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size // 2,
        pool_timeout=5,
        pool_pre_ping=False,  # pinged only after idling (`_ping_after_idle`): a SELECT 1 per request costs
        pool_recycle=1800,
        connect_args={
            "connect_timeout": 5,
            # Names our connections in pg_stat_activity; `?application_name=` in the URL overrides it.
            "application_name": make_url(settings.database_url).query.get("application_name", "switchboard"),
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            **_KEEPALIVES,
        },
    )
    if deadline is not None:
        Deadlines(deadline).watch(engine)  # first: its checkout arms the deadline the ping then runs under
    _ping_after_idle(engine)
    return engine


IDLE_PING_SECONDS = 10


def _ping_after_idle(engine: Engine) -> None:
    """A connection that idled in the pool is pinged when it is lent again; a dead one is replaced then (a
    restarted or failed-over database). A busy pool reuses connections within milliseconds, and pinging
    every checkout cost each request a round trip; a connection that breaks in use is a 503 (Retry-After),
    and the pool then replaces every connection older than the break."""

    @event.listens_for(engine.pool, "checkin")
    def note_idle(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def ping_if_idled(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            with contextlib.closing(dbapi_connection.cursor()) as cursor:
                cursor.execute("SELECT 1")
        except engine.dialect.loaded_dbapi.Error:
            raise DisconnectionError from None  # the pool connects anew and lends that


class Deadlines:
    """A client-side deadline on every lent connection, for a server that stops answering.

    `statement_timeout` is enforced by the server, so a frozen one (stopped, swapping, its disk hung)
    enforces nothing, and a live peer's kernel keeps acknowledging, so TCP timeouts never fire either.
    Here a connection is armed when the pool lends it (before the ping after idling) and disarmed
    when it comes back; one thread shuts down the socket of any connection still out past its deadline,
    so whoever waits on it gets an error at once (OperationalError: a 503 for a request) instead of
    hanging. Keep the deadline above the statement timeout: it is for a server that does not answer.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._armed: dict[int, tuple[float, Any]] = {}  # id(DB-API connection) -> (deadline, connection)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, engine: Engine) -> None:
        event.listen(engine.pool, "checkout", lambda dbapi_connection, *_: self.arm(dbapi_connection))
        for name in ("checkin", "close", "close_detached", "invalidate", "soft_invalidate"):
            event.listen(engine.pool, name, lambda dbapi_connection, *_: self.disarm(dbapi_connection))

    def arm(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._armed[id(dbapi_connection)] = (time.monotonic() + self.seconds, dbapi_connection)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="db-deadlines", daemon=True)
                self._thread.start()

    def disarm(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._armed.pop(id(dbapi_connection), None)

    def _watch(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                expired = [key for key, (due, _) in self._armed.items() if due <= now]
                for key in expired:
                    _, dbapi_connection = self._armed.pop(key)
                    _shut_down(dbapi_connection)
                next_due = min((due for due, _ in self._armed.values()), default=now + 1)
            time.sleep(min(max(next_due - now, 0.05), 1))


def _shut_down(dbapi_connection: Any) -> None:
    """Ends the connection's TCP (or Unix) stream under its owner, who then fails instead of waiting."""
    if getattr(dbapi_connection, "closed", 1):
        return
    log.warning("database connection lent past its deadline: shutting it down")
    try:
        with socket.socket(fileno=dbapi_connection.fileno()) as stream:
            try:
                stream.shutdown(socket.SHUT_RDWR)
            finally:
                stream.detach()  # the fd stays the driver's, which closes it
    except OSError:
        pass  # already gone


# Any number of replicas may start at once; each migrates and loads the catalog first. They take turns
# (the lock is released at the end of the transaction), so the later ones find nothing to do.
_DEPLOY_LOCK_KEY = 0x5377_6974_6368  # "Switch"


def hold_deploy_lock(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DEPLOY_LOCK_KEY})


def alembic_config(database_url: str) -> AlembicConfig:
    config = AlembicConfig(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        # Read once: the migrations this code knows, and the newest of them.
        self.migrations = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
        self.head_revision = self.migrations.get_current_head()

    def schema_revision(self) -> str | None:
        """The revision the database is at; raises if the database does not answer."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            return MigrationContext.configure(connection).get_current_revision()

    def is_behind(self, revision: str | None) -> bool:
        """Whether the schema at `revision` lacks migrations this code needs.

        A revision this code does not know is newer: a later release migrated first, during a rolling
        deploy. Migrations are additive until no release needs the old shape, so this code still works.
        """
        if revision is None:
            return True
        if revision == self.head_revision:
            return False
        try:
            self.migrations.get_revision(revision)
        except CommandError:
            return False
        return True

    def connect_unpooled(self) -> Any:
        """A DB-API connection of its own, outside the pool and its deadlines: for a session that waits
        on purpose, such as LISTEN. The caller closes it."""
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        return self.engine.dialect.connect(*cargs, **{"connect_timeout": 5, **_KEEPALIVES, **cparams})

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def outliving(session: Session) -> Iterator[Session]:
    """A transaction of its own on `session`'s database, committed when the block ends: for a write that
    must hold even though the request then answers with an error."""
    with Session(session.get_bind()) as own, own.begin():
        yield own


def commit_early(session: Session) -> None:
    """Commits the request's work so far, before a call to an outside system (see the module's docstring)."""
    session.commit()


@contextmanager
def committed_before_answering(session: Session) -> Iterator[None]:
    """Commits the block's writes on the request's `session` when it ends; on a database error, discards the
    session (closed: its transaction rolled back, its connection, perhaps broken, returned) and re-raises.

    For Twilio's voice webhook and its fallback (services/telephony.py), while a caller waits on the line.
    The request boundary's commit fails after the handler has chosen its answer, and becomes a 503: Twilio
    then tries the fallback URL, and a fallback that fails too plays Twilio's own error and hangs up.
    Committed here, a slow or failing database, even at the commit, is still the handler's to answer: the
    apology and a voicemail the caller can leave. The closed session leaves the boundary nothing to commit,
    so the apology goes out as a 200.
    """
    try:
        yield
        session.commit()
    except SQLAlchemyError:
        session.close()
        raise
