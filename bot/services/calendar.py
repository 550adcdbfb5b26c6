"""Which Discord scheduled event an assignment should have (the adapter makes it so)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.calendar import event_window
from bot.domain.clock import Clock
from bot.domain.models import Assignment, AssignmentState
from storage.db import Database
from storage.repos import assignments as assignment_repo
from storage.repos import calendar as calendar_repo


@dataclass(frozen=True, slots=True)
class EventPlan:
    """What the guild's calendar should show for one assignment: `window` None means no event
    (not wanted, closed, or too close to the deadline); `event_id` is the one made before."""

    assignment: Assignment
    event_id: int | None
    window: tuple[datetime, datetime] | None


class CalendarService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def plan(self, assignment_id: int) -> EventPlan | None:
        now = self._clock.now()
        async with self._db.reading() as conn:
            assignment = await assignment_repo.get(conn, assignment_id)
            if assignment is None:
                return None
            wanted, event_id = await calendar_repo.event_state(conn, assignment_id)
        window = None
        if wanted and assignment.state(now) is not AssignmentState.CLOSED:
            window = event_window(assignment.closes_at, now)
        return EventPlan(assignment, event_id, window)

    async def want(self, assignment_id: int, wanted: bool) -> None:
        """`event:true|false` on create or edit."""
        async with self._db.transaction() as conn:
            _, event_id = await calendar_repo.event_state(conn, assignment_id)
            await calendar_repo.set_event(conn, assignment_id, wanted=wanted, event_id=event_id)

    async def remember(self, assignment_id: int, event_id: int | None) -> None:
        async with self._db.transaction() as conn:
            wanted, _ = await calendar_repo.event_state(conn, assignment_id)
            await calendar_repo.set_event(conn, assignment_id, wanted=wanted, event_id=event_id)

    async def warn_once(self, guild_id: int) -> bool:
        """True the first time the bot finds it may not manage events in this guild."""
        async with self._db.transaction() as conn:
            return await calendar_repo.claim_warning(conn, guild_id, self._clock.now())
