"""The deadline scheduler with a real APScheduler at short delays, across restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.clock import Clock
from bot.domain.delivery import Delivery
from bot.domain.models import Assignment, Receipt
from bot.scheduler import DeadlineScheduler, plan_wakeups
from bot.services.assignments import AssignmentOptions
from bot.services.feedback import IncomingAttachment
from bot.services.ports import Wakeups
from bot.services.registry import Services, build_services
from storage.db import Database
from storage.files import FileStore
from storage.repos import groups as group_repo
from storage.repos import misc as misc_repo
from storage.repos import uploads as upload_repo
from tests.backends import forget_database_at, open_database_at
from tests.conftest import GUILD, LIMIT, STAFF, START, RecordingNotifier, incoming, student
from tests.waiting import Calls, eventually

ALICE, BOB, CAROL, DAVE = (student(n) for n in range(1, 5))


class RunningClock:
    """Real time plus an offset, so APScheduler's real delays and the services' clock agree;
    `advance` jumps it forward, as if the bot had been down that long."""

    def __init__(self, start: datetime = START) -> None:
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += timedelta(seconds=seconds)


_CLOCK_CONFORMS: Clock = RunningClock()  # mypy: the fake still matches the Clock port


class SlowNotifier(RecordingNotifier):
    """Yields inside every send, so concurrent deliveries would interleave (and double-send)."""

    async def send_receipt(
        self, receipt: Receipt, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        await asyncio.sleep(0.01)
        return await super().send_receipt(receipt, still_wanted)


@dataclass
class Bot:
    """One run of the bot's non-Discord half: database, services and scheduler."""

    db: Database
    services: Services
    scheduler: DeadlineScheduler
    stopped: bool = False

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.scheduler.shutdown()
            await self.db.close()


@dataclass
class World:
    """What survives a restart: the files on disk, the clock and the people's DM inboxes."""

    tmp_path: Path
    clock: RunningClock = field(default_factory=RunningClock)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    runs: list[Bot] = field(default_factory=list)

    async def boot(
        self,
        *,
        sweep: float = 30.0,
        replan: float | None = None,
        start: bool = True,
        **options: Any,
    ) -> Bot:
        db = await open_database_at(self.tmp_path / "handin.sqlite3")
        files = FileStore(self.tmp_path / "files")
        files.prepare()
        services = build_services(db, files, self.clock, self.notifier)
        scheduler = DeadlineScheduler.from_services(
            services, sweep_seconds=sweep, replan_seconds=replan, **options
        )
        bot = Bot(db, services, scheduler)
        self.runs.append(bot)
        if start:
            await scheduler.start()
        return bot


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    world = World(tmp_path)
    yield world
    for bot in world.runs:
        await bot.stop()
    await forget_database_at(tmp_path / "handin.sqlite3")


async def create(bot: Bot, name: str, closes: str, **options: object) -> Assignment:
    options.setdefault("reminders", "off")
    assignment = await bot.services.assignments.create(
        GUILD,
        STAFF,
        name,
        AssignmentOptions(closes=closes, **options),  # type: ignore[arg-type]
        sent_at=bot.services.clock.now(),
        upload_limit_bytes=LIMIT,
    )
    await bot.scheduler.idle()
    return assignment


async def group_with_upload(bot: Bot, name: str, pin: str, actor_n: int, data: bytes) -> None:
    actor = student(actor_n)
    now = bot.services.clock.now()
    await bot.services.groups.create(GUILD, actor, name, pin, sent_at=now)
    await bot.services.submissions.upload(GUILD, actor, name, incoming(data), sent_at=now)


async def finalized(bot: Bot, assignment_id: int, pin: str) -> bool:
    async with bot.db.reading() as conn:
        group = await group_repo.group_by_pin(conn, assignment_id, pin)
        return group is not None and group.finalized_at is not None


def receipts_for(notifier: RecordingNotifier, user: int) -> list[Receipt]:
    return [receipt for receipt in notifier.receipts if receipt.user_id == user]


