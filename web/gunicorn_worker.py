"""The uvicorn worker gunicorn runs (gunicorn.conf.py): uvicorn's, without its `server: uvicorn` header,
which would tell every caller which server and so which known bugs to try."""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "server_header": False}
