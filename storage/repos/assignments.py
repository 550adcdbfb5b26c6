"""Assignments and guild settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.models import Assignment, GroupMode, GuildSettings, Part
from storage import db
from storage.db import Connection, Row, execute, fetch_all, fetch_one
from storage.timefmt import from_db, opt_from_db, opt_to_db, to_db


@dataclass(frozen=True, slots=True)
class AssignmentFields:
    """Every column staff can set, as the service validated it."""

    name: str
    name_key: str
    opens_at: datetime
    closes_at: datetime
    late_until: datetime | None
    group_mode: GroupMode
    auto_submit: bool
    submit_once: bool
    max_group_size: int | None
    max_file_mb: float
    file_types: tuple[str, ...]
    single_editor: bool
    anonymous: bool
    role_id: int | None
    channel_id: int | None
    reminders: tuple[int, ...]
    max_uploads: int
    max_storage_mb: float
    all_must_confirm: bool = False
    # Kept in `assignment_parts` (see `save_parts`), not in the assignments row.
    parts: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())


# The parts travel with the row (one round trip): a JSON array of [id, name, file_types].
def _select(conn: Connection) -> str:
    """Assignments with their parts, in order, as JSON text: one query, not one per row."""
    parts = conn.dialect.json_array_of_rows("p.id", "p.name", "p.file_types")
    return (
        f"SELECT a.*, (SELECT {parts} FROM"
        " (SELECT id, name, file_types FROM assignment_parts WHERE assignment_id = a.id"
        " ORDER BY position, id) p) AS parts_json FROM assignments a"
    )


def _parts_of(text: str | None) -> tuple[Part, ...]:
    return tuple(
        Part(id=part_id, name=name, file_types=tuple(t for t in (types or "").split(",") if t))
        for part_id, name, types in json.loads(text or "[]")
    )


def _row_to_assignment(row: Row) -> Assignment:
    return Assignment(
        id=row["id"],
        guild_id=row["guild_id"],
        name=row["name"],
        opens_at=from_db(row["opens_at"]),
        closes_at=from_db(row["closes_at"]),
        late_until=opt_from_db(row["late_until"]),
        closed_at=opt_from_db(row["closed_at"]),
        group_mode=GroupMode(row["group_mode"]),
        auto_submit=bool(row["auto_submit"]),
        submit_once=bool(row["submit_once"]),
        max_group_size=row["max_group_size"],
        max_file_mb=float(row["max_file_mb"]),
        file_types=tuple(t for t in (row["file_types"] or "").split(",") if t),
        single_editor=bool(row["single_editor"]),
        anonymous=bool(row["anonymous"]),
        role_id=row["role_id"],
        channel_id=row["channel_id"],
        reminders=tuple(int(r) for r in row["reminders"].split(",") if r),
        created_by=row["created_by"],
        created_at=from_db(row["created_at"]),
        exported_at=opt_from_db(row["exported_at"]),
        reminders_from=opt_from_db(row["reminders_from"]),
        max_uploads=row["max_uploads"],
        max_storage_mb=float(row["max_storage_mb"]),
        parts=_parts_of(row["parts_json"]),
        all_must_confirm=bool(row["all_must_confirm"]),
    )


def _columns(fields: AssignmentFields) -> dict[str, Any]:
    return {
        "name": fields.name,
        "name_key": fields.name_key,
        "opens_at": to_db(fields.opens_at),
        "closes_at": to_db(fields.closes_at),
        "late_until": opt_to_db(fields.late_until),
        "group_mode": fields.group_mode.value,
        "auto_submit": int(fields.auto_submit),
        "submit_once": int(fields.submit_once),
        "max_group_size": fields.max_group_size,
        "max_file_mb": fields.max_file_mb,
        "file_types": ",".join(fields.file_types) or None,
        "single_editor": int(fields.single_editor),
        "anonymous": int(fields.anonymous),
        "role_id": fields.role_id,
        "channel_id": fields.channel_id,
        "reminders": ",".join(str(r) for r in fields.reminders),
        "max_uploads": fields.max_uploads,
        "max_storage_mb": fields.max_storage_mb,
        "all_must_confirm": int(fields.all_must_confirm),
    }


async def insert(
    conn: Connection,
    guild_id: int,
    fields: AssignmentFields,
    *,
    created_by: int,
    created_at: datetime,
) -> int:
    columns = _columns(fields) | {
        "guild_id": guild_id,
        "created_by": created_by,
        "created_at": to_db(created_at),
        "reminders_from": to_db(created_at),
    }
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    return await db.insert(
        conn, f"INSERT INTO assignments ({names}) VALUES ({marks})", list(columns.values())
    )


async def update(conn: Connection, assignment_id: int, fields: AssignmentFields) -> None:
    columns = _columns(fields)
    assignments = ", ".join(f"{name} = ?" for name in columns)
    await execute(
        conn,
        f"UPDATE assignments SET {assignments} WHERE id = ?",
        [*columns.values(), assignment_id],
    )


async def get(conn: Connection, assignment_id: int) -> Assignment | None:
    row = await fetch_one(conn, f"{_select(conn)} WHERE a.id = ?", (assignment_id,))
    return None if row is None else _row_to_assignment(row)


async def by_name_key(conn: Connection, guild_id: int, key: str) -> Assignment | None:
    row = await fetch_one(
        conn, f"{_select(conn)} WHERE a.guild_id = ? AND a.name_key = ?", (guild_id, key)
    )
    return None if row is None else _row_to_assignment(row)


async def in_guild(conn: Connection, guild_id: int) -> list[Assignment]:
    rows = await fetch_all(
        conn, f"{_select(conn)} WHERE a.guild_id = ? ORDER BY a.closes_at, a.id", (guild_id,)
    )
    return [_row_to_assignment(row) for row in rows]


async def all_assignments(conn: Connection) -> list[Assignment]:
    rows = await fetch_all(conn, f"{_select(conn)} ORDER BY a.id")
    return [_row_to_assignment(row) for row in rows]


async def save_parts(
    conn: Connection,
    assignment_id: int,
    parts: tuple[tuple[str, tuple[str, ...]], ...],
) -> None:
    """Make the assignment's parts `parts` (in that order): a part keeps its id (and uploads)
    when its name stays (ignoring case); one left out is deleted, which the schema refuses
    while it holds uploads (the service checks first, to say so clearly)."""
    rows = await fetch_all(
        conn, "SELECT id, name_key FROM assignment_parts WHERE assignment_id = ?", (assignment_id,)
    )
    existing = {row["name_key"]: row["id"] for row in rows}
    wanted = {name.lower() for name, _ in parts}
    for key, part_id in existing.items():
        if key not in wanted:
            await execute(conn, "DELETE FROM assignment_parts WHERE id = ?", (part_id,))
    for position, (name, types) in enumerate(parts):
        part_id = existing.get(name.lower())
        if part_id is None:
            await execute(
                conn,
                "INSERT INTO assignment_parts (assignment_id, position, name, name_key,"
                " file_types) VALUES (?, ?, ?, ?, ?)",
                (assignment_id, position, name, name.lower(), ",".join(types) or None),
            )
        else:
            await execute(
                conn,
                "UPDATE assignment_parts SET position = ?, name = ?, file_types = ? WHERE id = ?",
                (position, name, ",".join(types) or None, part_id),
            )


async def set_reminders_from(conn: Connection, assignment_id: int, moment: datetime) -> None:
    await execute(
        conn,
        "UPDATE assignments SET reminders_from = ? WHERE id = ?",
        (to_db(moment), assignment_id),
    )


async def set_deadlines(
    conn: Connection,
    assignment_id: int,
    *,
    closes_at: datetime,
    late_until: datetime | None,
    opens_at: datetime | None = None,
) -> None:
    await execute(
        conn,
        "UPDATE assignments SET closes_at = ?, late_until = ?, opens_at = coalesce(?, opens_at)"
        " WHERE id = ?",
        (to_db(closes_at), opt_to_db(late_until), opt_to_db(opens_at), assignment_id),
    )


async def set_closed(conn: Connection, assignment_id: int, at: datetime | None) -> None:
    await execute(
        conn, "UPDATE assignments SET closed_at = ? WHERE id = ?", (opt_to_db(at), assignment_id)
    )


async def mark_exported(conn: Connection, assignment_id: int, at: datetime) -> None:
    await execute(
        conn,
        "UPDATE assignments SET exported_at = coalesce(exported_at, ?) WHERE id = ?",
        (to_db(at), assignment_id),
    )


async def get_settings(conn: Connection, guild_id: int) -> GuildSettings:
    row = await fetch_one(conn, "SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
    if row is None:
        return GuildSettings(guild_id=guild_id)
    return GuildSettings(
        guild_id=guild_id,
        staff_role_id=row["staff_role_id"],
        timezone=row["timezone"],
        locale=row["locale"],
    )


async def save_settings(conn: Connection, settings: GuildSettings) -> None:
    await execute(
        conn,
        "INSERT INTO guild_settings (guild_id, staff_role_id, timezone, locale) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (guild_id) DO UPDATE SET staff_role_id = excluded.staff_role_id,"
        " timezone = excluded.timezone, locale = excluded.locale",
        (settings.guild_id, settings.staff_role_id, settings.timezone, settings.locale),
    )
