"""The test tool FakeTwilio (tests/fake_twilio.py), driven against a canned TwiML server: no network, no database."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from twilio.request_validator import RequestValidator

from tests.fake_twilio import Callee, Caller, FakeTwilio, PlayedCall

TOKEN = "twilio-test-auth-token"
PUBLIC = "https://api.switchboard.test"
BASE = "/api/v1/telephony/twilio"
FORWARD_TO, RECEPTIONIST = "+14155550100", "+14155550199"
SCREENED_DIAL = (
    f'<Response><Say>Thanks for calling.</Say><Dial action="{PUBLIC}{BASE}/dial?call=7" timeout="20">'
    f'<Number url="screen">{FORWARD_TO}</Number></Dial><Say>Unreachable</Say></Response>'
)
SCREEN = (
    '<Response><Gather numDigits="1" action="screened"><Say>A call for Smile Dental. Press 1.</Say></Gather>'
    "<Hangup/></Response>"
)
Route = str | tuple[int, str] | Callable[[dict[str, str]], str]


def dial_answer(form: dict[str, str]) -> str:
    if form["DialBridged"] == "true":
        return "<Response><Hangup/></Response>"
    return '<Response><Say>Leave a message.</Say><Record action="recording" maxLength="60"/></Response>'


class Server:
    """Canned TwiML by path (query ignored); checks every signature and keeps what it was sent."""

    def __init__(self, voice: Route = SCREENED_DIAL, **routes: Route) -> None:
        self.routes: dict[str, Route] = {
            "voice": voice,
            "screen": SCREEN,
            "screened": lambda form: "<Response/>" if form["Digits"] == "1" else "<Response><Hangup/></Response>",
            "dial": dial_answer,
            "recording": "<Response><Say>Goodbye</Say></Response>",
            "status": "<Response/>",
            "fallback": "<Response><Say>Sorry, try later.</Say></Response>",
            **routes,
        }
        self.seen: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def __call__(self, path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        assert RequestValidator(TOKEN).validate(PUBLIC + path, form, headers["X-Twilio-Signature"])
        self.seen.append((path, form, headers))
        route = self.routes[urlsplit(path).path.removeprefix(BASE + "/")]
        if isinstance(route, tuple):
            return route
        return 200, route(form) if callable(route) else route

    def forms(self, name: str) -> list[dict[str, str]]:
        return [form for path, form, _ in self.seen if urlsplit(path).path == f"{BASE}/{name}"]


def play(server: Server, caller: Caller | None = None, callee: Callee | None = None, **flags: bool) -> PlayedCall:
    twilio = FakeTwilio(server, public_base=PUBLIC, auth_token=TOKEN)
    return twilio.call(RECEPTIONIST, caller=caller, callee=callee, **flags)  # type: ignore[arg-type]  # flags: bools


def test_requests_are_signed_for_the_public_url_and_stay_on_it() -> None:
    server = Server(voice="<Response/>")
    twilio = FakeTwilio(server, public_base=PUBLIC + "/", auth_token=TOKEN)
    request = twilio.post(f"{PUBLIC}{BASE}/status?x=1&y=2", {"CallSid": "CA1", "Digits": "1#"})
    assert (request.path, request.status, request.body) == (f"{BASE}/status?x=1&y=2", 200, "<Response/>")
    assert server.seen[0][2]["X-Twilio-Signature"] == RequestValidator(TOKEN).compute_signature(
        f"{PUBLIC}{BASE}/status?x=1&y=2", {"CallSid": "CA1", "Digits": "1#"}
    )
    with pytest.raises(AssertionError, match="not under"):
        twilio.post("https://elsewhere.test/voice", {})


def test_a_screened_call_accepted_is_bridged() -> None:
    server = Server()
    played = play(server, callee=Callee(presses="12"))
    voice, child = server.forms("voice")[0], server.forms("screen")[0]
    assert re.fullmatch(r"CA[0-9a-f]{32}", played.sid)
    assert voice["CallSid"] == played.sid
    assert voice | {"From": "+14155550123", "To": RECEPTIONIST, "CallStatus": "ringing"} == voice
    assert (voice["Direction"], voice["ApiVersion"], voice["Caller"], voice["Called"]) == (
        "inbound", "2010-04-01", "+14155550123", RECEPTIONIST,
    )  # fmt: skip
    assert (child["ParentCallSid"], child["To"], child["Direction"]) == (played.sid, FORWARD_TO, "outbound-dial")
    assert child["CallSid"] != played.sid
    assert server.forms("screened")[0]["Digits"] == "1"
    action = server.forms("dial")[0]
    assert (action["DialCallStatus"], action["DialBridged"], action["DialCallSid"]) == (
        "completed",
        "true",
        child["CallSid"],
    )
    assert int(action["DialCallDuration"]) >= 30
    assert played.said == ["Thanks for calling."]
    assert played.whisper == ["A call for Smile Dental. Press 1."]
    assert played.verbs == ["Say", "Dial", "Hangup"]
    assert played.bridged
    assert played.dial_status == "completed"
    (status,) = server.forms("status")
    assert (status["CallStatus"], status["CallbackSource"], status["SequenceNumber"]) == (
        "completed", "call-progress-events", "0",
    )  # fmt: skip
    assert int(status["CallDuration"]) >= 30
    assert played.final_status == "completed"
    assert not played.pending


@pytest.mark.parametrize("presses", [None, "2"])
def test_a_screened_call_declined_goes_to_voicemail(presses: str | None) -> None:
    server = Server()
    played = play(server, callee=Callee(presses=presses))
    action = server.forms("dial")[0]
    assert (action["DialCallStatus"], action["DialBridged"], action["CallStatus"]) == (
        "completed",
        "false",
        "in-progress",
    )
    assert not played.bridged
    assert played.said == ["Thanks for calling.", "Leave a message."]
    (recording,) = server.forms("recording")
    assert re.fullmatch(
        r"https://api\.twilio\.com/2010-04-01/Accounts/AC0{32}/Recordings/RE[0-9a-f]{32}",
        recording["RecordingUrl"],
    )
    assert (recording["RecordingDuration"], recording["Digits"], recording["CallSid"]) == ("12", "hangup", played.sid)
    assert played.recording_url == recording["RecordingUrl"]
    assert "Goodbye" not in played.said
    assert len(server.forms("screened")) == (0 if presses is None else 1)


def test_an_unanswered_dial_and_a_silent_caller() -> None:
    server = Server()
    played = play(
        server, callee=Callee(answers=False, status_if_unanswered="busy"), caller=Caller(message_seconds=None)
    )
    assert server.forms("dial")[0]["DialCallStatus"] == "busy"
    assert not server.forms("screen")
    assert played.verbs[-1] == "Record"
    assert not server.forms("recording")
    assert played.recording_url is None
    assert played.final_status == "completed"
    assert played.dial_status == "busy"


def test_the_caller_hanging_up_while_it_rings() -> None:
    server = Server()
    played = play(server, caller=Caller(hangs_up_while_ringing=True))
    action = server.forms("dial")[0]
    assert (action["DialCallStatus"], action["CallStatus"]) == ("canceled", "completed")
    assert played.said == ["Thanks for calling."]
    assert not server.forms("recording")


@pytest.mark.parametrize(("reject", "status"), [('<Reject reason="busy"/>', "busy"), ("<Reject/>", "no-answer")])
def test_reject(reject: str, status: str) -> None:
    server = Server(voice=f"<Response>{reject}<Say>unreachable</Say></Response>")
    played = play(server)
    assert (played.final_status, played.verbs, played.said) == (status, ["Reject"], [])
    assert (server.forms("status")[0]["CallStatus"], server.forms("status")[0]["CallDuration"]) == (status, "0")


def timeout(form: dict[str, str]) -> str:
    raise TimeoutError


@pytest.mark.parametrize(("voice", "code"), [((500, "boom"), "11200"), (timeout, "11205")])
def test_the_fallback_url_when_the_voice_webhook_fails(voice: Route, code: str) -> None:
    server = Server(voice=voice)
    played = play(server)
    fallback = server.forms("fallback")[0]
    assert (fallback["ErrorCode"], fallback["ErrorUrl"], fallback["CallSid"]) == (
        code,
        f"{PUBLIC}{BASE}/voice",
        played.sid,
    )
    assert played.said == ["Sorry, try later."]
    assert played.requests[0].status == (500 if code == "11200" else 0)


def test_callbacks_duplicated_held_back_and_late() -> None:
    server = Server()
    played = play(server, duplicate_callbacks=True, delay_status=True, late_ringing=True)
    assert len(server.forms("dial")) == 2
    assert not server.forms("status")
    assert [form["CallStatus"] for _, form in played.pending] == ["completed", "completed", "ringing", "ringing"]
    FakeTwilio(server, public_base=PUBLIC, auth_token=TOKEN).flush(played)
    statuses = server.forms("status")
    assert [(form["CallStatus"], form["SequenceNumber"]) for form in statuses] == [
        ("completed", "1"), ("completed", "1"), ("ringing", "0"), ("ringing", "0"),
    ]  # fmt: skip
    assert not played.pending
    assert played.requests[-1].form == statuses[-1]


TRANSCRIBED_RECORD = (
    '<Response><Say>Leave a message.</Say><Record action="recording" maxLength="120" transcribe="true"'
    f' transcribeCallback="{PUBLIC}{BASE}/transcription"/></Response>'
)


def paths(server: Server) -> list[str]:
    return [urlsplit(path).path.removeprefix(BASE + "/") for path, _, _ in server.seen]


def test_a_transcribed_recording_is_followed_by_its_transcription_after_the_status_callback() -> None:
    server = Server(voice=TRANSCRIBED_RECORD, transcription="<Response/>")
    played = play(server, caller=Caller(message_seconds=30, says="Call me back."))

    assert paths(server) == ["voice", "recording", "status", "transcription"]
    (form,) = server.forms("transcription")
    recording = server.forms("recording")[0]
    assert (form["TranscriptionStatus"], form["TranscriptionText"]) == ("completed", "Call me back.")
    assert (form["RecordingSid"], form["RecordingUrl"], form["CallSid"]) == (
        recording["RecordingSid"],
        played.recording_url,
        played.sid,
    )
    assert re.fullmatch(r"TR[0-9a-f]{32}", form["TranscriptionSid"])
    assert played.transcription == form


def test_transcriptions_held_back_duplicated_failed_or_not_asked_for() -> None:
    server = Server(voice=TRANSCRIBED_RECORD, transcription="<Response/>")
    played = play(server, duplicate_callbacks=True, delay_recording=True, delay_transcription=True)
    assert paths(server) == ["voice", "status", "status"]
    FakeTwilio(server, public_base=PUBLIC, auth_token=TOKEN).flush(played)
    assert paths(server)[3:] == ["recording", "recording", "transcription", "transcription"]

    failed = Server(voice=TRANSCRIBED_RECORD, transcription="<Response/>")
    play(failed, transcription_fails=True)
    assert failed.forms("transcription")[0]["TranscriptionStatus"] == "failed"
    assert "TranscriptionText" not in failed.forms("transcription")[0]
    too_short = Server(voice=TRANSCRIBED_RECORD, transcription="<Response/>")
    play(too_short, caller=Caller(message_seconds=1))  # Twilio transcribes 2 to 120 seconds only
    assert too_short.forms("transcription")[0]["TranscriptionStatus"] == "failed"

    plain = Server(voice='<Response><Record action="recording" transcribe="true"/></Response>')
    play(plain)  # no transcribeCallback: the text stays at Twilio
    assert paths(plain) == ["voice", "recording", "status"]


@pytest.mark.parametrize(
    ("routes", "error"),
    [
        ({"voice": "<Response><Enqueue>q</Enqueue></Response>"}, "does not play"),
        ({"voice": "<Foo/>"}, "not a TwiML"),
        ({"status": (403, "forged")}, "answered 403"),
    ],
)
def test_what_twilio_would_not_accept_fails_the_test(routes: dict[str, Route], error: str) -> None:
    with pytest.raises(AssertionError, match=error):
        play(Server(**routes))
