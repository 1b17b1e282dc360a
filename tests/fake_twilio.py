"""FakeTwilio: phone calls played against our server the way Twilio plays them.

A TwiML interpreter and call simulator. It requests the voice webhook with Twilio's parameters, signed with
the account's auth token (`X-Twilio-Signature`, computed by the `twilio` library's RequestValidator over the
public URL and the form), executes the TwiML the server answers on the caller's leg, dials the forwarding
number (running `<Number url>` screening TwiML on the forwarded person's leg), leaves voicemails, and ends
the call with its status callbacks, which it can duplicate, hold back and reorder the way Twilio's
asynchronous callbacks really arrive. It reaches the server only through a transport callable (`Send`), so
one simulator drives an in-process test client and a live server alike:

    def send(path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(path, data=form, headers=headers)
        return response.status_code, response.text

    twilio = FakeTwilio(send, public_base="https://api.switchboard.test", auth_token=TOKEN)
    played = twilio.call("+14155550199", callee=Callee(presses=None))

What Twilio documents, and what this simulator does with it (twilio.com/docs, checked while writing this):
- Voice request parameters: CallSid, AccountSid, From, To, CallStatus, ApiVersion, Direction (`inbound`;
  `outbound-dial` for a leg a `<Dial>` created, with ParentCallSid), sent here with the Caller/Called
  aliases and, for numbers whose place is known, the geographic fields (FromCity, FromState, FromZip,
  FromCountry, To*, Caller*, Called*). ForwardedFrom and CallerName come only when a carrier supplies them:
  never here.
- Fallback URL: when Twilio "is unable to retrieve or execute TwiML" from the voice URL it requests the
  fallback URL at once, adding ErrorCode and ErrorUrl (docs "Availability and Reliability"). 11200 is
  "HTTP retrieval failure" (a non-2xx answer); a request that times out (15 s) is 11205 "HTTP connection
  failure", after which Twilio also "tr[ies] your fallback URL".
- `<Reject>` as the first verb: Twilio does not pick up; "the call ends with a status of busy or no-answer,
  depending on the verb's reason attribute" (reason `busy` -> busy; the default `rejected` -> no-answer).
- `<Dial action>`: the request carries DialCallStatus (completed, answered, busy, no-answer, failed,
  canceled), DialCallSid, DialCallDuration and DialBridged ("whether or not the dialing call has been
  connected to the dialed destination"). Without an action, Twilio moves on to the next verb. Default
  `timeout` 30 s.
- `<Number url>`: TwiML "run on the called party's end, after they answer, but before the parties are
  connected"; it may decline the call with `<Gather>` and `<Hangup>`, and may not contain `<Dial>` (13201).
- `<Gather>` without input: Twilio goes on to the next verb (no request to its action).
- `<Record action>`: the request adds RecordingUrl, RecordingDuration and Digits ("the key (if any) pressed
  to end the recording, or `hangup` if the caller hung up"). RecordingSid is sent too, though that page
  names it only among the recordingStatusCallback parameters.
- `<Record transcribe="true" transcribeCallback>`: once the recording is done, Twilio transcribes it (only
  recordings of 2 to 120 s) and posts TranscriptionSid, TranscriptionText, TranscriptionStatus (`completed` or
  `failed`), TranscriptionUrl, RecordingSid and RecordingUrl with the voice parameters, asynchronously: here
  after the recording callback and the call's status callback, held back, duplicated or failed on request.
  `transcribe` without a callback URL sends nothing (the text stays at Twilio).
- Status callbacks carry the voice parameters plus CallStatus, CallDuration (on the final event), Timestamp
  (RFC 2822, UTC), CallbackSource=call-progress-events and SequenceNumber ("starting from 0 ... there is no
  guarantee they will arrive in the same order").
Not in the docs, chosen here (see CALLER_HANGUP_DIAL_STATUS and `_dial`): the DialCallStatus when the caller
hangs up while the `<Dial>` still rings, and the DialCallStatus of a leg whose screening TwiML hung up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urljoin
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

Send = Callable[[str, dict[str, str], dict[str, str]], tuple[int, str]]
"""send(path_and_query, form_fields, headers) -> (status_code, response_text); the path is relative to the
server's origin, e.g. "/api/v1/telephony/twilio/dial?x=1"."""

