"""Billing periods and day-based proration, as pure functions (see docs/periods.md).

Periods are half-open ``[start, end)`` ranges of *local calendar dates* in the customer's time zone. Proration
counts whole local days, never hours, so a 23- or 25-hour DST day is still one day and the same subscription
prorates identically in every zone. Time zones matter only when a period is turned into a UTC usage window.

Nothing here reads the current time: every date comes from the caller, so results are reproducible.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from invoiceflow.errors import ValidationError
from invoiceflow.money import div, mul


class Interval(str, Enum):
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    semiannual = "semiannual"
    annual = "annual"


class Anchor(str, Enum):
    calendar = "calendar"
    anniversary = "anniversary"


class Timing(str, Enum):
    advance = "advance"
    arrears = "arrears"


_MONTHS = {Interval.monthly: 1, Interval.quarterly: 3, Interval.semiannual: 6, Interval.annual: 12}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _coerce(enum_cls: type[Enum], value: object, field: str):
    """Accept the enum or its string value; anything else is a located validation error."""
    if type(value) is enum_cls:
        return value
    try:
        return enum_cls(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum_cls)
        raise ValidationError(f"unknown {field} {value!r} (expected one of: {choices})", field=field) from None


def _add_months(anchor: date, months: int) -> date:
    """`anchor` moved by `months`, the day clamped to the target month's length (Jan 31 + 1 -> Feb 28/29)."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def _anniversary(anchor_date: date, interval: Interval, k: int) -> date:
    """Boundary k, computed from the anchor itself so month-end clamping never drifts (Mar 31 stays Mar 31)."""
    if interval is Interval.weekly:
        return anchor_date + timedelta(days=7 * k)
    return _add_months(anchor_date, k * _MONTHS[interval])


def _anniversary_index(day: date, interval: Interval, anchor_date: date) -> int:
    """Largest k with boundary k <= day (k may be negative for days before the anchor)."""
    if interval is Interval.weekly:
        return (day - anchor_date).days // 7
    step = _MONTHS[interval]
    k = ((day.year - anchor_date.year) * 12 + day.month - anchor_date.month) // step
    while _anniversary(anchor_date, interval, k) > day:
        k -= 1
    while _anniversary(anchor_date, interval, k + 1) <= day:
        k += 1
    return k


def _need_anchor(anchor_date: date | None) -> date:
    if anchor_date is None:
        raise ValidationError("an anniversary anchor needs an anchor date", field="anchor_date")
    return anchor_date


