"""Outgoing email: SMTP (with STARTTLS and login when the URL says so), or .eml files in development.

MAIL_URL is `smtp://user:password@host:port?starttls=true`; empty means "write each message to
VAR_DIR/mail and log one line with its links", which only development and test accept. Only the worker
sends (services/mail.py).
"""

from __future__ import annotations

import logging
import re
import smtplib
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)
_LINK = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    timeout: float

    @classmethod
    def from_url(cls, url: str, timeout: float) -> SmtpTransport:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or 25,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes"),
            timeout=timeout,
        )

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


@dataclass(frozen=True)
class FileTransport:
    directory: Path

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{uuid.uuid4()}.eml"
        path.write_bytes(bytes(message))
        body = message.get_body(preferencelist=("plain",))
        links = _LINK.findall(body.get_content()) if body else []
        log.info(
            "mail written: %s (%s) %s",
            message["Subject"],
            message["To"],
            " ".join(links),
            extra={"to": message["To"], "subject": message["Subject"], "file": str(path), "links": links},
        )


Transport = SmtpTransport | FileTransport


def transport_for(mail_url: str, *, outbox: Path, timeout: float) -> Transport:
    return SmtpTransport.from_url(mail_url, timeout) if mail_url else FileTransport(outbox)