API_VERSION = "2010-04-01"
# The DialCallStatus of a <Dial> the caller abandons while it rings. Twilio's docs do not say: its call
# statuses page names `canceled` for a child leg canceled before it was answered (REST API, hangupOnStar),
# which is what the abandoned leg is; Twilio may well say `no-answer`. Override per instance to test both.
CALLER_HANGUP_DIAL_STATUS = "canceled"
MAX_DOCUMENTS = 50  # TwiML documents one call may fetch: more is a Redirect loop


@dataclass
class Callee:
    """What the person at the forwarding number does."""

    answers: bool = True
    presses: str | None = "1"  # pressed during a screening <Gather>; None: nothing (e.g. their voicemail)
    status_if_unanswered: str = "no-answer"  # or "busy", "failed"
    talk_seconds: int = 30


@dataclass
class Caller:
    """What the person calling does."""

    number: str = "+14155550123"  # Twilio sends "anonymous", "+266696687" etc. for withheld numbers
    message_seconds: int | None = 12  # the voicemail left when <Record> runs; None: hangs up in silence
    says: str = "Hi, this is Ada Lovelace. Please call me back about my appointment on Friday."  # transcribed
    hangs_up_while_ringing: bool = False  # hangs up during a <Dial> before anyone answers


@dataclass
class Request:
    path: str  # path and query, as sent
    form: dict[str, str]
    status: int  # 0: the transport timed out
    body: str


@dataclass
class PlayedCall:
    sid: str
    said: list[str] = field(default_factory=list)  # every <Say> the caller heard, in order
    verbs: list[str] = field(default_factory=list)  # every verb executed on the caller's leg, in order
    whisper: list[str] = field(default_factory=list)  # every <Say> the forwarded person heard (screening TwiML)
    dial_status: str | None = None  # the last <Dial>'s DialCallStatus
    bridged: bool = False
    recording_url: str | None = None
    final_status: str = ""
    requests: list[Request] = field(default_factory=list)
    pending: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # callbacks held back
    transcription: dict[str, str] | None = None  # the transcription callback's form, once Twilio made one


@dataclass
class _Leg:
    """The caller's call while it plays."""

    played: PlayedCall
    params: dict[str, str]  # Twilio's standard request parameters for this call
    caller: Caller
    callee: Callee
    duplicate: bool
    started: datetime
    seconds: int = 0
    answered: bool = False  # Twilio picked up: it executed a verb other than a first <Reject>
    documents: int = 0
    transcriptions: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # sent after the call ends
    hold_recording: bool = False


