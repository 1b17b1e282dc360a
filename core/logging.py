"""Logging: one JSON object per line (or readable console lines), each carrying the request id."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from core.config import Settings
from core.tracing import current_trace_id

# What the current request is, set by web.middleware.Edge; web.wsgi_bridge copies the context into
# handler threads, so logs, problem bodies and the audit log see them there too.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
client_ip_var: ContextVar[str | None] = ContextVar("client_ip", default=None)

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged as a field.
# (uvicorn adds `color_message`, a copy of the message with terminal colours.)
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class RequestIdFilter(logging.Filter):
    """Every line carries the request id, and the trace id when a span is being recorded (core/tracing.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.requestId = request_id_var.get()
        trace_id = current_trace_id()
        if trace_id is not None:
            record.traceId = trace_id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((key, value) for key, value in record.__dict__.items() if key not in _STANDARD_ATTRIBUTES)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={value}" for key, value in record.__dict__.items() if key not in _STANDARD_ATTRIBUTES)
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()} {fields}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(settings: Settings) -> None:
    # Every request writes a line (the access log): a record skips what no formatter here prints, the caller's
    # file and line (a walk up the stack; logging's own documented switch) and the thread's and process's names.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Our access log replaces uvicorn's; gunicorn's own lines go through the root handler.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
    # httpx2 logs each request's URL at INFO (a Twilio recording's names the account; a webhook endpoint's may
    # carry its owner's secret in the query): the connectors log what they did, without them.
    logging.getLogger("httpx2").setLevel(max(root.level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error", "gunicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
