"""The hop from Connexion's ASGI stack into Flask, made once per request instead of once per message.

Connexion's default bridge (a2wsgi) runs Flask on a thread and crosses back to the event loop for every
message: each body read and each response message is a `run_coroutine_threadsafe` and a wait. Here the
request body is read on the loop first (web.middleware.Edge has already bounded it), Flask runs once on a
thread, and its whole response comes back to be sent in one start and one body message. Flask's responses
here are small JSON documents, so buffering them costs nothing. The one exception is a response made by
`web.responses.streamed` (a voicemail's audio, relayed from Twilio): its body is sent chunk by chunk as the
handler's iterator yields it, from the handler's thread, so no more than a chunk is held; an exception from
the iterator after the response started cuts it off: the response is left incomplete, so the server closes
the connection and the client sees an incomplete body, never a complete-looking one.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import itertools
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flask
from a2wsgi.wsgi import build_environ
from connexion.apps.flask import FlaskOperation
from connexion.decorators import FlaskDecorator
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

_Response = tuple[int, list[tuple[bytes, bytes]], bytes]
_Work = Callable[[], _Response | None]
STREAMED = "switchboard.streamed"  # set in the WSGI environ by web.responses.streamed


class BufferedWSGIBridge:
    def __init__(self, app: flask.Flask, *, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")
        self.decorated = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # Connexion answers the lifespan itself; nothing else reaches Flask
            return
        if not self.decorated:  # the first request: Connexion has registered every handler by now
            decorate_once(self.app)
            self.decorated = True
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: Flask sees what had arrived
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        environ = build_environ(scope, io.BytesIO(body))  # type: ignore[arg-type]  # any file object reads
        context = contextvars.copy_context()  # the request id and Connexion's context, in the thread
        loop = asyncio.get_running_loop()
        work = functools.partial(context.run, self._run, environ, functools.partial(_send_from, loop, send))
        buffered = await self._on_thread(loop, work)
        if buffered is None:  # streamed, and sent
            return
        status, headers, content = buffered
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _on_thread(
        self, loop: asyncio.AbstractEventLoop, work: Callable[[], _Response | None]
    ) -> _Response | None:
        """`work()` on a handler thread, its outcome handed back to the loop in one `call_soon_threadsafe`
        (`run_in_executor` chains a concurrent and an asyncio future through several callbacks)."""
        future: asyncio.Future[_Response | None] = loop.create_future()

        def run() -> None:
            try:
                outcome = work()
            except BaseException as error:  # re-raised on the loop, in the request's task
                loop.call_soon_threadsafe(_settle, future, None, error)
            else:
                loop.call_soon_threadsafe(_settle, future, outcome, None)

        self.executor.submit(run)
        return await future

    def _run(self, environ: Any, send: Callable[[dict[str, Any]], None]) -> _Response | None:
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return written.append

        iterable = self.app(environ, start_response)
        try:
            if environ.get(STREAMED) and started:
                self._stream(started, written, iterable, send)
                return None
            written.extend(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        status, headers = started
        return int(status.split(" ", 1)[0]), _encoded(headers), b"".join(written)

    @staticmethod
    def _stream(
        started: list[Any], written: list[bytes], iterable: Iterable[bytes], send: Callable[[dict[str, Any]], None]
    ) -> None:
        status, headers = started
        send({"type": "http.response.start", "status": int(status.split(" ", 1)[0]), "headers": _encoded(headers)})
        try:
            for chunk in itertools.chain(written, iterable):
                if chunk:
                    send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception as error:  # the response is not completed: the server closes the connection
            log.warning("streamed response cut off: %s", type(error).__name__)
            return
        send({"type": "http.response.body", "body": b""})


def _settle(future: asyncio.Future[Any], outcome: Any, error: BaseException | None) -> None:
    if future.done():  # the request's task was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)


def decorate_once(app: flask.Flask) -> None:
    """Connexion rebuilds a handler's decorator chain on every call: `FlaskOperation.fn` makes a new FlaskDecorator,
    whose wrapper calls `decorate` (the handler's signature inspected, four wrappers made) and a new URI parser.
    Each view is replaced by the same chain built once; the parser, made from the operation Connexion's context
    holds, on the view's first request."""
    for endpoint, view in list(app.view_functions.items()):
        if isinstance(view, FlaskOperation):
            app.view_functions[endpoint] = _decorated(view)


def _decorated(operation: FlaskOperation) -> Callable[..., Any]:
    decorator = FlaskDecorator(pythonic_params=operation.pythonic_params, jsonifier=operation.jsonifier)
    handler = decorator.decorate(operation.__wrapped__)  # the handler (functools.update_wrapper)
    parser: Any = None

    @functools.wraps(operation.__wrapped__)
    def view(*args: Any, **kwargs: Any) -> Any:
        nonlocal parser
        parser = parser or decorator.uri_parser
        return handler(decorator.framework.get_request(uri_parser=parser))

    return view


def _send_from(loop: asyncio.AbstractEventLoop, send: Any, message: dict[str, Any]) -> None:
    """Sends one ASGI message from a handler thread, waiting for the event loop to take it (backpressure)."""
    asyncio.run_coroutine_threadsafe(send(message), loop).result()


def _encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
