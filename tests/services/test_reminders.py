"""Reminders: a channel post plus DMs to exactly the candidates who still have to act, once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.models import Assignment, Person, ReminderReason, Unreached
from bot.services.assignments import AssignmentOptions
from bot.services.registry import Services
from bot.services.reminders import reminder_times
from storage.repos import misc as misc_repo
from tests.clock import FakeClock
from tests.conftest import (
    GUILD,
    LIMIT,
    STAFF,
    RecordingNotifier,
    incoming,
    later,
    make_assignment,
    student,
)

ALICE, BOB, CAROL, DAVE, ERIN = (student(n) for n in range(1, 6))


async def _setup(services: Services, clock: FakeClock, **options: Any) -> Assignment:
    """Group 1111 (Alice, Bob) uploaded; group 2222 (Carol) did not; Dave has no group."""
    assignment = await make_assignment(services, closes="+2h", reminders="1h", **options)
    await services.groups.create(GUILD, ALICE, "Lab 1", "1111", sent_at=clock.now())
    await services.groups.join(GUILD, BOB, "Lab 1", "1111", sent_at=clock.now())
    await services.groups.create(GUILD, CAROL, "Lab 1", "2222", sent_at=clock.now())
    await services.groups.ready(GUILD, DAVE, "Lab 1")
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"report"), sent_at=later(clock, 10)
    )
    return assignment


def _due(assignment: Assignment, clock: FakeClock) -> datetime:
    due = reminder_times(assignment)[3600]
    clock.set(due)
    return due


def _sent(notifier: RecordingNotifier) -> dict[int, ReminderReason]:
    return {reminder.user_id: reminder.reason for reminder in notifier.reminders}


async def test_reminder_dms_groups_without_upload_and_candidates_without_group(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _setup(services, clock)
    run = await services.reminders.send_due(assignment.id, _due(assignment, clock))

    assert run is not None
    assert notifier.channel_reminders == [(assignment.id, assignment.closes_at)]
    assert _sent(notifier) == {
        CAROL.user_id: ReminderReason.NO_UPLOAD,
        DAVE.user_id: ReminderReason.NO_GROUP,
    }
    assert all(r.deadline == assignment.closes_at for r in notifier.reminders)


async def test_reminder_warns_group_whose_latest_upload_is_not_handed_in(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _setup(services, clock, auto_submit=False)
    # Erin's group handed in, then uploaded again: the latest upload is not handed in.
    await services.groups.create(GUILD, ERIN, "Lab 1", "3333", sent_at=clock.now())
    upload = services.submissions.upload
    await upload(GUILD, ERIN, "Lab 1", incoming(b"v1"), sent_at=later(clock, 20))
    await services.submissions.handin(GUILD, ERIN, "Lab 1", sent_at=later(clock, 30))
    await upload(GUILD, ERIN, "Lab 1", incoming(b"v2"), sent_at=later(clock, 40))
    await services.submissions.handin(GUILD, BOB, "Lab 1", sent_at=later(clock, 50))

    await services.reminders.send_due(assignment.id, _due(assignment, clock))

    assert _sent(notifier) == {
        CAROL.user_id: ReminderReason.NO_UPLOAD,
        DAVE.user_id: ReminderReason.NO_GROUP,
        ERIN.user_id: ReminderReason.NOT_HANDED_IN,
    }


async def test_unhanded_upload_gets_no_reminder_when_auto_submit(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _setup(services, clock)
    await services.reminders.send_due(assignment.id, _due(assignment, clock))
    assert ALICE.user_id not in _sent(notifier) and BOB.user_id not in _sent(notifier)


async def test_reminder_is_sent_only_once(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _setup(services, clock)
    due = _due(assignment, clock)
    await services.reminders.send_due(assignment.id, due)
    clock.advance(5)

    assert await services.reminders.send_due(assignment.id, due) is None
    assert len(notifier.channel_reminders) == 1
    assert len(notifier.reminders) == 2


async def test_undeliverable_reminder_is_recorded_and_not_retried(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _setup(services, clock)
    notifier.closed_dms.add(CAROL.user_id)
    due = _due(assignment, clock)

    run = await services.reminders.send_due(assignment.id, due)
    notifier.closed_dms.clear()
    await services.reminders.send_due(assignment.id, due)

    assert run is not None and run.undelivered == ((CAROL.user_id, "closed:50007"),)
    assert set(_sent(notifier)) == {DAVE.user_id}
    async with services.db.reading() as conn:
        assert await misc_repo.undelivered(conn, assignment.id) == {
            CAROL.user_id: [Unreached("reminder", "closed:50007")]
        }


async def test_reminder_for_a_moved_deadline_is_not_sent(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _setup(services, clock)
    await services.assignments.edit(
        GUILD,
        STAFF,
        "Lab 1",
        AssignmentOptions(closes="+5h"),
        sent_at=clock.now(),
        upload_limit_bytes=LIMIT,
    )
    assert await services.reminders.send_due(assignment.id, _due(assignment, clock)) is None
    assert notifier.channel_reminders == [] and notifier.reminders == []


async def test_group_with_extension_is_not_reminded_of_the_main_deadline(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _setup(services, clock)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "2222", "+1d", sent_at=clock.now())
    await services.reminders.send_due(assignment.id, _due(assignment, clock))
    assert _sent(notifier) == {DAVE.user_id: ReminderReason.NO_GROUP}


async def test_reminder_after_the_deadline_is_not_sent(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _setup(services, clock)
    due = reminder_times(assignment)[3600]
    clock.set(assignment.closes_at)
    assert await services.reminders.send_due(assignment.id, due) is None
    assert notifier.channel_reminders == []


async def test_members_with_the_role_who_never_acted_are_reminded(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    role = 77
    assignment = await make_assignment(services, closes="+2h", reminders="1h", role_id=role)
    notifier.people = [
        Person(user_id=ERIN.user_id, username="erin", role_ids=frozenset({role})),
        Person(user_id=999, username="visitor"),  # no role: not a candidate
    ]
    await services.reminders.send_due(assignment.id, _due(assignment, clock))
    assert _sent(notifier) == {ERIN.user_id: ReminderReason.NO_GROUP}


async def test_a_failing_channel_post_stops_none_of_the_dms(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _setup(services, clock)
    notifier.channel_fails = True

    run = await services.reminders.send_due(assignment.id, _due(assignment, clock))

    assert run is not None and not run.posted
    assert set(_sent(notifier)) == {CAROL.user_id, DAVE.user_id}
