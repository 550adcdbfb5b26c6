"""What the quotas count: a group's uploads and bytes, a member's recent uploads, the disk alarm."""

from __future__ import annotations

from datetime import datetime

from bot.domain.quotas import GroupUsage
from storage.db import Connection, execute, fetch_all, fetch_one
from storage.timefmt import from_db, to_db

DISK_LOW_KEY = "disk_low_since"


async def usage_by_group(conn: Connection, assignment_id: int) -> dict[int, GroupUsage]:
    rows = await fetch_all(
        conn,
        "SELECT u.group_id, count(*) AS n, sum(u.size) AS bytes FROM uploads u"
        " JOIN groups g ON g.id = u.group_id WHERE g.assignment_id = ? GROUP BY u.group_id",
        (assignment_id,),
    )
    return {row["group_id"]: GroupUsage(int(row["n"]), int(row["bytes"])) for row in rows}


async def usage_and_recent(
    conn: Connection, group_id: int, assignment_id: int, user_id: int, since: datetime
) -> tuple[GroupUsage, list[datetime]]:
    """The group's usage, and when `user_id` sent the assignment's uploads sent after `since`
    (in any of its groups: switching groups does not reset the rate), oldest first.

    One round trip: it runs inside the upload's transaction, where each one holds the lock."""
    row = await fetch_one(
        conn,
        "SELECT (SELECT count(*) FROM uploads WHERE group_id = ?) AS n,"
        " (SELECT coalesce(sum(size), 0) FROM uploads WHERE group_id = ?) AS bytes,"
        f" (SELECT {conn.dialect.group_concat('u.sent_at')} FROM uploads u"
        " JOIN groups g ON g.id = u.group_id"
        "  WHERE u.user_id = ? AND u.sent_at > ? AND g.assignment_id = ?) AS recent",
        (group_id, group_id, user_id, to_db(since), assignment_id),
    )
    assert row is not None
    recent = sorted(from_db(text) for text in (row["recent"] or "").split(",") if text)
    return GroupUsage(uploads=int(row["n"]), bytes=int(row["bytes"])), recent


async def disk_low_since(conn: Connection) -> datetime | None:
    row = await fetch_one(conn, "SELECT value FROM bot_state WHERE key = ?", (DISK_LOW_KEY,))
    return None if row is None else from_db(row["value"])


async def set_disk_low_since(conn: Connection, at: datetime | None) -> None:
    if at is None:
        await execute(conn, "DELETE FROM bot_state WHERE key = ?", (DISK_LOW_KEY,))
        return
    await execute(
        conn,
        "INSERT INTO bot_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (DISK_LOW_KEY, to_db(at)),
    )
