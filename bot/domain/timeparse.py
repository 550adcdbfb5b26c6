"""Times and durations typed by staff: local `YYYY-MM-DD HH:MM`, ISO 8601, or relative to now."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.errors import RemindersInvalidError, TimeFormatError, TimezoneInvalidError

_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    # Norwegian (Bokmål) units, for `om 2 timer` and `+90 minutter`.
    "sekund": 1,
    "sekunder": 1,
    "minutt": 60,
    "minutter": 60,
    "t": 3600,
    "time": 3600,
    "timer": 3600,
    "dag": 86400,
    "dager": 86400,
    "uke": 604800,
    "uker": 604800,
}
_AMOUNT = r"(\d+(?:\.\d+)?)\s*([a-z]+)"
# `in 90 minutes` and its Norwegian twin `om 90 minutter`: staff type what they speak.
_PREFIX = r"^(?:in\s+|om\s+|\+\s*)"
_RELATIVE = re.compile(rf"{_PREFIX}(?:{_AMOUNT}\s*)+$")
_PART = re.compile(_AMOUNT)
_LOCAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})$")


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or TimezoneInvalidError."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimezoneInvalidError(value=name) from exc


def parse_duration(text: str) -> timedelta | None:
    """`90 minutes`, `2h`, `1h 30m`, `45s` -> timedelta; None when it is not a duration."""
    cleaned = text.strip().lower()
    if not cleaned or not re.fullmatch(rf"(?:{_AMOUNT}\s*)+", cleaned):
        return None
    total = 0.0
    for amount, unit in _PART.findall(cleaned):
        if unit not in _UNITS:
            return None
        total += float(amount) * _UNITS[unit]
    try:
        return timedelta(seconds=total)
    except OverflowError:
        return None


def parse_time(text: str, *, now: datetime, tz: str = "UTC", option: str = "closes") -> datetime:
    """A staff-typed time as aware UTC.

    `now` is the moment the command was sent: relative times count from it, so a command that
    waited in a queue still means what the TA typed.
    """
    try:
        return _parse_time(text, now=now, tz=tz)
    except (ValueError, OverflowError) as exc:
        # OverflowError: `+500000 weeks` or year 1 in a zone east of UTC leave datetime's range.
        raise TimeFormatError(value=text, option=option) from exc


def _parse_time(text: str, *, now: datetime, tz: str) -> datetime:
    cleaned = text.strip()
    lowered = cleaned.lower()
    if _RELATIVE.match(lowered):
        duration = parse_duration(re.sub(_PREFIX, "", lowered))
        if duration is None:
            raise ValueError("not a duration")
        return now + duration
    local = _LOCAL.match(cleaned)
    if local:
        year, month, day, hour, minute = (int(part) for part in local.groups())
        naive = datetime(year, month, day, hour, minute)
        return _localize(naive, zone(tz))
    parsed = datetime.fromisoformat(cleaned.replace("z", "Z"))
    if parsed.tzinfo is None:
        # ISO without an offset is ambiguous; read it in the guild's zone like the local form.
        return _localize(parsed, zone(tz))
    return parsed.astimezone(UTC)


def _localize(naive: datetime, tzinfo: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=tzinfo).astimezone(UTC)


def parse_reminders(text: str) -> tuple[int, ...]:
    """`24h,1h` / `30m` / `45s` / `off` -> offsets in seconds before the deadline, largest first."""
    cleaned = text.strip().lower()
    if cleaned in {"off", "none", "no", "0", "av", "ingen"}:
        return ()
    offsets: set[int] = set()
    for part in cleaned.split(","):
        duration = parse_duration(part)
        if duration is None or duration.total_seconds() < 1:
            raise RemindersInvalidError(value=text)
        offsets.add(int(duration.total_seconds()))
    return tuple(sorted(offsets, reverse=True))


def format_offset(seconds: int) -> str:
    """Offsets back to the compact form staff type (`86400` -> `24h`)."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
