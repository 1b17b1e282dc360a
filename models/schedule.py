"""A business's opening hours: weekly intervals and dated closures, read in its IANA time zone.

Every interval belongs to the local date it opens on and may run past midnight into the next one. Wall-clock
times become instants with fold=0 (a time in a spring-forward gap lands just after it, an ambiguous one on
its first occurrence), so a day's real length follows DST. Pure: no I/O, stdlib only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from core.errors import BusinessRuleBroken

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_INTERVALS = 6  # per day (weekly) and per closure's special hours
SEARCH_DAYS = 400  # how far next_opening looks, and how far a span running day after day is followed

_DAY = 24 * 60
_WEEK = 7 * _DAY
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_ONE_DAY = timedelta(days=1)


class ClosureLike(Protocol):
    """Dates (inclusive) on which the weekly hours do not apply: closed (`intervals` None) or special hours."""

    @property
    def start_date(self) -> date: ...
    @property
    def end_date(self) -> date: ...
    @property
    def intervals(self) -> list[dict[str, str]] | None: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Span:
    """A stretch of open time, [start, end) in UTC."""

    start: datetime
    end: datetime
    zone: ZoneInfo
    source: str  # "weekly", or "closure" when any part of it is a closure's special hours

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(self.zone)

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(self.zone)


# --- Validation -------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """Broken hours; the public function raises it as its own 422 code."""

    def __init__(self, detail: str, field: str) -> None:
        super().__init__(detail)
        self.detail, self.field = detail, field


class _Placed(NamedTuple):
    """A validated interval, in minutes from the start of its day (weekly: of the week); `length` > 0."""

    start: int
    length: int
    day: str
    text: str  # "22:00-02:00"
    field: str


def normalise_week(hours: Mapping[str, Any], field: str = "businessHours") -> dict[str, dict[str, Any]]:
    """The canonical form of weekly hours given in either API shape; 422 `invalid_business_hours` naming the
    day or interval otherwise (including intervals that overlap, across midnight and Sunday into Monday)."""
    try:
        return _week(hours, field)
    except _Invalid as invalid:
        raise BusinessRuleBroken("invalid_business_hours", invalid.detail, field=invalid.field) from None


def normalise_intervals(intervals: Sequence[Mapping[str, Any]], field: str) -> list[dict[str, str]]:
    """A closure's special hours on one date, sorted by `open`; 422 `invalid_closure` naming the interval
    otherwise. An interval running past midnight counts as ending at 24:00 plus its close."""
    try:
        return _special_hours(intervals, field)
    except _Invalid as invalid:
        raise BusinessRuleBroken("invalid_closure", invalid.detail, field=invalid.field) from None


def _week(hours: Mapping[str, Any], field: str) -> dict[str, dict[str, Any]]:
    week: dict[str, dict[str, Any]] = {}
    placed: list[_Placed] = []
    for index, day in enumerate(WEEKDAYS):
        day_field = f"{field}.{day}"
        value = hours.get(day)
        if not isinstance(value, Mapping):
            raise _Invalid(f"Give the hours of {day}: `closed`, and when open its times.", day_field)
        items = _day_items(day, value, day_field)
        if items is None:
            week[day] = {"closed": True, "intervals": []}
            continue
        intervals: list[dict[str, str]] = []
        for item_field, item in items:
            opens, closes, start, end = _interval(item, f"On {day}, ", item_field)
            intervals.append({"open": opens, "close": closes})
            placed.append(_place(start, end, index * _DAY, day, item_field))
        week[day] = {"closed": False, "intervals": sorted(intervals, key=lambda i: i["open"])}
    _reject_overlap(placed, circle=_WEEK)
    return week


def _special_hours(intervals: Sequence[Mapping[str, Any]], field: str) -> list[dict[str, str]]:
    if isinstance(intervals, str | bytes) or not isinstance(intervals, Sequence):
        raise _Invalid("Special hours are a list of intervals.", field)
    if len(intervals) > MAX_INTERVALS:
        raise _Invalid(f"Give at most {MAX_INTERVALS} intervals of special hours.", field)
    out: list[dict[str, str]] = []
    placed: list[_Placed] = []
    for i, item in enumerate(intervals):
        opens, closes, start, end = _interval(item, "In the special hours, ", f"{field}[{i}]")
        out.append({"open": opens, "close": closes})
        placed.append(_place(start, end, 0, "", f"{field}[{i}]"))
    _reject_overlap(placed, circle=None)
    return sorted(out, key=lambda i: i["open"])


def _day_items(day: str, value: Mapping[str, Any], day_field: str) -> list[tuple[str, Any]] | None:
    """(field, interval) of an open day in either shape, None for a closed one."""
    shorthand = "open" in value or "close" in value
    if shorthand and "intervals" in value:
        # A day as responses show it (the shorthand beside its one interval) is sent back as it was read.
        if value.get("intervals") != [{"open": value.get("open"), "close": value.get("close")}]:
            raise _Invalid(f"On {day}, give either `open` and `close` or `intervals`, not both.", day_field)
        shorthand = False
    if value.get("closed") is True:  # existing clients send a closed day's times too: ignored
        return None
    if shorthand:
        if value.get("open") is None or value.get("close") is None:
            raise _Invalid(f"On {day}, an open day needs both `open` and `close`.", day_field)
        return [(day_field, value)]
    items = value.get("intervals")
    if items is None or isinstance(items, str | bytes) or not isinstance(items, Sequence) or not items:
        raise _Invalid(
            f"On {day}, an open day needs its hours (`open` and `close`, or `intervals`); "
            "a day without any is `closed: true`.",
            day_field,
        )
    if len(items) > MAX_INTERVALS:
        raise _Invalid(f"On {day}, give at most {MAX_INTERVALS} intervals.", day_field)
    return [(f"{day_field}.intervals[{i}]", item) for i, item in enumerate(items)]


def _interval(item: Any, where: str, field: str) -> tuple[str, str, int, int]:
    """`open` and `close`, as text and in minutes."""
    if not isinstance(item, Mapping):
        raise _Invalid(f"{where}an interval is an object with `open` and `close`.", field)
    opens, closes = item.get("open"), item.get("close")
    start, end = _minutes(opens), _minutes(closes)
    if start is None or start == _DAY:
        raise _Invalid(f"{where}`open` must be a time from 00:00 to 23:59 (HH:MM).", field)
    if end is None:
        raise _Invalid(f"{where}`close` must be a time from 00:00 to 24:00 (HH:MM).", field)
    if start == end:
        raise _Invalid(
            f"{where}an interval opens and closes at the same time ({opens}); a whole day is 00:00 to 24:00.", field
        )
    return _clock(start), _clock(end), start, end


def _place(start: int, end: int, offset: int, day: str, field: str) -> _Placed:
    return _Placed(offset + start, (end - start) % _DAY or _DAY, day, f"{_clock(start)}-{_clock(end)}", field)


def _reject_overlap(placed: list[_Placed], circle: int | None) -> None:
    """Names the first interval that opens inside another (of two opening together, the later given)."""

    def opens_within(a: _Placed, b: _Placed) -> bool:
        offset = a.start - b.start
        return 0 <= (offset % circle if circle else offset) < b.length

    for j, later in enumerate(placed):
        for i, other in enumerate(placed):
            if i == j or not opens_within(later, other) or (later.start == other.start and i > j):
                continue
            what = other.text if other.day == later.day else f"{other.day}'s {other.text}"
            where = f"On {later.day}, " if later.day else "In the special hours, "
            raise _Invalid(f"{where}{later.text} overlaps {what}.", later.field)


def _minutes(clock: Any) -> int | None:
    """Minutes since midnight of "HH:MM" (24:00 is 1440); None if it is not such a time."""
    if clock == "24:00":
        return _DAY
    match = _CLOCK.fullmatch(clock) if isinstance(clock, str) else None
    return int(match[1]) * 60 + int(match[2]) if match else None


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- Evaluation -------------------------------------------------------------------------------------------


class _Open(NamedTuple):
    start: datetime  # UTC
    end: datetime
    closure: bool  # a closure's special hours


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _stored_intervals(value: Any) -> list[tuple[int, int]]:
    """(open, close) minutes of stored intervals, canonical or legacy; unreadable ones (old rows) are skipped."""
    if not isinstance(value, Mapping) or value.get("closed") is True:
        return []
    items = value.get("intervals")
    if items is None:
        items = [value]
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        return []
    out: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, Mapping):
            opens, closes = _minutes(item.get("open")), _minutes(item.get("close"))
            if opens is not None and closes is not None and opens != closes and opens < _DAY:
                out.append((opens, closes))
    return out


class Schedule:
    """The open time of one business. Construct per use; it memoises the days it evaluates."""

    def __init__(self, timezone: str, week: Mapping[str, Any], closures: Sequence[ClosureLike] = ()) -> None:
        self.zone = _zone(timezone)
        self._weekly = tuple(_stored_intervals(week.get(day)) for day in WEEKDAYS)
        self._closures = [
            (closure, None if closure.intervals is None else _stored_intervals({"intervals": closure.intervals}))
            for closure in closures
        ]
        self._days: dict[date, list[_Open]] = {}

    def spans(self, start: datetime, end: datetime) -> list[Span]:
        """The open spans overlapping [start, end), clipped to it, merged when they touch, in order."""
        _require_aware(start, end)
        if end <= start:
            return []
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        clipped = [
            _Open(max(o.start, start), min(o.end, end), o.closure)
            for o in self._opens(self._date(start) - 2 * _ONE_DAY, self._date(end) + 2 * _ONE_DAY)
            if o.start < end and o.end > start
        ]
        return [self._span(o) for o in _merge(clipped)]

    def span_at(self, at: datetime) -> Span | None:
        """The whole open span (merged across midnights) containing `at`."""
        found = self._span_around(at)
        return found[0] if found else None

    def is_open(self, at: datetime) -> bool:
        _require_aware(at)
        day = self._date(at)
        return any(o.start <= at < o.end for o in self._opens(day - 2 * _ONE_DAY, day))

    def next_opening(self, at: datetime) -> Span | None:
        """The first span starting after `at` (after the current span if open at `at`); None if none opens
        within SEARCH_DAYS of it, or if `at` is in a span that does not end within them (open around the clock)."""
        _require_aware(at)
        after = at
        current = self._span_around(at)
        if current:
            span, whole = current
            if not whole:
                return None
            after = span.end
        first = self._date(after) - 3 * _ONE_DAY  # intervals opening earlier end before `after`
        limit = self._date(at) + timedelta(days=SEARCH_DAYS)
        days = 7  # most businesses open within a week: look further only when they do not
        while True:
            last = min(self._date(after) + timedelta(days=days), limit)
            # Intervals of later dates open after midnight(last), less a DST gap: a margin of a day.
            sure = self._midnight(last - _ONE_DAY)
            for merged in _merge(self._opens(first, last)):
                if merged.start <= after:
                    continue
                if merged.start >= sure and last < limit:
                    break
                return self.span_at(merged.start) if merged.end >= sure else self._span(merged)
            if last >= limit:
                return None
            days *= 4

    def closure_on(self, at: datetime) -> ClosureLike | None:
        """The closure covering the local date of `at` (the first given, if several do)."""
        _require_aware(at)
        return self._closure(self._date(at))

    def _span_around(self, at: datetime) -> tuple[Span, bool] | None:
        """The merged span containing `at`, and whether it was found whole (not cut at SEARCH_DAYS)."""
        if not self.is_open(at):
            return None
        day, reach = self._date(at), 4
        while True:
            first, last = day - timedelta(days=reach), day + timedelta(days=reach)
            merged = next(o for o in _merge(self._opens(first, last)) if o.start <= at < o.end)
            # With a day's margin for DST: earlier dates' intervals end by midnight(first + 1), later
            # dates' open from midnight(last + 1).
            whole = merged.start > self._midnight(first + 2 * _ONE_DAY) and merged.end < self._midnight(last)
            if whole or reach >= SEARCH_DAYS:
                return self._span(merged), whole
            reach = min(reach * 4, SEARCH_DAYS)

    def _opens(self, first: date, last: date) -> list[_Open]:
        """The intervals opening on local dates first..last, as instants."""
        out: list[_Open] = []
        day = first
        while day <= last:
            out += self._opens_on(day)
            day += _ONE_DAY
        return out

    def _opens_on(self, day: date) -> list[_Open]:
        if day not in self._days:
            closure = self._closure_entry(day)
            intervals = (closure[1] or []) if closure else self._weekly[day.weekday()]
            opens: list[_Open] = []
            for start, end in intervals:
                ends = end if end > start else end + _DAY  # past midnight
                o = _Open(self._instant(day, start), self._instant(day, ends), closure is not None)
                if o.end > o.start:  # not swallowed by a DST gap
                    opens.append(o)
            self._days[day] = opens
        return self._days[day]

    def _closure(self, day: date) -> ClosureLike | None:
        entry = self._closure_entry(day)
        return entry[0] if entry else None

    def _closure_entry(self, day: date) -> tuple[ClosureLike, list[tuple[int, int]] | None] | None:
        return next((c for c in self._closures if c[0].start_date <= day <= c[0].end_date), None)

    def _instant(self, day: date, minutes: int) -> datetime:
        day += timedelta(days=minutes // _DAY)
        minutes %= _DAY
        return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone).astimezone(UTC)

    def _midnight(self, day: date) -> datetime:
        return self._instant(day, 0)

    def _date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def _span(self, o: _Open) -> Span:
        return Span(o.start, o.end, self.zone, "closure" if o.closure else "weekly")


def _merge(opens: list[_Open]) -> list[_Open]:
    """Sorted, with those that overlap or touch made one."""
    merged: list[_Open] = []
    for o in sorted(opens):
        if merged and o.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = _Open(last.start, max(last.end, o.end), last.closure or o.closure)
        else:
            merged.append(o)
    return merged


def _require_aware(*moments: datetime) -> None:
    if any(m.tzinfo is None or m.utcoffset() is None for m in moments):
        raise ValueError("Schedule needs timezone-aware datetimes")
