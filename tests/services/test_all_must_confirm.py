"""`all_must_confirm` (SPEC §5b): a hand-in counts only when every current member agreed to the
group's latest upload; a new upload, a join or a leave resets it."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import (
    ConfirmAfterHandinsError,
    ConfirmWithAutoSubmitError,
    ConfirmWithSubmitOnceError,
    NewerUploadError,
)
from bot.domain.models import Assignment, ReminderReason
from bot.services.assignments import AssignmentOptions
from bot.services.registry import Services
from bot.services.reminders import reminder_times
from storage.db import Database, fetch_all
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import (
    GUILD,
    LIMIT,
    STAFF,
    RecordingNotifier,
    incoming,
    make_assignment,
    student,
)
from tests.snapshot import unchanged

ALICE, BOB, CAROL = student(21), student(22), student(23)


async def trio(services: Services, **options: object) -> Assignment:
    """Lab 1 with all_must_confirm; Alice, Bob and Carol in group 1234."""
    created = await make_assignment(services, all_must_confirm=True, **options)  # type: ignore[arg-type]
    now = services.clock.now()
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=now)
    await services.groups.join(GUILD, BOB, "Lab 1", "1234", sent_at=now)
    await services.groups.join(GUILD, CAROL, "Lab 1", "1234", sent_at=now)
    return created


async def upload(services: Services, who: object, data: bytes = b"%PDF v1") -> int:
    clock = services.clock
    assert isinstance(clock, FakeClock)
    clock.advance(1)
    result = await services.submissions.upload(
        GUILD,
        who,  # type: ignore[arg-type]
        "Lab 1",
        incoming(data),
        sent_at=clock.now(),
    )
    return result.upload.id


async def agree(services: Services, *who: object, upload_id: int | None = None) -> None:
    for actor in who:
        await services.submissions.handin(
            GUILD,
            actor,  # type: ignore[arg-type]
            "Lab 1",
            sent_at=services.clock.now(),
            upload_id=upload_id,
        )


async def final_after_deadline(services: Services, clock: FakeClock) -> int | None:
    """The upload id of the group's recorded final once the deadline passed (None: nothing)."""
    clock.advance(3 * 3600)
    await services.finalizer.finalize_due()
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert status.finalized
    upload = None if status.submission is None else status.submission.upload
    return None if upload is None else upload.id


async def numbers(services: Services, *who: object) -> list[int]:
    found = []
    for actor in who:
        ready = await services.groups.ready(GUILD, actor, "Lab 1")  # type: ignore[arg-type]
        found.append(ready.candidate.number)
    return found


# --- the option ----------------------------------------------------------------------------
async def test_all_must_confirm_implies_auto_submit_off(services: Services) -> None:
    created = await make_assignment(services, all_must_confirm=True)
    assert created.all_must_confirm and not created.auto_submit


async def test_all_must_confirm_with_auto_submit_true_is_refused(
    services: Services, db: Database
) -> None:
    with pytest.raises(ConfirmWithAutoSubmitError):
        await make_assignment(services, all_must_confirm=True, auto_submit=True)
    async with db.reading() as conn:
        assert await fetch_all(conn, "SELECT id FROM assignments") == []


async def test_auto_submit_true_on_an_all_must_confirm_assignment_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await trio(services)
    async with unchanged(db, files):
        with pytest.raises(ConfirmWithAutoSubmitError):
            await edit(services, AssignmentOptions(auto_submit=True))
    assert (await services.assignments.get(GUILD, "Lab 1")).all_must_confirm


async def test_all_must_confirm_can_be_turned_on_before_any_hand_in(services: Services) -> None:
    await make_assignment(services)
    edited = await edit(services, AssignmentOptions(all_must_confirm=True))
    assert edited.all_must_confirm and not edited.auto_submit


async def test_all_must_confirm_cannot_change_once_a_group_handed_in(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, auto_submit=False)
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=services.clock.now())
    await upload(services, ALICE)
    await agree(services, ALICE)
    async with unchanged(db, files):
        with pytest.raises(ConfirmAfterHandinsError):
            await edit(services, AssignmentOptions(all_must_confirm=True))
    assert not (await services.assignments.get(GUILD, "Lab 1")).all_must_confirm


