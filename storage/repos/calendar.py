"""Assignments' Discord scheduled events, and which guilds were told the bot cannot make them."""

from __future__ import annotations

from datetime import datetime

from storage.db import Connection, changes, execute, fetch_one
from storage.timefmt import to_db


async def event_state(conn: Connection, assignment_id: int) -> tuple[bool, int | None]:
    """(wanted, event id): an assignment with no row wants an event and has none yet."""
    row = await fetch_one(
        conn,
        "SELECT wanted, event_id FROM scheduled_events WHERE assignment_id = ?",
        (assignment_id,),
    )
    if row is None:
        return True, None
    return bool(row["wanted"]), None if row["event_id"] is None else int(row["event_id"])


async def set_event(
    conn: Connection, assignment_id: int, *, wanted: bool, event_id: int | None
) -> None:
    await execute(
        conn,
        "INSERT INTO scheduled_events (assignment_id, wanted, event_id) VALUES (?, ?, ?)"
        " ON CONFLICT (assignment_id) DO UPDATE SET wanted = excluded.wanted,"
        " event_id = excluded.event_id",
        (assignment_id, int(wanted), event_id),
    )


async def claim_warning(conn: Connection, guild_id: int, at: datetime) -> bool:
    """True the first time only: this guild's staff are to be told (once)."""
    inserted = await changes(
        conn,
        "INSERT INTO calendar_warnings (guild_id, at) VALUES (?, ?)"
        " ON CONFLICT (guild_id) DO NOTHING",
        (guild_id, to_db(at)),
    )
    return inserted == 1
