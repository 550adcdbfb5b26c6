"""Receipts claimed in the database: two dispatchers (two bot processes) over one database send
each receipt once, and a claim of a process that died runs out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.services.registry import Services, build_services
from storage.db import Database, execute, fetch_all
from storage.files import FileStore
from storage.repos import uploads as upload_repo
from tests.backends import forget_database_at, open_database_at
from tests.clock import FakeClock
from tests.conftest import GUILD, RecordingNotifier, incoming, later, make_assignment, student


async def _course(services: Services, clock: FakeClock, groups: int) -> None:
    """`groups` one-member groups with an upload each; the deadline passes."""
    await make_assignment(services, closes="+1h")
    for n in range(groups):
        actor = student(n)
        await services.groups.create(GUILD, actor, "Lab 1", f"{n + 1:04d}", sent_at=clock.now())
        data = f"file {n}".encode()
        await services.submissions.upload(
            GUILD, actor, "Lab 1", incoming(data), sent_at=clock.now()
        )
    clock.set(later(clock, 3601))


async def _course_with_receipts(services: Services, clock: FakeClock, groups: int) -> None:
    await _course(services, clock, groups)
    await services.finalizer.finalize_due()


async def test_two_processes_finalizing_at_once_finalize_each_group_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "shared.sqlite3"
    first_db = await open_database_at(path)
    second_db = await open_database_at(path)
    try:
        files = FileStore(tmp_path / "files")
        files.prepare()
        first = build_services(first_db, files, clock, RecordingNotifier(), instance="one")
        second = build_services(second_db, files, clock, RecordingNotifier(), instance="two")
        await _course(first, clock, groups=30)

        one, two = await asyncio.gather(
            first.finalizer.finalize_due(), second.finalizer.finalize_due()
        )

        assert len({c.group_id for c in one + two}) == len(one + two) == 30
        for table in ("submissions", "receipts"):
            [row] = await fetch_all(first_db.conn, f"SELECT count(*) FROM {table}")
            assert row[0] == 30, table
    finally:
        await first_db.close()
        await second_db.close()
        await forget_database_at(path)


async def test_two_dispatchers_over_one_database_send_each_receipt_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "shared.sqlite3"
    first_db = await open_database_at(path)
    second_db = await open_database_at(path)
    try:
        files = FileStore(tmp_path / "files")
        files.prepare()
        one, two = RecordingNotifier(), RecordingNotifier()
        first = build_services(first_db, files, clock, one, instance="one")
        second = build_services(second_db, files, clock, two, instance="two")
        await _course_with_receipts(first, clock, groups=30)

        sent = await asyncio.gather(
            first.receipts.deliver_pending(), second.receipts.deliver_pending()
        )

        ids = [r.id for r in one.receipts] + [r.id for r in two.receipts]
        assert sorted(ids) == sorted(set(ids)) and len(ids) == 30 == sum(sent)
        rows = await fetch_all(first_db.conn, "SELECT status FROM receipts")
        assert {row[0] for row in rows} == {"sent"}
    finally:
        await first_db.close()
        await second_db.close()
        await forget_database_at(path)


async def test_a_receipt_claimed_by_another_process_waits_for_its_claim(
    db: Database, services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await _course_with_receipts(services, clock, groups=1)
    [row] = await fetch_all(db.conn, "SELECT id FROM receipts")
    async with db.transaction() as conn:
        assert await upload_repo.claim_receipt(conn, row[0], "another", 600)

    assert await services.receipts.deliver_pending() == 0
    assert notifier.receipts == []

    # The claimant died: once its claim has run out, the receipt goes out.
    await execute(db.conn, "UPDATE receipts SET claimed_until = claimed_until - 601")
    assert await services.receipts.deliver_pending() == 1
    assert [r.id for r in notifier.receipts] == [row[0]]


async def test_a_restarted_process_sends_what_its_earlier_life_had_claimed_at_once(
    db: Database, services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await _course_with_receipts(services, clock, groups=1)
    [row] = await fetch_all(db.conn, "SELECT id FROM receipts")
    async with db.transaction() as conn:
        # Claimed by this process's name in an earlier life that was killed mid-send.
        assert await upload_repo.claim_receipt(conn, row[0], "main", 600)

    assert await services.receipts.deliver_pending() == 1
    assert [r.id for r in notifier.receipts] == [row[0]]
