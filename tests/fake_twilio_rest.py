"""Twilio's REST API as the tests meet it: a real local HTTP server (TWILIO_API_BASE_URL points at it) that
speaks Twilio's protocol for what Switchboard calls: sending a text (`POST .../Messages.json`, form-encoded,
HTTP Basic auth as the account) and fetching a recording (`GET .../Recordings/{sid}.mp3`). It checks the
account's credentials like Twilio (401 with Twilio's error body otherwise), records every text it accepts,
and answers from a script when a test wants Twilio to refuse (a 400 with Twilio's error code) or to fail
(a 5xx, retried by the sender).

    rest = FakeTwilioRest(account_sid=SID, auth_token=TOKEN)   # started; rest.url is TWILIO_API_BASE_URL
    rest.refuse("+14155550123", code=21610)   # that number is unsubscribed at Twilio
    rest.fail_next(2)                         # the next two sends answer 503
    rest.add_recording("RE0123...", b"ID3...")
    rest.add_recording("RE4567...", b"x" * 65536, repeat=1600, declare_length=False)   # 100 MiB, made as sent
    rest.add_recording("RE89ab...", b"ID3...", delay=30)     # Twilio answers after 30 s
    rest.sent["RE4567..."]                    # the audio bytes written before the reader stopped reading
    rest.messages                            # what was sent: [{"To", "From", "Body", "sid"}]
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")
RECORDING = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Recordings/(RE[0-9a-f]{32})(\.mp3|\.wav)?$")


def new_account_sid() -> str:
    return f"AC{uuid.uuid4().hex}"


@dataclass(frozen=True)
class _Recording:
    audio: bytes  # served `repeat` times over: a large recording is never held whole
    repeat: int = 1
    delay: float = 0.0  # seconds before the answer starts
    pause: float = 0.0  # seconds before each piece after the first (a trickle)
    declare_length: bool = True  # else no Content-Length: the body ends when the connection closes


class FakeTwilioRest(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, account_sid: str, auth_token: str) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.messages: list[dict[str, str]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, accepted or not
        self.refused: dict[str, int] = {}  # number -> Twilio error code
        self.failures = 0  # how many of the next sends answer 503
        self.recordings: dict[str, _Recording] = {}
        self.sent: dict[str, int] = {}  # recording SID -> audio bytes written (so far, or until the reader left)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def refuse(self, number: str, *, code: int = 21610) -> None:
        """Twilio refuses texts to `number` for good (21610: the recipient unsubscribed; 21211: invalid)."""
        self.refused[number] = code

    def fail_next(self, count: int) -> None:
        self.failures = count

    def add_recording(
        self,
        sid: str,
        audio: bytes,
        *,
        repeat: int = 1,
        delay: float = 0.0,
        pause: float = 0.0,
        declare_length: bool = True,
    ) -> str:
        """A recording of the account; returns its RecordingUrl as Twilio reports it (without extension). Its
        audio is `audio` sent `repeat` times over; Twilio answers after `delay` seconds and waits `pause`
        seconds before each further piece; without `declare_length` it sends no Content-Length."""
        self.recordings[sid] = _Recording(audio, repeat, delay, pause, declare_length)
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeTwilioRest

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode(), keep_blank_values=True)
        fields = {name: values[0] for name, values in form.items()}
        match = MESSAGES.match(self.path)
        with self.server.lock:
            self.server.requests.append(("POST", self.path))
            if match is None:
                return self._error(404, 20404, "The requested resource was not found")
            if not self._authorised(match.group(1)):
                return self._error(401, 20003, "Authenticate")
            if self.server.failures > 0:
                self.server.failures -= 1
                return self._error(503, 20503, "Service unavailable")
            if not {"To", "Body"} <= set(fields) or not ({"From", "MessagingServiceSid"} & set(fields)):
                return self._error(400, 21604, "A 'To', a 'From' and a 'Body' are required")
            if fields["To"] in self.server.refused:
                code = self.server.refused[fields["To"]]
                return self._error(400, code, "Attempt to send to unsubscribed recipient")
            sid = f"SM{uuid.uuid4().hex}"
            self.server.messages.append({**fields, "sid": sid})
        self._json(
            201,
            {"sid": sid, "status": "queued", "to": fields["To"], "from": fields.get("From"), "body": fields["Body"]},
        )

    def do_GET(self) -> None:
        match = RECORDING.match(self.path)
        with self.server.lock:
            self.server.requests.append(("GET", self.path))
        if match is None or match.group(2) not in self.server.recordings:
            return self._error(404, 20404, "The requested resource was not found")
        if not self._authorised(match.group(1)):
            return self._error(401, 20003, "Authenticate")
        sid, recording = match.group(2), self.server.recordings[match.group(2)]
        time.sleep(recording.delay)
        self.send_response(200)
        self.send_header("Content-Type", "audio/x-wav" if match.group(3) == ".wav" else "audio/mpeg")
        if recording.declare_length:
            self.send_header("Content-Length", str(len(recording.audio) * recording.repeat))
        self.end_headers()
        self.server.sent[sid] = 0
        try:
            for piece in range(recording.repeat):
                if piece:
                    time.sleep(recording.pause)
                self.wfile.write(recording.audio)
                self.server.sent[sid] += len(recording.audio)
        except OSError:  # the reader hung up
            pass

    def _authorised(self, account: str) -> bool:
        expected = base64.b64encode(f"{self.server.account_sid}:{self.server.auth_token}".encode()).decode()
        return account == self.server.account_sid and self.headers.get("Authorization") == f"Basic {expected}"

    def _error(self, status: int, code: int, message: str) -> None:
        more = f"https://www.twilio.com/docs/errors/{code}"
        self._json(status, {"code": code, "message": message, "more_info": more, "status": status})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass
