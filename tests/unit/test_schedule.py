from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.errors import BusinessRuleBroken
from models.schedule import MAX_INTERVALS, WEEKDAYS, Schedule, Span, normalise_intervals, normalise_week

NEW_YORK = "America/New_York"
CLOSED: dict[str, Any] = {"closed": True}
NINE_TO_FIVE: dict[str, Any] = {"closed": False, "open": "09:00", "close": "17:00"}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def week(default: dict[str, Any] | None = None, **days: dict[str, Any]) -> dict[str, Any]:
    """Every weekday `default` (closed unless given), some days otherwise."""
    return {day: days.get(day, default or CLOSED) for day in WEEKDAYS}


def hours(*intervals: str) -> dict[str, Any]:
    """hours("09:00-12:00", "13:00-17:00"): an open day with those intervals."""
    return {"closed": False, "intervals": [dict(zip(("open", "close"), i.split("-"), strict=True)) for i in intervals]}


def schedule(hours_of_week: dict[str, Any], zone: str = NEW_YORK, closures: tuple[Closure, ...] = ()) -> Schedule:
    return Schedule(zone, normalise_week(hours_of_week), closures)


def bounds(spans: list[Span]) -> list[tuple[datetime, datetime]]:
    return [(s.start, s.end) for s in spans]


def span_of(span: Span | None) -> tuple[datetime, datetime] | None:
    return (span.start, span.end) if span else None


@dataclass
class Closure:
    start_date: date
    end_date: date
    intervals: list[dict[str, str]] | None = None
    name: str = "Holiday"


WEEKDAYS_NINE_TO_FIVE = week(NINE_TO_FIVE, saturday=CLOSED, sunday=CLOSED)
# January 2026 in New York is EST (UTC-5); 2026-01-05 is a Monday.
MONDAY, FRIDAY, SATURDAY = date(2026, 1, 5), date(2026, 1, 9), date(2026, 1, 10)


# --- normalise_week ---------------------------------------------------------------------------------------


def test_a_day_as_responses_show_it_is_accepted_back() -> None:
    """Responses carry the shorthand beside a day's one interval; a client that writes back what it read
    must not be refused."""
    shown = {"closed": False, "open": "09:00", "close": "17:00", "intervals": [{"open": "09:00", "close": "17:00"}]}

    assert normalise_week(week(shown))["monday"] == {
        "closed": False,
        "intervals": [{"open": "09:00", "close": "17:00"}],
    }


def test_both_shapes_normalise_to_one_canonical_week() -> None:
    given = week(
        monday=NINE_TO_FIVE,
        tuesday={
            "closed": False,
            "intervals": [{"open": "13:00", "close": "17:00"}, {"open": "08:00", "close": "12:00"}],
        },
        wednesday={"intervals": [{"open": "10:00", "close": "24:00"}]},  # `closed` omitted: open
        thursday={"closed": True, "open": "09:00", "close": "17:00"},  # times of a closed day are ignored
    )

    assert normalise_week(given) == {
        "monday": {"closed": False, "intervals": [{"open": "09:00", "close": "17:00"}]},
        "tuesday": {
            "closed": False,
            "intervals": [{"open": "08:00", "close": "12:00"}, {"open": "13:00", "close": "17:00"}],
        },
        "wednesday": {"closed": False, "intervals": [{"open": "10:00", "close": "24:00"}]},
        "thursday": {"closed": True, "intervals": []},
        "friday": {"closed": True, "intervals": []},
        "saturday": {"closed": True, "intervals": []},
        "sunday": {"closed": True, "intervals": []},
    }


def test_canonical_hours_normalise_to_themselves() -> None:
    canonical = normalise_week(week(hours("22:00-02:00"), monday=hours("09:00-24:00")))

    assert normalise_week(canonical) == canonical


def test_intervals_that_only_touch_are_accepted() -> None:
    given = week(
        monday=hours("12:00-13:00", "13:00-17:00"),
        friday=hours("22:00-24:00"),
        saturday=hours("00:00-06:00", "22:00-02:00"),
        sunday=hours("02:00-03:00", "20:00-00:00"),  # runs to Monday 00:00, and Monday opens at 00:00
    )
    given["monday"]["intervals"].insert(0, {"open": "00:00", "close": "04:00"})

    normalised = normalise_week(given)
    assert normalised["monday"]["intervals"] == [
        {"open": "00:00", "close": "04:00"},
        {"open": "12:00", "close": "13:00"},
        {"open": "13:00", "close": "17:00"},
    ]
    assert normalised["saturday"]["intervals"] == [
        {"open": "00:00", "close": "06:00"},
        {"open": "22:00", "close": "02:00"},
    ]


