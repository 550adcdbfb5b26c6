"""Look-ups every service shares: the assignment by name, the candidate, staff rights."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.domain import codes
from bot.domain.errors import (
    AlreadySubmittedError,
    AmbiguousAssignmentError,
    AssignmentNotFoundError,
    ManageServerOnlyError,
    NotAssignedError,
    NotCandidateError,
    NotInGroupError,
    StaffOnlyError,
)
from bot.domain.models import (
    Actor,
    Assignment,
    Candidate,
    Group,
    GroupMode,
    GroupView,
    GuildSettings,
    Member,
    Person,
    deadlines_for,
)
from bot.domain.rules import name_key
from storage.db import Connection
from storage.repos import assignments as assignment_repo
from storage.repos import groups as group_repo
from storage.repos import uploads as upload_repo


async def find_assignment(conn: Connection, guild_id: int, name: str) -> Assignment:
    """The guild's assignment called `name` (case-insensitive).

    An exact name wins; otherwise a unique partial match is accepted, so a student who typed
    `lab 1` without picking from autocomplete still reaches `Lab 1 (report)`. Staff commands
    and the export use `find_assignment_exactly`: closing or exporting the wrong assignment
    is not a convenience.
    """
    key = name_key(name)
    exact = await assignment_repo.by_name_key(conn, guild_id, key) if key else None
    if exact is not None:
        return exact
    if not key:
        raise AssignmentNotFoundError(name=name)
    matches = [a for a in await assignment_repo.in_guild(conn, guild_id) if key in name_key(a.name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AmbiguousAssignmentError(name=name, matches=", ".join(a.name for a in matches))
    raise AssignmentNotFoundError(name=name)


async def find_assignment_exactly(conn: Connection, guild_id: int, name: str) -> Assignment:
    """The guild's assignment whose name is `name`, ignoring case only."""
    found = await assignment_repo.by_name_key(conn, guild_id, name_key(name))
    if found is None:
        raise AssignmentNotFoundError(name=name)
    return found


async def register_role_members(
    conn: Connection, assignment: Assignment, people: list[Person], now: datetime
) -> None:
    """With a `role`, every member who has it is a candidate before they act (SPEC §1): they
    appear as 'no group' to staff, in reminders and in the export."""
    if assignment.role_id is None:
        return
    for person in people:
        if not may_take_part(assignment, person.role_ids):
            continue
        if await group_repo.candidate(conn, assignment.id, person.user_id) is None:
            await register(conn, assignment.id, person.user_id, person.display_name, now)


def is_staff(actor: Actor, settings: GuildSettings) -> bool:
    return actor.can_manage_guild or (
        settings.staff_role_id is not None and settings.staff_role_id in actor.role_ids
    )


async def require_staff(conn: Connection, guild_id: int, actor: Actor) -> GuildSettings:
    settings = await assignment_repo.get_settings(conn, guild_id)
    if not is_staff(actor, settings):
        raise StaffOnlyError()
    return settings


def require_manager(actor: Actor) -> None:
    if not actor.can_manage_guild:
        raise ManageServerOnlyError()


def may_take_part(assignment: Assignment, role_ids: frozenset[int]) -> bool:
    return assignment.role_id is None or assignment.role_id in role_ids


async def ensure_candidate(
    conn: Connection, assignment: Assignment, actor: Actor, now: datetime
) -> Candidate:
    """The actor's candidate record, registering them (with a new number) on first contact."""
    existing = await group_repo.candidate(conn, assignment.id, actor.user_id)
    return await settle_candidate(conn, assignment, actor, now, existing)


async def settle_candidate(
    conn: Connection,
    assignment: Assignment,
    actor: Actor,
    now: datetime,
    existing: Candidate | None,
) -> Candidate:
    """`ensure_candidate` for a caller that already read the record (`existing`)."""
    if existing is not None:
        if actor.display_name and actor.display_name != existing.display_name:
            await group_repo.update_candidate_name(
                conn, assignment.id, actor.user_id, actor.display_name
            )
        return existing
    if not may_take_part(assignment, actor.role_ids):
        raise NotCandidateError(role_id=assignment.role_id)
    return await register(conn, assignment.id, actor.user_id, actor.display_name, now)


async def register(
    conn: Connection, assignment_id: int, user_id: int, display_name: str, now: datetime
) -> Candidate:
    """Give `user_id` a candidate number in the assignment (caller holds the transaction)."""
    taken = await group_repo.candidate_numbers(conn, assignment_id)
    number = codes.random_candidate_number(taken)
    await group_repo.insert_candidate(conn, assignment_id, user_id, number, display_name, now)
    return Candidate(assignment_id, user_id, number, display_name)


async def group_view(conn: Connection, assignment: Assignment, group: Group) -> GroupView:
    """A group with its members and its own deadlines, as its members and staff see it."""
    return view_of(assignment, group, await group_repo.members(conn, group.id))


def view_of(assignment: Assignment, group: Group, members: Iterable[Member]) -> GroupView:
    """`group_view` for a caller that already read the members."""
    return GroupView(group, tuple(members), deadlines_for(assignment, group), assignment)


async def own_group(conn: Connection, assignment: Assignment, user_id: int) -> Group:
    """The user's group, or the refusal that tells them how to get one."""
    return require_group(assignment, await group_repo.group_of(conn, assignment.id, user_id))


def require_group(assignment: Assignment, group: Group | None) -> Group:
    """`own_group` for a caller that already read the user's group."""
    if group is None:
        if assignment.group_mode is GroupMode.PREDEFINED:
            raise NotAssignedError()
        raise NotInGroupError()
    return group


async def require_not_submitted(conn: Connection, assignment: Assignment, group: Group) -> None:
    """After a submit_once hand-in the group can no longer upload, hand in, join or leave."""
    if assignment.submit_once and await upload_repo.handins_of(conn, group.id):
        raise AlreadySubmittedError()
