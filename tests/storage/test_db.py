"""The shared connection's write transactions."""

from __future__ import annotations

import asyncio

import pytest

from storage.db import Database, execute, fetch_all


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
