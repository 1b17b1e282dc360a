"""scripts/watch_rollout against a real local status server: each GET /status answers the next scripted document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "watch_rollout"
LOG_TEXT = "".join(f"log line {n}\n" for n in range(1, 251)).encode()  # 250 lines: only the last 200 show
SECRET = "Bearer s3cret-t0ken"

Answer = tuple[int, bytes]


class Rollout:
    """What the server answers, and what it received."""

    def __init__(self) -> None:
        self.base = ""
        self.answers: list[Answer] = []
        self.logs: Answer = (200, LOG_TEXT)
        self.received: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self.lock = threading.Lock()

    def next_answer(self) -> Answer:
        with self.lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def status(self, state: str, health: str | None = None, logs: str | None = "/logs") -> Answer:
        document: dict[str, str] = {"state": state}
        if health is not None:
            document["health"] = health
        if logs is not None:
            document["logsUrl"] = logs if logs.startswith("http") else self.base + logs
        return 200, json.dumps(document).encode()

    def paths(self) -> list[str]:
        return [path for path, _ in self.received]


@pytest.fixture
def rollout() -> Iterator[Rollout]:
    rollout = Rollout()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            rollout.received.append((self.path, self.headers.get("Authorization")))
            if self.path == "/status":
                code, body = rollout.next_answer()
            elif self.path == "/logs":
                code, body = rollout.logs
            else:
                code, body = 404, b"not found"
            self.send_response(code)
            self.send_header("Content-Type", "application/json" if self.path == "/status" else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rollout.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rollout
    server.shutdown()
    server.server_close()
    thread.join()


def watch(url: str, *extra: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), url, "--interval", "0.05", "--timeout", str(timeout), *extra]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def poll_lines(output: str) -> list[str]:
    return [line.split("] ", 1)[1] for line in output.splitlines() if line.startswith("[")]


def log_lines(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("| ")]


def test_the_script_is_executable_with_a_python3_shebang() -> None:
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")


def test_provisioning_then_processing_then_running_healthy_succeeds(rollout: Rollout) -> None:
    rollout.answers = [
        rollout.status("Provisioning"),
        rollout.status("Processing"),
        rollout.status("Running", "Healthy"),
    ]
    result = watch(rollout.base + "/status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert poll_lines(result.stdout) == [
        "state=Provisioning health=-",
        "state=Processing health=-",
        "state=Running health=Healthy",
    ]
    assert "rollout succeeded" in result.stdout.splitlines()[-1]
    assert "/logs" not in rollout.paths()
    assert result.stderr == ""


def test_running_with_unknown_or_no_health_and_unknown_states_keep_polling(rollout: Rollout) -> None:
    rollout.answers = [
        rollout.status("Running"),
        rollout.status("Running", "Unknown"),
        rollout.status("Scaling", "Unhealthy"),
        rollout.status("Running", "Healthy"),
    ]
    result = watch(rollout.base + "/status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert poll_lines(result.stdout) == [
        "state=Running health=-",
        "state=Running health=Unknown",
        "state=Scaling health=Unhealthy (not a known state: still waiting)",
        "state=Running health=Healthy",
    ]


def test_failed_prints_the_state_and_the_last_200_log_lines(rollout: Rollout) -> None:
    rollout.answers = [rollout.status("Provisioning"), rollout.status("Failed", "Unknown")]
    result = watch(rollout.base + "/status")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rollout failed: state=Failed health=Unknown" in result.stdout
    assert log_lines(result.stdout) == [f"log line {n}" for n in range(51, 251)]
    assert rollout.paths() == ["/status", "/status", "/logs"]


def test_running_unhealthy_fails_with_the_logs(rollout: Rollout) -> None:
    rollout.logs = (200, b"boom: missing DATABASE_URL\n")
    rollout.answers = [rollout.status("Processing"), rollout.status("Running", "Unhealthy")]
    result = watch(rollout.base + "/status")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rollout failed: state=Running health=Unhealthy" in result.stdout
    assert log_lines(result.stdout) == ["boom: missing DATABASE_URL"]


def test_activation_failed_fails_whatever_the_health(rollout: Rollout) -> None:
    rollout.answers = [rollout.status("ActivationFailed", "Healthy")]
    result = watch(rollout.base + "/status")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rollout failed: state=ActivationFailed health=Healthy" in result.stdout
    assert len(log_lines(result.stdout)) == 200


def test_staying_processing_times_out_with_the_last_state_and_the_logs(rollout: Rollout) -> None:
    rollout.answers = [rollout.status("Processing")]
    started = time.monotonic()
    result = watch(rollout.base + "/status", timeout=0.5)
    took = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert 0.5 <= took < 5
    assert len(poll_lines(result.stdout)) >= 3
    assert set(poll_lines(result.stdout)) == {"state=Processing health=-"}
    assert "rollout timed out after 0.5s; last seen: state=Processing health=-" in result.stdout
    assert log_lines(result.stdout)[-1] == "log line 250"


def test_a_500_and_invalid_json_are_warnings_and_the_watch_goes_on(rollout: Rollout) -> None:
    rollout.answers = [
        rollout.status("Provisioning"),
        (500, b"oops"),
        (200, b"<html>not json</html>"),
        (200, b'["no", "state"]'),
        rollout.status("Running", "Healthy"),
    ]
    result = watch(rollout.base + "/status")
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in poll_lines(result.stdout) if line.startswith("warning")]
    assert len(warnings) == 3
    assert "HTTP 500" in warnings[0]
    assert "JSONDecodeError" in warnings[1]
    assert '"state"' in warnings[2]
    assert poll_lines(result.stdout)[-1] == "state=Running health=Healthy"


def test_an_unreachable_status_url_is_retried_until_the_timeout() -> None:
    result = watch(f"http://127.0.0.1:{free_port()}/status", timeout=0.3)  # nothing listens there
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(poll_lines(result.stdout)) >= 2
    assert all(line.startswith("warning: status request failed") for line in poll_lines(result.stdout))
    assert "last seen: no status received" in result.stdout


def test_logs_that_cannot_be_fetched_are_reported(rollout: Rollout) -> None:
    rollout.logs = (503, b"logs are down")
    rollout.answers = [rollout.status("Failed")]
    result = watch(rollout.base + "/status")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"could not fetch the logs from {rollout.base}/logs: HTTP 503" in result.stdout
    assert "Traceback" not in result.stderr


def test_no_logs_url_is_reported(rollout: Rollout) -> None:
    rollout.answers = [rollout.status("Failed", logs=None)]
    result = watch(rollout.base + "/status")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no logsUrl in the status" in result.stdout


def test_a_header_is_sent_but_its_value_never_printed(rollout: Rollout) -> None:
    rollout.answers = [rollout.status("Processing"), rollout.status("Failed")]
    result = watch(rollout.base + "/status", "--header", f"Authorization: {SECRET}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert rollout.received == [("/status", SECRET), ("/status", SECRET), ("/logs", SECRET)]
    assert "s3cret" not in result.stdout + result.stderr


def test_a_header_is_not_sent_to_logs_on_another_origin(rollout: Rollout) -> None:
    other = rollout.base.replace("127.0.0.1", "localhost")  # same server, another origin
    rollout.answers = [rollout.status("Failed", logs=other + "/logs")]
    result = watch(rollout.base + "/status", "--header", f"Authorization: {SECRET}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert rollout.received == [("/status", SECRET), ("/logs", None)]
    assert log_lines(result.stdout)[-1] == "log line 250"


def test_log_lines_cannot_forge_ci_commands(rollout: Rollout) -> None:
    rollout.logs = (200, b"::error::forged\r\nline\x1b[31m red\n")
    rollout.answers = [rollout.status("Failed")]
    result = watch(rollout.base + "/status")
    assert result.returncode == 1, result.stdout + result.stderr
    assert log_lines(result.stdout) == ["::error::forged", "line?[31m red"]
    assert not any(line.startswith("::") for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["ftp://example.com/status"],
        ["http://127.0.0.1:9/status", "--status-url", "http://127.0.0.1:9/other"],
        ["http://127.0.0.1:9/status", "--interval", "0"],
        ["http://127.0.0.1:9/status", "--timeout", "soon"],
        ["http://127.0.0.1:9/status", "--header", "s3cret-without-a-name"],
        ["http://127.0.0.1:9/status", "--header", "Authorization: Bearer", "s3cret"],
    ],
)
def test_usage_errors_exit_64_without_echoing_headers(arguments: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 64, result.stdout + result.stderr
    assert "usage:" in result.stderr
    assert result.stdout == ""
    assert "s3cret" not in result.stderr


def test_the_status_url_can_be_given_as_an_option(rollout: Rollout) -> None:
    rollout.answers = [rollout.status("Running", "Healthy")]
    command = [sys.executable, str(SCRIPT), "--status-url", rollout.base + "/status", "--interval", "0.05"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
