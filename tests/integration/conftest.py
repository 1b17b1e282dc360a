from __future__ import annotations

from collections.abc import Iterator

import pytest
from connexion import FlaskApp

from tests.conftest import empty_tables


@pytest.fixture(autouse=True)
def _isolated(app: FlaskApp) -> Iterator[None]:
    """Each test starts from empty tables (on the real, migrated schema) and commits for real."""
    yield
    empty_tables(app)
