"""Deadline reminders: a channel post and DMs to the candidates who still have to act."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.delivery import Delivery, DmFailure
from bot.domain.models import Assignment, Group, Reminder, ReminderReason, deadlines_for
from bot.services.common import register_role_members
from bot.services.finalization import waiting_among
from bot.services.ports import Notifier
from storage.db import Connection, Database
from storage.repos import assignments as assignment_repo
from storage.repos import confirmations as confirm_repo
from storage.repos import groups as group_repo
from storage.repos import misc as misc_repo
from storage.repos import uploads as upload_repo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReminderRun:
    """What one due reminder did: the post, the DMs delivered and those that were not."""

    assignment_id: int
    deadline: datetime
    posted: bool
    delivered: tuple[Reminder, ...]
    # (user id, why) of each DM that did not arrive.
    undelivered: tuple[tuple[int, str], ...]


def reminder_times(assignment: Assignment) -> dict[int, datetime]:
    """offset (seconds) -> when that reminder is due, for the assignment's own deadline."""
    return {
        offset: assignment.closes_at - timedelta(seconds=offset) for offset in assignment.reminders
    }


class ReminderService:
    def __init__(self, db: Database, clock: Clock, notifier: Notifier) -> None:
        self._db = db
        self._clock = clock
        self._notifier = notifier

    async def send_due(self, assignment_id: int, due_at: datetime) -> ReminderRun | None:
        """Send the reminder due at `due_at`, at most once ever; None when it is stale or was
        already sent (the claim in the database survives restarts)."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            assignment = await assignment_repo.get(conn, assignment_id)
            if assignment is None or not _still_wanted(assignment, due_at, now):
                return None
            people = self._notifier.guild_people(assignment.guild_id)
            await register_role_members(conn, assignment, people, now)
            if not await misc_repo.claim_reminder(conn, assignment_id, due_at, now):
                log.info("reminder for assignment %d at %s already sent", assignment_id, due_at)
                return None
            # Before it opens nobody can act on a DM, so only the channel hears about it.
            reminders = [] if now < assignment.opens_at else await _recipients(conn, assignment)
        # Claimed first, sent after: a crash in between loses a reminder rather than doubling it.
        # The post and each DM are deliveries of their own: one failing stops none of the others.
        posted = await self._post(assignment)
        delivered, undelivered = await self._send_all(reminders)
        if undelivered:
            await self._record_undelivered(assignment_id, undelivered)
        log.info(
            "reminder for assignment %d: posted %s, %d DMs sent, %d undelivered",
            assignment_id,
            posted,
            len(delivered),
            len(undelivered),
        )
        return ReminderRun(assignment_id, assignment.closes_at, posted, delivered, undelivered)

    async def _post(self, assignment: Assignment) -> bool:
        try:
            return await self._notifier.post_reminder(assignment, assignment.closes_at)
        except Exception:
            log.exception("reminder post for assignment %d failed", assignment.id)
            return False

    async def _send_all(
        self, reminders: list[Reminder]
    ) -> tuple[tuple[Reminder, ...], tuple[tuple[int, str], ...]]:
        delivered: list[Reminder] = []
        undelivered: list[tuple[int, str]] = []
        for reminder in reminders:
            try:
                delivery = await self._notifier.send_reminder(reminder)
            except Exception:
                log.exception("reminder DM failed")
                delivery = Delivery(DmFailure.REFUSED)
            if delivery.sent:
                delivered.append(reminder)
            else:
                # Not tried again: a reminder that cannot go out now is worth little later.
                undelivered.append((reminder.user_id, delivery.reason))
        return tuple(delivered), tuple(undelivered)

    async def _record_undelivered(
        self, assignment_id: int, undelivered: tuple[tuple[int, str], ...]
    ) -> None:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            for user_id, reason in undelivered:
                await misc_repo.record_undelivered(
                    conn, assignment_id, user_id, "reminder", reason, now
                )


def _still_wanted(assignment: Assignment, due_at: datetime, now: datetime) -> bool:
    """False for a job left over from before the deadline or the offsets changed, one already
    past when the offsets were set, or one that fired after the deadline."""
    return (
        due_at in reminder_times(assignment).values()
        and due_at > assignment.reminders_since
        and now < assignment.closes_at
        and assignment.closed_at is None
    )


async def _recipients(conn: Connection, assignment: Assignment) -> list[Reminder]:
    deadline = assignment.closes_at
    reminders: list[Reminder] = []
    for group in await group_repo.groups(conn, assignment.id):
        reason, missing = await _group_reason(conn, assignment, group)
        if reason is None:
            continue
        members = await group_repo.members(conn, group.id)
        waiting: tuple[int, ...] = ()
        if assignment.all_must_confirm and reason is ReminderReason.NOT_HANDED_IN:
            # Only the members who have not agreed yet, each told who the group waits for.
            pending = waiting_among(
                assignment,
                members,
                await upload_repo.uploads_of(conn, group.id),
                await confirm_repo.confirmed_by(conn, group.id),
            )
            if not pending:
                continue
            members, waiting = list(pending), tuple(m.number for m in pending)
        for member in members:
            reminders.append(
                Reminder(assignment, member.user_id, reason, deadline, missing, waiting)
            )
    for candidate in await group_repo.candidates_without_group(conn, assignment.id):
        reminders.append(Reminder(assignment, candidate.user_id, ReminderReason.NO_GROUP, deadline))
    return reminders


async def _group_reason(
    conn: Connection, assignment: Assignment, group: Group
) -> tuple[ReminderReason | None, tuple[str, ...]]:
    """Why the group's members need a reminder (None when they are done or not due yet), and
    the parts with no upload."""
    # A group with an extension is not due at this deadline; a finalized one has nothing to do.
    own = deadlines_for(assignment, group).closes_at
    if own != assignment.closes_at or group.finalized_at is not None:
        return None, ()
    uploads = await upload_repo.uploads_of(conn, group.id)
    if not uploads:
        return ReminderReason.NO_UPLOAD, ()
    if assignment.parts:
        latest = {u.part_id: u for u in uploads}
        missing = tuple(p.name for p in assignment.parts if p.id not in latest)
        if missing:
            return ReminderReason.MISSING_PART, missing
        last = list(latest.values())
    else:
        last = [uploads[-1]]
    if assignment.auto_submit:
        return None, ()
    if assignment.all_must_confirm:
        # Who still has to agree is decided by the caller, member by member.
        return ReminderReason.NOT_HANDED_IN, ()
    handed_in = {handin.upload_id for handin in await upload_repo.handins_of(conn, group.id)}
    if all(u.id in handed_in for u in last):
        return None, ()
    return ReminderReason.NOT_HANDED_IN, ()
