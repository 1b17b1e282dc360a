"""Replicas that start together each migrate and load the catalog; they must take turns, not collide."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, make_url, select, text

from core.config import PROJECT_ROOT
from core.db import hold_deploy_lock
from models import ExternalPlan
from services.catalog import read_catalog

BIN = Path(sys.executable).parent


@pytest.fixture
def fresh_database_url(database_url: str) -> Iterator[str]:
    name = f"deploy_{uuid.uuid4().hex[:8]}"
    admin = create_engine(os.environ["PG_TEST_ADMIN_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _waiting_on_the_deploy_lock(engine: Engine) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
    with engine.connect() as connection:
        return int(connection.execute(text(query)).scalar_one())


@pytest.mark.parametrize("step", ["alembic upgrade head", "python -m cli.catalog"])
def test_a_starting_replica_waits_for_the_one_that_is_migrating(fresh_database_url: str, step: str) -> None:
    engine = create_engine(fresh_database_url)
    env = {**os.environ, "DATABASE_URL": fresh_database_url}
    if step.startswith("python"):
        subprocess.run([f"{BIN}/alembic", "upgrade", "head"], cwd=PROJECT_ROOT, env=env, check=True)

    with engine.connect() as migrating_replica, migrating_replica.begin():
        hold_deploy_lock(migrating_replica)
        starting = subprocess.Popen(f"{BIN}/{step}".split(), cwd=PROJECT_ROOT, env=env)
        deadline = time.monotonic() + 30
        while not _waiting_on_the_deploy_lock(engine) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _waiting_on_the_deploy_lock(engine) == 1
        assert starting.poll() is None

    assert starting.wait(timeout=60) == 0
    engine.dispose()


def test_replicas_starting_together_migrate_and_load_the_catalog_once(fresh_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_database_url}
    start = f"{BIN}/alembic upgrade head && {BIN}/python -m cli.catalog"
    replicas = [
        subprocess.Popen(["/bin/sh", "-c", start], cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE) for _ in range(3)
    ]

    failures = [r.stderr.read().decode() for r in replicas if r.wait(timeout=120) != 0]  # type: ignore[union-attr]

    assert failures == []
    engine = create_engine(fresh_database_url)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ExternalPlan)) == len(read_catalog()["plans"])
    engine.dispose()