# --- on time -------------------------------------------------------------------------------
async def test_assignment_closes_on_time_and_receipts_go_out(world: World) -> None:
    bot = await world.boot()
    # Real time: the deadline a second away, so a loaded machine still gets the upload in first.
    assignment = await create(bot, "Lab 1", "+1s")
    await group_with_upload(bot, "Lab 1", "1111", 1, b"report")
    assert f"close:{assignment.id}:all" in bot.scheduler.job_ids()
    assert not await finalized(bot, assignment.id, "1111")

    await eventually(lambda: len(world.notifier.receipts) == 1)
    async with bot.db.reading() as conn:
        group = await group_repo.group_by_pin(conn, assignment.id, "1111")
        assert group is not None
        submission = await upload_repo.current_submission(conn, group.id)
    assert submission is not None and submission.recorded_at >= assignment.closes_at
    assert world.notifier.receipts[0].user_id == ALICE.user_id


async def test_extension_closes_that_group_later_and_the_rest_on_time(world: World) -> None:
    bot = await world.boot()
    # Real time: a second to set up, two more between the two closes (room for a loaded machine).
    assignment = await create(bot, "Lab 1", "+1s")
    await group_with_upload(bot, "Lab 1", "1111", 1, b"alice")
    await group_with_upload(bot, "Lab 1", "2222", 2, b"bob")
    _, extended = await bot.services.assignments.extend(
        GUILD, STAFF, "Lab 1", "2222", "+3s", sent_at=world.clock.now()
    )
    await bot.scheduler.idle()
    assert {f"close:{assignment.id}:all", f"close:{assignment.id}:{extended.id}"} <= (
        bot.scheduler.job_ids()
    )

    await eventually(lambda: bool(receipts_for(world.notifier, ALICE.user_id)))
    assert not await finalized(bot, assignment.id, "2222")
    await eventually(lambda: bool(receipts_for(world.notifier, BOB.user_id)))
    assert await finalized(bot, assignment.id, "2222")


async def test_reopen_reschedules_and_the_second_close_replaces_the_receipt(world: World) -> None:
    bot = await world.boot()
    assignment = await create(bot, "Lab 1", "+0.2s")
    await group_with_upload(bot, "Lab 1", "1111", 1, b"v1")
    await eventually(lambda: len(world.notifier.receipts) == 1)
    assert f"close:{assignment.id}:all" not in bot.scheduler.job_ids()

    await bot.services.assignments.reopen(GUILD, STAFF, "Lab 1", "+1s", sent_at=world.clock.now())
    await bot.scheduler.idle()
    assert f"close:{assignment.id}:all" in bot.scheduler.job_ids()
    now = world.clock.now()
    await bot.services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"v2"), sent_at=now)

    await eventually(lambda: len(world.notifier.receipts) == 2)
    assert world.notifier.receipts[1].replaces


async def test_jobs_that_no_longer_apply_are_removed(world: World) -> None:
    bot = await world.boot()
    assignment = await create(bot, "Lab 1", "+1h", reminders="30m")
    await group_with_upload(bot, "Lab 1", "1111", 1, b"alice")
    _, extended = await bot.services.assignments.extend(
        GUILD, STAFF, "Lab 1", "1111", "+2h", sent_at=world.clock.now()
    )
    await bot.scheduler.idle()
    a = assignment.id
    assert bot.scheduler.job_ids() == {
        "sweep",
        "retention",
        f"close:{a}:all",
        f"close:{a}:{extended.id}",
        f"remind:{a}:1800",
    }

    await bot.services.assignments.close_now(GUILD, STAFF, "Lab 1", sent_at=world.clock.now())
    await bot.scheduler.idle()
    assert bot.scheduler.job_ids() == {"sweep", "retention"}


# --- restarts ------------------------------------------------------------------------------
async def test_restart_after_downtime_spanning_the_deadline_finalizes_at_start(
    world: World,
) -> None:
    first = await world.boot()
    assignment = await create(first, "Lab 1", "+1h")
    await group_with_upload(first, "Lab 1", "1111", 1, b"report")
    await first.stop()

    world.clock.advance(2 * 3600)
    second = await world.boot()
    assert await finalized(second, assignment.id, "1111")
    await eventually(lambda: len(world.notifier.receipts) == 1)
    await second.stop()

    third = await world.boot(start=False)
    passes = Calls(third.services.receipts, "deliver_pending")
    await third.scheduler.start()
    await passes.finished_after(0)  # the start-up pass, a late duplicate's only chance
    assert await third.scheduler.deliver_receipts() == 0
    assert len(world.notifier.receipts) == 1


