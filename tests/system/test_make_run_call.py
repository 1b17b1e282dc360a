"""A call through the system exactly as `make run` starts it, with the Twilio settings a user sets
(.env.example): a forward nobody answers ends in a voicemail on the call log, and the worker delivers a
signed `voicemail.received` to the business's webhook receiver (a real HTTP server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest

from tests.fake_twilio import Callee, Caller, FakeTwilio
from tests.system.test_make_run import MakeRun, eventually, free_port, ready
from tests.webhook_events import verified_event

AUTH_TOKEN = "make-run-twilio-auth-token-0123456789"
RECEPTIONIST, FORWARD_TO = "+14155550199", "+14155550100"


class Receiver(BaseHTTPRequestHandler):
    deliveries: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.deliveries.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.deliveries = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


@pytest.fixture
def running_with_twilio(tmp_path: Path) -> Iterator[MakeRun]:
    port = free_port()
    twilio = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    with ready(tmp_path, port, twilio) as run:
        yield run


def test_a_forward_nobody_answers_ends_in_a_voicemail_and_a_signed_delivery(
    running_with_twilio: MakeRun, receiver: str
) -> None:
    api = running_with_twilio.api
    owner = {"email": "owner@smile.example", "password": "a-smile-dental-password", "name": "Ada"}
    assert api.post("/auth/register", json=owner).status_code == 201
    token = api.post("/auth/login", json={k: owner[k] for k in ("email", "password")}).json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    always = {"closed": False, "intervals": [{"open": "00:00", "close": "24:00"}]}
    week = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), always)
    business = {"name": "Smile Dental", "timezone": "America/New_York", "businessHours": week}
    assert api.post("/business/me", json=business, headers=headers).status_code == 201
    plan = api.get("/plans", params={"country": "US"}).json()["data"][0]["id"]
    number = {"e164": RECEPTIONIST, "planId": plan, "label": "Front desk"}
    assert api.post("/phone-numbers", json=number, headers=headers).status_code == 201
    settings = {"phoneNumber": RECEPTIONIST, "forwardingNumber": FORWARD_TO, "receptionistEnabled": True}
    assert api.patch("/business/me", json=settings, headers=headers).status_code == 200
    endpoint = api.post("/webhook-endpoints", json={"url": receiver, "events": ["voicemail.received"]}, headers=headers)
    assert endpoint.status_code == 201, endpoint.text

    def send(path: str, form: dict[str, str], twilio_headers: dict[str, str]) -> tuple[int, str]:
        origin = f"http://127.0.0.1:{running_with_twilio.port}"
        response = httpx2.post(origin + path, data=form, headers=twilio_headers, timeout=15)
        return response.status_code, response.text

    phone = FakeTwilio(send, public_base=f"http://127.0.0.1:{running_with_twilio.port}", auth_token=AUTH_TOKEN)
    played = phone.call(RECEPTIONIST, callee=Callee(answers=False), caller=Caller(message_seconds=21))

    assert played.said[-1] == "Sorry, nobody could take your call. Please leave a message after the tone."
    (call,) = api.get("/calls", headers=headers).json()["data"]
    assert (call["outcome"], call["forwardStatus"], call["status"]) == ("voicemail", "no-answer", "completed")
    assert played.transcription is not None  # Twilio transcribes it, after the call
    said = played.transcription["TranscriptionText"]
    assert call["voicemail"] == {"url": played.recording_url, "durationSeconds": 21, "transcript": said}
    delivered_headers, body = eventually(
        "the worker delivers voicemail.received", lambda: next(iter(Receiver.deliveries), None)
    )
    event = verified_event(endpoint.json()["secret"], body, delivered_headers)
    assert (event["type"], event["data"]["id"], event["data"]["voicemail"]) == (
        "voicemail.received",
        call["id"],
        {**call["voicemail"], "transcript": None},  # sent with the recording, before the transcript came
    )
    assert json.loads(body) == event