@pytest.mark.parametrize(
    ("days", "field", "detail"),
    [
        ({"monday": {"closed": False, "open": "09:00", "close": "09:00"}}, "monday", "same time (09:00)"),
        ({"monday": hours("08:00-09:00", "10:00-10:00")}, "monday.intervals[1]", "same time (10:00)"),
        ({"monday": hours("09:00-13:00", "12:00-17:00")}, "monday.intervals[1]", "12:00-17:00 overlaps 09:00-13:00"),
        ({"monday": hours("13:00-17:00", "09:00-14:00")}, "monday.intervals[0]", "13:00-17:00 overlaps 09:00-14:00"),
        ({"monday": hours("09:00-12:00", "09:00-10:00")}, "monday.intervals[1]", "overlaps 09:00-12:00"),
        (
            {"friday": hours("22:00-02:00"), "saturday": hours("01:00-05:00")},
            "saturday.intervals[0]",
            "On saturday, 01:00-05:00 overlaps friday's 22:00-02:00",
        ),
        (
            {"sunday": hours("22:00-02:00"), "monday": {"closed": False, "open": "01:30", "close": "09:00"}},
            "monday",
            "On monday, 01:30-09:00 overlaps sunday's 22:00-02:00",
        ),
        ({"monday": hours("20:00-02:00", "22:00-23:00")}, "monday.intervals[1]", "22:00-23:00 overlaps 20:00-02:00"),
        ({"monday": hours("21:00-23:00", "22:00-01:00")}, "monday.intervals[1]", "22:00-01:00 overlaps 21:00-23:00"),
        ({"monday": hours(*[f"0{h}:00-0{h}:30" for h in range(MAX_INTERVALS + 1)])}, "monday", "at most 6"),
        (
            {"monday": {"closed": False, "open": "09:00", "close": "12:00", "intervals": []}},
            "monday",
            "not both",
        ),
        ({"monday": {"closed": False, "open": "09:00"}}, "monday", "both `open` and `close`"),
        ({"monday": {"closed": False, "close": "17:00"}}, "monday", "both `open` and `close`"),
        ({"monday": {"closed": False}}, "monday", "needs its hours"),
        ({"monday": {"closed": False, "intervals": []}}, "monday", "needs its hours"),
        ({"monday": hours("24:00-02:00")}, "monday.intervals[0]", "`open` must be a time from 00:00 to 23:59"),
        ({"monday": hours("9:00-17:00")}, "monday.intervals[0]", "`open` must be a time"),
        ({"monday": hours("09:00-24:30")}, "monday.intervals[0]", "`close` must be a time from 00:00 to 24:00"),
        ({"monday": {"closed": False, "intervals": ["09:00-17:00"]}}, "monday.intervals[0]", "an object"),
    ],
)
def test_broken_hours_are_422_naming_the_field(days: dict[str, Any], field: str, detail: str) -> None:
    with pytest.raises(BusinessRuleBroken) as caught:
        normalise_week(week(**days))

    assert caught.value.status == 422
    assert caught.value.code == "invalid_business_hours"
    assert caught.value.errors == [{"field": f"businessHours.{field}", "message": caught.value.detail}]
    assert detail in (caught.value.detail or "")


def test_a_missing_weekday_is_422_under_the_given_field() -> None:
    given = week(NINE_TO_FIVE)
    del given["sunday"]

    with pytest.raises(BusinessRuleBroken) as caught:
        normalise_week(given, field="hours")

    assert caught.value.errors[0]["field"] == "hours.sunday"


# --- normalise_intervals ----------------------------------------------------------------------------------


def test_special_hours_are_sorted_and_may_run_past_midnight() -> None:
    given = hours("22:00-02:00", "01:00-03:00", "09:00-12:00")["intervals"]

    assert normalise_intervals(given, "closures[0].intervals") == [
        {"open": "01:00", "close": "03:00"},
        {"open": "09:00", "close": "12:00"},
        {"open": "22:00", "close": "02:00"},
    ]


