"""Gunicorn settings, from the same validated settings as the app (an invalid value exits with 2)."""

from typing import Any

from core.config import load_settings_or_exit

_settings = load_settings_or_exit()

wsgi_app = "app:app"
bind = [f"0.0.0.0:{_settings.port}"]
workers = _settings.web_concurrency
worker_class = "uvicorn_worker.UvicornWorker"
# SIGTERM: stop accepting, let in-flight requests finish for up to graceful_timeout, then run the
# app's lifespan shutdown (which closes the database pool).
graceful_timeout = 30
timeout = 60
keepalive = 5
accesslog = None  # the app writes its own access line (core.middleware.AccessLogMiddleware)
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {
        "app": {
            "()": "core.logging.JsonFormatter" if _settings.log_format == "json" else "core.logging.ConsoleFormatter"
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "app",
            "filters": ["request_id"],
        }
    },
    "root": {"level": _settings.log_level, "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": _settings.log_level, "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
    },
}


def when_ready(server: Any) -> None:
    server.log.info("Swagger UI: http://localhost:%s/api/v1/ui/", _settings.port)
