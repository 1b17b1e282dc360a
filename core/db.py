"""The database: one engine per process, one session per request, one commit at the request boundary.

Handlers and models call `session()`; they never commit. When the handler returned a success, the
request boundary commits; when it failed (an exception or an error status) it rolls back. A commit
that fails raises, and the error registry answers with a problem (503 when the database is
unavailable), never with the 2xx the handler meant to send.
"""

from __future__ import annotations

import flask
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from core.config import PROJECT_ROOT, Settings

_EXTENSION = "switchboard.db"


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

    def init_app(self, app: flask.Flask) -> None:
        app.extensions[_EXTENSION] = self
        app.after_request(_finish_unit_of_work)
        app.teardown_request(_close_session)

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


def database() -> Database:
    return flask.current_app.extensions[_EXTENSION]  # type: ignore[no-any-return]


def session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in flask.g:
        flask.g.db_session = database().sessions()
    return flask.g.db_session  # type: ignore[no-any-return]


def _finish_unit_of_work(response: flask.Response) -> flask.Response:
    db_session: Session | None = flask.g.get("db_session")
    if db_session is not None:
        if response.status_code < 400:
            db_session.commit()
        else:
            db_session.rollback()
    return response


def _close_session(_exc: BaseException | None) -> None:
    db_session: Session | None = flask.g.pop("db_session", None)
    if db_session is not None:
        db_session.close()  # rolls back whatever was not committed
