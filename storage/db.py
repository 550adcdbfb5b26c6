"""The one aiosqlite connection of the process and its write transactions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

Row = aiosqlite.Row


class Database:
    """Wraps the single shared connection.

    All writes go through `transaction()`: an asyncio lock serialises the coroutines of this
    process (they share one connection, so SQLite alone cannot isolate them) and `BEGIN
    IMMEDIATE` takes SQLite's write lock up front, so a read-check-write is never interleaved
    with another writer (another process such as the export CLI only ever reads).
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path | None) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path | str, *, durable: bool = True) -> Database:
        """Open (creating if needed) the database at `path`.

        `durable` keeps `synchronous=FULL`: an acknowledged upload must survive a power cut, not
        only a crashed process, and the cost is one WAL fsync per commit.
        """
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        conn.row_factory = aiosqlite.Row
        db = cls(conn, Path(path))
        try:
            await db._configure(durable=durable)
        except BaseException:
            # aiosqlite runs a non-daemon thread: an unclosed connection keeps the process alive.
            await conn.close()
            raise
        return db

    async def _configure(self, *, durable: bool) -> None:
        await self._conn.execute("PRAGMA journal_mode=WAL")
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute("PRAGMA busy_timeout=5000")
        await self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")

    async def close(self) -> None:
        await self._conn.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        return self._conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run the block as one write transaction; any exception rolls it back and propagates."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.rollback()
                raise
            else:
                await self._conn.commit()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """Read a consistent snapshot, waiting for any write transaction of this process."""
        async with self._lock:
            await self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                await self._conn.rollback()


async def fetch_one(
    conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()
) -> aiosqlite.Row | None:
    async with conn.execute(sql, tuple(params)) as cur:
        return await cur.fetchone()


async def fetch_all(
    conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()
) -> list[aiosqlite.Row]:
    async with conn.execute(sql, tuple(params)) as cur:
        return list(await cur.fetchall())


async def execute(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> int:
    """Run one statement; return the last inserted row id (or 0)."""
    async with conn.execute(sql, tuple(params)) as cur:
        return cur.lastrowid or 0