async def test_receipts_go_out_exactly_once_across_a_restart(world: World) -> None:
    first = await world.boot()
    lab1 = await create(first, "Lab 1", "+1h")
    lab2 = await create(first, "Lab 2", "+1h")
    await group_with_upload(first, "Lab 1", "1111", 1, b"alice")
    await group_with_upload(first, "Lab 2", "2222", 2, b"bob")
    world.clock.advance(2 * 3600)
    # Lab 1's receipt is delivered; Lab 2's is recorded, then the bot dies before sending it.
    await first.services.finalizer.finalize_due(lab1.id)
    await first.scheduler.deliver_receipts()
    await first.services.finalizer.finalize_due(lab2.id)
    await first.stop()

    second = await world.boot()
    await eventually(lambda: len(world.notifier.receipts) == 2)
    assert await second.scheduler.deliver_receipts() == 0
    await second.stop()
    third = await world.boot(start=False)
    passes = Calls(third.services.receipts, "deliver_pending")
    await third.scheduler.start()
    # The restart's own delivery pass (woken by start) is over: a duplicate would be out.
    await passes.finished_after(0)

    assert [(r.assignment.id, r.user_id) for r in world.notifier.receipts] == [
        (lab1.id, ALICE.user_id),
        (lab2.id, BOB.user_id),
    ]


async def test_reminder_reaches_the_right_people_once_across_a_restart(world: World) -> None:
    first = await world.boot()
    # The 1h reminder falls 1.5 s from now: after the set-up below even on a busy PostgreSQL
    # (0.3 s was too close there).
    assignment = await create(first, "Lab 1", "+3601.5s", reminders="1h")
    await group_with_upload(first, "Lab 1", "1111", 1, b"alice")
    await first.services.groups.create(GUILD, BOB, "Lab 1", "2222", sent_at=world.clock.now())
    await first.services.groups.ready(GUILD, CAROL, "Lab 1")
    job = f"remind:{assignment.id}:3600"
    assert job in first.scheduler.job_ids()

    await eventually(lambda: len(world.notifier.channel_reminders) == 1, timeout=5)
    await eventually(lambda: len(world.notifier.reminders) == 2)
    assert {r.user_id for r in world.notifier.reminders} == {BOB.user_id, CAROL.user_id}
    await first.stop()

    # Restarted at once, the reminder is not due again: its claim holds.
    second = await world.boot()
    assert job not in second.scheduler.job_ids()
    reminder = world.notifier.reminders[0]
    assert (
        await second.services.reminders.send_due(
            assignment.id, reminder.deadline - timedelta(hours=1)
        )
        is None
    )
    assert len(world.notifier.channel_reminders) == 1
    assert len(world.notifier.reminders) == 2


async def test_reminder_offset_already_past_is_skipped(world: World) -> None:
    bot = await world.boot()
    assignment = await create(bot, "Lab 1", "+1h", reminders="2h,30m")
    assert {job for job in bot.scheduler.job_ids() if job.startswith("remind")} == {
        f"remind:{assignment.id}:1800"
    }


async def test_a_reminder_missed_while_down_goes_out_at_start_up(world: World) -> None:
    first = await world.boot()
    assignment = await create(first, "Lab 1", "+2h", reminders="90m,1h")
    await first.services.groups.ready(GUILD, CAROL, "Lab 1")
    await first.stop()
    # Down past both reminders, back before the deadline: only the latest one goes out.
    world.clock.advance(3600 + 60)
    second = await world.boot()
    await eventually(lambda: len(world.notifier.reminders) == 1)
    [reminder] = world.notifier.reminders
    assert reminder.user_id == CAROL.user_id
    await second.scheduler.idle()
    assert len(world.notifier.channel_reminders) == 1
    async with second.db.reading() as conn:
        sent = await misc_repo.claimed_reminders(conn, assignment.id)
    assert sent == [assignment.closes_at - timedelta(hours=1)]


async def test_no_reminder_is_caught_up_once_the_deadline_passed(world: World) -> None:
    first = await world.boot()
    await create(first, "Lab 1", "+2h", reminders="1h")
    await first.stop()
    world.clock.advance(2 * 3600 + 60)
    second = await world.boot()
    await second.scheduler.idle()
    assert not any(job.startswith("remind") for job in second.scheduler.job_ids())
    assert world.notifier.channel_reminders == []


# --- sweep and receipt worker ----------------------------------------------------------------
async def test_sweep_catches_a_deadline_that_was_never_scheduled(world: World) -> None:
    # Deaf to the services: no assignment's change reaches it, only the sweep.
    bot = await world.boot(sweep=0.1, wakeups=Wakeups())
    assignment = await create(bot, "Lab 1", "+1h")
    await group_with_upload(bot, "Lab 1", "1111", 1, b"report")
    world.clock.advance(2 * 3600)
    assert bot.scheduler.job_ids() == {"sweep", "retention"}

    await eventually(lambda: len(world.notifier.receipts) == 1)
    assert await finalized(bot, assignment.id, "1111")


