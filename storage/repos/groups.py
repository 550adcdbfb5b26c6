"""Candidates, groups and memberships."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.models import Candidate, Group, Member
from storage.db import Connection, Row, execute, fetch_all, fetch_one, insert
from storage.timefmt import from_db, opt_from_db, opt_to_db, to_db


def _row_to_group(row: Row) -> Group:
    return Group(
        id=row["id"],
        assignment_id=row["assignment_id"],
        pin=row["pin"],
        name=row["name"],
        password=row["password"],
        closes_at=opt_from_db(row["closes_at"]),
        finalized_at=opt_from_db(row["finalized_at"]),
        lease_user_id=row["lease_user_id"],
        lease_until=opt_from_db(row["lease_until"]),
    )


def _row_to_candidate(row: Row) -> Candidate:
    return Candidate(
        assignment_id=row["assignment_id"],
        user_id=row["user_id"],
        number=row["number"],
        display_name=row["display_name"],
    )


# --- candidates ----------------------------------------------------------------------------
async def candidate(conn: Connection, assignment_id: int, user_id: int) -> Candidate | None:
    row = await fetch_one(
        conn,
        "SELECT * FROM candidates WHERE assignment_id = ? AND user_id = ?",
        (assignment_id, user_id),
    )
    return None if row is None else _row_to_candidate(row)


async def candidates(conn: Connection, assignment_id: int) -> list[Candidate]:
    rows = await fetch_all(
        conn, "SELECT * FROM candidates WHERE assignment_id = ? ORDER BY number", (assignment_id,)
    )
    return [_row_to_candidate(row) for row in rows]


async def candidate_numbers(conn: Connection, assignment_id: int) -> set[int]:
    rows = await fetch_all(
        conn, "SELECT number FROM candidates WHERE assignment_id = ?", (assignment_id,)
    )
    return {row["number"] for row in rows}


async def insert_candidate(
    conn: Connection,
    assignment_id: int,
    user_id: int,
    number: int,
    display_name: str,
    at: datetime,
) -> None:
    await execute(
        conn,
        "INSERT INTO candidates (assignment_id, user_id, number, display_name, registered_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (assignment_id, user_id, number, display_name, to_db(at)),
    )


async def update_candidate_name(
    conn: Connection, assignment_id: int, user_id: int, display_name: str
) -> None:
    await execute(
        conn,
        "UPDATE candidates SET display_name = ? WHERE assignment_id = ? AND user_id = ?",
        (display_name, assignment_id, user_id),
    )


async def candidates_without_group(conn: Connection, assignment_id: int) -> list[Candidate]:
    rows = await fetch_all(
        conn,
        "SELECT c.* FROM candidates c WHERE c.assignment_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM memberships m WHERE m.assignment_id = c.assignment_id"
        "  AND m.user_id = c.user_id) ORDER BY c.number",
        (assignment_id,),
    )
    return [_row_to_candidate(row) for row in rows]


# --- groups --------------------------------------------------------------------------------
async def insert_group(
    conn: Connection,
    assignment_id: int,
    pin: str,
    *,
    created_at: datetime,
    created_by: int | None,
    name: str | None = None,
    name_key: str | None = None,
    password: str | None = None,
) -> int:
    return await insert(
        conn,
        "INSERT INTO groups (assignment_id, pin, name, name_key, password, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (assignment_id, pin, name, name_key, password, created_by, to_db(created_at)),
    )


async def group(conn: Connection, group_id: int) -> Group | None:
    row = await fetch_one(conn, "SELECT * FROM groups WHERE id = ?", (group_id,))
    return None if row is None else _row_to_group(row)


async def group_by_pin(conn: Connection, assignment_id: int, pin: str) -> Group | None:
    row = await fetch_one(
        conn, "SELECT * FROM groups WHERE assignment_id = ? AND pin = ?", (assignment_id, pin)
    )
    return None if row is None else _row_to_group(row)


async def group_by_name_key(conn: Connection, assignment_id: int, key: str) -> Group | None:
    row = await fetch_one(
        conn, "SELECT * FROM groups WHERE assignment_id = ? AND name_key = ?", (assignment_id, key)
    )
    return None if row is None else _row_to_group(row)


async def group_of(conn: Connection, assignment_id: int, user_id: int) -> Group | None:
    row = await fetch_one(
        conn,
        "SELECT g.* FROM groups g JOIN memberships m ON m.group_id = g.id"
        " WHERE m.assignment_id = ? AND m.user_id = ?",
        (assignment_id, user_id),
    )
    return None if row is None else _row_to_group(row)


async def groups_of_members(conn: Connection, assignment_id: int) -> dict[int, Group]:
    """Every member's group (by user id): `group_of` for the whole assignment at once."""
    rows = await fetch_all(
        conn,
        "SELECT m.user_id AS member_id, g.* FROM groups g JOIN memberships m ON m.group_id = g.id"
        " WHERE m.assignment_id = ?",
        (assignment_id,),
    )
    return {row["member_id"]: _row_to_group(row) for row in rows}


