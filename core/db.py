"""The database: one engine per process, its sessions, the migrations this code knows, and the two
sanctioned exceptions to "one commit at the request boundary" (web/context.py owns that boundary).

- `outliving(session)`: a write that must hold although the request then fails (a refused sign-in, the
  revocation of a stolen refresh token's family, an idempotency claim) runs in a transaction of its own.
- `commit_early(session)`: before a call to an outside system, the request's transaction ends, so no
  pooled connection or row lock waits on that system. After it, the request writes in a new transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from core.config import PROJECT_ROOT, Settings


def create_db_engine(settings: Settings) -> Engine:
    return create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size // 2,
        pool_timeout=5,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": 5,
            # Names our connections in pg_stat_activity; `?application_name=` in the URL overrides it.
            "application_name": make_url(settings.database_url).query.get("application_name", "switchboard"),
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        },
    )


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
