"""Final submissions at the deadline, extensions, reopen, close now, and the receipt outbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest

from bot.domain.delivery import Delivery, DmFailure
from bot.domain.errors import (
    AlreadySubmittedError,
    AssignmentNotClosedError,
    ClosedDeadlineEditError,
    DeadlineInPastError,
    DeadlinePassedError,
    ExtensionBeforeDeadlineError,
    GroupNotFoundError,
    TimeFormatError,
)
from bot.domain.models import Receipt, Unreached
from bot.services.assignments import AssignmentOptions
from bot.services.registry import Services, build_services
from bot.services.submissions import IncomingFile
from storage.db import Database, fetch_all
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import (
    GUILD,
    LIMIT,
    STAFF,
    RecordingNotifier,
    incoming,
    later,
    make_assignment,
    sha,
    student,
)
from tests.snapshot import unchanged

ALICE, BOB, CAROL = student(1), student(2), student(3)
HOUR = 3600


async def group(services: Services, pin: str, *members: object) -> None:
    now = services.clock.now()
    first, *rest = members
    await services.groups.create(GUILD, first, "Lab 1", pin, sent_at=now)  # type: ignore[arg-type]
    for member in rest:
        await services.groups.join(GUILD, member, "Lab 1", pin, sent_at=now)  # type: ignore[arg-type]


async def upload(services: Services, who: object, data: bytes, at: float) -> int:
    result = await services.submissions.upload(
        GUILD,
        who,
        "Lab 1",
        incoming(data),
        sent_at=later(services.clock, at),  # type: ignore[arg-type]
    )
    return result.upload.id


async def final_sha(db: Database, pin: str) -> str | None:
    rows = await fetch_all(
        db.conn,
        "SELECT u.sha256 FROM submissions s JOIN groups g ON g.id = s.group_id"
        " LEFT JOIN uploads u ON u.id = s.upload_id WHERE g.pin = ?"
        " ORDER BY s.revision DESC LIMIT 1",
        (pin,),
    )
    return rows[0]["sha256"] if rows else None


async def receipt_rows(db: Database) -> list[tuple[int, int, str, int]]:
    rows = await fetch_all(
        db.conn, "SELECT user_id, revision, status, replaces FROM receipts ORDER BY id"
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def close(services: Services, clock: FakeClock, seconds: float) -> list[object]:
    clock.advance(seconds)
    return list(await services.finalizer.finalize_due())


# --- auto_submit ---------------------------------------------------------------------------
async def test_auto_submit_hands_in_the_latest_upload_before_the_deadline(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    await upload(services, BOB, b"v2", 120)
    changes = await close(services, clock, HOUR)
    assert len(changes) == 1
    assert await final_sha(db, "1234") == sha(b"v2")


async def test_latest_means_latest_sent_not_latest_arrived(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"sent second", 120)
    await upload(services, BOB, b"sent first, arrived last", 60)
    await close(services, clock, HOUR)
    assert await final_sha(db, "1234") == sha(b"sent second")


async def test_group_without_upload_has_no_submission_and_no_receipt(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    assert await close(services, clock, HOUR) == []
    assert await final_sha(db, "1234") is None
    assert await services.receipts.deliver_pending() == 0


async def test_every_member_gets_a_receipt_with_the_details(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB, CAROL)
    await upload(services, BOB, b"final work", 60)
    await close(services, clock, HOUR)
    assert await services.receipts.deliver_pending() == 3
    assert sorted(r.user_id for r in notifier.receipts) == [
        ALICE.user_id,
        BOB.user_id,
        CAROL.user_id,
    ]
    receipt = notifier.receipts[0]
    assert receipt.assignment.id == assignment.id and receipt.group.pin == "1234"
    assert receipt.upload.sha256 == sha(b"final work") and receipt.upload.size == 10
    assert receipt.upload.user_id == BOB.user_id and receipt.uploader_number is not None
    assert not receipt.late and not receipt.replaces and receipt.revision == 1


async def test_late_upload_replaces_the_on_time_one_and_is_flagged_late(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h", late_until="+2h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"on time", 60)
    clock.advance(HOUR)
    late = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"late"), sent_at=clock.now()
    )
    assert late.upload.late
    assert await close(services, clock, HOUR - 1) == []
    [change] = await close(services, clock, 1)
    assert change.late  # type: ignore[attr-defined]
    assert await final_sha(db, "1234") == sha(b"late")
    await services.receipts.deliver_pending()
    assert [r.late for r in notifier.receipts] == [True]


async def test_on_time_upload_in_assignment_with_late_window_is_not_late(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h", late_until="+2h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"on time", 60)
    [change] = await close(services, clock, 2 * HOUR)
    assert not change.late  # type: ignore[attr-defined]


async def test_handin_with_auto_submit_is_replaced_by_a_later_upload(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=later(clock, 70))
    await upload(services, BOB, b"v2", 80)
    await close(services, clock, HOUR)
    assert await final_sha(db, "1234") == sha(b"v2")


# --- auto_submit false ---------------------------------------------------------------------
async def test_without_auto_submit_only_an_explicit_handin_counts(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h", auto_submit=False)
    await group(services, "1111", ALICE)
    await group(services, "2222", BOB)
    await upload(services, ALICE, b"handed in", 60)
    await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=later(clock, 61))
    await upload(services, ALICE, b"not handed in", 120)
    await upload(services, BOB, b"never handed in", 60)
    await close(services, clock, HOUR)
    assert await final_sha(db, "1111") == sha(b"handed in")
    assert await final_sha(db, "2222") is None


async def test_without_auto_submit_the_latest_handin_wins(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h", auto_submit=False)
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=later(clock, 61))
    await upload(services, BOB, b"v2", 120)
    await services.submissions.handin(GUILD, BOB, "Lab 1", sent_at=later(clock, 121))
    await close(services, clock, HOUR)
    assert await final_sha(db, "1234") == sha(b"v2")


# --- submit_once ---------------------------------------------------------------------------
@pytest.mark.parametrize("auto_submit", [True, False])
async def test_submit_once_handin_is_final_at_once_with_receipts(
    services: Services,
    db: Database,
    clock: FakeClock,
    notifier: RecordingNotifier,
    auto_submit: bool,
) -> None:
    await make_assignment(services, closes="+1h", submit_once=True, auto_submit=auto_submit)
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    result = await services.submissions.handin(GUILD, BOB, "Lab 1", sent_at=later(clock, 61))
    assert result.final is not None and result.final.receipts == 2
    assert await final_sha(db, "1234") == sha(b"v1")
    assert await services.receipts.deliver_pending() == 2
    with pytest.raises(AlreadySubmittedError):
        await upload(services, ALICE, b"v2", 120)
    assert await close(services, clock, HOUR) == []
    assert await services.receipts.deliver_pending() == 0
    assert await final_sha(db, "1234") == sha(b"v1")


async def test_submit_once_without_handin_still_hands_in_the_latest_upload(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h", submit_once=True)
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"v1", 60)
    await close(services, clock, HOUR)
    assert await final_sha(db, "1234") == sha(b"v1")


# --- extensions ----------------------------------------------------------------------------
async def test_extended_group_is_finalized_at_its_own_deadline_and_the_rest_on_time(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1111", ALICE)
    await group(services, "2222", BOB)
    await upload(services, ALICE, b"a1", 60)
    await upload(services, BOB, b"b1", 60)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "2222", "+2h", sent_at=clock.now())
    changes = await close(services, clock, HOUR)
    assert [c.group_id for c in changes] == [  # type: ignore[attr-defined]
        (await services.groups.info(GUILD, ALICE, "Lab 1")).group.id
    ]
    late_but_extended = await services.submissions.upload(
        GUILD, BOB, "Lab 1", incoming(b"b2"), sent_at=clock.now()
    )
    assert not late_but_extended.upload.late
    with pytest.raises(DeadlinePassedError):
        await upload(services, ALICE, b"a2", 0)
    [change] = await close(services, clock, HOUR)
    assert not change.late  # type: ignore[attr-defined]
    assert await final_sha(db, "2222") == sha(b"b2")
    assert await final_sha(db, "1111") == sha(b"a1")


async def test_extension_shifts_the_late_window(services: Services, clock: FakeClock) -> None:
    await make_assignment(services, closes="+1h", late_until="+90m")
    await group(services, "1234", ALICE)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "1234", "+3h", sent_at=clock.now())
    clock.advance(3 * HOUR + 60)
    result = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"late"), sent_at=clock.now()
    )
    assert result.upload.late
    clock.advance(30 * 60)
    with pytest.raises(DeadlinePassedError):
        await upload(services, ALICE, b"too late", 0)


async def test_extension_of_a_finalized_group_reopens_it_and_its_receipt_replaces(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    await close(services, clock, HOUR)
    await services.receipts.deliver_pending()
    _, extended = await services.assignments.extend(
        GUILD, STAFF, "Lab 1", "1234", "+1h", sent_at=clock.now()
    )
    assert extended.finalized_at is None
    assert [(gid, sorted(users)) for gid, users in notifier.reopened] == [
        (extended.id, [ALICE.user_id, BOB.user_id])
    ]
    await upload(services, BOB, b"v2", 60)
    [change] = await close(services, clock, HOUR)
    assert change.replaces  # type: ignore[attr-defined]
    await services.receipts.deliver_pending()
    assert [(r.revision, r.replaces) for r in notifier.receipts] == [
        (1, False),
        (1, False),
        (2, True),
        (2, True),
    ]
    assert await final_sha(db, "1234") == sha(b"v2")


async def test_extension_before_the_assignment_deadline_is_refused(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+2h")
    await group(services, "1234", ALICE)
    with pytest.raises(ExtensionBeforeDeadlineError):
        await services.assignments.extend(GUILD, STAFF, "Lab 1", "1234", "+1h", sent_at=clock.now())


async def test_extension_of_unknown_pin_is_refused(services: Services, clock: FakeClock) -> None:
    await make_assignment(services, closes="+2h")
    with pytest.raises(GroupNotFoundError):
        await services.assignments.extend(GUILD, STAFF, "Lab 1", "9999", "+3h", sent_at=clock.now())


async def test_moving_the_deadline_past_an_extension_does_not_shorten_that_group(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "1234", "+2h", sent_at=clock.now())
    await services.assignments.edit(
        GUILD,
        STAFF,
        "Lab 1",
        AssignmentOptions(closes="+5h"),
        sent_at=clock.now(),
        upload_limit_bytes=LIMIT,
    )
    assert await close(services, clock, 3 * HOUR) == []
    await upload(services, ALICE, b"still open", 0)
    info = await services.groups.info(GUILD, ALICE, "Lab 1")
    assert info.deadlines.closes_at == clock.now() + timedelta(hours=2)


# --- reopen / close now --------------------------------------------------------------------
async def test_reopen_gives_a_new_deadline_and_receipts_after_the_second_close_replace(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"v1", 60)
    await close(services, clock, HOUR)
    await services.receipts.deliver_pending()
    reopened = await services.assignments.reopen(GUILD, STAFF, "Lab 1", "+1h", sent_at=clock.now())
    assert reopened.closes_at == clock.now() + timedelta(hours=1)
    await upload(services, ALICE, b"v2", 60)
    [change] = await close(services, clock, HOUR)
    assert change.replaces  # type: ignore[attr-defined]
    await services.receipts.deliver_pending()
    assert [r.replaces for r in notifier.receipts] == [False, True]
    assert await final_sha(db, "1234") == sha(b"v2")


async def test_reopen_of_an_open_assignment_is_refused(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    with pytest.raises(AssignmentNotClosedError):
        await services.assignments.reopen(GUILD, STAFF, "Lab 1", "+2h", sent_at=clock.now())


async def test_reopen_drops_extensions_ending_before_the_new_deadline(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1111", ALICE)
    await group(services, "2222", BOB)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "1111", "+2h", sent_at=clock.now())
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "2222", "+10h", sent_at=clock.now())
    await close(services, clock, 2 * HOUR)
    # The assignment is closed; its extended groups are not (2222) or just were (1111).
    clock.advance(1)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "1111", "+1h", sent_at=clock.now())
    await close(services, clock, HOUR)
    await services.assignments.reopen(GUILD, STAFF, "Lab 1", "+3h", sent_at=clock.now())
    info1 = await services.groups.info(GUILD, ALICE, "Lab 1")
    info2 = await services.groups.info(GUILD, BOB, "Lab 1")
    assert info1.group.closes_at is None
    assert info1.deadlines.closes_at == clock.now() + timedelta(hours=3)
    assert info2.group.closes_at is not None


async def test_close_now_finalizes_at_once_and_refuses_later_uploads(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+5h", late_until="+6h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"v1", 0)
    clock.advance(60)
    closed, changes = await services.assignments.close_now(
        GUILD, STAFF, "Lab 1", sent_at=clock.now()
    )
    assert closed.closed_at == clock.now() and closed.final_deadline == clock.now()
    assert len(changes) == 1
    assert await final_sha(db, "1234") == sha(b"v1")
    with pytest.raises(DeadlinePassedError):
        await upload(services, ALICE, b"v2", 0)


async def test_close_now_includes_extended_groups(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "1234", "+5h", sent_at=clock.now())
    await upload(services, ALICE, b"v1", 0)
    clock.advance(60)
    _, changes = await services.assignments.close_now(GUILD, STAFF, "Lab 1", sent_at=clock.now())
    assert len(changes) == 1


async def test_close_now_in_the_late_window_keeps_late_uploads_late(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h", late_until="+2h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"on time", 60)
    clock.advance(HOUR + 600)
    await upload(services, ALICE, b"late", 0)
    clock.advance(600)
    _, [change] = await services.assignments.close_now(GUILD, STAFF, "Lab 1", sent_at=clock.now())
    assert change.upload is not None and change.upload.sha256 == sha(b"late")
    assert change.late
    with pytest.raises(DeadlinePassedError):
        await upload(services, ALICE, b"after the close", 0)


async def test_reopen_after_close_now_accepts_uploads_again(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    await services.assignments.close_now(GUILD, STAFF, "Lab 1", sent_at=clock.now())
    reopened = await services.assignments.reopen(GUILD, STAFF, "Lab 1", "+1h", sent_at=clock.now())
    assert reopened.closed_at is None
    await upload(services, ALICE, b"again", 60)


async def test_close_now_of_a_closed_assignment_is_refused(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    clock.advance(HOUR)
    with pytest.raises(ClosedDeadlineEditError):
        await services.assignments.close_now(GUILD, STAFF, "Lab 1", sent_at=clock.now())


# --- idempotence and restarts --------------------------------------------------------------
async def test_finalizing_late_gives_the_same_result_as_on_time(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"v1", 60)
    [change] = await close(services, clock, 10 * HOUR)
    assert change.upload.sha256 == sha(b"v1")  # type: ignore[attr-defined]
    assert await close(services, clock, HOUR) == []


# --- receipt outbox ------------------------------------------------------------------------
async def test_receipts_are_delivered_exactly_once(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    await close(services, clock, HOUR)
    assert await services.receipts.deliver_pending() == 2
    assert await services.receipts.deliver_pending() == 0
    await services.finalizer.finalize_due()
    assert await services.receipts.deliver_pending() == 0
    assert len(notifier.receipts) == 2
    assert [status for _, _, status, _ in await receipt_rows(db)] == ["sent", "sent"]


async def test_concurrent_deliveries_send_each_receipt_once(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB, CAROL)
    await upload(services, ALICE, b"v1", 60)
    await close(services, clock, HOUR)
    counts = await asyncio.gather(*(services.receipts.deliver_pending() for _ in range(3)))
    assert sum(counts) == 3
    assert sorted(r.user_id for r in notifier.receipts) == [
        ALICE.user_id,
        BOB.user_id,
        CAROL.user_id,
    ]


async def test_undeliverable_receipt_is_recorded_and_shown_to_staff(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    notifier.closed_dms.add(BOB.user_id)
    await close(services, clock, HOUR)
    assert await services.receipts.deliver_pending() == 1
    statuses = {user: status for user, _, status, _ in await receipt_rows(db)}
    assert statuses == {ALICE.user_id: "sent", BOB.user_id: "undeliverable"}
    overview = await services.assignments.overview(GUILD, STAFF, "Lab 1")
    assert overview.undelivered == {BOB.user_id: [Unreached("receipt", "closed:50007")]}
    # Not retried in a loop: a second run sends nothing.
    notifier.closed_dms.clear()
    assert await services.receipts.deliver_pending() == 0


async def test_a_failing_receipt_stays_pending_without_blocking_the_others(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB, CAROL)
    await upload(services, ALICE, b"v1", 60)
    await close(services, clock, HOUR)
    notifier.failures[ALICE.user_id] = [Delivery(DmFailure.TRANSIENT, 503)]
    assert await services.receipts.deliver_pending() == 2
    statuses = {user: status for user, _, status, _ in await receipt_rows(db)}
    assert statuses[ALICE.user_id] == "pending"
    # Tried once in this run (no loop), and not again before its backoff ends.
    assert await services.receipts.deliver_pending() == 0
    clock.advance(30)
    assert await services.receipts.deliver_pending() == 1
    assert sorted(r.user_id for r in notifier.receipts) == sorted(
        [ALICE.user_id, BOB.user_id, CAROL.user_id]
    )


async def test_a_member_who_never_got_the_earlier_receipt_is_not_told_it_replaces_one(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    notifier.closed_dms.add(BOB.user_id)
    await close(services, clock, HOUR)
    await services.receipts.deliver_pending()
    await services.assignments.reopen(GUILD, STAFF, "Lab 1", "+1h", sent_at=clock.now())
    await upload(services, BOB, b"v2", 60)
    await close(services, clock, HOUR)
    notifier.closed_dms.clear()
    await services.receipts.deliver_pending()
    second = {r.user_id: r.replaces for r in notifier.receipts if r.revision == 2}
    assert second == {ALICE.user_id: True, BOB.user_id: False}


async def test_a_receipt_superseded_while_waiting_for_its_turn_is_not_sent(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"v1", 60)
    await close(services, clock, HOUR)
    turn = asyncio.Event()
    waiting = asyncio.Event()
    send = notifier.send_receipt

    async def paced(receipt: Receipt, still_wanted: Callable[[], Awaitable[bool]]) -> Delivery:
        # Like the Discord notifier: wait for a turn under the rate limit, then send.
        waiting.set()
        await turn.wait()
        return await send(receipt, still_wanted)

    notifier.send_receipt = paced  # type: ignore[method-assign]
    delivering = asyncio.create_task(services.receipts.deliver_pending())
    await waiting.wait()
    # A late delivery (sent before the deadline) changes the final while the receipt waits.
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"v2"), sent_at=clock.now() - timedelta(minutes=10)
    )
    turn.set()
    # The same run goes on to the new receipt, which was queued after the withdrawn one.
    assert await delivering == 1
    [withdrawn] = notifier.withdrawn
    assert withdrawn.upload.sha256 == sha(b"v1")
    [sent] = notifier.receipts
    assert sent.upload.sha256 == sha(b"v2") and not sent.replaces
    statuses = sorted(status for _, _, status, _ in await receipt_rows(db))
    assert statuses == ["sent", "superseded"]


async def test_pending_receipts_survive_a_crash_and_only_they_go_out(
    services: Services,
    db: Database,
    files: FileStore,
    clock: FakeClock,
    notifier: RecordingNotifier,
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1111", ALICE)
    await group(services, "2222", BOB)
    await upload(services, ALICE, b"a", 60)
    await upload(services, BOB, b"b", 60)
    await close(services, clock, HOUR)
    send = notifier.send_receipt

    async def dies_after_one(
        receipt: Receipt, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        if notifier.receipts:
            raise asyncio.CancelledError  # the process dies in the middle of the burst
        return await send(receipt, still_wanted)

    notifier.send_receipt = dies_after_one  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await services.receipts.deliver_pending()
    [first] = notifier.receipts
    fresh_notifier = RecordingNotifier()
    restarted = build_services(db, files, clock, fresh_notifier)
    assert await restarted.receipts.deliver_pending() == 1
    [second] = fresh_notifier.receipts
    assert second.id != first.id
    assert {first.user_id, second.user_id} == {ALICE.user_id, BOB.user_id}


# --- an upload sent before the deadline, arriving after finalization ------------------------
async def test_upload_sent_before_the_deadline_and_recorded_after_finalization_counts(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    sent = later(clock, HOUR - 1)
    await close(services, clock, HOUR + 30)
    await services.receipts.deliver_pending()
    result = await services.submissions.upload(
        GUILD, BOB, "Lab 1", incoming(b"v2 lagged"), sent_at=sent
    )
    assert result.correction is not None
    assert result.correction.replaces and result.correction.revision == 2
    assert result.correction.upload is not None
    assert result.correction.upload.id == result.upload.id
    assert await final_sha(db, "1234") == sha(b"v2 lagged")
    await services.receipts.deliver_pending()
    assert [(r.revision, r.replaces) for r in notifier.receipts[2:]] == [(2, True), (2, True)]


async def test_upload_whose_bytes_arrive_after_finalization_is_recorded_and_corrects(
    db: Database, files: FileStore, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    services = build_services(db, files, clock, notifier, inflight_wait=0.01)
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"v1", 60)
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"v2 "
        await release.wait()
        yield b"slow"

    clock.advance(HOUR - 1)
    pending = asyncio.create_task(
        services.submissions.upload(
            GUILD, BOB, "Lab 1", IncomingFile("v2.pdf", 7, None, slow), sent_at=clock.now()
        )
    )
    await asyncio.sleep(0.01)
    [first] = await close(services, clock, 2)
    assert first.upload.sha256 == sha(b"v1")  # type: ignore[attr-defined]
    await services.receipts.deliver_pending()
    release.set()
    result = await pending
    assert result.correction is not None and result.correction.replaces
    assert await final_sha(db, "1234") == sha(b"v2 slow")
    await services.receipts.deliver_pending()
    receipts: list[Receipt] = notifier.receipts
    assert [(r.revision, r.replaces, r.upload.sha256) for r in receipts[2:]] == [
        (2, True, sha(b"v2 slow")),
        (2, True, sha(b"v2 slow")),
    ]


async def test_upload_arriving_while_finalization_waits_is_in_the_first_receipt(
    db: Database, files: FileStore, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    services = build_services(db, files, clock, notifier, inflight_wait=5)
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"v1", 60)
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"v2"
        await release.wait()

    clock.advance(HOUR - 1)
    pending = asyncio.create_task(
        services.submissions.upload(
            GUILD, ALICE, "Lab 1", IncomingFile("v2.pdf", 2, None, slow), sent_at=clock.now()
        )
    )
    # Until the upload is in flight (its checks take longer on a busy PostgreSQL than a fixed
    # sleep allowed).
    for _ in range(1000):
        if services.inflight.busy():
            break
        await asyncio.sleep(0.005)
    clock.advance(2)
    finalizing = asyncio.create_task(services.finalizer.finalize_due())
    await asyncio.sleep(0.01)
    release.set()
    [change] = await finalizing
    result = await pending
    assert result.correction is None
    assert change.upload is not None and change.upload.sha256 == sha(b"v2")


async def test_extension_without_a_new_upload_sends_no_second_receipt(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    # Interpretation: the earlier receipt still describes what counts; nothing replaces it.
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"v1", 60)
    await close(services, clock, HOUR)
    await services.receipts.deliver_pending()
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "1234", "+1h", sent_at=clock.now())
    assert await close(services, clock, HOUR) == []
    assert await services.receipts.deliver_pending() == 0
    assert len(notifier.receipts) == 1


async def test_reopen_with_a_malformed_time_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    await upload(services, ALICE, b"v1", 60)
    await close(services, clock, HOUR)
    async with unchanged(db, files):
        with pytest.raises(TimeFormatError):
            await services.assignments.reopen(GUILD, STAFF, "Lab 1", "soonish", sent_at=clock.now())
        with pytest.raises(DeadlineInPastError):
            await services.assignments.reopen(
                GUILD, STAFF, "Lab 1", "2026-01-01 10:00", sent_at=clock.now()
            )


async def test_extension_with_a_malformed_time_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    async with unchanged(db, files):
        with pytest.raises(TimeFormatError):
            await services.assignments.extend(
                GUILD, STAFF, "Lab 1", "1234", "whenever", sent_at=clock.now()
            )
