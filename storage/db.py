"""The database of the process: one connection interface over two backends, and its write
transactions.

SQLite (the default, one aiosqlite connection) and PostgreSQL (`storage/postgres.py`, a psycopg
pool) both implement `Connection`: repositories and services type against it, never against a
driver. SQL is written once with `?` placeholders; what differs between the dialects (a few
spellings, row locks, ids of inserted rows) lives in `Dialect`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import aiosqlite

from storage.private import FILE_MODE, create_private_file, tighten

log = logging.getLogger(__name__)


class Row(Protocol):
    """A result row: by column name or position (sqlite3.Row, storage.postgres.Record)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the SQL of the two backends; everything else is shared SQL."""

    name: str
    # Appended to a SELECT that reads a row a read-check-write will change.
    for_update: str
    # The exception type(s) a broken constraint raises.
    integrity_error: tuple[type[Exception], ...]

    @property
    def clock(self) -> str:
        """The database's clock now, as seconds since 1970 (a REAL / DOUBLE PRECISION)."""
        if self.name == "sqlite":
            return "((julianday('now') - 2440587.5) * 86400.0)"
        return "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)"

    @property
    def skip_locked(self) -> str:
        """Appended to a SELECT that claims rows for this transaction: rows another process's
        open transaction holds are skipped, not waited for (SQLite has one writer at a time,
        so nothing is ever held there)."""
        return "" if self.name == "sqlite" else " FOR UPDATE SKIP LOCKED"

    def group_concat(self, expr: str) -> str:
        """Comma-joined text of `expr` over the group (NULL for no rows)."""
        if self.name == "sqlite":
            return f"group_concat({expr})"
        return f"string_agg({expr}, ',')"

    def json_array_of_rows(self, *exprs: str) -> str:
        """An aggregate: the group's rows as JSON text, `[[expr, ...], ...]` (`[]` for none)."""
        if self.name == "sqlite":
            return f"json_group_array(json_array({', '.join(exprs)}))"
        return f"CAST(coalesce(json_agg(json_build_array({', '.join(exprs)})), '[]') AS text)"

    def json_rows(self, columns: Sequence[tuple[str, str]]) -> str:
        """A SELECT over one `?` parameter holding a JSON array of arrays: one row per element,
        its 0-based position as `pos` and element i as columns[i] = (name, SQL type)."""
        if self.name == "sqlite":
            picks = ", ".join(
                f"json_extract(j.value, '$[{i}]') AS {name}" for i, (name, _) in enumerate(columns)
            )
            return f"SELECT j.key AS pos, {picks} FROM json_each(?) j"
        picks = ", ".join(
            f"CAST(j.value ->> {i} AS {kind}) AS {name}" for i, (name, kind) in enumerate(columns)
        )
        return (
            f"SELECT j.pos - 1 AS pos, {picks}"
            " FROM jsonb_array_elements(CAST(? AS jsonb)) WITH ORDINALITY AS j(value, pos)"
        )


SQLITE = Dialect("sqlite", for_update="", integrity_error=(aiosqlite.IntegrityError,))


class Connection(Protocol):
    """What repositories use of a connection inside `transaction()` or `reading()`.

    Each call is one round trip (statement and fetch together): under a deadline rush every
    round trip inside `transaction()` is time the write lock is held (profiled: the upload path
    was bound by these hops, not by SQLite)."""

    @property
    def dialect(self) -> Dialect: ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT into a table with an `id` column; return the new row's id."""
        ...

    async def changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return how many rows it inserted, updated or deleted."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


class SqliteConnection:
    """`Connection` over the one aiosqlite connection (each method one hop to its thread)."""

    __slots__ = ("raw",)

    dialect = SQLITE

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self.raw.execute_fetchall(sql, tuple(params)))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.raw.execute_insert(sql, tuple(params))

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        row = await self.raw.execute_insert(sql, tuple(params))
        return int(row[0]) if row is not None and row[0] is not None else 0

    async def changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.raw.execute(sql, tuple(params)) as cur:
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.raw.executemany(sql, [tuple(row) for row in rows])


