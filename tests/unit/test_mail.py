from __future__ import annotations

from pathlib import Path

from connectors.mail import FileTransport, SmtpTransport, transport_for
from core.config import Settings
from services.mail import Mailer


def test_an_smtp_url_gives_host_port_credentials_and_starttls() -> None:
    transport = transport_for("smtp://us%40er:p%3Ass@mail.example:587?starttls=true", outbox=Path("x"), timeout=3)

    assert transport == SmtpTransport(
        host="mail.example", port=587, username="us@er", password="p:ss", starttls=True, timeout=3
    )


def test_no_url_writes_files() -> None:
    assert transport_for("", outbox=Path("var/mail"), timeout=3) == FileTransport(Path("var/mail"))


def test_a_message_has_text_and_escaped_html() -> None:
    mailer = Mailer(Settings(mail_url="smtp://localhost"))

    message = mailer.render(to="ada@example.com", template="verify_email", context={"name": "<Ada>", "link": "L"})

    assert message["Subject"] == "Confirm your email address"
    assert "Hello <Ada>," in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hello &lt;Ada&gt;," in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert message["Message-ID"].endswith("@switchboard.localhost>")
