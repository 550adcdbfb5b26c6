"""Receipts claimed in the database: two dispatchers (two bot processes) over one database send
each receipt once, and a claim of a process that died runs out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.services.finalization import Finalizer
from bot.services.ports import Wakeups
from bot.services.registry import Services, build_services
from storage.db import Database, execute, fetch_all
from storage.files import FileStore
from storage.postgres import PostgresDatabase
from storage.repos import finalize as finalize_repo
from storage.repos import uploads as upload_repo
from tests.backends import ON_POSTGRESQL, forget_database_at, open_database_at
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


async def test_a_process_that_dies_mid_finalization_leaves_every_group_to_another(
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
        await _course(first, clock, groups=5)
        [assignment_id] = [
            r[0] for r in await fetch_all(first_db.conn, "SELECT id FROM assignments")
        ]

        # The first process claims and marks every group, then dies before its commit.
        with pytest.raises(ConnectionError):
            async with first_db.transaction() as conn:
                groups = await finalize_repo.claim_unfinalized_groups(conn, assignment_id)
                assert (
                    len(
                        await finalize_repo.set_finalized(conn, [g.id for g in groups], clock.now())
                    )
                    == 5
                )
                raise ConnectionError("killed")

        changes = await second.finalizer.finalize_due()

        assert len(changes) == 5
        [row] = await fetch_all(second_db.conn, "SELECT count(*) FROM receipts")
        assert row[0] == 5
        assert await second.finalizer.finalize_due() == []
    finally:
        await first_db.close()
        await second_db.close()
        await forget_database_at(path)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="row locks held by another process: PostgreSQL")
async def test_a_group_another_process_is_finalizing_is_skipped_then_taken_when_it_dies(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "shared.sqlite3"
    first_db = await open_database_at(path)
    second_db = await open_database_at(path)
    try:
        assert isinstance(first_db, PostgresDatabase)
        files = FileStore(tmp_path / "files")
        files.prepare()
        second = build_services(second_db, files, clock, RecordingNotifier(), instance="two")
        await _course(second, clock, groups=3)
        [held] = [r[0] for r in await fetch_all(first_db.conn, "SELECT min(id) FROM groups")]

        # Another process is finalizing one group right now: its row is locked.
        async with first_db.pool.connection() as raw:
            await raw.execute("BEGIN")
            await raw.execute("SELECT id FROM groups WHERE id = %s FOR UPDATE", (held,))
            changes = await second.finalizer.finalize_due()
            assert held not in {c.group_id for c in changes} and len(changes) == 2
            # ... and dies: its transaction rolls back, the lock goes with it.
            await raw.execute("ROLLBACK")

        [taken] = await second.finalizer.finalize_due()
        assert taken.group_id == held
        rows = await fetch_all(second_db.conn, "SELECT group_id FROM submissions")
        assert sorted(r[0] for r in rows) == sorted({r[0] for r in rows}) and len(rows) == 3
    finally:
        await first_db.close()
        await second_db.close()
        await forget_database_at(path)


async def test_what_is_due_is_decided_by_the_database_clock_not_the_process_clock(
    db: Database, services: Services, clock: FakeClock
) -> None:
    # The fake clock stands days behind the database's: by it, the deadline is an hour ahead.
    await make_assignment(services, closes="+1h")
    await services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=clock.now())
    await services.submissions.upload(
        GUILD, student(1), "Lab 1", incoming(b"work"), sent_at=clock.now()
    )
    assert await services.finalizer.finalize_due() == []

    by_database = Finalizer(db, clock, Wakeups(), database_clock=True)
    [change] = await by_database.finalize_due()

    assert change.receipts == 1
    [row] = await fetch_all(db.conn, "SELECT finalized_at FROM groups")
    assert row[0] > "2026-12-01"