class Database:
    """The process's database: write transactions, consistent reads, one `Connection` type.

    `open` opens the SQLite file (the default backend); `connect` opens whatever a
    `HANDIN_DATABASE_URL` names."""

    path: Path | None = None
    dialect: Dialect = SQLITE

    @classmethod
    async def open(cls, path: Path | str, *, durable: bool = True) -> SqliteDatabase:
        return await SqliteDatabase.open_file(path, durable=durable)

    @property
    def conn(self) -> Connection:
        """A connection outside any transaction (each statement on its own): for tests and
        one-off reads; the product reads in `reading()` and writes in `transaction()`."""
        raise NotImplementedError

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """Run the block as one write transaction; any exception rolls it back and propagates.
        Write transactions never interleave, in this process or across processes."""
        raise NotImplementedError

    def reading(self) -> AbstractAsyncContextManager[Connection]:
        """Read a consistent snapshot."""
        raise NotImplementedError

    async def hold_lock(self, space: int, key: int, seconds: float) -> bool:
        """Take the lock (`space`, `key`) that every process on this database shares, waiting
        for its holder, and let it go `seconds` later (in the background); False when the
        backend has no lock across processes (SQLite: a single bot process)."""
        return False

    async def close(self) -> None:
        raise NotImplementedError

    async def compact(self) -> None:
        """Leave no deleted row readable in the database's files (after a purge). PostgreSQL
        keeps dead rows until its autovacuum reuses their space; its files are the server's."""


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative/path` or `sqlite:////absolute/path` -> the file's path."""
    rest = url.split(":", 1)[1]
    if not rest.startswith("///"):
        raise ValueError(f"{url!r}: a SQLite URL is sqlite:///path (three slashes)")
    path = rest[3:]
    if not path:
        raise ValueError(f"{url!r} names no file")
    return Path(path)


