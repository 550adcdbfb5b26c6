"""A clock for tests: it only moves when a test moves it (the services take any Clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.clock import Clock


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        self._now = moment


# The fake stands in for the Clock port: mypy checks here that it still matches it.
_CLOCK_CONFORMS: Clock = FakeClock()
