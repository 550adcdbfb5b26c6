"""Assignments and guild settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.models import Assignment, GroupMode, GuildSettings
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
    row = await fetch_one(conn, "SELECT * FROM assignments WHERE id = ?", (assignment_id,))
    return None if row is None else _row_to_assignment(row)


async def by_name_key(conn: Connection, guild_id: int, key: str) -> Assignment | None:
    row = await fetch_one(
        conn, "SELECT * FROM assignments WHERE guild_id = ? AND name_key = ?", (guild_id, key)
    )
    return None if row is None else _row_to_assignment(row)


async def in_guild(conn: Connection, guild_id: int) -> list[Assignment]:
    rows = await fetch_all(
        conn, "SELECT * FROM assignments WHERE guild_id = ? ORDER BY closes_at, id", (guild_id,)
    )
    return [_row_to_assignment(row) for row in rows]


async def all_assignments(conn: Connection) -> list[Assignment]:
    rows = await fetch_all(conn, "SELECT * FROM assignments ORDER BY id")
    return [_row_to_assignment(row) for row in rows]


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
