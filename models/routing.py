"""The one decision of the receptionist: what happens to a call from `caller` at `at`.

The voice webhook turns the decision into TwiML and the routing preview returns it, so what an integrator
previews is what a caller gets. Pure: the caller of `decide` reads the business, its schedule and whether the
number is blocked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from models.call import Route
from models.schedule import ClosureLike, Schedule, Span

if TYPE_CHECKING:
    from models.business import Business

LEAVE_A_MESSAGE = "Please leave a message after the tone."
NOBODY_ANSWERED = "Sorry, nobody could take your call. " + LEAVE_A_MESSAGE
UNAVAILABLE = "Sorry, we cannot take your call right now. " + LEAVE_A_MESSAGE

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
# What Twilio reports as `From` when the caller withholds their number: words, or these pseudo-numbers
# (Anonymous, Restricted, Unavailable, Blocked, Private in keypad letters).
_WITHHELD_NUMBERS = frozenset({"+266696687", "+86282452253", "+8656696", "+2562533", "+7748"})


def is_withheld(caller: str) -> bool:
    return caller in _WITHHELD_NUMBERS or not _E164.match(caller)


@dataclass(frozen=True)
class Decision:
    action: Route
    reason: str
    at: datetime
    open_span: Span | None  # the opening `at` falls in
    next_opening: Span | None
    closure: ClosureLike | None
    forward_to: str | None
    ring_seconds: int
    screened: bool
    says: list[str] = field(default_factory=list)


def decide(business: Business, schedule: Schedule, *, caller: str | None, blocked: bool, at: datetime) -> Decision:
    """`caller` None is an ordinary caller (the preview's default); `blocked` whether it is on the block list."""
    open_span = schedule.span_at(at)
    next_opening = schedule.next_opening(at)
    closure = schedule.closure_on(at) if open_span is None else None
    greeting = [business.greeting] if business.greeting else []

    def decision(action: Route, reason: str, says: list[str]) -> Decision:
        forwarding = action is Route.FORWARD
        return Decision(
            action=action,
            reason=reason,
            at=at,
            open_span=open_span,
            next_opening=next_opening,
            closure=closure,
            forward_to=business.forwarding_number if forwarding else None,
            ring_seconds=business.ring_seconds,
            screened=forwarding and business.screen_calls,
            says=says,
        )

    if not business.receptionist_enabled:
        return decision(Route.REJECT, "receptionist_disabled", [])
    if blocked:
        return decision(Route.BLOCKED, "caller_blocked", [])
    if caller is not None and is_withheld(caller) and business.anonymous_callers != "answer":
        if business.anonymous_callers == "reject":
            return decision(Route.REJECT, "anonymous_caller", [])
        return decision(Route.VOICEMAIL, "anonymous_caller", [*greeting, LEAVE_A_MESSAGE])
    if open_span is None:
        closed = [f"We are closed for {closure.name}."] if closure is not None else []
        if next_opening is not None:
            closed.append(f"We open again {_when(next_opening.local_start, at)}.")
        return decision(Route.VOICEMAIL, "closure" if closure else "closed", [*greeting, *closed, LEAVE_A_MESSAGE])
    if not business.forwarding_number:
        return decision(Route.VOICEMAIL, "no_forwarding_number", [*greeting, LEAVE_A_MESSAGE])
    return decision(Route.FORWARD, "open", greeting)


def _when(opening: datetime, now: datetime) -> str:
    """ "today at 9:00", "tomorrow at 13:30", "Monday at 9:00", "on December 24 at 9:00" (local times)."""
    clock = f"{opening.hour}:{opening.minute:02d}"
    days = (opening.date() - now.astimezone(opening.tzinfo).date()).days
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days < 7:
        return f"{opening:%A} at {clock}"
    return f"on {opening:%B} {opening.day} at {clock}"