@pytest.mark.parametrize(
    ("given", "field", "detail"),
    [
        (["10:00-12:00", "13:00-13:00"], "intervals[1]", "same time (13:00)"),
        (["09:00-12:00", "11:00-14:00"], "intervals[1]", "11:00-14:00 overlaps 09:00-12:00"),
        (["20:00-02:00", "23:00-23:30"], "intervals[1]", "23:00-23:30 overlaps 20:00-02:00"),
        ([f"1{h}:00-1{h}:30" for h in range(MAX_INTERVALS + 1)], "intervals", "at most 6"),
        (["24:00-01:00"], "intervals[0]", "`open`"),
    ],
)
def test_broken_special_hours_are_422_invalid_closure(given: list[str], field: str, detail: str) -> None:
    with pytest.raises(BusinessRuleBroken) as caught:
        normalise_intervals(hours(*given)["intervals"], "intervals")

    assert caught.value.status == 422
    assert caught.value.code == "invalid_closure"
    assert caught.value.errors[0]["field"] == field
    assert detail in (caught.value.detail or "")


# --- Schedule: weekly hours -------------------------------------------------------------------------------


def test_a_split_shift_is_closed_at_lunch() -> None:
    shop = schedule(week(hours("09:00-12:00", "13:00-17:00")))

    assert not shop.is_open(utc(2026, 1, 5, 13, 59))
    assert shop.is_open(utc(2026, 1, 5, 14))  # 09:00
    assert not shop.is_open(utc(2026, 1, 5, 17))  # 12:00
    assert shop.is_open(utc(2026, 1, 5, 18))  # 13:00
    assert not shop.is_open(utc(2026, 1, 5, 22))  # 17:00
    assert bounds(shop.spans(utc(2026, 1, 5), utc(2026, 1, 6))) == [
        (utc(2026, 1, 5, 14), utc(2026, 1, 5, 17)),
        (utc(2026, 1, 5, 18), utc(2026, 1, 5, 22)),
    ]


def test_an_overnight_interval_is_open_after_midnight_on_the_next_day() -> None:
    bar = schedule(week(friday=hours("22:00-02:00")))

    assert bar.is_open(utc(2026, 1, 10, 6, 59))  # Saturday 01:59
    assert not bar.is_open(utc(2026, 1, 10, 7))  # Saturday 02:00
    assert bar.span_at(utc(2026, 1, 10, 6)) == Span(
        utc(2026, 1, 10, 3), utc(2026, 1, 10, 7), ZoneInfo(NEW_YORK), "weekly"
    )


def test_sundays_overnight_interval_runs_into_monday() -> None:
    bar = schedule(week(sunday=hours("22:00-02:00")))

    assert bar.is_open(utc(2026, 1, 5, 6))  # Monday 01:00
    assert bounds(bar.spans(utc(2026, 1, 5), utc(2026, 1, 12, 12))) == [
        (utc(2026, 1, 5, 3), utc(2026, 1, 5, 7)),
        (utc(2026, 1, 12, 3), utc(2026, 1, 12, 7)),
    ]


def test_a_day_closing_at_24_00_is_open_until_midnight() -> None:
    shop = schedule(week(monday=hours("09:00-24:00")))

    assert shop.is_open(utc(2026, 1, 6, 4, 59))
    assert not shop.is_open(utc(2026, 1, 6, 5))
    assert bounds(shop.spans(utc(2026, 1, 5), utc(2026, 1, 7))) == [(utc(2026, 1, 5, 14), utc(2026, 1, 6, 5))]


def test_spans_touching_at_midnight_merge_into_one() -> None:
    bar = schedule(week(friday=hours("22:00-24:00"), saturday=hours("00:00-06:00")))

    expected = [(utc(2026, 1, 10, 3), utc(2026, 1, 10, 11))]
    assert bounds(bar.spans(utc(2026, 1, 9), utc(2026, 1, 11))) == expected
    span = bar.span_at(utc(2026, 1, 10, 10))
    assert span is not None
    assert (span.start, span.end, span.source) == (utc(2026, 1, 10, 3), utc(2026, 1, 10, 11), "weekly")
    assert (span.local_start.isoformat(), span.local_end.isoformat()) == (
        "2026-01-09T22:00:00-05:00",
        "2026-01-10T06:00:00-05:00",
    )


def test_spans_are_clipped_to_the_range() -> None:
    shop = schedule(week(hours("09:00-12:00", "13:00-17:00")))

    assert bounds(shop.spans(utc(2026, 1, 5, 15), utc(2026, 1, 5, 19))) == [
        (utc(2026, 1, 5, 15), utc(2026, 1, 5, 17)),
        (utc(2026, 1, 5, 18), utc(2026, 1, 5, 19)),
    ]
    assert shop.spans(utc(2026, 1, 5, 19), utc(2026, 1, 5, 19)) == []