async def sizes_by_name_key(conn: Connection, assignment_id: int) -> dict[str, int]:
    """How many members each named group has (empty groups too), by its name key."""
    rows = await fetch_all(
        conn,
        "SELECT g.name_key, count(m.user_id) AS n FROM groups g"
        " LEFT JOIN memberships m ON m.group_id = g.id"
        " WHERE g.assignment_id = ? AND g.name_key IS NOT NULL GROUP BY g.id",
        (assignment_id,),
    )
    return {row["name_key"]: int(row["n"]) for row in rows}


async def groups(conn: Connection, assignment_id: int) -> list[Group]:
    rows = await fetch_all(
        conn, "SELECT * FROM groups WHERE assignment_id = ? ORDER BY pin", (assignment_id,)
    )
    return [_row_to_group(row) for row in rows]


async def pins(conn: Connection, assignment_id: int) -> set[str]:
    rows = await fetch_all(conn, "SELECT pin FROM groups WHERE assignment_id = ?", (assignment_id,))
    return {row["pin"] for row in rows}


async def delete_group(conn: Connection, group_id: int) -> None:
    await execute(conn, "DELETE FROM groups WHERE id = ?", (group_id,))


async def set_password(conn: Connection, group_id: int, password: str) -> None:
    await execute(conn, "UPDATE groups SET password = ? WHERE id = ?", (password, group_id))


async def set_extension(conn: Connection, group_id: int, closes_at: datetime | None) -> None:
    await execute(
        conn, "UPDATE groups SET closes_at = ? WHERE id = ?", (opt_to_db(closes_at), group_id)
    )


async def drop_extensions_before(conn: Connection, assignment_id: int, moment: datetime) -> None:
    await execute(
        conn,
        "UPDATE groups SET closes_at = NULL WHERE assignment_id = ? AND closes_at <= ?",
        (assignment_id, to_db(moment)),
    )


async def set_finalized(conn: Connection, group_id: int, at: datetime | None) -> None:
    await execute(
        conn, "UPDATE groups SET finalized_at = ? WHERE id = ?", (opt_to_db(at), group_id)
    )


async def unfinalize_all(conn: Connection, assignment_id: int) -> None:
    await execute(
        conn, "UPDATE groups SET finalized_at = NULL WHERE assignment_id = ?", (assignment_id,)
    )


async def set_lease(
    conn: Connection, group_id: int, user_id: int | None, until: datetime | None
) -> None:
    await execute(
        conn,
        "UPDATE groups SET lease_user_id = ?, lease_until = ? WHERE id = ?",
        (user_id, opt_to_db(until), group_id),
    )


async def unfinalized_groups(conn: Connection, assignment_id: int) -> list[Group]:
    rows = await fetch_all(
        conn,
        "SELECT * FROM groups WHERE assignment_id = ? AND finalized_at IS NULL ORDER BY pin",
        (assignment_id,),
    )
    return [_row_to_group(row) for row in rows]


# --- memberships ---------------------------------------------------------------------------
async def add_member(
    conn: Connection, assignment_id: int, user_id: int, group_id: int, at: datetime
) -> None:
    await execute(
        conn,
        "INSERT INTO memberships (assignment_id, user_id, group_id, joined_at) VALUES (?, ?, ?, ?)",
        (assignment_id, user_id, group_id, to_db(at)),
    )


async def remove_member(conn: Connection, assignment_id: int, user_id: int) -> None:
    await execute(
        conn,
        "DELETE FROM memberships WHERE assignment_id = ? AND user_id = ?",
        (assignment_id, user_id),
    )


async def member_count(conn: Connection, group_id: int) -> int:
    row = await fetch_one(
        conn, "SELECT count(*) AS n FROM memberships WHERE group_id = ?", (group_id,)
    )
    return int(row["n"]) if row else 0


async def largest_group_size(conn: Connection, assignment_id: int) -> int:
    row = await fetch_one(
        conn,
        "SELECT coalesce(max(n), 0) AS n FROM (SELECT count(*) AS n FROM memberships"
        " WHERE assignment_id = ? GROUP BY group_id) AS sizes",
        (assignment_id,),
    )
    return int(row["n"]) if row else 0


async def members(conn: Connection, group_id: int) -> list[Member]:
    rows = await fetch_all(
        conn,
        "SELECT c.user_id, c.number, c.display_name FROM memberships m"
        " JOIN candidates c ON c.assignment_id = m.assignment_id AND c.user_id = m.user_id"
        " WHERE m.group_id = ? ORDER BY c.number",
        (group_id,),
    )
    return [Member(row["user_id"], row["number"], row["display_name"]) for row in rows]