class FakeTwilio:
    caller_hangup_dial_status = CALLER_HANGUP_DIAL_STATUS

    def __init__(
        self,
        send: Send,
        *,
        public_base: str,
        auth_token: str,
        voice_path: str = "/api/v1/telephony/twilio/voice",
        status_path: str = "/api/v1/telephony/twilio/status",
        fallback_path: str = "/api/v1/telephony/twilio/fallback",
        account_sid: str = "AC" + "0" * 32,
    ) -> None:
        self.send = send
        self.public_base = public_base.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.voice_path, self.status_path, self.fallback_path = voice_path, status_path, fallback_path
        self.account_sid = account_sid
        self.clock = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # each call starts a minute after the last

    # -- requests --------------------------------------------------------------------------------------------

    def post(self, url_or_path: str, form: dict[str, str]) -> Request:
        """Sign `form` for the public URL and POST it; `url_or_path` is a URL under public_base or a path."""
        path = self._path(url_or_path)
        headers = {
            "X-Twilio-Signature": self.validator.compute_signature(self.public_base + path, form),
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
        }
        status, body = self.send(path, dict(form), headers)
        return Request(path, dict(form), status, body)

    def _path(self, url_or_path: str) -> str:
        if url_or_path.startswith("/"):
            return url_or_path
        if url_or_path == self.public_base or url_or_path.startswith(self.public_base + "/"):
            return url_or_path[len(self.public_base) :] or "/"
        raise AssertionError(f"Twilio would request {url_or_path!r}, which is not under {self.public_base}")

    def _url(self, base: str, reference: str) -> str:
        """A TwiML URL attribute resolved the way Twilio resolves it: against the document's own URL."""
        return urljoin(base, reference.strip())

    def _ok(self, leg: _Leg, url: str, form: dict[str, str]) -> Request:
        request = self.post(url, form)
        leg.played.requests.append(request)
        if request.status != 200:
            raise AssertionError(f"POST {request.path} answered {request.status}: {request.body[:500]}")
        return request

    def _action(self, leg: _Leg, url: str, form: dict[str, str]) -> Request:
        """An action request (<Dial>, <Record>): Twilio's retries mean the server may see it twice."""
        request = self._ok(leg, url, form)
        if leg.duplicate:
            self._ok(leg, url, form)  # its answer is not played
        return request

    def _callback(self, leg: _Leg, url: str, form: dict[str, str], *, hold: bool) -> None:
        copies = 2 if leg.duplicate else 1
        for _ in range(copies):
            if hold:
                leg.played.pending.append((self._path(url), dict(form)))
            else:
                self._ok(leg, url, form)

    def flush(self, played: PlayedCall) -> None:
        """Send the held-back callbacks, in the order they were held."""
        while played.pending:
            path, form = played.pending.pop(0)
            request = self.post(path, form)
            played.requests.append(request)
            if request.status != 200:
                raise AssertionError(f"POST {request.path} answered {request.status}: {request.body[:500]}")

    # -- a call ----------------------------------------------------------------------------------------------

    def call(
        self,
        to: str,
        *,
        caller: Caller | None = None,
        callee: Callee | None = None,
        sid: str | None = None,
        duplicate_callbacks: bool = False,
        delay_status: bool = False,
        late_ringing: bool = False,
        delay_recording: bool = False,
        delay_transcription: bool = False,
        transcription_fails: bool = False,
    ) -> PlayedCall:
        """Play one incoming call to `to` from start to status callback (see the module's docstring), then
        the transcription callback when `<Record>` asked for one. `delay_*` hold a callback back until
        `flush` (the recording callback too: held, it arrives after the status callback, and the
        transcription after both only if it is held as well); `transcription_fails`: Twilio could not
        transcribe the message."""
        caller, callee = caller or Caller(), callee or Callee()
        played = PlayedCall(sid=sid or _sid("CA"))
        started, self.clock = self.clock, self.clock + timedelta(minutes=1)
        params = {
            "CallSid": played.sid,
            "AccountSid": self.account_sid,
            "From": caller.number,
            "To": to,
            "Caller": caller.number,
            "Called": to,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": API_VERSION,
            **_geography(caller.number, "From", "Caller"),
            **_geography(to, "To", "Called"),
        }
        leg = _Leg(played, params, caller, callee, duplicate_callbacks, started, hold_recording=delay_recording)
        url, twiml = self._answer(leg)
        self._play(leg, url, twiml)
        status_url = self.public_base + self.status_path
        final = params | {
            "CallStatus": played.final_status,
            "CallDuration": str(leg.seconds if leg.answered else 0),
            "Duration": str(-(-leg.seconds // 60) if leg.answered else 0),  # billed minutes
            "Timestamp": format_datetime(started + timedelta(seconds=leg.seconds)),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "1" if late_ringing else "0",
        }
        self._callback(leg, status_url, final, hold=delay_status)
        if late_ringing:  # fired first, arrives last
            ringing = params | {
                "Timestamp": format_datetime(started),
                "CallbackSource": "call-progress-events",
                "SequenceNumber": "0",
            }
            self._callback(leg, status_url, ringing, hold=delay_status)
        for target, form in leg.transcriptions:
            if transcription_fails:
                form = {key: value for key, value in form.items() if key != "TranscriptionText"}
                form["TranscriptionStatus"] = "failed"
            played.transcription = form
            self._callback(leg, target, form, hold=delay_transcription)
        return played

    def _answer(self, leg: _Leg) -> tuple[str, str]:
        """The voice webhook's TwiML, or the fallback URL's when the voice webhook fails."""
        voice = self.public_base + self.voice_path
        try:
            request = self.post(voice, leg.params)
        except Exception as error:
            if not _is_timeout(error):
                raise
            request, error_code = Request(self.voice_path, dict(leg.params), 0, ""), "11205"
        else:
            error_code = "11200"
        leg.played.requests.append(request)
        if request.status == 200:
            return voice, request.body
        fallback = self.public_base + self.fallback_path
        answer = self._ok(leg, fallback, leg.params | {"ErrorCode": error_code, "ErrorUrl": voice})
        return fallback, answer.body

    def _document(self, leg: _Leg, url: str, twiml: str) -> ElementTree.Element:
        leg.documents += 1
        if leg.documents > MAX_DOCUMENTS:
            raise AssertionError(f"more than {MAX_DOCUMENTS} TwiML documents in one call: a loop? last {url}")
        try:
            root = ElementTree.fromstring(twiml)  # noqa: S314 - TwiML from the server under test
        except ElementTree.ParseError as error:
            raise AssertionError(f"{url} answered something that is not TwiML ({error}): {twiml[:500]}") from None
        if root.tag != "Response":
            raise AssertionError(f"{url} answered <{root.tag}>, not a TwiML <Response>: {twiml[:500]}")
        return root

    def _end(self, leg: _Leg, status: str) -> None:
        leg.played.final_status = status

    def _play(self, leg: _Leg, url: str, twiml: str) -> None:
        """Execute a TwiML document on the caller's leg; a verb that fetches a new document plays that instead."""
        played = leg.played
        for verb in self._document(leg, url, twiml):
            name = verb.tag
            played.verbs.append(name)
            if name == "Reject":  # Twilio picks up unless <Reject> comes first
                self._end(leg, "completed" if leg.answered else "busy" if verb.get("reason") == "busy" else "no-answer")
                return
            leg.answered = True
            if name in ("Say", "Play", "Pause"):
                self._hear(leg, verb, played.said)
            elif name == "Gather":  # the caller presses nothing: Twilio goes on to the next verb
                for nested in verb:
                    played.verbs.append(nested.tag)
                    self._hear(leg, nested, played.said)
                leg.seconds += int(verb.get("timeout", "5"))
            elif name == "Hangup":
                self._end(leg, "completed")
                return
            elif name == "Redirect":
                target = self._url(url, verb.text or "")
                self._post_method(verb, target)
                self._play(leg, target, self._ok(leg, target, leg.params | {"CallStatus": "in-progress"}).body)
                return
            elif name == "Record":
                self._record(leg, verb, url)
                return
            elif name == "Dial":
                if self._dial(leg, verb, url):
                    return
            else:
                raise AssertionError(f"{url} answered <{name}>, a verb this simulator does not play: {twiml[:500]}")
        self._end(leg, "completed")  # the end of the document ends the call

    def _hear(self, leg: _Leg, verb: ElementTree.Element, heard: list[str]) -> None:
        if verb.tag == "Say":
            text = " ".join((verb.text or "").split())
            heard.append(text)
            leg.seconds += max(1, len(text.split()) // 3)
        elif verb.tag == "Play":
            leg.seconds += 3
        elif verb.tag == "Pause":
            leg.seconds += int(verb.get("length", "1"))
        else:
            raise AssertionError(f"<{verb.tag}> cannot be played here (only Say, Play, Pause)")

    @staticmethod
    def _post_method(verb: ElementTree.Element, url: str) -> None:
        if verb.get("method", "POST").upper() != "POST":
            raise AssertionError(f"<{verb.tag}> asks for {verb.get('method')} {url}: this simulator only POSTs")

    def _record(self, leg: _Leg, verb: ElementTree.Element, url: str) -> None:
        """The caller leaves a message and hangs up, so the action's answer is never played."""
        message = leg.caller.message_seconds
        if message is None:  # hangs up in silence: no recording, no request
            self._end(leg, "completed")
            return
        target = self._url(url, verb.get("action") or url)  # no action: Twilio requests the document's URL
        self._post_method(verb, target)
        recording = _sid("RE")
        leg.played.recording_url = (
            f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{recording}"
        )
        seconds = min(message, int(verb.get("maxLength", "3600")))
        leg.seconds += seconds
        form = leg.params | {
            "CallStatus": "completed",
            "RecordingUrl": leg.played.recording_url,
            "RecordingSid": recording,
            "RecordingDuration": str(seconds),
            "Digits": "hangup",
        }
        if leg.hold_recording:  # an action request that arrives late (Twilio's retry after a timeout, say)
            self._callback(leg, target, form, hold=True)
        else:
            self._action(leg, target, form)
        self._end(leg, "completed")
        if verb.get("transcribe", "false").lower() == "true" and verb.get("transcribeCallback"):
            transcription = self._url(url, verb.get("transcribeCallback", ""))
            self._post_method(verb, transcription)
            transcribed = 2 <= seconds <= 120  # Twilio transcribes recordings of 2 to 120 seconds only
            sid = _sid("TR")
            leg.transcriptions.append(
                (
                    transcription,
                    leg.params
                    | {
                        "CallStatus": "completed",
                        "TranscriptionSid": sid,
                        "TranscriptionStatus": "completed" if transcribed else "failed",
                        "TranscriptionUrl": f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}/Transcriptions/{sid}",
                        "RecordingSid": recording,
                        "RecordingUrl": leg.played.recording_url,
                        **({"TranscriptionText": leg.caller.says} if transcribed else {}),
                    },
                )
            )

    def _dial(self, leg: _Leg, dial: ElementTree.Element, url: str) -> bool:
        """Forward the call; True when the <Dial> ended the document (its action took over, or the caller left)."""
        played, callee = leg.played, leg.callee
        numbers = list(dial)
        if any(noun.tag != "Number" for noun in numbers) or len(numbers) > 1:
            raise AssertionError(
                f"this simulator dials one <Number> or a number as text: {ElementTree.tostring(dial)!r}"
            )
        number = numbers[0] if numbers else None
        forwarded = ((number.text if number is not None else dial.text) or "").strip()
        if not forwarded:
            raise AssertionError(f"{url} answered a <Dial> with no number")
        caller_id = dial.get("callerId") or leg.params["From"]
        child = {
            "CallSid": _sid("CA"),
            "ParentCallSid": played.sid,
            "AccountSid": self.account_sid,
            "From": caller_id,
            "To": forwarded,
            "Caller": caller_id,
            "Called": forwarded,
            "CallStatus": "in-progress",
            "Direction": "outbound-dial",
            "ApiVersion": API_VERSION,
            **_geography(forwarded, "To", "Called"),
        }
        timeout, child_seconds, bridged = int(dial.get("timeout", "30")), 0, False
        caller_left = leg.caller.hangs_up_while_ringing
        if caller_left:
            status = self.caller_hangup_dial_status
            leg.seconds += min(timeout, 8)
        elif not callee.answers:
            status = callee.status_if_unanswered
            leg.seconds += timeout if status == "no-answer" else 2
        else:
            # Twilio reports `completed` for any leg the callee picked up, even when the screening TwiML hung it
            # up before the bridge: its docs word `completed` as "answered ... and was connected", but name
            # DialBridged as the flag for "connected to the dialed destination", and servers in the wild tell a
            # screened-out leg by DialBridged=false under DialCallStatus=completed. Not stated outright in docs.
            status = "completed"
            leg.seconds += 5
            bridged = True
            if number is not None and number.get("url"):
                before = leg.seconds
                screening = self._url(url, number.get("url", ""))
                self._post_method(number, screening)
                bridged = self._screen(leg, child, screening, self._ok(leg, screening, child).body)
                child_seconds = leg.seconds - before
            if bridged:
                leg.seconds += callee.talk_seconds
                child_seconds += callee.talk_seconds
        played.dial_status, played.bridged = status, played.bridged or bridged
        if number is not None and number.get("statusCallback"):
            self._child_status(leg, number, url, child, status, child_seconds)
        action = dial.get("action")
        if action is None:
            if caller_left:
                self._end(leg, "completed")
            return caller_left
        target = self._url(url, action)
        self._post_method(dial, target)
        form = leg.params | {
            "CallStatus": "completed" if caller_left else "in-progress",
            "DialCallStatus": status,
            "DialCallSid": child["CallSid"],
            "DialCallDuration": str(child_seconds),
            "DialBridged": "true" if bridged else "false",
        }
        answer = self._action(leg, target, form)
        if caller_left:  # requested, but nobody is left to hear its answer
            self._end(leg, "completed")
        else:
            self._play(leg, target, answer.body)
        return True

    def _screen(self, leg: _Leg, child: dict[str, str], url: str, twiml: str) -> bool:
        """Run screening TwiML on the forwarded person's leg; True when it ends without <Hangup> (bridge)."""
        callee = leg.callee
        for verb in self._document(leg, url, twiml):
            name = verb.tag
            if name in ("Say", "Play", "Pause"):
                self._hear(leg, verb, leg.played.whisper)
            elif name == "Gather":
                for nested in verb:
                    self._hear(leg, nested, leg.played.whisper)
                digits = _pressed(callee.presses, verb)
                if not digits:  # timed out: on to the next verb
                    leg.seconds += int(verb.get("timeout", "5"))
                    continue
                target = self._url(url, verb.get("action") or url)
                self._post_method(verb, target)
                return self._screen(leg, child, target, self._ok(leg, target, child | {"Digits": digits}).body)
            elif name == "Hangup":
                return False
            elif name == "Redirect":
                target = self._url(url, verb.text or "")
                self._post_method(verb, target)
                return self._screen(leg, child, target, self._ok(leg, target, child).body)
            else:  # <Dial> is forbidden here (Twilio error 13201); the rest make no sense before a bridge
                raise AssertionError(f"{url} answered <{name}> in screening TwiML, which this simulator refuses")
        return True

    def _child_status(
        self, leg: _Leg, number: ElementTree.Element, url: str, child: dict[str, str], status: str, seconds: int
    ) -> None:
        """The forwarded leg's own status callback, when its <Number statusCallback> asks for one."""
        target = self._url(url, number.get("statusCallback", ""))
        if number.get("statusCallbackMethod", "POST").upper() != "POST":
            raise AssertionError(f"<Number> asks for a GET status callback to {target}: this simulator only POSTs")
        form = child | {
            "CallStatus": status,
            "CallDuration": str(seconds),
            "Timestamp": format_datetime(leg.started + timedelta(seconds=leg.seconds)),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
        }
        self._callback(leg, target, form, hold=False)


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _pressed(presses: str | None, gather: ElementTree.Element) -> str:
    """The digits a <Gather> collects: up to its finishOnKey (default #), at most numDigits."""
    digits = presses or ""
    finish = gather.get("finishOnKey", "#")
    for key in finish:
        digits = digits.split(key, 1)[0]
    limit = gather.get("numDigits")
    return digits[: int(limit)] if limit else digits


def _is_timeout(error: BaseException) -> bool:
    """TimeoutError, or a client library's timeout (httpx.TimeoutException, requests.Timeout)."""
    return isinstance(error, TimeoutError) or any("Timeout" in kind.__name__ for kind in type(error).__mro__)


def _geography(number: str, *prefixes: str) -> dict[str, str]:
    """The geographic fields Twilio adds when it knows where a number is (a few plausible ones)."""
    if number.startswith("+1415"):
        place = {"City": "SAN FRANCISCO", "State": "CA", "Zip": "94103", "Country": "US"}
    elif number.startswith("+1"):
        place = {"Country": "US"}
    elif number.startswith("+44"):
        place = {"Country": "GB"}
    else:
        return {}
    return {prefix + name: value for prefix in prefixes for name, value in place.items()}