async def test_replan_sets_the_timer_of_an_assignment_another_process_created(
    world: World,
) -> None:
    # Deaf to the services, as to another process's changes: only the database tells it.
    bot = await world.boot(replan=0.1, wakeups=Wakeups())
    assignment = await create(bot, "Lab 1", "+1h")

    close_job = f"close:{assignment.id}:all"
    await eventually(lambda: close_job in bot.scheduler.job_ids())


async def test_without_replan_only_the_sweep_runs_periodically(world: World) -> None:
    bot = await world.boot()
    # The other periodic job is retention's (SPEC §9), which every process runs.
    assert bot.scheduler.job_ids() == {"sweep", "retention"}


async def test_receipts_waiting_delivers_each_receipt_once_under_concurrent_wakes(
    world: World,
) -> None:
    world.notifier = SlowNotifier()
    bot = await world.boot()
    await create(bot, "Lab 1", "+1h")
    await group_with_upload(bot, "Lab 1", "1111", 1, b"report")
    await bot.services.groups.join(GUILD, BOB, "Lab 1", "1111", sent_at=world.clock.now())
    world.clock.advance(2 * 3600)
    await bot.services.finalizer.finalize_due()

    passes = Calls(bot.services.receipts, "deliver_pending")
    bot.scheduler.receipts_waiting()
    await asyncio.gather(bot.scheduler.deliver_receipts(), bot.scheduler.deliver_receipts())
    mark = passes.started
    bot.scheduler.receipts_waiting()
    # The worker's pass for the last wake is over, and no pass is running.
    await passes.finished_after(mark)
    assert passes.started >= 3

    assert sorted(r.user_id for r in world.notifier.receipts) == [ALICE.user_id, BOB.user_id]


# --- planning ------------------------------------------------------------------------------
async def test_plan_closes_each_group_at_its_own_late_window_end(world: World) -> None:
    bot = await world.boot(start=False)
    assignment = await create(bot, "Lab 1", "+1h", late_until="+90m")
    for pin, n in (("1111", 1), ("2222", 2)):
        await bot.services.groups.create(GUILD, student(n), "Lab 1", pin, sent_at=world.clock.now())
    _, extended = await bot.services.assignments.extend(
        GUILD, STAFF, "Lab 1", "2222", "+2h", sent_at=world.clock.now()
    )
    async with bot.db.reading() as conn:
        groups = await group_repo.groups(conn, assignment.id)

    plan = plan_wakeups(assignment, groups, world.clock.now())

    assert extended.closes_at is not None
    window = timedelta(minutes=30)
    assert {(w.job_id, w.at) for w in plan} == {
        (f"close:{assignment.id}:all", assignment.closes_at + window),
        (f"close:{assignment.id}:{extended.id}", extended.closes_at + window),
    }


# --- feedback and retention (SPEC §7, §9) --------------------------------------------------
async def test_released_feedback_goes_out_with_the_receipts(world: World) -> None:
    bot = await world.boot()
    await create(bot, "Lab 1", "+1h")
    await group_with_upload(bot, "Lab 1", "1111", 1, b"alice")
    await bot.services.feedback.import_draft(
        GUILD, STAFF, "Lab 1", IncomingAttachment.of("f.csv", b"1111,A,ok\n"), file_limit=LIMIT
    )
    await bot.services.feedback.release(GUILD, STAFF, "Lab 1")
    await eventually(lambda: [dm.user_id for dm in world.notifier.feedback] == [ALICE.user_id])


async def test_retention_purges_at_start_what_closed_days_ago(world: World) -> None:
    bot = await world.boot(start=False)
    world.clock.advance(-3 * 86400)
    await create(bot, "Lab 1", "+1h")
    await group_with_upload(bot, "Lab 1", "1111", 1, b"alice")
    world.clock.advance(3 * 86400)
    await bot.services.purge.set_retention(GUILD, STAFF, 2)
    runs = Calls(bot.services.purge, "run_retention")
    await bot.scheduler.start()
    assert "retention" in bot.scheduler.job_ids()
    await runs.finished_after(0)
    assert list((await bot.services.purge.purged_in(GUILD)).values())
