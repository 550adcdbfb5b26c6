"""The deadline's event window (SPEC §2: an hour before the deadline, or a minute from now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.calendar import event_window

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_an_event_runs_the_hour_before_the_deadline() -> None:
    closes = NOW + timedelta(hours=5)
    assert event_window(closes, NOW) == (closes - timedelta(hours=1), closes)


def test_a_deadline_within_the_hour_starts_its_event_a_minute_from_now() -> None:
    closes = NOW + timedelta(minutes=20)
    assert event_window(closes, NOW) == (NOW + timedelta(minutes=1), closes)


def test_a_deadline_within_a_minute_gets_no_event() -> None:
    assert event_window(NOW + timedelta(seconds=30), NOW) is None
    assert event_window(NOW - timedelta(hours=1), NOW) is None