async def members_by_group(conn: Connection, assignment_id: int) -> dict[int, list[Member]]:
    rows = await fetch_all(
        conn,
        "SELECT m.group_id, c.user_id, c.number, c.display_name FROM memberships m"
        " JOIN candidates c ON c.assignment_id = m.assignment_id AND c.user_id = m.user_id"
        " WHERE m.assignment_id = ? ORDER BY c.number",
        (assignment_id,),
    )
    result: dict[int, list[Member]] = {}
    for row in rows:
        result.setdefault(row["group_id"], []).append(
            Member(row["user_id"], row["number"], row["display_name"])
        )
    return result


async def group_count(conn: Connection, assignment_id: int) -> int:
    row = await fetch_one(
        conn, "SELECT count(*) AS n FROM groups WHERE assignment_id = ?", (assignment_id,)
    )
    return int(row["n"]) if row else 0


# --- one user's standing, in one query -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class Standing:
    """A user's candidate record, group and that group's members (ordered by number)."""

    candidate: Candidate | None
    group: Group | None
    members: tuple[Member, ...]
    # The upload an interaction already stored (asked for with `interaction_id`), if any.
    earlier_upload_id: int | None = None


async def standing(
    conn: Connection,
    assignment_id: int,
    user_id: int,
    *,
    interaction_id: int | None = None,
) -> Standing:
    """`candidate`, `group_of` and `members` (and optionally the upload already stored for an
    interaction) in one round trip: the upload path and /status run under the one connection's
    lock, where each round trip costs far more than the query (profiled)."""
    found = await standings(conn, assignment_id, [(user_id, interaction_id)])
    return found[(user_id, interaction_id)]


async def standings(
    conn: Connection,
    assignment_id: int,
    wanted: Iterable[tuple[int, int | None]],
) -> dict[tuple[int, int | None], Standing]:
    """`standing` for several (user_id, interaction_id) pairs in one round trip."""
    keys = list(dict.fromkeys(wanted))
    if not keys:
        return {}
    # Typed, so PostgreSQL knows the columns even when every interaction id is NULL.
    values = ", ".join("(CAST(? AS BIGINT), CAST(? AS BIGINT))" for _ in keys)
    rows = await fetch_all(
        conn,
        f"WITH q(uid, iid) AS (VALUES {values})"
        " SELECT q.uid AS q_uid, q.iid AS q_iid,"
        " (SELECT id FROM uploads WHERE interaction_id = q.iid) AS earlier_upload_id,"
        " c.number AS c_number, c.display_name AS c_display_name, g.*,"
        " mc.user_id AS m_user_id, mc.number AS m_number, mc.display_name AS m_display_name"
        " FROM q"
        " LEFT JOIN candidates c ON c.assignment_id = ? AND c.user_id = q.uid"
        " LEFT JOIN memberships me ON me.assignment_id = ? AND me.user_id = q.uid"
        " LEFT JOIN groups g ON g.id = me.group_id"
        " LEFT JOIN memberships m2 ON m2.group_id = g.id"
        " LEFT JOIN candidates mc"
        "  ON mc.assignment_id = m2.assignment_id AND mc.user_id = m2.user_id"
        " ORDER BY q.uid, q.iid, mc.number",
        (*(v for key in keys for v in key), assignment_id, assignment_id),
    )
    by_key: dict[tuple[int, int | None], list[Row]] = {}
    for row in rows:
        by_key.setdefault((row["q_uid"], row["q_iid"]), []).append(row)
    result: dict[tuple[int, int | None], Standing] = {}
    for key, found in by_key.items():
        first = found[0]
        candidate = None
        if first["c_number"] is not None:
            candidate = Candidate(assignment_id, key[0], first["c_number"], first["c_display_name"])
        result[key] = Standing(
            candidate=candidate,
            group=None if first["id"] is None else _row_to_group(first),
            members=tuple(
                Member(row["m_user_id"], row["m_number"], row["m_display_name"])
                for row in found
                if row["m_user_id"] is not None
            ),
            earlier_upload_id=first["earlier_upload_id"],
        )
    return result


# --- join attempts -------------------------------------------------------------------------
async def record_join_failure(
    conn: Connection, assignment_id: int, user_id: int, at: datetime
) -> None:
    await execute(
        conn,
        "INSERT INTO join_failures (assignment_id, user_id, at) VALUES (?, ?, ?)",
        (assignment_id, user_id, to_db(at)),
    )


async def join_failures_since(
    conn: Connection, assignment_id: int, user_id: int, since: datetime
) -> list[datetime]:
    rows = await fetch_all(
        conn,
        "SELECT at FROM join_failures WHERE assignment_id = ? AND user_id = ? AND at >= ?"
        " ORDER BY at",
        (assignment_id, user_id, to_db(since)),
    )
    return [from_db(row["at"]) for row in rows]
