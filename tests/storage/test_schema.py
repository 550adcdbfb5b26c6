"""The schema backs each rule by itself: raw SQL that breaks one is refused by the database
(SQLite or PostgreSQL, each with its own migrations)."""

from __future__ import annotations

import asyncio

import pytest

from storage.db import Database, execute, fetch_all, insert
from tests.backends import ON_POSTGRESQL

NOW = "2026-11-27T12:00:00.000000Z"
LATER = "2026-11-27T14:00:00.000000Z"


async def insert_assignment(
    db: Database, name: str = "Lab 1", *, key: str | None = None, max_size: int | None = None
) -> int:
    return await insert(
        db.conn,
        "INSERT INTO assignments (guild_id, name, name_key, opens_at, closes_at, group_mode,"
        " max_group_size, created_by, created_at) VALUES (1, ?, ?, ?, ?, 'open', ?, 1, ?)",
        (name, name.lower() if key is None else key, NOW, LATER, max_size, NOW),
    )


async def insert_candidate(db: Database, assignment_id: int, user_id: int, number: int) -> None:
    await execute(
        db.conn,
        "INSERT INTO candidates (assignment_id, user_id, number, registered_at) VALUES (?,?,?,?)",
        (assignment_id, user_id, number, NOW),
    )


async def insert_group(db: Database, assignment_id: int, pin: str) -> int:
    return await insert(
        db.conn,
        "INSERT INTO groups (assignment_id, pin, created_at) VALUES (?, ?, ?)",
        (assignment_id, pin, NOW),
    )


async def insert_member(db: Database, assignment_id: int, user_id: int, group_id: int) -> None:
    await execute(
        db.conn,
        "INSERT INTO memberships (assignment_id, user_id, group_id, joined_at) VALUES (?,?,?,?)",
        (assignment_id, user_id, group_id, NOW),
    )


async def test_duplicate_membership_is_refused_by_the_schema(db: Database) -> None:
    a = await insert_assignment(db)
    await insert_candidate(db, a, 7, 12345)
    g1, g2 = await insert_group(db, a, "1111"), await insert_group(db, a, "2222")
    await insert_member(db, a, 7, g1)
    with pytest.raises(db.dialect.integrity_error):
        await insert_member(db, a, 7, g2)


async def test_duplicate_pin_is_refused_by_the_schema(db: Database) -> None:
    a = await insert_assignment(db)
    await insert_group(db, a, "1234")
    with pytest.raises(db.dialect.integrity_error):
        await insert_group(db, a, "1234")


async def test_same_pin_in_another_assignment_is_allowed(db: Database) -> None:
    a, b = await insert_assignment(db, "Lab 1"), await insert_assignment(db, "Lab 2")
    in_a, in_b = await insert_group(db, a, "1234"), await insert_group(db, b, "1234")
    found = await fetch_all(
        db.conn, "SELECT id, assignment_id FROM groups WHERE pin = '1234' ORDER BY id"
    )
    assert [tuple(row) for row in found] == [(in_a, a), (in_b, b)]


@pytest.mark.parametrize("pin", ["123", "12345", "12a4", "abcd"])
async def test_malformed_pin_is_refused_by_the_schema(db: Database, pin: str) -> None:
    a = await insert_assignment(db)
    with pytest.raises(db.dialect.integrity_error):
        await insert_group(db, a, pin)


async def test_duplicate_candidate_number_is_refused_by_the_schema(db: Database) -> None:
    a = await insert_assignment(db)
    await insert_candidate(db, a, 7, 12345)
    with pytest.raises(db.dialect.integrity_error):
        await insert_candidate(db, a, 8, 12345)


@pytest.mark.parametrize("number", [9999, 100000])
async def test_candidate_number_outside_five_digits_is_refused(db: Database, number: int) -> None:
    a = await insert_assignment(db)
    with pytest.raises(db.dialect.integrity_error):
        await insert_candidate(db, a, 7, number)


