"""Group commit: rows a batch's units put off (`insert_later`) and the statements they cost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from storage.db import BatchConnection, Connection, Database, GroupCommit, Later, fetch_all


class _NoState:
    @classmethod
    def start(cls, hints: list[Any]) -> _NoState:
        return cls()


async def _table(db: Database) -> None:
    ident = "INTEGER PRIMARY KEY" if db.dialect.name == "sqlite" else "BIGSERIAL PRIMARY KEY"
    async with db.transaction() as conn:
        await conn.execute(f"CREATE TABLE t (id {ident}, k BIGINT UNIQUE, v TEXT NOT NULL)")


async def _rows(db: Database) -> dict[int, tuple[int, str]]:
    rows = await fetch_all(db.conn, "SELECT id, k, v FROM t")
    return {int(r[0]): (r[1], r[2]) for r in rows}


def _put_off(k: int | None, v: str) -> Any:
    async def work(conn: Connection) -> Later[int]:
        assert isinstance(conn, BatchConnection)
        return await conn.insert_later("t (k, v)", (k, v), key_column="k", key=k)

    return work


class _Counting:
    """A `Connection` that counts the statements sent through it."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.sent = conn, 0

    @property
    def dialect(self) -> Any:
        return self.conn.dialect

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self.sent += 1
        return await self.conn.fetch_all(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.sent += 1
        await self.conn.execute(sql, params)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.sent += 1
        return await self.conn.insert(sql, params)


async def test_rows_put_off_are_written_in_one_statement_with_their_own_ids(db: Database) -> None:
    await _table(db)
    async with db.transaction() as raw:
        counting = _Counting(raw)
        batch = BatchConnection(counting)  # type: ignore[arg-type]
        ids = [
            await batch.insert_later("t (k, v)", (k, f"row {k}"), key_column="k", key=k)
            for k in (30, 10, 20)
        ]
        assert counting.sent == 0
        await batch.flush()
        assert counting.sent == 1
    rows = await _rows(db)
    assert sorted(rows[later.value] for later in ids) == [
        (10, "row 10"),
        (20, "row 20"),
        (30, "row 30"),
    ]
    assert [rows[later.value][0] for later in ids] == [30, 10, 20]


async def test_any_other_statement_first_writes_the_rows_put_off(db: Database) -> None:
    await _table(db)
    async with db.transaction() as raw:
        batch = BatchConnection(raw)
        await batch.insert_later("t (k, v)", (1, "a"), key_column="k", key=1)
        seen = await batch.fetch_all("SELECT k FROM t")
    assert [r[0] for r in seen] == [1]


async def test_a_row_without_a_key_is_written_at_once(db: Database) -> None:
    await _table(db)
    async with db.transaction() as raw:
        counting = _Counting(raw)
        batch = BatchConnection(counting)  # type: ignore[arg-type]
        later = await batch.insert_later("t (k, v)", (None, "a"), key_column="k", key=None)
        assert counting.sent == 1
        assert (await _rows_in(raw))[later.value] == (None, "a")


async def _rows_in(conn: Connection) -> dict[int, tuple[Any, str]]:
    return {int(r[0]): (r[1], r[2]) for r in await conn.fetch_all("SELECT id, k, v FROM t")}


async def test_a_batch_writes_its_units_rows_together_and_each_gets_its_id(db: Database) -> None:
    await _table(db)
    commits: GroupCommit[_NoState] = GroupCommit(db, start_batch=_NoState.start)
    results = await asyncio.gather(
        *(commits.run(_put_off(k, f"v{k}"), expected=(ValueError,)) for k in range(40))
    )
    rows = await _rows(db)
    assert [rows[later.value] for later in results] == [(k, f"v{k}") for k in range(40)]


async def test_a_put_off_row_breaking_a_constraint_fails_its_unit_only(db: Database) -> None:
    # Which unit's row broke the UNIQUE key is not known from the one statement: the batch is
    # run again with a savepoint per unit and each row written at once.
    await _table(db)
    commits: GroupCommit[_NoState] = GroupCommit(db, start_batch=_NoState.start)
    results = await asyncio.gather(
        *(
            commits.run(_put_off(k, f"v{n}"), expected=(ValueError,))
            for n, k in enumerate((1, 2, 1, 3))
        ),
        return_exceptions=True,
    )
    assert isinstance(results[2], db.dialect.integrity_error)
    rows = await _rows(db)
    assert sorted(rows.values()) == [(1, "v0"), (2, "v1"), (3, "v3")]
    assert all(rows[r.value] for r in results if isinstance(r, Later))


async def test_a_unit_undone_under_its_savepoint_leaves_no_row_it_put_off(db: Database) -> None:
    await _table(db)
    commits: GroupCommit[_NoState] = GroupCommit(db, start_batch=_NoState.start)

    async def puts_off_then_fails(conn: Connection) -> None:
        await _put_off(7, "gone")(conn)
        raise RuntimeError("refused after writing")

    results = await asyncio.gather(
        commits.run(_put_off(1, "kept")),
        commits.run(puts_off_then_fails),
        commits.run(_put_off(2, "kept too")),
        return_exceptions=True,
    )
    assert isinstance(results[1], RuntimeError)
    assert sorted((await _rows(db)).values()) == [(1, "kept"), (2, "kept too")]


async def test_a_later_value_read_before_its_batch_ran_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        _ = Later[int]().value


async def test_a_unit_under_its_savepoint_whose_row_breaks_a_constraint_fails_alone(
    db: Database,
) -> None:
    await _table(db)
    commits: GroupCommit[_NoState] = GroupCommit(db, start_batch=_NoState.start)
    results = await asyncio.gather(
        commits.run(_put_off(1, "first")),
        commits.run(_put_off(1, "same key")),
        commits.run(_put_off(2, "second")),
        return_exceptions=True,
    )
    assert isinstance(results[1], db.dialect.integrity_error)
    assert sorted((await _rows(db)).values()) == [(1, "first"), (2, "second")]