def test_a_range_starting_mid_span_gets_the_spill_of_the_day_before() -> None:
    bar = schedule(week(saturday=hours("20:00-04:00")))

    assert bounds(bar.spans(utc(2026, 1, 11, 6), utc(2026, 1, 11, 12))) == [(utc(2026, 1, 11, 6), utc(2026, 1, 11, 9))]


def test_legacy_stored_hours_are_read_and_a_missing_day_is_closed() -> None:
    legacy = {"monday": {"closed": False, "open": "09:00", "close": "17:00"}, "tuesday": {"closed": True}}
    shop = Schedule(NEW_YORK, legacy)

    assert bounds(shop.spans(utc(2026, 1, 5), utc(2026, 1, 12))) == [(utc(2026, 1, 5, 14), utc(2026, 1, 5, 22))]


def test_an_unknown_time_zone_is_an_error() -> None:
    with pytest.raises(KeyError):
        Schedule("Mars/Olympus_Mons", week())


def test_instants_may_be_given_in_any_zone() -> None:
    shop = schedule(WEEKDAYS_NINE_TO_FIVE)
    tokyo = ZoneInfo("Asia/Tokyo")

    assert shop.is_open(datetime(2026, 1, 6, 0, 0, tzinfo=tokyo))  # 2026-01-05 15:00Z
    spans = shop.spans(datetime(2026, 1, 6, tzinfo=tokyo), datetime(2026, 1, 7, tzinfo=tokyo))
    assert {(s.start.tzinfo, s.end.tzinfo) for s in spans} == {(UTC, UTC)}
    assert bounds(spans) == [
        (utc(2026, 1, 5, 15), utc(2026, 1, 5, 22)),
        (utc(2026, 1, 6, 14), utc(2026, 1, 6, 15)),
    ]


def test_naive_datetimes_are_refused() -> None:
    shop = schedule(WEEKDAYS_NINE_TO_FIVE)

    with pytest.raises(ValueError, match="timezone-aware"):
        shop.is_open(datetime(2026, 1, 5, 12))


# --- Schedule: closures -----------------------------------------------------------------------------------


def test_a_closed_day_replaces_the_weekly_hours() -> None:
    holiday = Closure(MONDAY, MONDAY)
    shop = schedule(WEEKDAYS_NINE_TO_FIVE, closures=(holiday,))

    assert not shop.is_open(utc(2026, 1, 5, 15))
    assert shop.is_open(utc(2026, 1, 6, 15))
    assert shop.closure_on(utc(2026, 1, 6, 3)) is holiday  # Monday 22:00 in New York
    assert shop.closure_on(utc(2026, 1, 6, 5)) is None  # Tuesday 00:00


def test_a_closure_covers_a_range_of_dates() -> None:
    shop = schedule(WEEKDAYS_NINE_TO_FIVE, closures=(Closure(MONDAY, date(2026, 1, 7)),))

    assert bounds(shop.spans(utc(2026, 1, 5), utc(2026, 1, 10))) == [
        (utc(2026, 1, 8, 14), utc(2026, 1, 8, 22)),
        (utc(2026, 1, 9, 14), utc(2026, 1, 9, 22)),
    ]


def test_special_hours_replace_the_weekly_ones_on_their_dates() -> None:
    short_day = Closure(MONDAY, MONDAY, [{"open": "10:00", "close": "14:00"}], "Inventory")
    shop = schedule(WEEKDAYS_NINE_TO_FIVE, closures=(short_day,))

    spans = shop.spans(utc(2026, 1, 5), utc(2026, 1, 7))
    assert [(s.start, s.end, s.source) for s in spans] == [
        (utc(2026, 1, 5, 15), utc(2026, 1, 5, 19), "closure"),
        (utc(2026, 1, 6, 14), utc(2026, 1, 6, 22), "weekly"),
    ]
    assert shop.closure_on(utc(2026, 1, 5, 12)) is short_day


def test_fridays_overnight_hours_still_run_into_a_closed_saturday() -> None:
    bar = schedule(
        week(friday=hours("22:00-02:00"), saturday=hours("10:00-14:00")), closures=(Closure(SATURDAY, SATURDAY),)
    )

    assert bar.is_open(utc(2026, 1, 10, 6))  # Saturday 01:00
    assert not bar.is_open(utc(2026, 1, 10, 16))  # Saturday 11:00
    assert bounds(bar.spans(utc(2026, 1, 9), utc(2026, 1, 11))) == [(utc(2026, 1, 10, 3), utc(2026, 1, 10, 7))]


