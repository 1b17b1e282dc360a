from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from connexion import FlaskApp
from pytest_httpserver import HTTPServer
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from models.base import utcnow
from tests.conftest import database_of, empty_tables
from tests.fake_twilio import FakeTwilio
from tests.smtp import Inbox, start_smtp
from tests.webhook_events import Receiver
from web.spec import Contract

PROBE_SPEC = Path(__file__).parent / "probe" / "openapi.yaml"


@pytest.fixture(autouse=True)
def _isolated(app: FlaskApp) -> Iterator[None]:
    """Each test starts from empty tables (on the real, migrated schema) and commits for real."""
    yield
    empty_tables(app)


@pytest.fixture(scope="session")
def probe_app(settings: Settings, migrated: None) -> FlaskApp:
    """The real app factory serving a test-only spec (tests/integration/probe/openapi.yaml)."""
    return create_app(settings, Contract.load(PROBE_SPEC, handler_package="tests.integration.probe"))


@pytest.fixture
def probe(probe_app: FlaskApp) -> Iterator[TestClient]:
    with probe_app.test_client(raise_server_exceptions=False) as client:
        yield client


TWILIO_AUTH_TOKEN = "twilio-test-auth-token-0123456789"
TWILIO_PUBLIC_URL = "https://api.switchboard.test"  # PUBLIC_BASE_URL: what Twilio calls, and signs


@pytest.fixture(scope="session")
def twilio_app(settings: Settings, migrated: None) -> Iterator[FlaskApp]:
    """The app with Twilio configured as a user configures it (TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL)."""
    app = create_app(
        settings.model_copy(update={"twilio_auth_token": TWILIO_AUTH_TOKEN, "public_base_url": TWILIO_PUBLIC_URL})
    )
    yield app
    database_of(app).dispose()


@pytest.fixture
def twilio(twilio_app: FlaskApp) -> TestClient:
    return twilio_app.test_client()


@pytest.fixture
def clock(twilio_app: FlaskApp) -> Iterator[Callable[[datetime], None]]:
    """Sets the instant the receptionist answers at."""
    services = twilio_app.app.extensions["switchboard"]

    def set_to(instant: datetime) -> None:
        services.clock = lambda: instant

    yield set_to
    services.clock = utcnow


@pytest.fixture
def phone(twilio: TestClient) -> FakeTwilio:
    """Twilio, playing calls against the app (tests/fake_twilio.py)."""

    def send(path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = twilio.post(path, data=form, headers=headers)
        return response.status_code, response.text

    return FakeTwilio(send, public_base=TWILIO_PUBLIC_URL, auth_token=TWILIO_AUTH_TOKEN)


@pytest.fixture
def receiver(httpserver: HTTPServer) -> Iterator[Receiver]:
    """A customer's webhook endpoint; the test fails if a delivery strays from the spec."""
    receiver = Receiver(httpserver)
    yield receiver
    assert receiver.invalid == []


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) that keeps what it receives; its URL, as MAIL_URL, is `inbox.url`."""
    inbox = Inbox()
    controller = start_smtp(inbox)
    inbox.url = f"smtp://127.0.0.1:{controller.port}"  # type: ignore[attr-defined]
    yield inbox
    inbox.release()
    controller.stop()
