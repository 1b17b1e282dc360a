"""The system exactly as `make run` starts it on a new machine: an empty VAR_DIR, no DATABASE_URL, so the
embedded PostgreSQL, the migrations, the catalog, gunicorn and the worker, all from the Makefile."""

from __future__ import annotations

import contextlib
import email
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import TypeVar

import httpx2
import pytest

from core.config import PROJECT_ROOT, Settings
from tests.helpers import free_port

MAKE = shutil.which("make") or "make"
START_SECONDS = 120  # deadlines, not measurements: the first start creates the database, and a
# loaded machine's disk can make PostgreSQL's shutdown checkpoint slow. A stop is bounded by the wrapper's
# own deadlines (cli/embedded_db.py: 60 s for `fast`, then 60 s for `immediate`); this one lies beyond both.
STOP_SECONDS = 150
T = TypeVar("T")


def eventually(what: str, attempt: Callable[[], T | None], seconds: float = 30) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = attempt()
        if result is not None:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds}s")


@dataclass
class MakeRun:
    """One `make run` in its own process group, as a terminal would start it."""

    var_dir: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def api(self) -> httpx2.Client:
        return httpx2.Client(base_url=f"http://127.0.0.1:{self.port}/api/v1", timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool | None:
        try:
            response = httpx2.get(f"http://127.0.0.1:{self.port}/health-check/readiness", timeout=1)
        except httpx2.TransportError:
            response = None
        if self.process.poll() is not None:
            raise AssertionError(f"make run exited with {self.process.returncode}:\n{self.output()[-3000:]}")
        return True if response is not None and response.status_code == 200 else None

    def stop(self, signum: signal.Signals) -> None:
        """Ctrl-C (SIGINT to the terminal's process group) or SIGTERM to the group, as a supervisor sends it;
        returns when every process of the run has ended (make itself may end first)."""
        os.killpg(self.process.pid, signum)
        try:
            eventually("every process of make run ends", lambda: not self.processes_left() or None, STOP_SECONDS)
        except AssertionError as error:
            raise AssertionError(f"{error}; left: {self.processes_left()}\n{self.output()[-3000:]}") from None
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def postgres_running(self) -> bool:
        return (self.var_dir / "postgres" / "postmaster.pid").exists()

    def processes_left(self) -> list[str]:
        """Processes that still belong to this run: its group, and any PostgreSQL of its data directory."""
        self.process.poll()  # reaps make once it has ended
        data_dir, left = str(self.var_dir / "postgres"), []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                group = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError, ValueError):
                continue  # ended while we looked
            if command and (group == self.process.pid or data_dir in command):
                left.append(f"{proc.name} {command}")
        return left


NOT_A_USERS = {"PG_TEST_ADMIN_URL", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "GUNICORN_CMD_ARGS"}


