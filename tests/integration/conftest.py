from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from connexion import FlaskApp
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from tests.conftest import empty_tables
from web.spec import Contract

PROBE_SPEC = Path(__file__).parent / "probe" / "openapi.yaml"


@pytest.fixture(autouse=True)
def _isolated(app: FlaskApp) -> Iterator[None]:
    """Each test starts from empty tables (on the real, migrated schema) and commits for real."""
    yield
    empty_tables(app)


@pytest.fixture(scope="session")
def probe_app(settings: Settings, migrated: None) -> FlaskApp:
    """The real app factory serving a test-only spec (tests/integration/probe/openapi.yaml)."""
    return create_app(settings, Contract.load(PROBE_SPEC, handler_package="tests.integration.probe"))


@pytest.fixture
def probe(probe_app: FlaskApp) -> Iterator[TestClient]:
    with probe_app.test_client(raise_server_exceptions=False) as client:
        yield client
