"""The real server for tests: gunicorn with uvicorn workers, started as production starts it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from core.config import PROJECT_ROOT
from tests.helpers import free_port

# Test traffic is not abuse: the servers tests start get budgets no test reaches, unless it sets its own
# (tests/integration/test_rate_limits.py).
UNLIMITED_ENV = {f"RATE_LIMIT_{policy}": "1000000/minute" for policy in ("SENSITIVE", "ANONYMOUS", "AUTHENTICATED")}

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
HEAD_TIMEOUT = 2  # seconds (HTTP_HEAD_TIMEOUT_SECONDS); the size bound is the default, 16 KiB


def get(url: str, timeout: float = 10) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our local server
        return int(response.status)


def wait_until(condition, seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds}s: {condition.__doc__ or condition}")


@contextlib.contextmanager
def gunicorn(database_url: str, log_path: Path, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The real server, as production starts it, with these settings (environment variables) added."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"{database_url}?application_name=lifecycle-test",
        "PORT": str(port),
        # One worker: a bound kept per worker (connections, in-memory rate limits) is exact only with one (the
        # drain's own test sets 2); make run's default two are tested as users start them (test_metrics, system).
        "WEB_CONCURRENCY": "1",
        "APP_ENV": "test",  # as development (responses validated), but /metrics wants its token
        "HTTP_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "SHUTDOWN_DRAIN_SECONDS": "0",  # the drain's own tests set one
        "PASSWORD_HASH_COST": "low",  # as the in-process apps (tests/conftest.py); tests/system keep the default
        **UNLIMITED_ENV,
        **settings,
    }
    log = log_path.open("wb")
    process = subprocess.Popen(  # in a process group of its own: the workers end with it, whatever happens
        [GUNICORN, "-c", "gunicorn.conf.py"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return get(f"{base}/health-check/readiness", timeout=1) == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    try:
        wait_until(answers)
        yield process, base
    finally:
        if process.poll() is None:
            process.terminate()  # a SIGKILLed master would leave its workers running
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # any worker left behind
        log.close()
