"""Quiet hours for marketing SMS: when may a commercial message be sent?

French rules (the default): not on Sundays, not on public holidays, only from 08:00 to 20:30 local
time (Europe/Paris). The daemon asks :meth:`QuietHours.next_allowed` for every marketing message:
if the answer is later than now, the message is ``scheduled`` for that instant.

Time is always a parameter: nothing here reads a clock, so tests pass explicit instants and the
dispatcher passes its own ``now``. Instants are aware datetimes or Unix seconds; results are aware
UTC datetimes, because the outbox stores UTC and local time only matters for the rule itself.

The window is judged on local wall-clock time: an instant is allowed when its local date is not
a Sunday (if ``no_sundays``) nor a holiday (if ``holidays``), and ``start <= local time < end``.
``end`` is exclusive: with the default rule 20:29:59 is allowed and 20:30:00 is not. Across DST
changes the opening is the first instant whose local wall time is at or past ``start``: when
``start`` falls in a spring-forward gap (say 02:30 on the last Sunday of March), the window opens
at the instant the clocks jump (03:00 local). In the repeated hour of a fall-back day both
occurrences of a wall time are judged alike.

Pure: zoneinfo, the ``holidays`` package (public holidays per country, cached per year), no I/O.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import holidays as holidays_lib

__all__ = ["MAX_SEARCH_DAYS", "QuietHours"]

UTC = dt.UTC

#: How far next_allowed looks ahead before giving up. The longest closed stretch under real
#: rules is a few days (Saturday evening, Sunday, a holiday Monday); a year means the rule
#: itself can never open (e.g. a custom rule with every day a holiday) and is a config error.
MAX_SEARCH_DAYS = 366


def _parse_hhmm(value: str, name: str) -> dt.time:
    try:
        hours, minutes = value.split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{name} must be HH:MM (e.g. '08:00'), got {value!r}") from None


class QuietHours:
    """The allowed sending window of one rule (one country's marketing rules, from config)."""

    def __init__(
        self,
        *,
        tz: str = "Europe/Paris",
        country: str = "FR",
        start: str = "08:00",
        end: str = "20:30",
        no_sundays: bool = True,
        holidays: bool = True,
        subdiv: str | None = None,
    ) -> None:
        """``subdiv`` selects regional holidays of the ``holidays`` package (e.g. "57" for
        Moselle, which adds Good Friday and 26 December); None uses the national list."""
        self.tz = ZoneInfo(tz)
        self.country = country
        self.start = _parse_hhmm(start, "start")
        self.end = _parse_hhmm(end, "end")
        if not self.start < self.end:
            raise ValueError(f"start ({start}) must be before end ({end}) on the same day")
        self.no_sundays = no_sundays
        self.use_holidays = holidays
        self.subdiv = subdiv
        self._holiday_years: dict[int, frozenset[dt.date]] = {}
        if holidays:  # fail at config time, not on the first message, if the country is unknown
            try:
                holidays_lib.country_holidays(country, subdiv=subdiv)
            except NotImplementedError as exc:
                raise ValueError(f"no holiday calendar for country={country!r}: {exc}") from None

    def __repr__(self) -> str:
        return (f"QuietHours(tz={self.tz.key!r}, country={self.country!r}, "
                f"start={self.start:%H:%M}, end={self.end:%H:%M}, "
                f"no_sundays={self.no_sundays}, holidays={self.use_holidays})")

    def holidays_of(self, year: int) -> frozenset[dt.date]:
        """The public holidays of ``year`` for this rule's country (cached per year)."""
        cached = self._holiday_years.get(year)
        if cached is None:
            cal = holidays_lib.country_holidays(self.country, subdiv=self.subdiv, years=year)
            cached = self._holiday_years[year] = frozenset(cal)
        return cached

    def is_closed_day(self, day: dt.date) -> bool:
        """Whether no marketing may be sent at all on local date ``day``."""
        if self.no_sundays and day.weekday() == 6:
            return True
        return self.use_holidays and day in self.holidays_of(day.year)

    def is_allowed(self, now: dt.datetime | float) -> bool:
        """Whether a marketing message may be sent at instant ``now``."""
        local = _to_utc(now).astimezone(self.tz)
        return not self.is_closed_day(local.date()) and self.start <= local.time() < self.end

    def next_allowed(self, now: dt.datetime | float) -> dt.datetime:
        """``now`` itself (in UTC) if allowed, else the next instant the window opens."""
        instant = _to_utc(now)
        local = instant.astimezone(self.tz)
        day = local.date()
        if not self.is_closed_day(day):
            wall = local.time()
            if self.start <= wall < self.end:
                return instant
            if wall < self.start:
                return self._opening(day)
        for _ in range(MAX_SEARCH_DAYS):
            day += dt.timedelta(days=1)
            if not self.is_closed_day(day):
                return self._opening(day)
        raise ValueError(f"{self!r} has no allowed instant within {MAX_SEARCH_DAYS} days")

    def _opening(self, day: dt.date) -> dt.datetime:
        """The first instant of local ``day`` whose wall time is at or after ``start``."""
        naive = dt.datetime.combine(day, self.start)
        early = naive.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        late = naive.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        lo, hi = min(early, late), max(early, late)
        if lo.astimezone(self.tz).replace(tzinfo=None) == naive:
            return lo  # an ordinary time, or the first occurrence of a repeated one
        # ``start`` is in a gap: no instant shows that wall time. Every instant in [lo, hi)
        # shows either a wall time before the gap or one after it; find the first "after"
        # (the transition) to the second. Transitions in tzdata fall on whole seconds.
        lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
        while lo_s < hi_s:
            mid = (lo_s + hi_s) // 2
            if dt.datetime.fromtimestamp(mid, self.tz).replace(tzinfo=None) >= naive:
                hi_s = mid
            else:
                lo_s = mid + 1
        return dt.datetime.fromtimestamp(lo_s, UTC)


def _to_utc(now: dt.datetime | float) -> dt.datetime:
    if isinstance(now, dt.datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("naive datetime: pass an aware datetime or Unix seconds")
        return now.astimezone(UTC)
    return dt.datetime.fromtimestamp(float(now), UTC)