def test_a_closed_friday_takes_its_overnight_hours_with_it() -> None:
    bar = schedule(week(friday=hours("22:00-02:00")), closures=(Closure(FRIDAY, FRIDAY),))

    assert not bar.is_open(utc(2026, 1, 10, 6))
    assert bar.spans(utc(2026, 1, 9), utc(2026, 1, 11)) == []


def test_a_span_partly_of_special_hours_is_from_the_closure() -> None:
    late_friday = Closure(FRIDAY, FRIDAY, [{"open": "20:00", "close": "24:00"}])
    bar = schedule(week(saturday=hours("00:00-06:00")), closures=(late_friday,))

    assert [(s.start, s.end, s.source) for s in bar.spans(utc(2026, 1, 9), utc(2026, 1, 11))] == [
        (utc(2026, 1, 10, 1), utc(2026, 1, 10, 11), "closure")
    ]


# --- Schedule: next_opening -------------------------------------------------------------------------------


def test_the_next_opening_when_closed_is_the_next_span() -> None:
    shop = schedule(WEEKDAYS_NINE_TO_FIVE)

    assert span_of(shop.next_opening(utc(2026, 1, 5, 7))) == (utc(2026, 1, 5, 14), utc(2026, 1, 5, 22))
    assert span_of(shop.next_opening(utc(2026, 1, 5, 22))) == (utc(2026, 1, 6, 14), utc(2026, 1, 6, 22))  # at 17:00


def test_the_next_opening_when_open_is_the_one_after_the_current_span() -> None:
    shop = schedule(WEEKDAYS_NINE_TO_FIVE)

    assert span_of(shop.next_opening(utc(2026, 1, 5, 14))) == (utc(2026, 1, 6, 14), utc(2026, 1, 6, 22))
    assert span_of(shop.next_opening(utc(2026, 1, 9, 16))) == (utc(2026, 1, 12, 14), utc(2026, 1, 12, 22))  # Friday


def test_the_next_opening_after_an_overnight_span_skips_its_spill() -> None:
    bar = schedule(week(hours("22:00-24:00"), sunday=hours("00:00-06:00")))

    # Saturday 23:00: open until Sunday 06:00; Sunday has no 22:00, so next Monday 22:00.
    assert span_of(bar.span_at(utc(2026, 1, 11, 4))) == (utc(2026, 1, 11, 3), utc(2026, 1, 11, 11))
    assert span_of(bar.next_opening(utc(2026, 1, 11, 4))) == (utc(2026, 1, 13, 3), utc(2026, 1, 13, 5))


def test_the_next_opening_skips_a_closure() -> None:
    shop = schedule(WEEKDAYS_NINE_TO_FIVE, closures=(Closure(MONDAY, date(2026, 1, 6)),))

    opening = shop.next_opening(utc(2026, 1, 4, 12))
    assert span_of(opening) == (utc(2026, 1, 7, 14), utc(2026, 1, 7, 22))
    assert opening is not None
    assert opening.source == "weekly"


def test_the_next_opening_may_be_special_hours_months_ahead() -> None:
    summer_fair = Closure(date(2026, 7, 4), date(2026, 7, 4), [{"open": "10:00", "close": "16:00"}])
    stand = schedule(week(), closures=(summer_fair,))

    opening = stand.next_opening(utc(2026, 1, 5))
    assert span_of(opening) == (utc(2026, 7, 4, 14), utc(2026, 7, 4, 20))  # EDT
    assert opening is not None
    assert opening.source == "closure"


def test_a_business_never_open_has_no_next_opening() -> None:
    assert schedule(week()).next_opening(utc(2026, 1, 5)) is None


def test_a_business_always_open_has_no_next_opening() -> None:
    always = schedule(week(hours("00:00-24:00")))

    assert always.is_open(utc(2026, 1, 5, 12))
    assert always.next_opening(utc(2026, 1, 5, 12)) is None


def test_the_next_opening_looks_only_as_far_as_it_needs() -> None:
    shop = schedule(WEEKDAYS_NINE_TO_FIVE)

    assert span_of(shop.next_opening(utc(2026, 1, 9, 23))) == (utc(2026, 1, 12, 14), utc(2026, 1, 12, 22))
    assert len(shop._days) < 20  # days evaluated, not SEARCH_DAYS


