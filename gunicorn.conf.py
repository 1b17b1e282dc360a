"""Gunicorn settings, from the same validated settings as the app (an invalid value exits with 2)."""

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from core.config import load_settings_or_exit
from core.logging import configure_logging

_settings = load_settings_or_exit()

# Each worker writes its metrics here and a scrape merges them (web/metrics.py). prometheus_client chooses
# between these files and memory once, when it is first imported, and the workers are forks of this process:
# nothing in this file may import it before this line (child_exit imports it when it runs). An operator's own
# directory is kept, a new one is made per server otherwise.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
_metrics_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="switchboard-metrics-")))

wsgi_app = "app:app"
bind = [f"0.0.0.0:{_settings.port}"]  # a container's port: publish it deliberately
workers = _settings.web_concurrency
worker_class = "web.gunicorn_worker.Worker"
# SIGTERM: serve on for SHUTDOWN_DRAIN_SECONDS with readiness at 503 (web/gunicorn_worker.py), then stop
# accepting, let in-flight requests finish, and run the app's lifespan shutdown (which closes the database
# pool); all within graceful_timeout, after which gunicorn kills the worker.
graceful_timeout = 30 + math.ceil(_settings.shutdown_drain_seconds)
timeout = 60
keepalive = 5
accesslog = None  # the app writes its own access line (web.middleware.Edge)
control_socket_disable = True  # unused; it would write a socket into $HOME (read-only in the container)


def on_starting(server: Any) -> None:
    # Gunicorn has installed its own handlers by now; route its lines through ours (JSON, request id).
    configure_logging(_settings)
    shutil.rmtree(_metrics_dir, ignore_errors=True)  # counts of an earlier run are not this one's
    _metrics_dir.mkdir(parents=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess  # here, not above: see PROMETHEUS_MULTIPROC_DIR

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # its live gauges stop counting


def on_exit(server: Any) -> None:
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def when_ready(server: Any) -> None:
    server.log.info("Swagger UI: http://localhost:%s/api/v1/ui/", _settings.port)