async def test_all_must_confirm_cannot_be_turned_on_once_an_auto_submit_group_uploaded(
    services: Services, db: Database, files: FileStore
) -> None:
    # With auto_submit the upload is the group's final: no hand-in row, but a submission.
    await make_assignment(services)
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=services.clock.now())
    await upload(services, ALICE)
    async with unchanged(db, files):
        with pytest.raises(ConfirmAfterHandinsError):
            await edit(services, AssignmentOptions(all_must_confirm=True))
    assert not (await services.assignments.get(GUILD, "Lab 1")).all_must_confirm


async def edit(services: Services, options: AssignmentOptions) -> Assignment:
    return await services.assignments.edit(
        GUILD, STAFF, "Lab 1", options, sent_at=services.clock.now(), upload_limit_bytes=LIMIT
    )


# --- what counts -----------------------------------------------------------------------------
async def test_a_hand_in_counts_once_every_member_agreed(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await trio(services)
    first = await upload(services, ALICE)
    await agree(services, ALICE, BOB, CAROL)
    assert await final_after_deadline(services, clock) == first
    assert await services.receipts.deliver_pending() == 3


async def test_without_every_members_agreement_there_is_no_submission(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await trio(services)
    await upload(services, ALICE)
    await agree(services, ALICE, BOB)
    assert await final_after_deadline(services, clock) is None
    assert await services.receipts.deliver_pending() == 0
    overview = await services.assignments.overview(GUILD, STAFF, "Lab 1")
    [group] = overview.groups
    assert list(group.waiting_for) == await numbers(services, CAROL)


async def test_a_new_upload_resets_the_agreement(services: Services, clock: FakeClock) -> None:
    await trio(services)
    await upload(services, ALICE)
    await agree(services, ALICE, BOB, CAROL)
    await upload(services, BOB, b"%PDF v2")
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert {m.user_id for m in status.waiting_for} == {ALICE.user_id, BOB.user_id, CAROL.user_id}
    assert await final_after_deadline(services, clock) is None


async def test_agreeing_again_to_the_new_upload_makes_it_count(
    services: Services, clock: FakeClock
) -> None:
    await trio(services)
    await upload(services, ALICE)
    await agree(services, ALICE, BOB, CAROL)
    second = await upload(services, BOB, b"%PDF v2")
    await agree(services, ALICE, BOB, CAROL)
    assert await final_after_deadline(services, clock) == second


async def test_the_agree_button_under_an_older_upload_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await trio(services)
    first = await upload(services, ALICE)
    await upload(services, BOB, b"%PDF v2")
    async with unchanged(db, files):
        with pytest.raises(NewerUploadError):
            await agree(services, CAROL, upload_id=first)


async def test_a_join_resets_the_agreement_and_tells_the_members(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await trio(services, max_group_size=4)
    await upload(services, ALICE)
    await agree(services, ALICE, BOB, CAROL)
    dave = student(24)
    await services.groups.join(GUILD, dave, "Lab 1", "1234", sent_at=clock.now())
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert {m.user_id for m in status.waiting_for} == {
        ALICE.user_id,
        BOB.user_id,
        CAROL.user_id,
        dave.user_id,
    }
    [(_, told)] = notifier.resets
    assert told == sorted([ALICE.user_id, BOB.user_id, CAROL.user_id, dave.user_id])
    assert await final_after_deadline(services, clock) is None


async def test_a_leave_resets_the_agreement_and_tells_the_members_left(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await trio(services)
    await upload(services, ALICE)
    # Carol never agreed; her leaving must not complete Alice's and Bob's agreement.
    await agree(services, ALICE, BOB)
    await services.groups.leave(GUILD, CAROL, "Lab 1", sent_at=clock.now())
    [(_, told)] = notifier.resets
    assert told == sorted([ALICE.user_id, BOB.user_id])
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert {m.user_id for m in status.waiting_for} == {ALICE.user_id, BOB.user_id}
    assert await final_after_deadline(services, clock) is None


async def test_handin_reply_names_who_the_group_waits_for(services: Services) -> None:
    await trio(services)
    await upload(services, ALICE)
    result = await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=services.clock.now())
    assert {m.user_id for m in result.waiting_for} == {BOB.user_id, CAROL.user_id}


async def test_reminders_go_only_to_members_who_have_not_agreed_and_name_them(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await trio(services, reminders="1h")
    await upload(services, ALICE)
    await agree(services, ALICE)
    due = reminder_times(assignment)[3600]
    clock.set(due)
    await services.reminders.send_due(assignment.id, due)
    assert {r.user_id for r in notifier.reminders} == {BOB.user_id, CAROL.user_id}
    assert {r.reason for r in notifier.reminders} == {ReminderReason.NOT_HANDED_IN}
    assert {tuple(sorted(r.waiting_for)) for r in notifier.reminders} == {
        tuple(sorted(await numbers(services, BOB, CAROL)))
    }


async def test_with_parts_a_hand_in_agrees_to_every_parts_latest_upload(
    services: Services, clock: FakeClock
) -> None:
    await trio(services, parts="report:pdf; code:zip")
    for who, name, part in ((ALICE, "r.pdf", "report"), (BOB, "c.zip", "code")):
        clock.advance(1)
        await services.submissions.upload(
            GUILD,
            who,
            "Lab 1",
            incoming(b"x" + name.encode(), name),
            sent_at=clock.now(),
            part=part,
        )
    await agree(services, ALICE, BOB, CAROL)
    clock.advance(3 * 3600)
    await services.finalizer.finalize_due()
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert status.submission is not None
    assert sorted(p.upload.filename for p in status.submission.parts if p.upload) == [
        "c.zip",
        "r.pdf",
    ]


# --- the race ----------------------------------------------------------------------------------
async def test_two_members_agreeing_while_a_third_uploads_end_consistent(
    services: Services, db: Database, clock: FakeClock
) -> None:
    """Run concurrently against the real service and database: whichever lands first, an
    agreement counts only for the upload it was given to, and the final state is one of the
    two orders, never a mix."""
    await trio(services)
    old = await upload(services, ALICE)
    clock.advance(1)
    moment = clock.now()
    results = await asyncio.gather(
        services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=moment, upload_id=old),
        services.submissions.handin(GUILD, BOB, "Lab 1", sent_at=moment, upload_id=old),
        services.submissions.upload(GUILD, CAROL, "Lab 1", incoming(b"%PDF v2"), sent_at=moment),
        return_exceptions=True,
    )
    new = results[2]
    assert not isinstance(new, BaseException)
    for outcome in results[:2]:
        # Refused only as "a newer upload exists" (the upload landed first).
        assert not isinstance(outcome, BaseException) or isinstance(outcome, NewerUploadError)
    async with db.reading() as conn:
        rows = await fetch_all(conn, "SELECT upload_id, user_id FROM confirmations")
    confirmed = {(row["upload_id"], row["user_id"]) for row in rows}
    # Every recorded agreement is for the old upload; none for the newer one.
    assert confirmed <= {(old, ALICE.user_id), (old, BOB.user_id)}
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert status.uploads[-1].id == new.upload.id
    assert {m.user_id for m in status.waiting_for} == {ALICE.user_id, BOB.user_id, CAROL.user_id}
    assert await final_after_deadline(services, clock) is None


async def test_a_confirmation_by_a_non_member_is_refused_by_the_schema(
    services: Services, db: Database
) -> None:
    await trio(services)
    upload_id = await upload(services, ALICE)
    async with db.reading() as conn:
        [group] = await fetch_all(conn, "SELECT group_id FROM uploads WHERE id = ?", (upload_id,))
    with pytest.raises(Exception, match="confirmation by a non-member"):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO confirmations (upload_id, user_id, group_id, confirmed_at)"
                " VALUES (?, ?, ?, ?)",
                (upload_id, 999, group["group_id"], "2026-01-01T00:00:00.000000Z"),
            )


async def test_all_must_confirm_with_submit_once_is_refused(
    services: Services, db: Database
) -> None:
    with pytest.raises(ConfirmWithSubmitOnceError):
        await make_assignment(services, all_must_confirm=True, submit_once=True)
    async with db.reading() as conn:
        assert await fetch_all(conn, "SELECT id FROM assignments") == []
