"""The one place where datetimes become database text and back (aware UTC, fixed width)."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_db(moment: datetime) -> str:
    """Aware datetime -> fixed-width UTC text, which sorts in time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in this project is aware UTC")
    return moment.astimezone(UTC).strftime(_FORMAT)


def from_db(text: str) -> datetime:
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)


def opt_to_db(moment: datetime | None) -> str | None:
    return None if moment is None else to_db(moment)


def opt_from_db(text: str | None) -> datetime | None:
    return None if text is None else from_db(text)
