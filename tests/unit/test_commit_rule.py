"""One commit at the request boundary (README, "Where code goes"): only core/db.py's helpers and web/context.py's
unit of work commit or close a session. A static check over the source (ast), so a `session.commit()` added
anywhere else fails here, whether or not a test happens to reach it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ["app.py", "worker.py", "gunicorn.conf.py", "core", "models", "connectors", "services", "schemas", "web",
           "handlers", "cli", "scripts"]  # fmt: skip
# Where a session may be committed or closed, and why.
ALLOWED = {
    "core/db.py": "the sanctioned exceptions: outliving, commit_early, committed_before_answering",
    "web/context.py": "the request boundary: the unit of work commits or rolls back, then closes",
    "scripts/bench_scale.py": "a benchmark run outside any request: it builds its data in sessions of its own",
}
# The worker and the commands own their sessions too, but through `with database.sessions.begin()` blocks
# (services/jobs.py, webhooks.py, notifications.py, text_back.py; cli/catalog.py, cli/staff.py), which commit
# without a `.commit()` call, so they need no entry above.


def test_no_code_commits_or_closes_a_session_outside_the_unit_of_work() -> None:
    found = [
        f"{path}:{line}: {call}"
        for path in _python_files()
        if path not in ALLOWED
        for line, call in session_endings((ROOT / path).read_text())
    ]
    assert not found, "commit at the request boundary, or through a helper in core/db.py:\n" + "\n".join(found)


def test_the_check_finds_the_commits_it_forbids() -> None:
    source = """
def handler(session, db_session, client):
    session.commit()
    flask.g.db_session.close()
    app_services().database.sessions().commit()
    client.close()  # not a session: an HTTP client
    with database.sessions.begin() as own:  # commits at the block's end: allowed
        own.add(thing)
"""
    assert [call for _, call in session_endings(source)] == [
        "session.commit()",
        "flask.g.db_session.close()",
        "app_services().database.sessions().commit()",
    ]
    assert session_endings((ROOT / "web/context.py").read_text()), "the boundary's own commit is found"


def test_every_allowed_file_exists() -> None:
    assert all((ROOT / path).is_file() for path in ALLOWED)


def session_endings(source: str) -> list[tuple[int, str]]:
    """Each `.commit()` (on anything: only sessions and connections commit) and each `.close()` on a session:
    a receiver whose name says session, or one annotated `Session`."""
    tree = ast.parse(source)
    sessions = {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg) and _is_session(node.annotation)}
    sessions |= {
        node.target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and _is_session(node.annotation)
    }
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, node.func.value
        if method == "commit" or (method == "close" and _names_a_session(receiver, sessions)):
            found.append((node.lineno, ast.unparse(node)))
    return found


def _is_session(annotation: ast.expr | None) -> bool:
    return annotation is not None and "Session" in ast.unparse(annotation)


def _names_a_session(receiver: ast.expr, sessions: set[str]) -> bool:
    while isinstance(receiver, ast.Call):
        receiver = receiver.func
    name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
    return name in sessions or "session" in name.lower()


def _python_files() -> list[str]:
    files = []
    for entry in CHECKED:
        path = ROOT / entry
        paths = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        files += [str(found.relative_to(ROOT)) for found in paths if "__pycache__" not in found.parts]
    return files
