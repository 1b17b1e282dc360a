"""The daily digest: one email per business and local day, with the day's calls by outcome, to the members
who asked for it; the worker's scheduler runs `send_due` every `DIGEST_CHECK_SECONDS` (60), and the `digests`
row written first makes each one go once however many workers run.

The digest of day D goes out from 07:00 (models/digest.py `DIGEST_HOUR`) on D+1 in the business's time zone.
One run, in one transaction: find the due businesses (one query), and for each (at most `DIGESTS_PER_RUN`; the
rest next run) claim its day (the `digests` row; the worker whose insert lost skips it) and queue its emails
as `send_email` jobs. The row and the jobs commit together: a worker that dies after the claim and before the
sends leaves jobs another worker sends; one that dies before the commit leaves neither, and the next run
queues the digest again.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models import Call, Digest, Membership, Notification, Outcome
from models.base import utcnow
from models.digest import DueDigest
from services.mail import queue_email

DIGESTS_PER_RUN = 200  # bounds one run's transaction; with more due, the rest go a minute later
VOICEMAILS_LISTED = 5  # the voicemails' callers named in the email; the rest are counted
OUTCOME_LABELS = {  # the order and words of the email's lines
    Outcome.FORWARDED: "Forwarded and answered",
    Outcome.VOICEMAIL: "Voicemail left",
    Outcome.MISSED: "Missed",
    Outcome.REJECTED: "Rejected",
    Outcome.BLOCKED: "Blocked",
}


def send_due(session: Session, now: datetime | None = None, *, limit: int = DIGESTS_PER_RUN) -> int:
    """Queues the digests that are due at `now` (the current time by default); returns how many businesses
    got one. Safe to run in several workers at once."""
    sent = 0
    for due in Digest.due(session, now or utcnow(), limit=limit):
        if not Digest.claim(session, due.business_id, due.local_date):
            continue  # another worker's
        members = Membership.notified(session, due.business_id, Notification.DAILY_DIGEST)
        summary = _summary(session, due)
        for member in members:
            queue_email(
                session, to=member.user.email, template="daily_digest", context=summary | {"name": member.user.name}
            )
        sent += 1
    return sent


def _summary(session: Session, due: DueDigest) -> dict[str, Any]:
    """What the email says (JSON: it is the job's payload)."""
    start, end = due.span
    counts = Call.outcomes_between(session, due.business_id, start, end)
    voicemails = Call.voicemails_between(session, due.business_id, start, end, limit=VOICEMAILS_LISTED)
    zone = zoneinfo.ZoneInfo(due.timezone)
    hours = round((end - start).total_seconds() / 3600)
    day = due.local_date
    return {
        "business": due.business_name,
        "date": day.isoformat(),
        "day": f"{day:%A}, {day.day} {day:%B %Y}",
        "timezone": due.timezone,
        "hours": hours,  # 23 or 25 on the days the clocks change
        "outcomes": [{"label": label, "count": counts[outcome]} for outcome, label in OUTCOME_LABELS.items()],
        "total": sum(counts.values()),
        "voicemails": [
            {"caller": call.from_number, "time": f"{call.started_at.astimezone(zone):%H:%M}"} for call in voicemails
        ],
        "more_voicemails": counts[Outcome.VOICEMAIL] - len(voicemails),
        "since": start.isoformat().replace("+00:00", "Z"),
        "until": end.isoformat().replace("+00:00", "Z"),
    }
