from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from connexion import FlaskApp
from sqlalchemy import inspect

from models import Base
from tests.conftest import database_of


def test_models_and_migrations_agree_on_postgresql(app: FlaskApp) -> None:
    with database_of(app).engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_the_plan_country_link_keeps_its_legacy_column_name(app: FlaskApp) -> None:
    columns = {c["name"] for c in inspect(database_of(app).engine).get_columns("external_plan_countries")}

    assert columns == {"external_plan_uuid", "country_code"}
