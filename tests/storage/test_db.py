"""The shared connection's write transactions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import pytest

from storage.db import Database, SqliteDatabase, execute, fetch_all
from tests.backends import ON_POSTGRESQL, forget_database_at, open_database_at


async def test_transaction_commits_on_success(db: Database) -> None:
    async with db.transaction() as conn:
        await execute(conn, "INSERT INTO bot_state (key, value) VALUES ('a', '1')")
    rows = await fetch_all(db.conn, "SELECT key, value FROM bot_state")
    assert [tuple(r) for r in rows] == [("a", "1")]


async def test_transaction_rolls_back_on_an_exception(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await execute(conn, "INSERT INTO bot_state (key, value) VALUES ('a', '1')")
            raise RuntimeError("boom")
    assert await fetch_all(db.conn, "SELECT * FROM bot_state") == []


async def test_transaction_is_usable_after_a_rollback(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            raise RuntimeError("boom")
    async with db.transaction() as conn:
        await execute(conn, "INSERT INTO bot_state (key, value) VALUES ('b', '2')")
    assert len(await fetch_all(db.conn, "SELECT * FROM bot_state")) == 1


async def test_transactions_do_not_interleave(db: Database) -> None:
    async with db.transaction() as conn:
        await execute(conn, "INSERT INTO bot_state (key, value) VALUES ('n', '0')")

    async def increment() -> None:
        async with db.transaction() as conn:
            rows = await fetch_all(conn, "SELECT value FROM bot_state WHERE key = 'n'")
            value = int(rows[0]["value"])
            await asyncio.sleep(0)
            await execute(conn, "UPDATE bot_state SET value = ? WHERE key = 'n'", (str(value + 1),))

    await asyncio.gather(*(increment() for _ in range(25)))
    rows = await fetch_all(db.conn, "SELECT value FROM bot_state WHERE key = 'n'")
    assert rows[0]["value"] == "25"


async def test_reading_sees_committed_data_only(db: Database) -> None:
    async with db.transaction() as conn:
        await execute(conn, "INSERT INTO bot_state (key, value) VALUES ('k', 'v')")
    async with db.reading() as conn:
        rows = await fetch_all(conn, "SELECT value FROM bot_state")
    assert [r["value"] for r in rows] == ["v"]


def raw(db: Database) -> aiosqlite.Connection:
    assert isinstance(db, SqliteDatabase)
    return db.raw


async def _cancel_after_the_statement_is_sent(work: asyncio.Task[None]) -> None:
    # One turn of the loop: the statement is queued on the database thread, its answer not yet
    # back, so the cancellation lands while the caller awaits it (as in a clean stop).
    await asyncio.sleep(0)
    work.cancel()
    with pytest.raises(asyncio.CancelledError):
        await work


# aiosqlite's thread runs a statement it was sent whatever its caller does; psycopg's pool
# discards a connection returned mid-statement.
@pytest.mark.sqlite_only
@pytest.mark.parametrize("opening", ["transaction", "reading"])
async def test_a_cancelled_opening_leaves_no_transaction_open(db: Database, opening: str) -> None:
    entered = False

    async def work() -> None:
        nonlocal entered
        async with getattr(db, opening)():
            entered = True

    await _cancel_after_the_statement_is_sent(asyncio.create_task(work()))
    assert not entered
    assert not raw(db).in_transaction
    async with db.transaction() as conn:
        await execute(conn, "INSERT INTO bot_state (key, value) VALUES ('after', '1')")
    assert len(await fetch_all(db.conn, "SELECT * FROM bot_state")) == 1


async def test_a_cancelled_body_is_rolled_back_even_when_cancelled_again(db: Database) -> None:
    started = asyncio.Event()

    async def work() -> None:
        async with db.transaction() as conn:
            await execute(conn, "INSERT INTO bot_state (key, value) VALUES ('lost', '1')")
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(work())
    await started.wait()
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()  # a second cancel while the rollback is on its way
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not getattr(db.conn, "in_transaction", False)
    assert await fetch_all(db.conn, "SELECT * FROM bot_state") == []
    async with db.transaction() as conn:
        await execute(conn, "INSERT INTO bot_state (key, value) VALUES ('after', '1')")


async def test_a_shared_lock_waits_for_its_holder_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    first = await open_database_at(path)
    second = await open_database_at(path)
    try:
        if not ON_POSTGRESQL:
            # One process on SQLite: there is no lock across processes to take.
            assert await first.hold_lock(1, 0, 5.0) is False
            return
        loop = asyncio.get_running_loop()
        assert await first.hold_lock(1, 0, 0.6)
        started = loop.time()
        assert await second.hold_lock(1, 1, 0.0)  # another key: no wait
        assert loop.time() - started < 0.3
        assert await second.hold_lock(1, 0, 0.0)  # the same key: after the holder's 0.6 s
        assert loop.time() - started >= 0.5
    finally:
        await first.close()
        await second.close()
        await forget_database_at(path)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="a lock across processes: PostgreSQL")
async def test_a_shared_lock_of_a_process_that_died_is_free(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    first = await open_database_at(path)
    second = await open_database_at(path)
    try:
        assert await first.hold_lock(1, 0, 600.0)
        # The holder's session ends without unlocking, as when its process is killed.
        await execute(
            second.conn,
            "SELECT pg_terminate_backend(pid) FROM pg_locks"
            " WHERE locktype = 'advisory' AND classid = 1 AND objid = 0 AND granted",
        )
        async with asyncio.timeout(5):
            assert await second.hold_lock(1, 0, 0.0)
    finally:
        await first.close()
        await second.close()
        await forget_database_at(path)
