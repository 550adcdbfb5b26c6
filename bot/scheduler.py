"""The wake-up timer for deadlines, reminders and receipts; the database says what is due."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.domain.clock import Clock
from bot.domain.models import Assignment, Group, deadlines_for
from bot.services.feedback import FeedbackDispatcher
from bot.services.finalization import Finalizer, ReceiptDispatcher
from bot.services.ports import Wakeups
from bot.services.purge import PurgeService
from bot.services.registry import Services
from bot.services.reminders import ReminderService, reminder_times
from storage.db import Database
from storage.repos import assignments as assignment_repo
from storage.repos import groups as group_repo
from storage.repos import misc as misc_repo

log = logging.getLogger(__name__)

SWEEP_JOB = "sweep"
RETENTION_JOB = "retention"
REPLAN_JOB = "replan"
STOP_GRACE_SECONDS = 10.0
# Timers fire this much after what they wait for. What is due is decided by the database's
# clock, which SQLite reads in whole milliseconds: a close timer firing on the dot could find
# nothing due yet, and leave the deadline to the next sweep, 30 s later (seen in CI).
TIMER_MARGIN = timedelta(milliseconds=50)


@dataclass(frozen=True, slots=True)
class Wakeup:
    """One timer: its job id, when it is due (service clock time) and what it does."""

    job_id: str
    at: datetime
    kind: Literal["close", "remind"]
    assignment_id: int


def plan_wakeups(
    assignment: Assignment,
    groups: Iterable[Group],
    now: datetime,
    sent_reminders: Iterable[datetime] = (),
) -> list[Wakeup]:
    """The timers an assignment needs now: one per distinct group deadline, one per reminder
    still to send (`sent_reminders`: the due times already claimed)."""
    final = assignment.final_deadline
    closes: dict[str, datetime] = {}
    if final > now:
        # Kept even with no group yet: groups formed later close then too.
        closes["all"] = final
    for group in groups:
        if group.finalized_at is not None:
            continue
        own = deadlines_for(assignment, group).final
        closes["all" if own == final else str(group.id)] = own
    wakeups = [
        Wakeup(f"close:{assignment.id}:{key}", at, "close", assignment.id)
        for key, at in closes.items()
    ]
    for offset, due in reminders_to_send(assignment, now, sent_reminders).items():
        wakeups.append(Wakeup(f"remind:{assignment.id}:{offset}", due, "remind", assignment.id))
    return wakeups


def reminders_to_send(
    assignment: Assignment, now: datetime, sent: Iterable[datetime] = ()
) -> dict[int, datetime]:
    """offset -> due time of the reminders to schedule: those ahead, and of those that passed
    unsent while the bot was down only the latest (one "deadline soon" is enough). An offset
    already past when the reminders were set is never sent."""
    if assignment.closes_at <= now or assignment.closed_at is not None:
        return {}
    wanted = {
        offset: due
        for offset, due in reminder_times(assignment).items()
        if due > assignment.reminders_since
    }
    missed = [due for due in wanted.values() if due <= now]
    latest_missed = max(missed, default=None)
    done = set(sent)
    return {
        offset: due
        for offset, due in wanted.items()
        if (due > now or due == latest_missed) and due not in done
    }


class DeadlineScheduler:
    """APScheduler as a plain timer over the database.

    Every job only asks the services to do what the database says is due, so a lost or
    duplicated timer costs at most a delay (the sweep catches it), never a wrong result.
    Implements the ScheduleListener port, and listens to the services' `wakeups` from its
    construction on.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        finalizer: Finalizer,
        receipts: ReceiptDispatcher,
        reminders: ReminderService,
        *,
        wakeups: Wakeups,
        sweep_seconds: float = 30.0,
        replan_seconds: float | None = None,
        wall: Callable[[], datetime] | None = None,
        feedback: FeedbackDispatcher | None = None,
        retention: PurgeService | None = None,
        retention_seconds: float = 900.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._finalizer = finalizer
        self._receipts = receipts
        # The feedback DM outbox goes out with the receipts' (SPEC §7: their delivery rules).
        self._feedback = feedback
        # SPEC §9: closed assignments purged by the guilds' retention, checked now and then.
        self._retention = retention
        self._retention_seconds = retention_seconds
        self._reminders = reminders
        self._sweep_seconds = sweep_seconds
        # With several processes on one database, another process's changes reach this one's
        # timers only through the database: `replan_seconds` re-reads every timer that often.
        self._replan_seconds = replan_seconds
        # The timer runs on real time; the services on the Clock (a fake one in tests).
        self._wall = wall or (lambda: datetime.now(UTC))
        self._scheduler = AsyncIOScheduler(timezone=UTC)  # the default memory job store
        self._tasks: set[asyncio.Task[None]] = set()
        self._receipts_wanted = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._running = False
        wakeups.listen(self)

    @classmethod
    def from_services(
        cls, services: Services, *, wakeups: Wakeups | None = None, **options: Any
    ) -> DeadlineScheduler:
        """Over `services`, listening to their wakeups (or to `wakeups`: tests that want the
        scheduler deaf to the services)."""
        return cls(
            services.db,
            services.clock,
            services.finalizer,
            services.receipts,
            services.reminders,
            wakeups=wakeups or services.wakeups,
            feedback=services.feedback_delivery,
            retention=services.purge,
            **options,
        )

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Recover, then run: finalize what fell due while the bot was down, queue the receipts
        not yet sent, and schedule everything still ahead. Needs a running event loop."""
        if self._running:
            raise RuntimeError("scheduler already started")
        self._scheduler.start()
        self._running = True
        self._worker = asyncio.create_task(self._receipt_loop(), name="receipt-delivery")
        # Finalizing late gives the same result as on time: the choice depends on sent_at only.
        await self._finalize(None)
        await self.reschedule_all()
        self._every(self._sweep, self._sweep_seconds, SWEEP_JOB)
        if self._retention is not None:
            # Also once at start: what fell past its retention while the bot was down.
            self._every(self._retention_job, self._retention_seconds, RETENTION_JOB, now=True)
        if self._replan_seconds is not None:
            self._every(self._replan, self._replan_seconds, REPLAN_JOB)
        log.info("scheduler started with %d jobs", len(self.job_ids()))

    def _every(
        self,
        job: Callable[[], Awaitable[None]],
        seconds: float,
        job_id: str,
        *,
        now: bool = False,
    ) -> None:
        """A periodic job: one run at a time, missed runs folded into one, never dropped."""
        self._scheduler.add_job(
            job,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            **({"next_run_time": self._wall()} if now else {}),
        )

    async def shutdown(self) -> None:
        """Stop the timers and the receipt worker; what was due stays due in the database."""
        if not self._running:
            return
        self._running = False
        self._scheduler.shutdown(wait=False)
        try:
            # A receipt in flight is finished and marked, so a restart does not send it again.
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                await self._receipts.stop()
                if self._feedback is not None:
                    await self._feedback.stop()
        except TimeoutError:
            log.warning("receipt delivery did not stop in time; one receipt may be resent")
        tasks = [*self._tasks, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # AsyncIOScheduler finishes its shutdown in a loop callback: let it run before we return.
        await asyncio.sleep(0)

    # --- ScheduleListener ------------------------------------------------------------------
    def assignment_changed(self, assignment_id: int) -> None:
        """Reschedule one assignment's timers (called by the services after their commit)."""
        if self._running:
            self._spawn(self._reschedule(assignment_id))

    async def reschedule_all(self) -> None:
        """Recompute every timer from the database; drop those of deleted assignments."""
        async with self._db.reading() as conn:
            assignments = await assignment_repo.all_assignments(conn)
        known = {assignment.id for assignment in assignments}
        for job_id in self.job_ids():
            kind, _, rest = job_id.partition(":")
            if kind in ("close", "remind") and int(rest.split(":")[0]) not in known:
                self._scheduler.remove_job(job_id)
        for assignment in assignments:
            await self._reschedule(assignment.id)

    async def idle(self) -> None:
        """Wait until the reschedules already asked for are applied (for tests and tools)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def job_ids(self) -> set[str]:
        return {job.id for job in self._scheduler.get_jobs()}

    # --- receipts --------------------------------------------------------------------------
    def receipts_waiting(self) -> None:
        """Ask the delivery worker to send the pending receipts soon; safe to call any time,
        from the services (through their wakeups). Calls made during a delivery coalesce."""
        self._receipts_wanted.set()

    async def deliver_receipts(self) -> int:
        """Deliver the pending receipts now; one delivery at a time, so none goes out twice."""
        # The dispatcher runs one delivery at a time itself.
        delivered = await self._receipts.deliver_pending()
        if self._feedback is not None:
            delivered += await self._feedback.deliver_pending()
        return delivered

    async def _receipt_loop(self) -> None:
        while True:
            await self._receipts_wanted.wait()
            self._receipts_wanted.clear()
            try:
                delivered = await self.deliver_receipts()
            except Exception:
                log.exception("receipt delivery failed; the sweep wakes it again")
                continue
            if delivered:
                log.info("%d receipts delivered", delivered)

    # --- jobs ------------------------------------------------------------------------------
    async def _reschedule(self, assignment_id: int) -> None:
        try:
            async with self._db.reading() as conn:
                assignment = await assignment_repo.get(conn, assignment_id)
                groups = [] if assignment is None else await group_repo.groups(conn, assignment_id)
                sent = await misc_repo.claimed_reminders(conn, assignment_id)
        except Exception:
            log.exception(
                "could not reschedule assignment %d; the sweep still covers it", assignment_id
            )
            return
        # No await from here on: jobs are applied in the order their reads finished, so an
        # older read can never overwrite a newer plan.
        wakeups = (
            [] if assignment is None else plan_wakeups(assignment, groups, self._clock.now(), sent)
        )
        self._apply(assignment_id, wakeups)

    def _apply(self, assignment_id: int, wakeups: list[Wakeup]) -> None:
        if not self._running:
            return
        wanted = {wakeup.job_id for wakeup in wakeups}
        mine = (f"close:{assignment_id}:", f"remind:{assignment_id}:")
        for job_id in self.job_ids():
            if job_id.startswith(mine) and job_id not in wanted:
                self._scheduler.remove_job(job_id)
        for wakeup in wakeups:
            func = self._close_job if wakeup.kind == "close" else self._remind_job
            self._scheduler.add_job(
                func,
                DateTrigger(run_date=self._timer_time(wakeup.at), timezone=UTC),
                args=(wakeup.assignment_id, wakeup.at),
                id=wakeup.job_id,
                replace_existing=True,
                # APScheduler's default grace (1 s) silently drops a late date job.
                misfire_grace_time=None,
                coalesce=True,
                # A job replaced while it runs must still fire: both runs are idempotent.
                max_instances=3,
            )

    def _timer_time(self, at: datetime) -> datetime:
        return self._wall() + (at - self._clock.now()) + TIMER_MARGIN

    async def _close_job(self, assignment_id: int, due: datetime) -> None:
        if self._clock.now() < due:
            # The timer ran ahead of the service clock: set it again rather than close early.
            self.assignment_changed(assignment_id)
            return
        await self._finalize(assignment_id)

    async def _remind_job(self, assignment_id: int, due: datetime) -> None:
        try:
            await self._reminders.send_due(assignment_id, due)
        except Exception:
            log.exception("reminder for assignment %d failed", assignment_id)

    async def _retention_job(self) -> None:
        if self._retention is None:
            return
        try:
            purged = await self._retention.run_retention()
        except Exception:
            log.exception("retention failed; tried again at its next run")
            return
        for result in purged:
            self.assignment_changed(result.assignment.id)

    async def _sweep(self) -> None:
        await self._finalize(None)

    async def _replan(self) -> None:
        try:
            await self.reschedule_all()
        except Exception:
            log.exception("could not re-read the timers; the sweep still covers every deadline")

    async def _finalize(self, assignment_id: int | None) -> None:
        try:
            changes = await self._finalizer.finalize_due(assignment_id)
        except Exception:
            log.exception("finalizing failed; the sweep tries again")
        else:
            if changes:
                log.info("finalized %d groups", len(changes))
        # Also picks up receipts left pending earlier (a restart, a failed delivery).
        self.receipts_waiting()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