def clean_environment(var_dir: Path, port: int) -> dict[str, str]:
    """A new user's environment: none of the settings the test run itself was given (DATABASE_URL above all),
    nor a metrics directory or gunicorn arguments; gunicorn's workers are the default two, as users get them."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields and k not in NOT_A_USERS}
    return env | {"VAR_DIR": str(var_dir), "PORT": str(port)}


def start(var_dir: Path, log: Path, port: int | None = None, settings: dict[str, str] | None = None) -> MakeRun:
    """`make run`, with `settings` as a user would set them (their environment or .env)."""
    port = port or free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [MAKE, "--no-print-directory", "run"],
            cwd=PROJECT_ROOT,
            env=clean_environment(var_dir, port) | (settings or {}),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return MakeRun(var_dir, port, log, process)


@contextlib.contextmanager
def ready(tmp_path: Path, port: int | None = None, settings: dict[str, str] | None = None) -> Iterator[MakeRun]:
    """`make run` in tmp_path, once it answers readiness; stopped with SIGTERM afterwards."""
    run = start(tmp_path / "var", tmp_path / "make-run.log", port, settings)
    try:
        eventually("make run answers readiness", run.ready, START_SECONDS)
        yield run
    finally:
        if run.process.poll() is None:
            run.stop(signal.SIGTERM)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[MakeRun]:
    with ready(tmp_path) as run:
        yield run


def read_mail(outbox: Path, to: str) -> EmailMessage:
    def arrived() -> EmailMessage | None:
        for path in outbox.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
            if message["To"] == to:
                return message  # type: ignore[return-value]
        return None

    return eventually(f"an email to {to} in {outbox}", arrived)


def test_first_run_verifies_an_account_through_the_worker_and_refuses_a_stolen_refresh_family(
    running: MakeRun,
) -> None:
    api, address, password = running.api, "first-run@example.com", "first-run-password-42"

    assert api.post("/auth/register", json={"email": address, "password": password, "name": "Ada"}).status_code == 201

    mail = read_mail(running.var_dir / "mail", address)
    link = re.search(r"https?://\S+token=([\w-]+)", mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert link, mail
    assert eventually("the log line of the message with its link", lambda: link[0] in running.output() or None)
    assert api.post("/auth/verify-email", json={"token": link[1]}).status_code == 204

    first = api.post("/auth/login", json={"email": address, "password": password}).json()
    me = api.get("/users/me", headers={"Authorization": f"Bearer {first['accessToken']}"}).json()
    assert me["emailVerified"] is True
    second = api.post("/auth/refresh", json={"refreshToken": first["refreshToken"]}).json()

    replay = api.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert (replay.status_code, replay.json()["code"]) == (401, "invalid_refresh_token")
    # The thief's pair dies with the family, from the next request on.
    assert api.post("/auth/refresh", json={"refreshToken": second["refreshToken"]}).status_code == 401
    assert api.get("/users/me", headers={"Authorization": f"Bearer {second['accessToken']}"}).status_code == 401


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_signal_stops_web_worker_and_database_and_the_data_survives_a_restart(
    running: MakeRun, signum: signal.Signals
) -> None:
    api, address, password = running.api, "restart@example.com", "restart-password-42"
    assert api.post("/auth/register", json={"email": address, "password": password, "name": "Bo"}).status_code == 201
    assert running.postgres_running()
    before = " ".join(running.processes_left())  # what the signal has to end
    assert "honcho start" in before
    assert "postgres -D" in before

    running.stop(signum)

    assert not running.postgres_running()
    again = start(running.var_dir, running.log, running.port)
    try:
        eventually("make run answers again", again.ready, START_SECONDS)
        assert api.post("/auth/login", json={"email": address, "password": password}).status_code == 200
    finally:
        again.stop(signal.SIGTERM)


def test_a_second_make_run_on_the_same_folder_says_so_and_changes_nothing(running: MakeRun) -> None:
    second = subprocess.run(
        [MAKE, "--no-print-directory", "run"],
        cwd=PROJECT_ROOT,
        env=clean_environment(running.var_dir, free_port()),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert second.returncode != 0
    assert f"Switchboard is already running from {running.var_dir}" in second.stderr
    assert f"http://localhost:{running.port}/" in second.stderr
    assert running.ready()
    assert running.postgres_running()


def test_make_migrate_on_an_empty_var_dir_creates_the_database_and_leaves_it_stopped(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"

    migrate = subprocess.run(
        [MAKE, "--no-print-directory", "migrate"],
        cwd=PROJECT_ROOT,
        env=clean_environment(var_dir, free_port()),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert (var_dir / "postgres" / "PG_VERSION").exists()
    assert not (var_dir / "postgres" / "postmaster.pid").exists()


def test_with_a_database_url_the_make_targets_start_no_embedded_server(tmp_path: Path, database_url: str) -> None:
    var_dir = tmp_path / "var"

    migrate = subprocess.run(
        [MAKE, "--no-print-directory", "migrate"],
        cwd=PROJECT_ROOT,
        env=clean_environment(var_dir, free_port()) | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert not (var_dir / "postgres").exists()
