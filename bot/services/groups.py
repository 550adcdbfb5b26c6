"""Group use cases: getting ready, creating, joining and leaving groups, and staff management."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import codes
from bot.domain.clock import Clock
from bot.domain.csvlines import CsvDecodeError
from bot.domain.errors import (
    AlreadyInGroupError,
    AlreadyInThisGroupError,
    CsvImportError,
    CsvTooLargeError,
    DomainError,
    GroupFullError,
    GroupNameInvalidError,
    GroupNotFoundError,
    GroupSizeInvalidError,
    MemberNotInGroupError,
    MembershipLockedError,
    NoCandidatesToSplitError,
    NoPasswordModeError,
    NotCandidateError,
    NotPredefinedError,
    PasswordRequiredError,
    PinTakenError,
    PredefinedGroupsError,
    TooManyAttemptsError,
    WrongPasswordError,
)
from bot.domain.grouping import (
    CsvRow,
    MemberRefError,
    lockout_until,
    read_group_csv,
    resolve_member,
    split_sizes,
)
from bot.domain.models import (
    Actor,
    Assignment,
    AssignmentState,
    Candidate,
    Group,
    GroupMode,
    GroupView,
    Person,
    deadlines_for,
)
from bot.domain.rules import JOIN_FAILURE_WINDOW, JOIN_LOCKOUT, name_key
from bot.services.common import (
    ensure_candidate,
    find_assignment,
    find_assignment_exactly,
    group_view,
    is_staff,
    may_take_part,
    own_group,
    register,
    require_not_submitted,
    require_staff,
    view_of,
)
from bot.services.ports import Notifier
from storage.db import Connection, Database
from storage.repos import assignments as assignment_repo
from storage.repos import groups as group_repo
from storage.repos import uploads as upload_repo

log = logging.getLogger(__name__)

# A group list is text: a megabyte is tens of thousands of rows.
MAX_CSV_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReadyView:
    assignment: Assignment
    state: AssignmentState
    candidate: Candidate
    group: GroupView | None


@dataclass(frozen=True, slots=True)
class CreatedGroup:
    view: GroupView
    password: str | None


@dataclass(frozen=True, slots=True)
class LeftGroup:
    pin: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class CsvSource:
    """A CSV attachment: its declared size, and how to read it once the checks pass."""

    size: int
    read: Callable[[], Awaitable[bytes]]

    @classmethod
    def of(cls, data: bytes) -> CsvSource:
        async def read() -> bytes:
            return data

        return cls(len(data), read)


@dataclass(frozen=True, slots=True)
class ImportResult:
    groups_created: int
    members_placed: int
    unchanged: int


class GroupService:
    def __init__(self, db: Database, clock: Clock, notifier: Notifier | None = None) -> None:
        self._db = db
        self._clock = clock
        # Tells members that a join or a leave reset their agreement (all_must_confirm).
        self._notifier = notifier

    async def _tell_agreement_reset(
        self, assignment: Assignment, groups: list[Group | None]
    ) -> None:
        """all_must_confirm: a join or a leave reset the agreement (the schema's triggers drop
        the group's confirmations); tell the members of each group that has something to agree
        to. A courtesy: the change is recorded whatever becomes of it."""
        if self._notifier is None or not assignment.all_must_confirm:
            return
        told: list[tuple[Group, list[int]]] = []
        async with self._db.reading() as conn:
            for group in groups:
                if group is None or not await upload_repo.upload_count(conn, group.id):
                    continue
                members = [m.user_id for m in await group_repo.members(conn, group.id)]
                if members:
                    told.append((group, members))
        for group, members in told:
            try:
                await self._notifier.agreement_reset(assignment, group, members)
            except Exception:
                log.exception("agreement reset notice failed")

    # --- students --------------------------------------------------------------------------
    async def ready(self, guild_id: int, actor: Actor, name: str) -> ReadyView:
        """Register the actor (candidate number) and show where they stand."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            candidate = await ensure_candidate(conn, assignment, actor, now)
            group = await group_repo.group_of(conn, assignment.id, actor.user_id)
            view = None if group is None else await group_view(conn, assignment, group)
            return ReadyView(assignment, assignment.state(now), candidate, view)

    async def create(
        self, guild_id: int, actor: Actor, name: str, pin: str | None, *, sent_at: datetime
    ) -> CreatedGroup:
        """Create a group. Asking for a PIN that is taken counts as a failed join attempt:
        otherwise `create` would let a student test PINs past the guessing limit."""
        async with self._db.transaction() as conn:
            created = await self._create(conn, guild_id, actor, name, pin, sent_at)
        if isinstance(created, DomainError):
            raise created
        return created

    async def _create(
        self,
        conn: Connection,
        guild_id: int,
        actor: Actor,
        name: str,
        pin: str | None,
        sent_at: datetime,
    ) -> CreatedGroup | PinTakenError:
        assignment = await find_assignment(conn, guild_id, name)
        _require_student_groups(assignment)
        await ensure_candidate(conn, assignment, actor, sent_at)
        current = await group_repo.group_of(conn, assignment.id, actor.user_id)
        if current is not None:
            raise AlreadyInGroupError(pin=current.pin)
        _require_membership_open(assignment, None, sent_at)
        taken = await group_repo.pins(conn, assignment.id)
        if pin is None:
            chosen = codes.random_free_pin(taken)
        else:
            await _require_not_locked_out(conn, assignment, actor.user_id, sent_at)
            chosen = codes.validate_pin(pin)
            if chosen in taken:
                # Kept (committed) although the create is refused: it is a guess.
                await group_repo.record_join_failure(conn, assignment.id, actor.user_id, sent_at)
                return PinTakenError(pin=chosen)
        password = (
            codes.generate_password() if assignment.group_mode is GroupMode.PASSWORD else None
        )
        group_id = await group_repo.insert_group(
            conn,
            assignment.id,
            chosen,
            created_at=sent_at,
            created_by=actor.user_id,
            password=password,
        )
        await group_repo.add_member(conn, assignment.id, actor.user_id, group_id, sent_at)
        group = await group_repo.group(conn, group_id)
        assert group is not None
        log.info("group %d created in assignment %d", group_id, assignment.id)
        return CreatedGroup(await group_view(conn, assignment, group), password)

    async def join(
        self,
        guild_id: int,
        actor: Actor,
        name: str,
        pin: str,
        password: str | None = None,
        *,
        switch: bool = False,
        sent_at: datetime,
    ) -> GroupView:
        """Join by PIN (and password). Wrong PINs and passwords count towards the guessing limit;
        that record is kept even though the join is refused."""
        failure: DomainError | None = None
        async with self._db.transaction() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            _require_student_groups(assignment)
            await ensure_candidate(conn, assignment, actor, sent_at)
            await _require_not_locked_out(conn, assignment, actor.user_id, sent_at)
            wanted = codes.validate_pin(pin)
            if assignment.group_mode is GroupMode.PASSWORD and not (password or "").strip():
                raise PasswordRequiredError()
            current = await group_repo.group_of(conn, assignment.id, actor.user_id)
            if current is not None and current.pin == wanted:
                raise AlreadyInThisGroupError(pin=wanted)
            if current is not None and not switch:
                raise AlreadyInGroupError(pin=current.pin)
            target = await group_repo.group_by_pin(conn, assignment.id, wanted)
            if target is None:
                failure = GroupNotFoundError(pin=wanted)
            elif assignment.group_mode is GroupMode.PASSWORD and not codes.passwords_match(
                password or "", target.password or ""
            ):
                failure = WrongPasswordError()
            if failure is not None:
                await group_repo.record_join_failure(conn, assignment.id, actor.user_id, sent_at)
            else:
                assert target is not None
                joined = await self._move(conn, assignment, actor.user_id, current, target, sent_at)
        if failure is not None:
            raise failure
        await self._tell_agreement_reset(assignment, [current, target])
        return joined

    async def _move(
        self,
        conn: Connection,
        assignment: Assignment,
        user_id: int,
        current: Group | None,
        target: Group,
        now: datetime,
    ) -> GroupView:
        _require_membership_open(assignment, target, now)
        await require_not_submitted(conn, assignment, target)
        if current is not None:
            _require_membership_open(assignment, current, now)
            await require_not_submitted(conn, assignment, current)
        size = await group_repo.member_count(conn, target.id)
        if assignment.max_group_size is not None and size >= assignment.max_group_size:
            raise GroupFullError(pin=target.pin, count=assignment.max_group_size)
        if current is not None:
            await _remove(conn, assignment, current, user_id)
        await group_repo.add_member(conn, assignment.id, user_id, target.id, now)
        return await group_view(conn, assignment, target)

    async def leave(
        self, guild_id: int, actor: Actor, name: str, *, sent_at: datetime
    ) -> LeftGroup:
        async with self._db.transaction() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            _require_student_groups(assignment)
            group = await own_group(conn, assignment, actor.user_id)
            _require_membership_open(assignment, group, sent_at)
            await require_not_submitted(conn, assignment, group)
            deleted = await _remove(conn, assignment, group, actor.user_id)
        if not deleted:
            await self._tell_agreement_reset(assignment, [group])
        return LeftGroup(group.pin, deleted)

    async def info(self, guild_id: int, actor: Actor, name: str) -> GroupView:
        async with self._db.transaction() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            await ensure_candidate(conn, assignment, actor, self._clock.now())
            group = await own_group(conn, assignment, actor.user_id)
            return await group_view(conn, assignment, group)

    async def regenerate_password(
        self, guild_id: int, actor: Actor, name: str
    ) -> tuple[GroupView, str]:
        """A new password for the actor's group; the old one stops working at once."""
        async with self._db.transaction() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            if assignment.group_mode is not GroupMode.PASSWORD:
                raise NoPasswordModeError()
            group = await own_group(conn, assignment, actor.user_id)
            password = codes.generate_password()
            await group_repo.set_password(conn, group.id, password)
            refreshed = await group_repo.group(conn, group.id)
            assert refreshed is not None
            return await group_view(conn, assignment, refreshed), password

    # --- staff -----------------------------------------------------------------------------
    async def staff_add(
        self, guild_id: int, actor: Actor, name: str, member: Person, group_name: str
    ) -> GroupView:
        """Put `member` in the predefined group `group_name` (created if new), moving them from
        another group if they are in one."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await require_staff(conn, guild_id, actor)
            assignment = await _predefined(conn, guild_id, name)
            await _ensure_person(conn, assignment, member, now)
            target = await _group_named(conn, assignment, group_name, actor.user_id, now)
            current = await group_repo.group_of(conn, assignment.id, member.user_id)
            if current is not None and current.id == target.id:
                raise AlreadyInThisGroupError(pin=target.pin)
            placed = await self._move(conn, assignment, member.user_id, current, target, now)
        await self._tell_agreement_reset(assignment, [current, target])
        return placed

    async def staff_remove(self, guild_id: int, actor: Actor, name: str, user_id: int) -> Group:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await require_staff(conn, guild_id, actor)
            assignment = await _predefined(conn, guild_id, name)
            group = await group_repo.group_of(conn, assignment.id, user_id)
            if group is None:
                raise MemberNotInGroupError(user_id=user_id)
            _require_membership_open(assignment, group, now)
            await group_repo.remove_member(conn, assignment.id, user_id)
            await _release_lease_of(conn, group, user_id)
        await self._tell_agreement_reset(assignment, [group])
        return group

    async def staff_import(
        self,
        guild_id: int,
        actor: Actor,
        name: str,
        csv_file: CsvSource,
        people: list[Person],
    ) -> ImportResult:
        """Import `group_name,member` rows: every row is checked first, and one bad row refuses
        the whole file with every problem listed by line.

        The file is read only after the staff check and the size limit, and outside the
        transaction (reading an attachment is network I/O).
        """
        async with self._db.reading() as conn:
            await require_staff(conn, guild_id, actor)
            await _predefined(conn, guild_id, name)
        if csv_file.size > MAX_CSV_BYTES:
            raise CsvTooLargeError(limit_kib=MAX_CSV_BYTES // 1024)
        data = await csv_file.read()
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await require_staff(conn, guild_id, actor)
            assignment = await _predefined(conn, guild_id, name)
            plan = await _plan_import(conn, assignment, data, people, now)
            created = placed = unchanged = 0
            for group_name, members in plan.items():
                key = name_key(group_name)
                existed = await group_repo.group_by_name_key(conn, assignment.id, key)
                target = await _group_named(conn, assignment, group_name, actor.user_id, now)
                created += int(existed is None)
                for person in members:
                    await _ensure_person(conn, assignment, person, now)
                    current = await group_repo.group_of(conn, assignment.id, person.user_id)
                    if current is not None and current.id == target.id:
                        unchanged += 1
                        continue
                    await group_repo.add_member(conn, assignment.id, person.user_id, target.id, now)
                    placed += 1
            return ImportResult(created, placed, unchanged)

    async def staff_random(
        self,
        guild_id: int,
        actor: Actor,
        name: str,
        size: int,
        people: list[Person],
        role_id: int | None = None,
    ) -> list[GroupView]:
        """Random groups of `size` (or `size + 1`) from the candidates without a group.

        Candidates are the registered ones, plus guild members with `role_id` (or the
        assignment's role); with `role_id` given, only members with that role are split.
        """
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await require_staff(conn, guild_id, actor)
            assignment = await _predefined(conn, guild_id, name)
            if size < 1 or (assignment.max_group_size and size > assignment.max_group_size):
                raise GroupSizeInvalidError(size=size)
            role = role_id or assignment.role_id
            for person in people:
                if role is not None and role in person.role_ids:
                    await _ensure_person(conn, assignment, person, now)
            pool = await group_repo.candidates_without_group(conn, assignment.id)
            if role_id is not None:
                with_role = {p.user_id for p in people if role_id in p.role_ids}
                pool = [c for c in pool if c.user_id in with_role]
            if not pool:
                raise NoCandidatesToSplitError()
            _require_membership_open(assignment, None, now)
            order = list(pool)
            codes.shuffle(order)
            # Compared by key: `_group_named` finds groups case-insensitively, so `group 1`
            # made by hand must not be mistaken for a free `Group 1` and filled up.
            existing = {
                name_key(g.name) for g in await group_repo.groups(conn, assignment.id) if g.name
            }
            views: list[GroupView] = []
            start = 0
            number = 1
            for count in split_sizes(len(order), size, assignment.max_group_size):
                while name_key(f"Group {number}") in existing:
                    number += 1
                group = await _group_named(conn, assignment, f"Group {number}", actor.user_id, now)
                number += 1
                for candidate in order[start : start + count]:
                    await group_repo.add_member(
                        conn, assignment.id, candidate.user_id, group.id, now
                    )
                start += count
                views.append(await group_view(conn, assignment, group))
            return views

    async def staff_list(self, guild_id: int, actor: Actor, name: str) -> list[GroupView]:
        async with self._db.reading() as conn:
            await require_staff(conn, guild_id, actor)
            assignment = await find_assignment_exactly(conn, guild_id, name)
            # Every member in one query, not one per group: 130 groups are one round trip.
            members = await group_repo.members_by_group(conn, assignment.id)
            return [
                view_of(assignment, g, members.get(g.id, []))
                for g in await group_repo.groups(conn, assignment.id)
            ]

    async def pins_of(self, guild_id: int, actor: Actor, name: str) -> list[str]:
        """Staff autocomplete for `/assignment extend`: empty for anyone but staff."""
        async with self._db.reading() as conn:
            settings = await assignment_repo.get_settings(conn, guild_id)
            if not is_staff(actor, settings):
                return []
            assignment = await find_assignment_exactly(conn, guild_id, name)
            return sorted(await group_repo.pins(conn, assignment.id))


# --- helpers -------------------------------------------------------------------------------
def _require_student_groups(assignment: Assignment) -> None:
    if assignment.group_mode is GroupMode.PREDEFINED:
        raise PredefinedGroupsError()


def _require_membership_open(assignment: Assignment, group: Group | None, now: datetime) -> None:
    deadline = deadlines_for(assignment, group).locks_at
    if now >= deadline:
        raise MembershipLockedError(deadline=deadline)


async def _require_not_locked_out(
    conn: Connection, assignment: Assignment, user_id: int, now: datetime
) -> None:
    since = now - JOIN_FAILURE_WINDOW - JOIN_LOCKOUT
    failures = await group_repo.join_failures_since(conn, assignment.id, user_id, since)
    until = lockout_until(failures, now)
    if until is not None:
        raise TooManyAttemptsError(until=until)


async def _remove(conn: Connection, assignment: Assignment, group: Group, user_id: int) -> bool:
    """Take `user_id` out of `group`; delete the group when it is left empty with no uploads
    (its PIN becomes free). Returns whether it was deleted."""
    await group_repo.remove_member(conn, assignment.id, user_id)
    await _release_lease_of(conn, group, user_id)
    if assignment.group_mode is GroupMode.PREDEFINED:
        return False
    if await group_repo.member_count(conn, group.id) or await upload_repo.upload_count(
        conn, group.id
    ):
        return False
    await group_repo.delete_group(conn, group.id)
    return True


async def _release_lease_of(conn: Connection, group: Group, user_id: int) -> None:
    if group.lease_user_id == user_id:
        await group_repo.set_lease(conn, group.id, None, None)


async def _predefined(conn: Connection, guild_id: int, name: str) -> Assignment:
    assignment = await find_assignment_exactly(conn, guild_id, name)
    if assignment.group_mode is not GroupMode.PREDEFINED:
        raise NotPredefinedError(mode=assignment.group_mode.value)
    return assignment


async def _ensure_person(
    conn: Connection, assignment: Assignment, person: Person, now: datetime
) -> Candidate:
    existing = await group_repo.candidate(conn, assignment.id, person.user_id)
    if existing is not None:
        return existing
    if not may_take_part(assignment, person.role_ids):
        raise NotCandidateError(role_id=assignment.role_id)
    return await register(conn, assignment.id, person.user_id, person.display_name, now)


async def _group_named(
    conn: Connection,
    assignment: Assignment,
    group_name: str,
    created_by: int,
    now: datetime,
) -> Group:
    """The predefined group called `group_name`, created (with a free PIN) if new."""
    cleaned = " ".join(group_name.split())
    if not cleaned or len(cleaned) > 100:
        raise GroupNameInvalidError()
    key = name_key(cleaned)
    existing = await group_repo.group_by_name_key(conn, assignment.id, key)
    if existing is not None:
        return existing
    pin = codes.random_free_pin(await group_repo.pins(conn, assignment.id))
    group_id = await group_repo.insert_group(
        conn,
        assignment.id,
        pin,
        created_at=now,
        created_by=created_by,
        name=cleaned,
        name_key=key,
    )
    group = await group_repo.group(conn, group_id)
    assert group is not None
    return group


Problem = tuple[int, str, dict[str, object]]


@dataclass
class _Seating:
    """Who is in which group and how full each named group is, read once per import (a query
    per row and member held the write lock for as long as the CSV was long), and the seats
    the import's plan takes."""

    group_of: dict[int, Group]
    seated: dict[str, int]
    limit: int | None
    taken: dict[str, int] = field(default_factory=dict)

    @classmethod
    async def read(cls, conn: Connection, assignment: Assignment) -> _Seating:
        return cls(
            await group_repo.groups_of_members(conn, assignment.id),
            await group_repo.sizes_by_name_key(conn, assignment.id),
            assignment.max_group_size,
        )

    def take_seat(self, key: str) -> bool:
        """One more new member for the group `key`, if it has room after the plan's others."""
        full = self.seated.get(key, 0) + self.taken.get(key, 0)
        if self.limit is not None and full >= self.limit:
            return False
        self.taken[key] = self.taken.get(key, 0) + 1
        return True


async def _plan_import(
    conn: Connection,
    assignment: Assignment,
    data: bytes,
    people: list[Person],
    now: datetime,
) -> dict[str, list[Person]]:
    """Check every row of an import; raise CsvImportError listing all problems by line."""
    problems: list[Problem] = []
    try:
        rows, malformed = read_group_csv(data)
    except CsvDecodeError as exc:
        raise CsvImportError([(exc.line, "csv.bad_encoding", {})]) from exc
    problems += [(line, "csv.malformed", {"text": _quoted(text)}) for line, text in malformed]
    seating = await _Seating.read(conn, assignment)
    plan: dict[str, list[Person]] = {}
    seen: dict[int, tuple[str, int]] = {}
    display: dict[str, str] = {}
    for row in rows:
        key = name_key(row.group_name)
        display.setdefault(key, " ".join(row.group_name.split()))
        placed = _place_row(assignment, row, key, display[key], people, seen, seating)
        if isinstance(placed, Person):
            plan.setdefault(display[key], []).append(placed)
        else:
            problems.append(placed)
    if not rows and not problems:
        problems.append((1, "csv.empty", {}))
    _require_membership_open(assignment, None, now)
    if problems:
        raise CsvImportError(sorted(problems, key=lambda p: p[0]))
    return plan


def _quoted(text: str, limit: int = 80) -> str:
    """A malformed line as the error quotes it: whole, or its start marked as cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _place_row(
    assignment: Assignment,
    row: CsvRow,
    key: str,
    group_name: str,
    people: list[Person],
    seen: dict[int, tuple[str, int]],
    seating: _Seating,
) -> Person | Problem:
    """The member one row puts in its group, or what is wrong with the row."""
    try:
        person = resolve_member(row.member, people)
    except MemberRefError as exc:
        return (row.line, f"csv.member_{exc.reason}", {"member": row.member})
    if person.user_id in seen:
        earlier_key, earlier_line = seen[person.user_id]
        reason = "csv.duplicate" if earlier_key == key else "csv.two_groups"
        return (row.line, reason, {"member": row.member, "line": earlier_line})
    seen[person.user_id] = (key, row.line)
    if not may_take_part(assignment, person.role_ids):
        return (row.line, "csv.not_candidate", {"member": row.member})
    current = seating.group_of.get(person.user_id)
    if current is not None and name_key(current.label) != key:
        return (row.line, "csv.already_grouped", {"member": row.member, "group": current.label})
    if current is None and not seating.take_seat(key):
        count = assignment.max_group_size
        return (row.line, "csv.group_too_large", {"group": group_name, "count": count})
    return person
