"""Times typed by staff: local in the guild's zone, ISO 8601 with an offset, or relative."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.errors import RemindersInvalidError, TimeFormatError, TimezoneInvalidError
from bot.domain.timeparse import format_offset, parse_duration, parse_reminders, parse_time

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_local_time_defaults_to_utc() -> None:
    assert parse_time("2026-12-01 10:00", now=NOW) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_local_time_in_winter_uses_standard_offset() -> None:
    parsed = parse_time("2026-12-01 10:00", now=NOW, tz="Europe/Oslo")
    assert parsed == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_local_time_in_summer_uses_daylight_saving_offset() -> None:
    parsed = parse_time("2026-07-01 10:00", now=NOW, tz="Europe/Oslo")
    assert parsed == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_local_times_across_a_dst_change_are_an_hour_apart_in_wall_clock() -> None:
    before = parse_time("2026-03-28 12:00", now=NOW, tz="Europe/Oslo")
    after = parse_time("2026-03-29 12:00", now=NOW, tz="Europe/Oslo")
    assert after - before == timedelta(hours=23)


def test_local_time_result_is_aware_utc() -> None:
    parsed = parse_time("2026-12-01 10:00", now=NOW, tz="America/New_York")
    assert parsed.tzinfo is UTC
    assert parsed == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_iso_time_with_offset_is_converted_to_utc() -> None:
    parsed = parse_time("2026-12-01T10:00:00+01:00", now=NOW, tz="America/New_York")
    assert parsed == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_iso_time_with_z_is_utc() -> None:
    assert parse_time("2026-12-01T10:00:00Z", now=NOW) == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_in_90_minutes_counts_from_now() -> None:
    assert parse_time("in 90 minutes", now=NOW) == NOW + timedelta(minutes=90)


def test_plus_2h_counts_from_now() -> None:
    assert parse_time("+2h", now=NOW) == NOW + timedelta(hours=2)


def test_plus_30s_counts_from_now() -> None:
    assert parse_time("+30s", now=NOW) == NOW + timedelta(seconds=30)


def test_relative_time_with_several_parts() -> None:
    assert parse_time("in 1h 30m", now=NOW) == NOW + timedelta(minutes=90)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "next friday",
        "+",
        "in 5 parsecs",
        "2026-13-01 10:00",
        "2026-11-27 24:00",
        "2026/12/01 10:00",
        "+1e5h",
        "+500000 weeks",
        "0001-01-01 00:30",
    ],
)
def test_garbage_time_is_refused(text: str) -> None:
    with pytest.raises(TimeFormatError) as caught:
        parse_time(text, now=NOW, tz="Europe/Oslo", option="closes")
    assert caught.value.params == {"value": text, "option": "closes"}


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(TimezoneInvalidError):
        parse_time("2026-12-01 10:00", now=NOW, tz="Mars/Olympus_Mons")


def test_duration_of_unknown_unit_is_none() -> None:
    assert parse_duration("3 fortnights") is None
    assert parse_duration("2h") == timedelta(hours=2)


def test_reminders_are_parsed_largest_first() -> None:
    assert parse_reminders("1h, 24h,30m") == (86400, 3600, 1800)


def test_reminders_off_means_none() -> None:
    assert parse_reminders("off") == ()


@pytest.mark.parametrize("text", ["soon", "1h,,2h", "0s", "99999999999999w"])
def test_malformed_reminders_are_refused(text: str) -> None:
    with pytest.raises(RemindersInvalidError):
        parse_reminders(text)


def test_reminder_offsets_format_back_compactly() -> None:
    assert [format_offset(s) for s in (86400, 1800, 45)] == ["24h", "30m", "45s"]


def test_norwegian_relative_times_are_understood() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("om 90 minutter", now=now) == now + timedelta(minutes=90)
    assert parse_time("om 2 timer", now=now) == now + timedelta(hours=2)
    assert parse_time("+1 dag", now=now) == now + timedelta(days=1)


def test_norwegian_off_turns_reminders_off() -> None:
    assert parse_reminders("av") == ()
