"""The migrations as files (their effect on PostgreSQL: tests/integration/test_migrations.py)."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from core.config import PROJECT_ROOT
from core.db import alembic_config


def test_migrations_are_forward_only_with_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("postgresql://"))

    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        source = Path(revision.path).read_text()
        assert "def downgrade" not in source, revision.path
    assert "def downgrade" not in (PROJECT_ROOT / "migrations" / "script.py.mako").read_text()
