"""When an assignment's deadline shows in Discord's calendar (SPEC §2: a scheduled event)."""

from __future__ import annotations

from datetime import datetime, timedelta

# The event runs from an hour before the deadline to the deadline...
LEAD = timedelta(hours=1)
# ... or from a minute from now, when an hour before has passed: Discord refuses a start
# in the past.
SOONEST = timedelta(minutes=1)


def event_window(closes_at: datetime, now: datetime) -> tuple[datetime, datetime] | None:
    """(start, end) of the deadline's event, or None when it is too late for one."""
    start = max(closes_at - LEAD, now + SOONEST)
    if start >= closes_at:
        return None
    return start, closes_at
