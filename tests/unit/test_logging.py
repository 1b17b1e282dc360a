from __future__ import annotations

import json
import logging

from core.logging import ConsoleFormatter, JsonFormatter, RequestIdFilter, request_id_var


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("switchboard.test", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_time_level_message_request_id_and_extras() -> None:
    record = _record(status=503)
    token = request_id_var.set("req-9")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)

    entry = json.loads(JsonFormatter().format(record))

    assert entry["message"] == "hello world"
    assert entry["level"] == "warning"
    assert entry["requestId"] == "req-9"
    assert entry["status"] == 503
    assert entry["time"].endswith("+00:00")


def test_a_console_line_is_readable() -> None:
    line = ConsoleFormatter().format(_record(status=200))

    assert "WARNING" in line
    assert "hello world" in line
    assert "status=200" in line