@lru_cache(maxsize=1 << 16)  # pure and hot: a bill run asks about the same few boundaries many times
def period_start_on_or_before(
    day: date, interval: Interval | str, anchor: Anchor | str, anchor_date: date | None = None
) -> date:
    """Start of the nominal period containing `day` (`anchor_date` is used only by the anniversary anchor)."""
    interval = _coerce(Interval, interval, "interval")
    anchor = _coerce(Anchor, anchor, "anchor")
    if anchor is Anchor.anniversary:
        anchor_date = _need_anchor(anchor_date)
        return _anniversary(anchor_date, interval, _anniversary_index(day, interval, anchor_date))
    if interval is Interval.weekly:
        return day - timedelta(days=day.weekday())
    step = _MONTHS[interval]
    return date(day.year, (day.month - 1) // step * step + 1, 1)


@lru_cache(maxsize=1 << 16)
def next_boundary(
    start: date, interval: Interval | str, anchor: Anchor | str, anchor_date: date | None = None
) -> date:
    """First period boundary strictly after `start` (the end of the nominal period containing `start`)."""
    interval = _coerce(Interval, interval, "interval")
    anchor = _coerce(Anchor, anchor, "anchor")
    if anchor is Anchor.anniversary:
        anchor_date = _need_anchor(anchor_date)
        return _anniversary(anchor_date, interval, _anniversary_index(start, interval, anchor_date) + 1)
    first = period_start_on_or_before(start, interval, anchor)
    if interval is Interval.weekly:
        return first + timedelta(days=7)
    return _add_months(first, _MONTHS[interval])


@dataclass(frozen=True)
class Period:
    """The covered part ``[start, end)`` of the nominal period ``[full_start, full_end)``."""

    start: date
    end: date
    full_start: date
    full_end: date

    def __post_init__(self) -> None:
        if not (self.full_start <= self.start < self.end <= self.full_end):
            raise ValidationError(
                f"period [{self.start}, {self.end}) must be non-empty and inside [{self.full_start}, {self.full_end})",
                field="period",
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def full_days(self) -> int:
        return (self.full_end - self.full_start).days

    @property
    def is_partial(self) -> bool:
        return self.days < self.full_days


def billing_periods(
    *, start: date, end: date | None, interval: Interval | str, anchor: Anchor | str, until: date
) -> Iterator[Period]:
    """Periods of a subscription served from `start` to `end` (exclusive; None = open-ended), while start < until.

    The calendar anchor prorates the first period against its calendar period; the anniversary anchor uses
    `start` as the anchor date, so only an `end` inside a period makes a partial period.
    """
    interval = _coerce(Interval, interval, "interval")
    anchor = _coerce(Anchor, anchor, "anchor")
    if end is not None and end <= start:
        raise ValidationError(f"end {end} must be after start {start}", field="end")
    anchor_date = start if anchor is Anchor.anniversary else None
    day = start
    while day < until and (end is None or day < end):
        full_start = period_start_on_or_before(day, interval, anchor, anchor_date)
        full_end = next_boundary(day, interval, anchor, anchor_date)
        period_end = full_end if end is None else min(full_end, end)
        yield Period(day, period_end, full_start, full_end)
        day = period_end


def prorate(amount: Decimal, days: int, full_days: int) -> Decimal:
    """Precise (unrounded) ``amount * days / full_days``; multiplying first keeps whole-day fees exact."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be Decimal, got {type(amount).__name__}")
    if full_days <= 0:
        raise ValidationError(f"full_days must be positive, got {full_days}", field="full_days")
    if not 0 <= days <= full_days:
        raise ValidationError(f"days must be between 0 and {full_days}, got {days}", field="days")
    if days == full_days:
        return amount
    return div(mul(amount, Decimal(days)), Decimal(full_days))


def split_period(period: Period, at: date) -> tuple[Period, Period]:
    """Cut at a mid-period change: both halves keep the nominal bounds, so each prorates against the whole."""
    if not period.start < at < period.end:
        raise ValidationError(f"split date {at} must be inside ({period.start}, {period.end})", field="at")
    return (
        Period(period.start, at, period.full_start, period.full_end),
        Period(at, period.end, period.full_start, period.full_end),
    )


def unused_days(period: Period, from_day: date) -> int:
    """Days of `period` from `from_day` on (clamped to the period): the credit basis for advance-billed fees."""
    return max(0, (period.end - max(from_day, period.start)).days)


def billed_on(period: Period, timing: Timing | str) -> date:
    """Date a period's fee is billed: its first day in advance, its (exclusive) end in arrears."""
    timing = _coerce(Timing, timing, "timing")
    return period.start if timing is Timing.advance else period.end


def validate_timezone(tz: str) -> str:
    """Return `tz` if it names an IANA time zone, else raise a ValidationError on field ``timezone``."""
    try:
        if not isinstance(tz, str) or not tz.strip():
            raise ValueError
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValidationError(
            f"unknown time zone {tz!r} (expected an IANA name such as 'Europe/Berlin' or 'America/New_York')",
            field="timezone",
        ) from None
    return tz


def local_midnight_utc(day: date, tz: str) -> datetime:
    """The UTC instant local `day` begins in `tz`; in a DST gap, the first valid instant after midnight."""
    zone = ZoneInfo(validate_timezone(tz))
    wall = datetime(day.year, day.month, day.day)
    after = wall.replace(tzinfo=zone).astimezone(timezone.utc)
    if after.astimezone(zone).replace(tzinfo=None) == wall:
        return after
    # Midnight falls in a gap: `before` reads earlier than midnight locally, `after` later; the transition
    # (the first instant reading midnight or later) lies between, on a whole second.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(timezone.utc)
    while after - before > timedelta(seconds=1):
        mid = before + timedelta(seconds=(after - before) // timedelta(seconds=1) // 2)
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            after = mid
        else:
            before = mid
    return after


def window_utc(period: Period, tz: str) -> tuple[datetime, datetime]:
    """The half-open UTC usage window ``[start, end)`` covering the period's local days in `tz`."""
    return local_midnight_utc(period.start, tz), local_midnight_utc(period.end, tz)


def to_epoch_micros(dt: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, by integer arithmetic."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValidationError(f"timestamp {dt.isoformat()} must be timezone-aware", field="timestamp")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