# --- Schedule: time zones and DST -------------------------------------------------------------------------

DAY_AND_NIGHT = week(hours("09:00-17:00", "22:00-06:00"))


def test_new_york_spring_forward_shortens_the_night_not_the_day() -> None:
    shop = schedule(DAY_AND_NIGHT)

    night = shop.span_at(utc(2026, 3, 8, 5))  # Saturday 22:00 EST to Sunday 06:00 EDT
    day = shop.span_at(utc(2026, 3, 8, 14))  # Sunday, 2026-03-08
    assert span_of(night) == (utc(2026, 3, 8, 3), utc(2026, 3, 8, 10))
    assert span_of(day) == (utc(2026, 3, 8, 13), utc(2026, 3, 8, 21))
    assert night is not None
    assert night.end - night.start == timedelta(hours=7)
    assert day is not None
    assert day.end - day.start == timedelta(hours=8)


def test_new_york_fall_back_lengthens_the_night_not_the_day() -> None:
    shop = schedule(DAY_AND_NIGHT)

    night = shop.span_at(utc(2026, 11, 1, 5))  # Saturday 22:00 EDT to Sunday 06:00 EST
    day = shop.span_at(utc(2026, 11, 1, 15))
    assert span_of(night) == (utc(2026, 11, 1, 2), utc(2026, 11, 1, 11))
    assert span_of(day) == (utc(2026, 11, 1, 14), utc(2026, 11, 1, 22))
    assert night is not None
    assert night.end - night.start == timedelta(hours=9)
    assert day is not None
    assert day.end - day.start == timedelta(hours=8)


def test_an_interval_opening_in_the_spring_forward_gap_opens_after_it() -> None:
    shop = schedule(week(sunday=hours("02:30-05:00")))

    # 02:30 does not exist on 2026-03-08; read at the EST offset it is 07:30Z (03:30 EDT).
    assert bounds(shop.spans(utc(2026, 3, 8), utc(2026, 3, 9))) == [(utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 9))]
    assert not shop.is_open(utc(2026, 3, 8, 7, 15))


def test_an_interval_wholly_in_the_spring_forward_gap_is_dropped() -> None:
    shop = schedule(week(sunday=hours("02:00-03:00")))

    assert shop.spans(utc(2026, 3, 8), utc(2026, 3, 9)) == []
    assert bounds(shop.spans(utc(2026, 3, 15), utc(2026, 3, 16))) == [(utc(2026, 3, 15, 6), utc(2026, 3, 15, 7))]


def test_berlin_dst_changes() -> None:
    shop = schedule(DAY_AND_NIGHT, zone="Europe/Berlin")

    assert bounds(shop.spans(utc(2026, 3, 28, 17), utc(2026, 3, 29, 23))) == [
        (utc(2026, 3, 28, 21), utc(2026, 3, 29, 4)),  # 22:00 CET to 06:00 CEST: 7 hours
        (utc(2026, 3, 29, 7), utc(2026, 3, 29, 15)),
        (utc(2026, 3, 29, 20), utc(2026, 3, 29, 23)),
    ]
    assert bounds(shop.spans(utc(2026, 10, 24, 16), utc(2026, 10, 25, 21))) == [
        (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5)),  # 22:00 CEST to 06:00 CET: 9 hours
        (utc(2026, 10, 25, 8), utc(2026, 10, 25, 16)),
    ]


def test_an_ambiguous_time_is_its_first_occurrence() -> None:
    shop = schedule(week(sunday=hours("02:30-04:00")), zone="Europe/Berlin")

    # 02:30 happens twice on 2026-10-25: first in CEST (00:30Z).
    assert bounds(shop.spans(utc(2026, 10, 25), utc(2026, 10, 26))) == [
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3))
    ]


def test_kolkata_is_half_an_hour_off_the_hour() -> None:
    shop = schedule(WEEKDAYS_NINE_TO_FIVE, zone="Asia/Kolkata")

    assert bounds(shop.spans(utc(2026, 1, 5), utc(2026, 1, 6))) == [(utc(2026, 1, 5, 3, 30), utc(2026, 1, 5, 11, 30))]
    assert shop.is_open(utc(2026, 1, 5, 3, 30))
    assert not shop.is_open(utc(2026, 1, 5, 3, 29))
