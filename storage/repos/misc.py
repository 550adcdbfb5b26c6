"""Small tables: undelivered DMs, reminders already sent, users' locales, notices kept across a
stop, and the bot's own key-value state."""

from __future__ import annotations

import secrets
from datetime import datetime

from bot.domain.models import Unreached
from storage.db import Connection, changes, execute, fetch_all, fetch_one
from storage.timefmt import from_db, to_db


async def record_undelivered(
    conn: Connection,
    assignment_id: int,
    user_id: int,
    kind: str,
    reason: str,
    at: datetime,
) -> None:
    await execute(
        conn,
        "INSERT INTO undelivered_dms (assignment_id, user_id, kind, reason, at)"
        " VALUES (?, ?, ?, ?, ?)",
        (assignment_id, user_id, kind, reason, to_db(at)),
    )


async def undelivered(conn: Connection, assignment_id: int) -> dict[int, list[Unreached]]:
    """user id -> the DMs that could not reach them and why, for staff (each once)."""
    rows = await fetch_all(
        conn,
        "SELECT user_id, kind, reason FROM undelivered_dms WHERE assignment_id = ? ORDER BY id",
        (assignment_id,),
    )
    result: dict[int, list[Unreached]] = {}
    for row in rows:
        seen = result.setdefault(row["user_id"], [])
        unreached = Unreached(kind=row["kind"], reason=row["reason"])
        if unreached not in seen:
            seen.append(unreached)
    return result


async def claim_reminder(
    conn: Connection, assignment_id: int, due_at: datetime, now: datetime
) -> bool:
    """Mark the reminder due at `due_at` as sent; False when it already was (no double send)."""
    claimed = await changes(
        conn,
        "INSERT INTO reminders_sent (assignment_id, due_at, sent_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (assignment_id, to_db(due_at), to_db(now)),
    )
    return claimed == 1


async def claimed_reminders(conn: Connection, assignment_id: int) -> list[datetime]:
    """The due times of the assignment's reminders already sent (or being sent)."""
    rows = await fetch_all(
        conn, "SELECT due_at FROM reminders_sent WHERE assignment_id = ?", (assignment_id,)
    )
    return [from_db(row["due_at"]) for row in rows]


async def user_locale(conn: Connection, user_id: int) -> str | None:
    row = await fetch_one(conn, "SELECT locale FROM user_locales WHERE user_id = ?", (user_id,))
    return None if row is None else str(row["locale"])


async def save_user_locales(conn: Connection, locales: dict[int, str], at: datetime) -> None:
    await conn.executemany(
        "INSERT INTO user_locales (user_id, locale, seen_at) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET locale = excluded.locale, seen_at = excluded.seen_at",
        [(user_id, locale, to_db(at)) for user_id, locale in locales.items()],
    )


async def keep_notices(conn: Connection, notices: list[tuple[int, str]], at: datetime) -> None:
    """Courtesy DMs still queued at a clean stop, sent at the next start."""
    await conn.executemany(
        "INSERT INTO pending_notices (user_id, text, created_at) VALUES (?, ?, ?)",
        [(user_id, text, to_db(at)) for user_id, text in notices],
    )


async def take_notices(conn: Connection) -> list[tuple[int, str]]:
    rows = await fetch_all(conn, "SELECT user_id, text FROM pending_notices ORDER BY id", ())
    await execute(conn, "DELETE FROM pending_notices", ())
    return [(row["user_id"], row["text"]) for row in rows]


async def database_id(conn: Connection) -> str:
    """A random id made once per database, kept in bot_state."""
    existing = await get_state(conn, "database_id")
    if existing is not None:
        return existing
    made = secrets.token_hex(8)
    await set_state(conn, "database_id", made)
    return made


async def get_state(conn: Connection, key: str) -> str | None:
    row = await fetch_one(conn, "SELECT value FROM bot_state WHERE key = ?", (key,))
    return None if row is None else str(row["value"])


async def set_state(conn: Connection, key: str, value: str) -> None:
    await execute(
        conn,
        "INSERT INTO bot_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
