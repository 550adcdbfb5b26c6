"""Small tables: undelivered DMs, reminders already sent, and the bot's own key-value state."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from storage.db import execute, fetch_all, fetch_one
from storage.timefmt import to_db


async def record_undelivered(
    conn: aiosqlite.Connection, assignment_id: int, user_id: int, kind: str, at: datetime
) -> None:
    await execute(
        conn,
        "INSERT INTO undelivered_dms (assignment_id, user_id, kind, at) VALUES (?, ?, ?, ?)",
        (assignment_id, user_id, kind, to_db(at)),
    )


async def undelivered(conn: aiosqlite.Connection, assignment_id: int) -> dict[int, list[str]]:
    """user id -> the kinds of DM that could not reach them, for staff."""
    rows = await fetch_all(
        conn,
        "SELECT user_id, kind FROM undelivered_dms WHERE assignment_id = ? ORDER BY id",
        (assignment_id,),
    )
    result: dict[int, list[str]] = {}
    for row in rows:
        kinds = result.setdefault(row["user_id"], [])
        if row["kind"] not in kinds:
            kinds.append(row["kind"])
    return result


async def claim_reminder(
    conn: aiosqlite.Connection, assignment_id: int, due_at: datetime, now: datetime
) -> bool:
    """Mark the reminder due at `due_at` as sent; False when it already was (no double send)."""
    async with conn.execute(
        "INSERT OR IGNORE INTO reminders_sent (assignment_id, due_at, sent_at) VALUES (?, ?, ?)",
        (assignment_id, to_db(due_at), to_db(now)),
    ) as cur:
        return cur.rowcount == 1


async def get_state(conn: aiosqlite.Connection, key: str) -> str | None:
    row = await fetch_one(conn, "SELECT value FROM bot_state WHERE key = ?", (key,))
    return None if row is None else str(row["value"])


async def set_state(conn: aiosqlite.Connection, key: str, value: str) -> None:
    await execute(
        conn,
        "INSERT INTO bot_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
