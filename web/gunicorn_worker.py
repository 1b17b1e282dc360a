"""The uvicorn worker gunicorn runs (gunicorn.conf.py), with the HTTP-level bounds uvicorn leaves out.

- No `server: uvicorn` header, which would tell every caller which server, and so which known bugs, to try.
- A request's head (request line and headers) must fit in HTTP_MAX_HEAD_BYTES and HTTP_MAX_HEADERS fields,
  else 431: httptools would buffer an unfinished header line without limit (4 connections x 32 MB grew a
  worker by 150 MB).
- It must arrive within HTTP_HEAD_TIMEOUT_SECONDS of the connection (or of the previous response on a
  kept-alive one), else 408 and the connection is closed: a client that trickles or never finishes its
  head holds a connection and its memory for no longer than that.
- At most HTTP_MAX_CONNECTIONS open connections per worker; one more is answered 503 (with Retry-After)
  and closed before anything of it is read.
These refusals are problems (application/problem+json) written by the protocol: the app never sees them.
- A drain phase: on SIGTERM a worker serves on for SHUTDOWN_DRAIN_SECONDS with readiness at 503, so that
  load balancers route away before its listener closes; then uvicorn's graceful shutdown runs as before.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import time
from types import FrameType
from typing import Any, ClassVar

import httptools
from gunicorn.arbiter import Arbiter
from uvicorn import Server
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from core import shutdown
from core.config import load_settings_or_exit
from core.errors import ApiError, RequestHeadTooLarge, RequestTimeout, ServiceUnavailable

_settings = load_settings_or_exit()


class _Refused(httptools.HttpParserError):
    """Stops the parser once a request is refused (uvicorn catches parser errors)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = _settings.http_max_head_bytes
    max_headers = _settings.http_max_headers
    max_connections = _settings.http_max_connections
    head_timeout = _settings.http_head_timeout_seconds
    _refused = False
    _header_count = 0
    _head_bytes: int | None = None  # of the head being received; None while none is awaited
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()
        if len(self.connections) > self.max_connections:
            self._refuse(ServiceUnavailable("This server is at its connection limit"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_headers:
            self._refuse(RequestHeadTooLarge(f"The request has more than {self.max_headers} header fields"))
            raise _Refused
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # our refusal has been written already
            super().send_400_response(msg)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_bytes is not None and not self.transport.is_closing():
            self._head_bytes += len(data)  # counted after the parser had it: a chunk may end the head
            if self._head_bytes > self.max_head_bytes:
                self._refuse(RequestHeadTooLarge(f"The request line and headers exceed {self.max_head_bytes} bytes"))

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._head_arrived()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_late)

    def _head_arrived(self) -> None:
        self._head_bytes = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        if self._head_bytes:  # a head had begun: say why the connection ends
            self._refuse(RequestTimeout(f"The request head did not arrive within {self.head_timeout:g} seconds"))
        else:  # an idle connection: just close it, as keep-alive's timeout does
            self._head_arrived()
            self.transport.close()

    def _refuse(self, error: ApiError) -> None:
        self._refused = True
        self._head_arrived()
        status, headers, body = error.encode()
        lines = [f"HTTP/1.1 {status} {error.title}", *(f"{name}: {value}" for name, value in headers.items())]
        lines += [f"Content-Length: {len(body)}", "Connection: close"]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self.transport.close()


class DrainingServer(Server):
    drain_seconds = _settings.shutdown_drain_seconds
    _exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.drain_seconds and self._exit_at is None:
            shutdown.draining.set()
            self._exit_at = time.monotonic() + self.drain_seconds
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)


class Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "server_header": False,
        "http": BoundedHttpToolsProtocol,
        # The app alone decides the client address, from TRUSTED_PROXIES (web.middleware.client_address);
        # uvicorn's rewrite would trust X-Forwarded-For from any loopback peer (FORWARDED_ALLOW_IPS) first.
        "proxy_headers": False,
    }

    async def _serve(self) -> None:  # UvicornWorker's, with the draining server
        # The app's long-lived objects (the spec, its validators, the ORM's mappers) leave the collector's
        # view: a full collection no longer walks them, which stalled every request in flight (bench: p99
        # of liveness 104 -> 20 ms at 32 connections).
        gc.collect()
        gc.freeze()
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
