"""Quiet hours with explicit instants: Sundays, French holidays, the 08:00/20:30 edges, DST."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.schedule import QuietHours

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC
Q = QuietHours()


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def local(instant: dt.datetime) -> dt.datetime:
    assert instant.tzinfo is UTC
    return instant.astimezone(PARIS).replace(tzinfo=None)


@pytest.mark.parametrize("day", [
    dt.date(2026, 4, 6), dt.date(2026, 5, 14), dt.date(2026, 5, 25), dt.date(2026, 7, 14),
    dt.date(2026, 11, 11), dt.date(2026, 12, 25),
    dt.date(2027, 3, 29), dt.date(2027, 5, 6), dt.date(2027, 5, 17), dt.date(2027, 7, 14),
    dt.date(2027, 11, 11), dt.date(2027, 12, 25),
])
def test_holidays_are_closed(day):
    noon = paris(day.year, day.month, day.day, 12)
    assert not Q.is_allowed(noon)
    nxt = local(Q.next_allowed(noon))
    assert nxt.date() > day and nxt.time() == dt.time(8, 0)
    assert QuietHours(holidays=False).is_allowed(noon) == (day.weekday() != 6)


def test_sundays_are_closed_unless_configured():
    sunday = paris(2026, 6, 7, 12)
    assert not Q.is_allowed(sunday)
    assert local(Q.next_allowed(sunday)) == dt.datetime(2026, 6, 8, 8, 0)
    assert QuietHours(no_sundays=False).is_allowed(sunday)


@pytest.mark.parametrize(("wall", "allowed"), [
    ((7, 59, 59), False), ((8, 0, 0), True), ((12, 0, 0), True), ((20, 29, 0), True),
    ((20, 29, 59), True), ((20, 30, 0), False), ((23, 59, 0), False), ((0, 0, 0), False),
])
def test_daily_edges(wall, allowed):
    instant = paris(2026, 6, 10, *wall)  # a Wednesday
    assert Q.is_allowed(instant) is allowed
    nxt = Q.next_allowed(instant)
    if allowed:
        assert nxt == instant.astimezone(UTC)
    elif wall < (8, 0, 0):
        assert local(nxt) == dt.datetime(2026, 6, 10, 8, 0)
    else:
        assert local(nxt) == dt.datetime(2026, 6, 11, 8, 0)


def test_saturday_evening_goes_to_monday_or_tuesday():
    assert local(Q.next_allowed(paris(2026, 6, 6, 21))) == dt.datetime(2026, 6, 8, 8, 0)
    # Easter Monday 2026-04-06 and Whit Monday 2026-05-25: to Tuesday.
    assert local(Q.next_allowed(paris(2026, 4, 4, 21))) == dt.datetime(2026, 4, 7, 8, 0)
    assert local(Q.next_allowed(paris(2026, 5, 23, 21))) == dt.datetime(2026, 5, 26, 8, 0)
    # Ascension Thursday 2027-05-06 evening before: to Friday.
    assert local(Q.next_allowed(paris(2027, 5, 5, 20, 30))) == dt.datetime(2027, 5, 7, 8, 0)


def test_unix_seconds_and_aware_datetimes_in_other_zones():
    instant = paris(2026, 6, 10, 21)
    assert Q.next_allowed(instant.timestamp()) == Q.next_allowed(instant)
    assert Q.next_allowed(instant.astimezone(ZoneInfo("America/New_York"))) == \
        Q.next_allowed(instant)
    assert Q.next_allowed(instant).tzinfo is UTC
    with pytest.raises(ValueError):
        Q.next_allowed(dt.datetime(2026, 6, 10, 12))


def test_dst_spring_forward_day():
    # 2026-03-29 is a Sunday (closed): 01:59 CET then 03:00 CEST. Saturday night -> Monday.
    assert local(Q.next_allowed(paris(2026, 3, 28, 22))) == dt.datetime(2026, 3, 30, 8, 0)
    # The same day with Sundays allowed: 08:00 is 06:00 UTC (CEST, +2).
    q = QuietHours(no_sundays=False)
    assert q.next_allowed(dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC)) == \
        dt.datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    # A window opening inside the gap opens when the clocks jump (03:00 CEST = 01:00 UTC).
    night = QuietHours(start="02:30", end="20:00", no_sundays=False, holidays=False)
    opening = night.next_allowed(dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    assert opening == dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert night.is_allowed(opening)
    assert not night.is_allowed(opening - dt.timedelta(seconds=1))


def test_dst_fall_back_day():
    # 2026-10-25: 02:59 CEST then 02:00 CET. Sunday, so closed; with Sundays allowed the
    # opening is 08:00 CET = 07:00 UTC and 20:30 CET = 19:30 UTC closes.
    q = QuietHours(no_sundays=False)
    assert q.next_allowed(dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == \
        dt.datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    assert q.is_allowed(dt.datetime(2026, 10, 25, 19, 29, tzinfo=UTC))
    assert not q.is_allowed(dt.datetime(2026, 10, 25, 19, 30, tzinfo=UTC))
    night = QuietHours(start="02:30", end="20:00", no_sundays=False, holidays=False)
    # A repeated wall time opens at its first occurrence (02:30 CEST = 00:30 UTC).
    assert night.next_allowed(dt.datetime(2026, 10, 24, 23, 0, tzinfo=UTC)) == \
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert Q.next_allowed(paris(2026, 10, 24, 21)) == dt.datetime(2026, 10, 26, 7, 0, tzinfo=UTC)


def test_config_errors():
    with pytest.raises(ValueError):
        QuietHours(start="20:30", end="08:00")
    with pytest.raises(ValueError):
        QuietHours(start="8h")
    with pytest.raises(ValueError):
        QuietHours(country="XX")


def test_holiday_cache_per_year_and_subdivisions():
    q = QuietHours()
    assert dt.date(2026, 7, 14) in q.holidays_of(2026)
    assert q.holidays_of(2026) is q.holidays_of(2026)
    moselle = QuietHours(subdiv="57")
    good_friday = paris(2026, 4, 3, 12)
    assert Q.is_allowed(good_friday) and not moselle.is_allowed(good_friday)
