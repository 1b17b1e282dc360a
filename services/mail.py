"""Email from templates, sent by the worker: `queue_email` in a request, `Mailer.send_job` in the worker.

The message is queued as a job in the request's transaction (never sent for a change that rolled back)
and rendered when sent. Templates live in services/templates/mail/<name>.txt and <name>.html.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from connectors.mail import Transport, transport_for
from core.config import Settings
from models import Job

SEND_EMAIL = "send_email"
RETRY_FOR = timedelta(days=1)
MAX_ATTEMPTS = 200  # the window ends it first: a day of backoff capped at 30 minutes is about 70 attempts
SUBJECTS = {
    "verify_email": "Confirm your email address",
    "reset_password": "Reset your Switchboard password",
    "invitation": "You are invited to join a business on Switchboard",
    "webhook_disabled": "A webhook endpoint of your business was disabled",
    "voicemail": "A caller left you a voicemail",
    "missed_call": "You missed a call",
    "daily_digest": "Your calls yesterday",
}
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "mail"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def queue_email(session: Session, *, to: str, template: str, context: Mapping[str, Any], key: str | None = None) -> Job:
    """`key` marks the job (its concurrency key: emails have no per-key limit), so whoever queued it can tell
    later that it did (services/notifications.py)."""
    if template not in SUBJECTS:
        raise LookupError(f"no mail template {template!r}")
    # A relay's outage of hours loses nothing; `messageKey` makes one Message-ID for every send of the job.
    payload = {"to": to, "template": template, "context": dict(context), "messageKey": uuid.uuid4().hex}
    return Job.enqueue(
        session, SEND_EMAIL, payload, max_attempts=MAX_ATTEMPTS, retry_for=RETRY_FOR, concurrency_key=key
    )


class Mailer:
    def __init__(self, settings: Settings, transport: Transport | None = None) -> None:
        self.sender = settings.mail_from
        self.transport = transport or transport_for(
            settings.mail_url, outbox=settings.var_dir / "mail", timeout=settings.mail_timeout_seconds
        )

    def render(
        self, *, to: str, template: str, context: Mapping[str, Any], message_key: str | None = None
    ) -> EmailMessage:
        domain = self.sender.rsplit("@", 1)[-1].rstrip(">")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = SUBJECTS[template]
        message["Message-ID"] = f"<{message_key}@{domain}>" if message_key else make_msgid(domain=domain)
        message.set_content(_templates.get_template(f"{template}.txt").render(context))
        message.add_alternative(_templates.get_template(f"{template}.html").render(context), subtype="html")
        return message

    def send_job(self, payload: Mapping[str, Any]) -> None:
        """The `send_email` job: a refused or timed-out send raises, and the job system retries it."""
        message = self.render(
            to=payload["to"],
            template=payload["template"],
            context=payload["context"],
            message_key=payload.get("messageKey"),  # jobs queued before it existed have none
        )
        self.transport.send(message)
