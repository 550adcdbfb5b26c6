"""The PostgreSQL backend: a psycopg 3 connection pool behind `storage.db.Connection`.

Several bot processes may share one database, so what SQLite's `BEGIN IMMEDIATE` gives one
process (write transactions never interleave) comes from the database here: every write
transaction first takes one transaction-scoped advisory lock (`WRITER_LOCK`), released by its
COMMIT or ROLLBACK. Within a process an asyncio lock queues the writers first, so a waiting
writer holds no pooled connection. The schema backs its rules by itself (unique keys, checks,
and the group size trigger, which locks the group's row, see 0001_initial.postgresql.sql).

Reads run in REPEATABLE READ, READ ONLY transactions: one snapshot for the whole block, as a
SQLite read transaction gives, and they wait for no writer.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import RowMaker
from psycopg_pool import AsyncConnectionPool

from storage.db import Connection, Database, Dialect, Row

POSTGRESQL = Dialect(
    "postgresql", for_update=" FOR UPDATE", integrity_error=(psycopg.IntegrityError,)
)

# pg_advisory_xact_lock keys (any bigint; these spell "handin" + a digit).
WRITER_LOCK = 0x68616E64696E01
MIGRATION_LOCK = 0x68616E64696E02

POOL_MAX = 8


class Record:
    """A result row by column name or position, like sqlite3.Row (first column of a name wins)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: Any, /) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __repr__(self) -> str:
        return f"Record({tuple(self._values)!r})"


def record_rows(cursor: psycopg.AsyncCursor[Any]) -> RowMaker[Record]:
    index: dict[str, int] = {}
    for position, column in enumerate(cursor.description or ()):
        index.setdefault(column.name, position)

    def make(values: Sequence[Any]) -> Record:
        return Record(values, index)

    return make


@functools.lru_cache(maxsize=1024)
def to_pg(sql: str) -> str:
    """`?` placeholders (outside string literals) -> `%s`; every literal `%` -> `%%`."""
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class PgConnection:
    """`Connection` over one pooled psycopg connection."""

    __slots__ = ("raw",)

    dialect = POSTGRESQL

    def __init__(self, raw: psycopg.AsyncConnection[Any]) -> None:
        self.raw = raw

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = await self.raw.execute(to_pg(sql), tuple(params))
        rows: list[Row] = await cur.fetchall()
        return rows

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.raw.execute(to_pg(sql), tuple(params))

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self.raw.execute(to_pg(sql) + " RETURNING id", tuple(params))
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self.raw.execute(to_pg(sql), tuple(params))
        return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(row) for row in rows]
        if not batch:
            return
        async with self.raw.cursor() as cur:
            await cur.executemany(to_pg(sql), batch)


class _Autocommit:
    """`Connection` whose every statement runs on its own (`Database.conn`)."""

    dialect = POSTGRESQL

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._pool.connection() as raw:
            return await PgConnection(raw).fetch_all(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        async with self._pool.connection() as raw:
            await PgConnection(raw).execute(sql, params)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._pool.connection() as raw:
            return await PgConnection(raw).insert(sql, params)

    async def changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._pool.connection() as raw:
            return await PgConnection(raw).changes(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._pool.connection() as raw:
            await PgConnection(raw).executemany(sql, rows)


class PostgresDatabase(Database):
    dialect = POSTGRESQL

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._lock = asyncio.Lock()
        self._autocommit = _Autocommit(pool)
        self.path = None
        self._held: set[asyncio.Task[None]] = set()

    @classmethod
    async def open_url(cls, url: str, *, max_size: int = POOL_MAX) -> PostgresDatabase:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": record_rows},
            open=False,
        )
        await pool.open(wait=True, timeout=30)
        return cls(pool)

    async def close(self) -> None:
        for task in list(self._held):
            task.cancel()
        await asyncio.gather(*self._held, return_exceptions=True)
        await self._pool.close()

    async def hold_lock(self, space: int, key: int, seconds: float) -> bool:
        """A session advisory lock (the two-int key space, apart from WRITER_LOCK's) on a
        connection of its own: a process that dies holding it lets it go with its session."""
        raw = await self._pool.getconn()
        try:
            await raw.execute("SELECT pg_advisory_lock(%s, %s)", (space, key))
        except BaseException:
            await self._pool.putconn(raw)
            raise
        task = asyncio.get_running_loop().create_task(self._release_later(raw, space, key, seconds))
        self._held.add(task)
        task.add_done_callback(self._held.discard)
        return True

    async def _release_later(
        self, raw: psycopg.AsyncConnection[Any], space: int, key: int, seconds: float
    ) -> None:
        try:
            await asyncio.sleep(seconds)
        finally:
            try:
                await raw.execute("SELECT pg_advisory_unlock(%s, %s)", (space, key))
            finally:
                await self._pool.putconn(raw)

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        return self._pool

    @property
    def conn(self) -> Connection:
        return self._autocommit

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._lock, self._pool.connection() as raw, raw.transaction():
            await raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            yield PgConnection(raw)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        async with self._pool.connection() as raw, raw.transaction():
            await raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield PgConnection(raw)


async def migrate_postgres(db: PostgresDatabase, migrations: list[tuple[int, str]]) -> int:
    """Apply `migrations` above the recorded version, each with its version bump in one
    transaction; a session advisory lock lets one process migrate while the others wait."""
    async with db.pool.connection() as raw:
        await raw.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            # Created only when missing: CREATE TABLE IF NOT EXISTS needs the CREATE privilege
            # even when the table exists, and the bot's role may have only DML on its tables.
            cur = await raw.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            found = await cur.fetchone()
            if found is None or not found[0]:
                await raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            cur = await raw.execute("SELECT max(version) FROM schema_version")
            row = await cur.fetchone()
            current = int(row[0]) if row is not None and row[0] is not None else 0
            for number, sql in migrations:
                if number <= current:
                    continue
                async with raw.transaction():
                    # Without parameters psycopg sends the file as one simple query.
                    await raw.execute(sql.encode())
                    await raw.execute("DELETE FROM schema_version")
                    await raw.execute("INSERT INTO schema_version VALUES (%s)", (number,))
                current = number
            return current
        finally:
            await raw.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
