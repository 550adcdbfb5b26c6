"""What the quotas count: a group's uploads and bytes, a member's recent uploads, the disk alarm."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from bot.domain.quotas import GroupUsage
from storage.db import execute, fetch_all, fetch_one
from storage.timefmt import from_db, to_db

DISK_LOW_KEY = "disk_low_since"


async def group_usage(conn: aiosqlite.Connection, group_id: int) -> GroupUsage:
    row = await fetch_one(
        conn,
        "SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM uploads WHERE group_id = ?",
        (group_id,),
    )
    assert row is not None
    return GroupUsage(uploads=int(row["n"]), bytes=int(row["bytes"]))


async def usage_by_group(conn: aiosqlite.Connection, assignment_id: int) -> dict[int, GroupUsage]:
    rows = await fetch_all(
        conn,
        "SELECT u.group_id, count(*) AS n, sum(u.size) AS bytes FROM uploads u"
        " JOIN groups g ON g.id = u.group_id WHERE g.assignment_id = ? GROUP BY u.group_id",
        (assignment_id,),
    )
    return {row["group_id"]: GroupUsage(int(row["n"]), int(row["bytes"])) for row in rows}


async def sent_since(
    conn: aiosqlite.Connection, assignment_id: int, user_id: int, since: datetime
) -> list[datetime]:
    """When `user_id` sent the uploads of the assignment sent after `since`, oldest first
    (in any of its groups: switching groups does not reset the rate)."""
    rows = await fetch_all(
        conn,
        "SELECT u.sent_at FROM uploads u JOIN groups g ON g.id = u.group_id"
        " WHERE u.user_id = ? AND u.sent_at > ? AND g.assignment_id = ? ORDER BY u.sent_at",
        (user_id, to_db(since), assignment_id),
    )
    return [from_db(row["sent_at"]) for row in rows]


async def disk_low_since(conn: aiosqlite.Connection) -> datetime | None:
    row = await fetch_one(conn, "SELECT value FROM bot_state WHERE key = ?", (DISK_LOW_KEY,))
    return None if row is None else from_db(row["value"])


async def set_disk_low_since(conn: aiosqlite.Connection, at: datetime | None) -> None:
    if at is None:
        await execute(conn, "DELETE FROM bot_state WHERE key = ?", (DISK_LOW_KEY,))
        return
    await execute(
        conn,
        "INSERT INTO bot_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (DISK_LOW_KEY, to_db(at)),
    )
