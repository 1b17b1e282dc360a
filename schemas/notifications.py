"""API shape of a member's notification preferences (components NotificationPreferences and its update)."""

from __future__ import annotations

from typing import Any

from models import Notification

# Each preference by its API name.
FIELDS = {
    "voicemail": Notification.VOICEMAIL,
    "missedCall": Notification.MISSED_CALL,
    "dailyDigest": Notification.DAILY_DIGEST,
}


def dump_preferences(preferences: dict[Notification, bool]) -> dict[str, bool]:
    return {name: preferences[notification] for name, notification in FIELDS.items()}


def load_choices(body: dict[str, Any]) -> dict[Notification, bool]:
    """The preferences a (validated) update names."""
    return {FIELDS[name]: bool(value) for name, value in body.items() if name in FIELDS}
