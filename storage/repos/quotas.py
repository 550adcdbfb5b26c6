"""What the quotas count: a group's uploads and bytes, a member's recent uploads, the disk alarm."""

from __future__ import annotations

from collections.abc import Iterable
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


async def usage_of_groups(conn: Connection, group_ids: Iterable[int]) -> dict[int, GroupUsage]:
    """`usage_and_recent`'s usage for several groups in one round trip (a group with no upload
    is absent: it uses nothing)."""
    ids = sorted(set(group_ids))
    if not ids:
        return {}
    rows = await fetch_all(
        conn,
        "SELECT group_id, count(*) AS n, coalesce(sum(size), 0) AS bytes FROM uploads"
        f" WHERE group_id IN ({', '.join('?' for _ in ids)}) GROUP BY group_id",
        ids,
    )
    return {row["group_id"]: GroupUsage(int(row["n"]), int(row["bytes"])) for row in rows}


async def recent_of_users(
    conn: Connection, assignment_id: int, user_ids: Iterable[int], since: datetime
) -> dict[int, list[datetime]]:
    """`usage_and_recent`'s recent uploads for several users in one round trip, oldest first
    (a user with none is absent)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await fetch_all(
        conn,
        "SELECT u.user_id, u.sent_at FROM uploads u JOIN groups g ON g.id = u.group_id"
        f" WHERE g.assignment_id = ? AND u.sent_at > ? AND u.user_id IN"
        f" ({', '.join('?' for _ in ids)})",
        (assignment_id, to_db(since), *ids),
    )
    recent: dict[int, list[datetime]] = {}
    for row in rows:
        recent.setdefault(row["user_id"], []).append(from_db(row["sent_at"]))
    return {user: sorted(times) for user, times in recent.items()}


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
