"""Email from templates, sent by the worker: `queue_email` in a request, `Mailer.send_job` in the worker.

The message is queued as a job in the request's transaction (never sent for a change that rolled back)
and rendered when sent. Templates live in services/templates/mail/<name>.txt and <name>.html.
"""

from __future__ import annotations

from collections.abc import Mapping
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
SUBJECTS = {
    "verify_email": "Confirm your email address",
    "reset_password": "Reset your Switchboard password",
    "invitation": "You are invited to join a business on Switchboard",
}
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "mail"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def queue_email(session: Session, *, to: str, template: str, context: Mapping[str, Any]) -> Job:
    if template not in SUBJECTS:
        raise LookupError(f"no mail template {template!r}")
    return Job.enqueue(session, SEND_EMAIL, {"to": to, "template": template, "context": dict(context)})


class Mailer:
    def __init__(self, settings: Settings, transport: Transport | None = None) -> None:
        self.sender = settings.mail_from
        self.transport = transport or transport_for(
            settings.mail_url, outbox=settings.var_dir / "mail", timeout=settings.mail_timeout_seconds
        )

    def render(self, *, to: str, template: str, context: Mapping[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = SUBJECTS[template]
        message["Message-ID"] = make_msgid(domain=self.sender.rsplit("@", 1)[-1].rstrip(">"))
        message.set_content(_templates.get_template(f"{template}.txt").render(context))
        message.add_alternative(_templates.get_template(f"{template}.html").render(context), subtype="html")
        return message

    def send_job(self, payload: Mapping[str, Any]) -> None:
        """The `send_email` job: a refused or timed-out send raises, and the job system retries it."""
        self.transport.send(self.render(to=payload["to"], template=payload["template"], context=payload["context"]))