class SqliteDatabase(Database):
    """Wraps the single shared connection.

    All writes go through `transaction()`: an asyncio lock serialises the coroutines of this
    process (they share one connection, so SQLite alone cannot isolate them) and `BEGIN
    IMMEDIATE` takes SQLite's write lock up front, so a read-check-write is never interleaved
    with another writer (the export CLI, another process, writes only its export mark).
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path | None) -> None:
        self._conn = conn
        self._wrapped = SqliteConnection(conn)
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open_file(cls, path: Path | str, *, durable: bool = True) -> SqliteDatabase:
        """Open (creating if needed) the database at `path`.

        `durable` keeps `synchronous=FULL`: an acknowledged upload must survive a power cut, not
        only a crashed process, and the cost is one WAL fsync per commit.

        The file is made owner-only before SQLite opens it (it holds group passwords); SQLite
        gives its -wal and -shm files the database file's mode.
        """
        _make_private(Path(path))
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
    def conn(self) -> SqliteConnection:
        return self._wrapped

    async def compact(self) -> None:
        """Rewrite the file without its free pages (where deleted rows linger), then copy the
        WAL into it and empty the WAL (it holds the pages as they were before too)."""
        async with self._lock:
            await self._conn.execute("VACUUM")
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @property
    def raw(self) -> aiosqlite.Connection:
        return self._conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteConnection]:
        async with self._lock:
            await self._open("BEGIN IMMEDIATE")
            try:
                yield self._wrapped
            except BaseException:
                await self._end(self._conn.rollback())
                raise
            else:
                await self._end(self._conn.commit())

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[SqliteConnection]:
        """Read a consistent snapshot, waiting for any write transaction of this process."""
        async with self._lock:
            await self._open("BEGIN")
            try:
                yield self._wrapped
            finally:
                await self._end(self._conn.rollback())

    # A cancelled task (a clean stop cancels some) must not leave a transaction open behind the
    # lock: the database thread runs a statement it was sent whether or not its caller still
    # waits, and the next BEGIN would fail with "cannot start a transaction within a transaction".
    async def _open(self, begin: str) -> None:
        try:
            await _to_the_end(self._conn.execute(begin))
        except BaseException:
            await self._end(self._conn.rollback())
            raise

    async def _end(self, step: Awaitable[Any]) -> None:
        try:
            await _to_the_end(step)
        finally:
            if self._conn.in_transaction:  # a failed COMMIT keeps the transaction open
                await _to_the_end(self._conn.rollback())


async def _to_the_end(step: Awaitable[Any]) -> None:
    """Await `step` to its end even when the caller is cancelled meanwhile, then re-raise the
    cancellation (it wins over an exception of the step, which the caller would not await)."""
    task = asyncio.ensure_future(step)
    interrupted = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            interrupted = interrupted or not task.done()
            if task.cancelled():
                break
        except Exception:
            break
    if interrupted:
        raise asyncio.CancelledError
    await task


def _make_private(path: Path) -> None:
    create_private_file(path)
    # Left by an earlier run that created them more openly: SQLite keeps an existing file's mode.
    for suffix in ("-wal", "-shm", "-journal"):
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists():
            tighten(sidecar, FILE_MODE)


T = TypeVar("T")
B = TypeVar("B")


@dataclass(eq=False)
class _Unit(Generic[T]):
    work: Callable[[Connection], Awaitable[T]]
    expected: tuple[type[Exception], ...] | None
    tag: Any
    hint: Any
    future: asyncio.Future[T]
    ok: bool = field(default=False)


class _Isolate(Exception):
    """A unit failed unexpectedly without a savepoint: redo the batch with one per unit."""


class Later(Generic[T]):
    """A value a group-commit batch knows only once it has run a statement it put off (the id
    of a row inserted with `BatchConnection.insert_later`): read it once the batch committed."""

    __slots__ = ("_set", "_value")

    def __init__(self) -> None:
        self._set = False

    @classmethod
    def of(cls, value: T) -> Later[T]:
        later: Later[T] = cls()
        later.resolve(value)
        return later

    def resolve(self, value: T) -> None:
        self._value, self._set = value, True

    @property
    def value(self) -> T:
        assert self._set, "read before the batch ran the statement it put off"
        return self._value


@dataclass(frozen=True, slots=True)
class _PutOff:
    """A row `insert_later` holds: written with the others of its table in one statement."""

    params: tuple[Any, ...]
    key: Any
    new_id: Later[int]


class BatchConnection:
    """The `Connection` a group-commit batch's units get: it can also put INSERTs off
    (`insert_later`) and write all the rows of one table in one statement.

    Under a rush every round trip to the database waits for a turn of the busy event loop (10
    ms and more, measured), and a batch's units each inserted one row: one statement for the
    batch instead. Anything else run on the connection first writes what was put off, so every
    read sees every row the batch wrote, in order.
    """

    def __init__(self, conn: Connection, *, put_off: bool = True) -> None:
        self._conn = conn
        self._put_off = put_off
        # (table and columns, key column) -> the rows put off for that INSERT, in order.
        self._pending: dict[tuple[str, str], list[_PutOff]] = {}

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        await self.flush()
        return await self._conn.fetch_all(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.flush()
        await self._conn.execute(sql, params)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        await self.flush()
        return await self._conn.insert(sql, params)

    async def changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        await self.flush()
        return await self._conn.changes(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.flush()
        await self._conn.executemany(sql, rows)

    async def insert_later(
        self, into: str, params: Sequence[Any], *, key_column: str, key: Any
    ) -> Later[int]:
        """INSERT one row `into` ("table (col, ...)", with `key_column` among the columns, a
        UNIQUE one) when the batch next runs anything else, or ends; its id comes then. Rows
        whose `key` is None are written now (their id could not be matched)."""
        if not self._put_off or key is None:
            marks = ", ".join("?" for _ in params)
            return Later.of(await self.insert(f"INSERT INTO {into} VALUES ({marks})", params))
        new_id: Later[int] = Later()
        self._pending.setdefault((into, key_column), []).append(_PutOff(tuple(params), key, new_id))
        return new_id

    def drop_pending(self) -> None:
        """Forget the rows put off (their unit failed and is being undone)."""
        self._pending.clear()

    async def flush(self) -> None:
        """Write the rows put off: one multi-row INSERT per table (each row's id matched back
        by its unique key: the order RETURNING gives rows in is not defined)."""
        while self._pending:
            (into, key_column), rows = self._pending.popitem()
            marks = "(" + ", ".join("?" for _ in rows[0].params) + ")"
            written = await self._conn.fetch_all(
                f"INSERT INTO {into} VALUES {', '.join(marks for _ in rows)}"
                f" RETURNING id, {key_column}",
                [value for row in rows for value in row.params],
            )
            ids = {found[1]: int(found[0]) for found in written}
            for row in rows:
                row.new_id.resolve(ids[row.key])


class GroupCommit(Generic[B]):
    """Group commit: units of work queued while a transaction runs share the next one.

    Units run in order, one at a time (never interleaved). A unit that raises is undone by
    itself and its caller gets the exception; the others go on. Undoing costs a SAVEPOINT per
    unit (two more round trips to the database thread) unless the caller names `expected`
    exceptions: ones the unit raises only before it wrote anything that a refusal must not keep.
    Then no savepoint is taken, and any other exception rolls the batch back and reruns its
    units each under a savepoint. `finish` gets the tags of the units that succeeded (e.g. files
    to move under their final names) inside the transaction, and one COMMIT (one WAL fsync)
    makes the whole batch durable before any caller hears back. Under a deadline rush this
    turns a lock hand-over, a BEGIN and a COMMIT per step of each upload into one per batch.

    `start_batch` makes the caller's state for each batch from its units' `hint`s (what they
    will look up, so one unit can read ahead for all): the units read it as `batch`. Units get
    a `BatchConnection`: the rows they put off are written together before anything else runs,
    and at the latest before `finish`.

    A batch takes up to `max_batch` units: a batch's cost is mostly its round trips, each a
    turn of a busy event loop (10-30 ms in a rush, measured), not its units, so a larger batch
    serves more uploads per turn (64 gave 16 batches of checks for 1,000 uploads, 2.3 s).
    """

    def __init__(
        self,
        db: Database,
        *,
        start_batch: Callable[[list[Any]], B],
        finish: Callable[[list[Any]], Awaitable[Any]] | None = None,
        max_batch: int = 256,
    ) -> None:
        self._db = db
        self._start_batch = start_batch
        self._finish = finish
        self._max_batch = max_batch
        self._queue: list[_Unit[Any]] = []
        # Units submitted with `first=True`, run ahead of `_queue`'s (in their own order).
        self._first: list[_Unit[Any]] = []
        self._worker: asyncio.Task[None] | None = None
        self._batch: B | None = None

    @property
    def batch(self) -> B:
        """The caller's state of the batch being run (only a running unit may ask)."""
        assert self._batch is not None, "asked for the batch outside a unit"
        return self._batch

    def submit(
        self,
        work: Callable[[Connection], Awaitable[T]],
        *,
        expected: tuple[type[Exception], ...] | None = None,
        tag: Any = None,
        hint: Any = None,
        first: bool = False,
    ) -> asyncio.Future[T]:
        """Queue `work`; the future resolves once its batch is committed (or it failed).

        `first` queues it ahead of the units submitted without it (for short units that
        others wait on, e.g. the check that lets a download start)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        (self._first if first else self._queue).append(_Unit(work, expected, tag, hint, future))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return future

    async def run(
        self,
        work: Callable[[Connection], Awaitable[T]],
        *,
        expected: tuple[type[Exception], ...] | None = None,
        hint: Any = None,
        first: bool = False,
    ) -> T:
        return await asyncio.shield(self.submit(work, expected=expected, hint=hint, first=first))

    async def _drain(self) -> None:
        while self._first or self._queue:
            batch = self._first[: self._max_batch]
            del self._first[: self._max_batch]
            rest = self._max_batch - len(batch)
            batch += self._queue[:rest]
            del self._queue[:rest]
            try:
                try:
                    await self._run_batch(batch, isolate=False)
                except _Isolate:
                    await self._run_batch([u for u in batch if not u.future.done()], isolate=True)
            except BaseException as exc:
                for unit in batch:
                    if not unit.future.done():
                        unit.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    async def _run_batch(self, batch: list[_Unit[Any]], *, isolate: bool) -> None:
        results: dict[int, Any] = {}
        for unit in batch:
            unit.ok = False
        self._batch = self._start_batch([unit.hint for unit in batch if unit.hint is not None])
        try:
            await self._run_units(batch, results, isolate=isolate)
        finally:
            self._batch = None
        for n, unit in enumerate(batch):
            if unit.ok and not unit.future.done():
                unit.future.set_result(results[n])

    async def _run_units(
        self, batch: list[_Unit[Any]], results: dict[int, Any], *, isolate: bool
    ) -> None:
        async with self._db.transaction() as raw:
            # Rows put off are written before any other statement, a SAVEPOINT included: all
            # those pending when a unit fails under its savepoint are that unit's.
            conn = BatchConnection(raw, put_off=not isolate)
            for n, unit in enumerate(batch):
                savepoint = isolate or unit.expected is None
                if savepoint:
                    await self._flush(conn, isolate=isolate)
                    await conn.execute("SAVEPOINT unit")
                try:
                    results[n] = await unit.work(conn)
                    if savepoint:
                        # The unit's own rows, so that a constraint they break is its failure.
                        await conn.flush()
                except Exception as exc:
                    if savepoint:
                        conn.drop_pending()
                        await conn.execute("ROLLBACK TO unit")
                        await conn.execute("RELEASE unit")
                    elif not isinstance(exc, unit.expected or ()):
                        raise _Isolate() from exc
                    if not unit.future.done():
                        unit.future.set_exception(exc)
                    continue
                if savepoint:
                    await conn.execute("RELEASE unit")
                unit.ok = True
            await self._flush(conn, isolate=isolate)
            tags = [unit.tag for unit in batch if unit.ok and unit.tag is not None]
            if tags and self._finish is not None:
                await self._finish(tags)

    @staticmethod
    async def _flush(conn: BatchConnection, *, isolate: bool) -> None:
        try:
            await conn.flush()
        except Exception as exc:
            # A row put off broke a constraint: which unit's is not known here. Rerun the
            # batch with a savepoint per unit, writing each row at once (nothing put off then).
            if isolate:
                raise
            raise _Isolate() from exc


# The helpers repositories call: each is one round trip (see `Connection`).
async def fetch_one(conn: Connection, sql: str, params: Sequence[Any] = ()) -> Row | None:
    """The first row (callers ask by a unique key or with LIMIT 1)."""
    rows = await conn.fetch_all(sql, params)
    return rows[0] if rows else None


async def fetch_all(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    return await conn.fetch_all(sql, params)


async def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> None:
    """Run one statement."""
    await conn.execute(sql, params)


async def insert(conn: Connection, sql: str, params: Sequence[Any] = ()) -> int:
    """Run one INSERT into a table with an `id` column; return the new row's id."""
    return await conn.insert(sql, params)


async def changes(conn: Connection, sql: str, params: Sequence[Any] = ()) -> int:
    """Run one statement; return the number of rows it changed."""
    return await conn.changes(sql, params)
