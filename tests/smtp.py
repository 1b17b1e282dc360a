"""A real SMTP server for tests (aiosmtpd), keeping what it received; it can hold messages back."""

from __future__ import annotations

import asyncio
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.helpers import free_port


class Inbox:
    """The SMTP handler: stores each message; while `hold` is set, DATA waits until it is cleared."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.receiving = threading.Event()  # set while a message waits in DATA
        self._released = threading.Event()
        self._released.set()

    def hold_messages(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.receiving.set()
        while not self._released.is_set():  # polled, so the server's event loop keeps serving
            await asyncio.sleep(0.05)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def start_smtp(inbox: Inbox, *, credentials: tuple[str, str] | None = None) -> Controller:
    kwargs: dict[str, Any] = {}
    if credentials:

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == credentials
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        kwargs = {"authenticator": authenticate, "auth_require_tls": False, "auth_required": True}
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller
