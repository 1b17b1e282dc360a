"""Shared by every suite: the app under test is built once per session (Connexion's cold start is slow)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic import command
from connexion import FlaskApp
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from core.db import Database, alembic_config
from models import Base
from tests.live_server import UNLIMITED_ENV

pytest_plugins = ["tests.problem_codes"]


def database_of(app: FlaskApp) -> Database:
    return app.app.extensions["switchboard"].database  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.exit(
            "These tests need PostgreSQL. Run `make test`, or `scripts/with-postgres .venv/bin/pytest ...`.",
            returncode=2,
        )
    return url


UNLIMITED = {name.lower(): value for name, value in UNLIMITED_ENV.items()}  # as Settings fields


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        app_env="test",
        log_format="json",
        log_level="INFO",
        password_hash_cost="low",  # a sign-in at the argon2 library's cost takes ~200 ms; tests/system keep it
        **UNLIMITED,
    )


@pytest.fixture(scope="session")
def migrated(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


@pytest.fixture(scope="session")
def app(settings: Settings, migrated: None) -> FlaskApp:
    return create_app(settings)


@pytest.fixture
def client(app: FlaskApp) -> TestClient:
    return app.test_client()


@pytest.fixture
def db(app: FlaskApp) -> Iterator[Session]:
    """A session on the app's database, to arrange and inspect what the API sees."""
    with database_of(app).sessions() as session:
        yield session


def empty_tables(app: FlaskApp) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with database_of(app).engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