async def test_duplicate_assignment_name_differing_in_case_is_refused(db: Database) -> None:
    await insert_assignment(db, "Lab 1")
    with pytest.raises(db.dialect.integrity_error):
        await insert_assignment(db, "LAB 1")


async def test_duplicate_assignment_name_is_refused_even_with_a_careless_key(
    db: Database,
) -> None:
    # The key column is the service's job; the name itself is unique ignoring case too.
    await insert_assignment(db, "Lab 1", key="Lab 1")
    with pytest.raises(db.dialect.integrity_error):
        await insert_assignment(db, "lab 1", key="lab 1")


async def test_max_group_size_trigger_refuses_one_member_too_many(db: Database) -> None:
    a = await insert_assignment(db, max_size=2)
    g = await insert_group(db, a, "1234")
    for user in (1, 2, 3):
        await insert_candidate(db, a, user, 10000 + user)
    await insert_member(db, a, 1, g)
    await insert_member(db, a, 2, g)
    with pytest.raises(db.dialect.integrity_error, match="group is full"):
        await insert_member(db, a, 3, g)


async def test_membership_needs_a_candidate(db: Database) -> None:
    a = await insert_assignment(db)
    g = await insert_group(db, a, "1234")
    with pytest.raises(db.dialect.integrity_error):
        await insert_member(db, a, 99, g)


async def test_closes_before_opens_is_refused_by_the_schema(db: Database) -> None:
    with pytest.raises(db.dialect.integrity_error):
        await execute(
            db.conn,
            "INSERT INTO assignments (guild_id, name, name_key, opens_at, closes_at, group_mode,"
            " created_by, created_at) VALUES (1, 'x', 'x', ?, ?, 'open', 1, ?)",
            (LATER, NOW, NOW),
        )


async def test_max_group_size_below_one_is_refused_by_the_schema(db: Database) -> None:
    with pytest.raises(db.dialect.integrity_error):
        await insert_assignment(db, max_size=0)


async def test_empty_upload_is_refused_by_the_schema(db: Database) -> None:
    a = await insert_assignment(db)
    g = await insert_group(db, a, "1234")
    with pytest.raises(db.dialect.integrity_error):
        await execute(
            db.conn,
            "INSERT INTO uploads (group_id, user_id, filename, size, sha256, sent_at, stored_at)"
            " VALUES (?, 1, 'a.pdf', 0, ?, ?, ?)",
            (g, "0" * 64, NOW, NOW),
        )


@pytest.mark.skipif(not ON_POSTGRESQL, reason="two connections of one PostgreSQL database")
async def test_concurrent_joins_from_two_connections_cannot_overfill_a_group(db: Database) -> None:
    # Two connections are what two bot processes are to the database; neither takes the
    # writer lock here, so only the schema (its trigger locks the group's row) keeps the limit.
    from storage.postgres import PgConnection, PostgresDatabase

    assert isinstance(db, PostgresDatabase)
    a = await insert_assignment(db, max_size=2)
    g = await insert_group(db, a, "1234")
    for user in (1, 2, 3):
        await insert_candidate(db, a, user, 10000 + user)
    await insert_member(db, a, 1, g)
    join = "INSERT INTO memberships (assignment_id, user_id, group_id, joined_at) VALUES (?,?,?,?)"
    async with db.pool.connection() as first, db.pool.connection() as second:
        one, two = PgConnection(first), PgConnection(second)
        await first.execute("BEGIN")
        await second.execute("BEGIN")
        await one.execute(join, (a, 2, g, NOW))
        racing = asyncio.create_task(two.execute(join, (a, 3, g, NOW)))
        await asyncio.sleep(0.3)
        assert not racing.done()  # it waits for the first join's lock on the group row
        await first.execute("COMMIT")
        with pytest.raises(db.dialect.integrity_error, match="group is full"):
            await racing
        await second.execute("ROLLBACK")
    rows = await fetch_all(db.conn, "SELECT user_id FROM memberships ORDER BY user_id")
    assert [row[0] for row in rows] == [1, 2]
