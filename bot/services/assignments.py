"""Staff use cases for assignments: create, edit, list, overview, close, reopen, extend."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain import timeparse
from bot.domain.clock import Clock
from bot.domain.errors import (
    AnonymityLockedError,
    AssignmentNameInvalidError,
    AssignmentNameTakenError,
    AssignmentNotClosedError,
    AssignmentNotFoundError,
    ClosedDeadlineEditError,
    ClosesBeforeOpensError,
    ConfirmAfterHandinsError,
    ConfirmWithAutoSubmitError,
    ConfirmWithSubmitOnceError,
    DeadlineInPastError,
    ExtensionBeforeDeadlineError,
    GroupModeLockedError,
    GroupNotFoundError,
    GroupSizeBelowCurrentError,
    LateBeforeCloseError,
    MaxFileSizeError,
    MaxGroupSizeError,
    MaxStorageError,
    MaxUploadsError,
    PartsAfterUploadsError,
    PartsInUseError,
)
from bot.domain.identical import IdenticalFiles, identical_files
from bot.domain.models import (
    Actor,
    Assignment,
    AssignmentState,
    Candidate,
    Group,
    GroupMode,
    GuildSettings,
    HandIn,
    Member,
    Person,
    Submission,
    Unreached,
    Upload,
    deadlines_for,
)
from bot.domain.quotas import (
    DEFAULT_MAX_STORAGE_MB,
    DEFAULT_MAX_UPLOADS,
    NO_USAGE,
    GroupUsage,
    near_quota,
)
from bot.domain.rules import MIB, name_key, parse_file_types, parse_parts
from bot.services.common import (
    find_assignment,
    find_assignment_exactly,
    is_staff,
    may_take_part,
    register_role_members,
    require_staff,
)
from bot.services.finalization import (
    FinalizationChange,
    Finalizer,
    agreed_among,
    choose_final_among,
    waiting_among,
)
from bot.services.ports import Notifier, Wakeups
from storage.db import Connection, Database
from storage.repos import assignments as assignment_repo
from storage.repos import confirmations as confirm_repo
from storage.repos import groups as group_repo
from storage.repos import misc as misc_repo
from storage.repos import quotas as quota_repo
from storage.repos import uploads as upload_repo
from storage.repos.assignments import AssignmentFields

log = logging.getLogger(__name__)

DEFAULT_REMINDERS = (24 * 3600, 3600)
DEFAULT_MAX_FILE_MB = 10.0


@dataclass(frozen=True, slots=True)
class AssignmentOptions:
    """The options of `/assignment create` and `/assignment edit`, as typed (None = not given)."""

    closes: str | None = None
    opens: str | None = None
    mode: GroupMode | None = None
    auto_submit: bool | None = None
    submit_once: bool | None = None
    max_group_size: int | None = None
    max_file_mb: float | None = None
    file_types: str | None = None
    late_until: str | None = None
    single_editor: bool | None = None
    anonymous: bool | None = None
    role_id: int | None = None
    channel_id: int | None = None
    reminders: str | None = None
    new_name: str | None = None
    max_uploads: int | None = None
    max_storage_mb: float | None = None
    # `report:pdf; code:zip,tar.gz`, or `none` (SPEC §6).
    parts: str | None = None
    # Every current member must agree to the latest upload (SPEC §5b).
    all_must_confirm: bool | None = None


@dataclass(frozen=True, slots=True)
class AssignmentCounts:
    candidates: int
    groups: int
    groups_with_uploads: int
    submissions: int


@dataclass(frozen=True, slots=True)
class GroupOverview:
    group: Group
    members: tuple[Member, ...]
    uploads: int
    handed_in: bool
    final_deadline: datetime
    usage: GroupUsage
    near_quota: bool
    # Who hands in (SPEC §5b): the reason of the staff hand-in that is the group's final, and
    # the candidate numbers of members yet to agree (all_must_confirm).
    staff_reason: str | None = None
    waiting_for: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Overview:
    assignment: Assignment
    state: AssignmentState
    candidates: tuple[Candidate, ...]
    groups: tuple[GroupOverview, ...]
    without_group: tuple[Candidate, ...]
    uploads: int
    handins: int
    submissions: int
    undelivered: dict[int, list[Unreached]]
    # Set while uploads are refused for lack of disk space (bot/services/diskspace.py).
    disk_low_since: datetime | None
    # Groups whose finals (recorded, or the ones they would hand in now) are the same file.
    identical: tuple[IdenticalFiles, ...] = ()
    # When each upload was sent, oldest first (the overview's chart).
    upload_times: tuple[datetime, ...] = ()


class AssignmentService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        finalizer: Finalizer,
        notifier: Notifier,
        wakeups: Wakeups,
    ) -> None:
        self._db = db
        self._clock = clock
        self._finalizer = finalizer
        self._notifier = notifier
        self._wakeups = wakeups

    # --- create / edit ---------------------------------------------------------------------
    async def create(
        self,
        guild_id: int,
        actor: Actor,
        name: str,
        options: AssignmentOptions,
        *,
        sent_at: datetime,
        upload_limit_bytes: int,
        default_channel_id: int | None = None,
    ) -> Assignment:
        async with self._db.transaction() as conn:
            settings = await require_staff(conn, guild_id, actor)
            fields = _build_fields(
                _new_defaults(name, sent_at, default_channel_id),
                options,
                settings=settings,
                now=sent_at,
                upload_limit_bytes=upload_limit_bytes,
                name=name,
            )
            _check_deadline_future(fields.closes_at, sent_at)
            if await assignment_repo.by_name_key(conn, guild_id, fields.name_key):
                raise AssignmentNameTakenError(name=fields.name)
            assignment_id = await assignment_repo.insert(
                conn, guild_id, fields, created_by=actor.user_id, created_at=sent_at
            )
            await assignment_repo.save_parts(conn, assignment_id, fields.parts)
            created = await assignment_repo.get(conn, assignment_id)
        assert created is not None
        log.info("assignment %d created in guild %d", created.id, guild_id)
        self._wakeups.assignment_changed(created.id)
        return created

    async def edit(
        self,
        guild_id: int,
        actor: Actor,
        name: str,
        options: AssignmentOptions,
        *,
        sent_at: datetime,
        upload_limit_bytes: int,
    ) -> Assignment:
        async with self._db.transaction() as conn:
            settings = await require_staff(conn, guild_id, actor)
            current = await find_assignment_exactly(conn, guild_id, name)
            base = _fields_of(current)
            fields = _build_fields(
                base,
                options,
                settings=settings,
                now=sent_at,
                upload_limit_bytes=upload_limit_bytes,
                name=options.new_name,
            )
            await self._check_edit(conn, current, fields, sent_at)
            await assignment_repo.update(conn, current.id, fields)
            if options.parts is not None:
                await assignment_repo.save_parts(conn, current.id, fields.parts)
            if (fields.closes_at, fields.reminders) != (current.closes_at, current.reminders):
                # Offsets already past for the new deadline are skipped, not sent at once.
                await assignment_repo.set_reminders_from(conn, current.id, sent_at)
            # An extension never shortens a group's time: one the new deadline passes is moot.
            await group_repo.drop_extensions_before(conn, current.id, fields.closes_at)
            edited = await assignment_repo.get(conn, current.id)
        assert edited is not None
        self._wakeups.assignment_changed(edited.id)
        return edited

    async def _check_edit(
        self,
        conn: Connection,
        current: Assignment,
        fields: AssignmentFields,
        now: datetime,
    ) -> None:
        closes_moved = fields.closes_at != current.closes_at
        late_moved = fields.late_until != current.late_until
        if closes_moved or late_moved:
            if current.state(now) is AssignmentState.CLOSED:
                raise ClosedDeadlineEditError(name=current.name)
            # Only what moved must lie ahead: staff may stretch a late window already running.
            if closes_moved:
                _check_deadline_future(fields.closes_at, now)
            if late_moved and fields.late_until is not None:
                _check_deadline_future(fields.late_until, now)
        if fields.name_key != name_key(current.name):
            other = await assignment_repo.by_name_key(conn, current.guild_id, fields.name_key)
            if other is not None and other.id != current.id:
                raise AssignmentNameTakenError(name=fields.name)
        if fields.group_mode != current.group_mode and await group_repo.group_count(
            conn, current.id
        ):
            raise GroupModeLockedError()
        if fields.max_group_size is not None:
            largest = await group_repo.largest_group_size(conn, current.id)
            if fields.max_group_size < largest:
                raise GroupSizeBelowCurrentError(value=fields.max_group_size, largest=largest)
        if fields.anonymous != current.anonymous and current.exported_at is not None:
            raise AnonymityLockedError()
        await _check_parts_edit(conn, current, fields)
        # Any upload, not only a hand-in: with auto_submit an upload is the group's final, and
        # turning the agreement on would leave every such group without one, unannounced.
        if fields.all_must_confirm != current.all_must_confirm and (
            await upload_repo.assignment_has_uploads(conn, current.id)
        ):
            raise ConfirmAfterHandinsError(name=current.name)

    # --- reading ---------------------------------------------------------------------------
    async def for_staff(self, guild_id: int, actor: Actor, name: str) -> Assignment:
        """The assignment, for a staff member (announcements)."""
        async with self._db.reading() as conn:
            await require_staff(conn, guild_id, actor)
            return await find_assignment_exactly(conn, guild_id, name)

    async def get(self, guild_id: int, name: str) -> Assignment:
        async with self._db.reading() as conn:
            return await find_assignment(conn, guild_id, name)

    async def by_id(self, guild_id: int, assignment_id: int) -> Assignment:
        """The guild's assignment with this id (a button names it so: names can change)."""
        async with self._db.reading() as conn:
            assignment = await assignment_repo.get(conn, assignment_id)
        if assignment is None or assignment.guild_id != guild_id:
            raise AssignmentNotFoundError(name=str(assignment_id))
        return assignment

    async def list_for_staff(
        self, guild_id: int, actor: Actor
    ) -> list[tuple[Assignment, AssignmentCounts]]:
        async with self._db.reading() as conn:
            await require_staff(conn, guild_id, actor)
            result = []
            for assignment in await assignment_repo.in_guild(conn, guild_id):
                result.append((assignment, await _counts(conn, assignment)))
            return result

    async def names_for(self, guild_id: int, actor: Actor, typed: str, *, staff: bool) -> list[str]:
        """Autocomplete: names matching `typed` that this user may act on.

        Staff commands list every assignment (to staff only); student commands list the open
        and scheduled ones the student may take part in, and closed ones they took part in.
        """
        now = self._clock.now()
        wanted = name_key(typed)
        async with self._db.reading() as conn:
            settings = await assignment_repo.get_settings(conn, guild_id)
            if staff and not is_staff(actor, settings):
                return []
            names: list[str] = []
            for assignment in await assignment_repo.in_guild(conn, guild_id):
                if wanted and wanted not in name_key(assignment.name):
                    continue
                if staff or await _student_may_see(conn, assignment, actor, now):
                    names.append(assignment.name)
            return names

    async def for_student(
        self, guild_id: int, actor: Actor
    ) -> list[tuple[Assignment, Candidate | None, Group | None]]:
        """`/assignments`: what the student takes part in or can join, and their archive."""
        now = self._clock.now()
        async with self._db.reading() as conn:
            result = []
            for assignment in await assignment_repo.in_guild(conn, guild_id):
                if not await _student_may_see(conn, assignment, actor, now):
                    continue
                candidate = await group_repo.candidate(conn, assignment.id, actor.user_id)
                group = await group_repo.group_of(conn, assignment.id, actor.user_id)
                result.append((assignment, candidate, group))
            return result

    async def overview(
        self, guild_id: int, actor: Actor, name: str, people: list[Person] | None = None
    ) -> Overview:
        """Everything staff need to see about one assignment.

        `people`, the guild's members, lets an assignment with a role list the members who have
        the role but never used a command (registered here as candidates with no group).
        """
        now = self._clock.now()
        async with self._db.reading() as conn:
            await require_staff(conn, guild_id, actor)
            assignment = await find_assignment_exactly(conn, guild_id, name)
            if assignment.role_id is None or not people:
                # Nothing to register: a read, with no commit (and no fsync) to wait for.
                return await _overview(conn, assignment, now)
        async with self._db.transaction() as conn:
            await require_staff(conn, guild_id, actor)
            assignment = await find_assignment_exactly(conn, guild_id, name)
            await register_role_members(conn, assignment, people, now)
            return await _overview(conn, assignment, now)

    # --- deadlines -------------------------------------------------------------------------
    async def close_now(
        self, guild_id: int, actor: Actor, name: str, *, sent_at: datetime
    ) -> tuple[Assignment, list[FinalizationChange]]:
        """Close at the moment the command was sent: every group, extensions included.

        A hard stop rather than a new deadline: what was sent before keeps its late flag (an
        upload in the late window stays late), and nothing sent later is accepted.
        """
        async with self._db.transaction() as conn:
            assignment = await _closable(conn, guild_id, actor, name, sent_at)
            await assignment_repo.set_closed(conn, assignment.id, sent_at)
        changes = await self._finalizer.finalize_due(assignment.id)
        closed = await self.get(guild_id, assignment.name)
        self._wakeups.assignment_changed(closed.id)
        return closed, changes

    async def check_close(
        self, guild_id: int, actor: Actor, name: str, *, sent_at: datetime
    ) -> Assignment:
        """What `close_now` would refuse, refused now (before staff are asked to confirm)."""
        async with self._db.reading() as conn:
            return await _closable(conn, guild_id, actor, name, sent_at)

    async def check_reopen(
        self, guild_id: int, actor: Actor, name: str, closes: str, *, sent_at: datetime
    ) -> tuple[Assignment, datetime]:
        """What `reopen` would refuse, refused now; else the assignment and its new deadline."""
        async with self._db.reading() as conn:
            return await _reopen_target(conn, guild_id, actor, name, closes, sent_at)

    async def reopen(
        self, guild_id: int, actor: Actor, name: str, closes: str, *, sent_at: datetime
    ) -> Assignment:
        async with self._db.transaction() as conn:
            assignment, new_closes = await _reopen_target(
                conn, guild_id, actor, name, closes, sent_at
            )
            window = assignment.late_window
            late_until = None if window is None else new_closes + window
            opens = min(assignment.opens_at, sent_at)
            await assignment_repo.set_deadlines(
                conn, assignment.id, closes_at=new_closes, late_until=late_until, opens_at=opens
            )
            await assignment_repo.set_closed(conn, assignment.id, None)
            await assignment_repo.set_reminders_from(conn, assignment.id, sent_at)
            await group_repo.drop_extensions_before(conn, assignment.id, new_closes)
            await group_repo.unfinalize_all(conn, assignment.id)
            reopened = await assignment_repo.get(conn, assignment.id)
        assert reopened is not None
        self._wakeups.assignment_changed(reopened.id)
        return reopened

    async def extend(
        self, guild_id: int, actor: Actor, name: str, pin: str, closes: str, *, sent_at: datetime
    ) -> tuple[Assignment, Group]:
        """Give one group its own deadline; a group already finalized is reopened until then."""
        async with self._db.transaction() as conn:
            settings = await require_staff(conn, guild_id, actor)
            assignment = await find_assignment_exactly(conn, guild_id, name)
            group = await group_repo.group_by_pin(conn, assignment.id, pin.strip())
            if group is None:
                raise GroupNotFoundError(pin=pin)
            new_closes = timeparse.parse_time(
                closes, now=sent_at, tz=settings.timezone, option="closes"
            )
            _check_deadline_future(new_closes, sent_at)
            if new_closes <= assignment.closes_at:
                raise ExtensionBeforeDeadlineError(closes=assignment.closes_at)
            await group_repo.set_extension(conn, group.id, new_closes)
            was_final = group.finalized_at is not None
            await group_repo.set_finalized(conn, group.id, None)
            extended = await group_repo.group(conn, group.id)
            members = [m.user_id for m in await group_repo.members(conn, group.id)]
        assert extended is not None
        self._wakeups.assignment_changed(assignment.id)
        if was_final:
            await self._notifier.group_reopened(assignment, extended, members)
        return assignment, extended

    async def mark_exported(self, assignment_id: int) -> None:
        async with self._db.transaction() as conn:
            await assignment_repo.mark_exported(conn, assignment_id, self._clock.now())


# --- helpers -------------------------------------------------------------------------------
async def _reopen_target(
    conn: Connection,
    guild_id: int,
    actor: Actor,
    name: str,
    closes: str,
    sent_at: datetime,
) -> tuple[Assignment, datetime]:
    settings = await require_staff(conn, guild_id, actor)
    assignment = await find_assignment_exactly(conn, guild_id, name)
    if assignment.state(sent_at) is not AssignmentState.CLOSED:
        raise AssignmentNotClosedError(name=assignment.name)
    new_closes = timeparse.parse_time(closes, now=sent_at, tz=settings.timezone, option="closes")
    _check_deadline_future(new_closes, sent_at)
    return assignment, new_closes


def _new_defaults(name: str, now: datetime, channel_id: int | None) -> AssignmentFields:
    return AssignmentFields(
        name=name,
        name_key=name_key(name),
        opens_at=now,
        closes_at=now,
        late_until=None,
        group_mode=GroupMode.OPEN,
        auto_submit=True,
        submit_once=False,
        max_group_size=None,
        max_file_mb=DEFAULT_MAX_FILE_MB,
        file_types=(),
        single_editor=False,
        anonymous=True,
        role_id=None,
        channel_id=channel_id,
        reminders=DEFAULT_REMINDERS,
        max_uploads=DEFAULT_MAX_UPLOADS,
        max_storage_mb=DEFAULT_MAX_STORAGE_MB,
    )


def _fields_of(assignment: Assignment) -> AssignmentFields:
    return AssignmentFields(
        name=assignment.name,
        name_key=name_key(assignment.name),
        opens_at=assignment.opens_at,
        closes_at=assignment.closes_at,
        late_until=assignment.late_until,
        group_mode=assignment.group_mode,
        auto_submit=assignment.auto_submit,
        submit_once=assignment.submit_once,
        max_group_size=assignment.max_group_size,
        max_file_mb=assignment.max_file_mb,
        file_types=assignment.file_types,
        single_editor=assignment.single_editor,
        anonymous=assignment.anonymous,
        role_id=assignment.role_id,
        channel_id=assignment.channel_id,
        reminders=assignment.reminders,
        max_uploads=assignment.max_uploads,
        max_storage_mb=assignment.max_storage_mb,
        parts=tuple((p.name, p.file_types) for p in assignment.parts),
        all_must_confirm=assignment.all_must_confirm,
    )


async def _check_parts_edit(
    conn: Connection, current: Assignment, fields: AssignmentFields
) -> None:
    """Parts cannot be removed or renamed once a group uploaded to them (SPEC §6), and an
    assignment that has uploads without parts cannot get parts (they would belong to none)."""
    kept = {name.lower() for name, _ in fields.parts}
    dropped = [p for p in current.parts if p.name.lower() not in kept]
    if dropped:
        used = set(await upload_repo.parts_with_uploads(conn, [p.id for p in dropped]))
        in_use = [p.name for p in dropped if p.id in used]
        if in_use:
            raise PartsInUseError(parts=", ".join(f"`{name}`" for name in in_use))
    adding = bool(fields.parts) and not current.parts
    if adding and await upload_repo.assignment_has_uploads(conn, current.id):
        raise PartsAfterUploadsError()


def _build_fields(
    base: AssignmentFields,
    options: AssignmentOptions,
    *,
    settings: GuildSettings,
    now: datetime,
    upload_limit_bytes: int,
    name: str | None,
) -> AssignmentFields:
    """Apply the given options over `base`, validating each (times in the guild's zone)."""
    changes: dict[str, object] = {}
    if name is not None:
        changes |= _name_changes(name)
    changes |= _time_changes(base, options, settings, now)
    changes |= _limit_changes(options, upload_limit_bytes)
    changes |= _quota_changes(options)
    changes |= _parsed_changes(options)
    plain = {
        "group_mode": options.mode,
        "auto_submit": options.auto_submit,
        "submit_once": options.submit_once,
        "single_editor": options.single_editor,
        "anonymous": options.anonymous,
        "role_id": options.role_id,
        "channel_id": options.channel_id,
    }
    changes |= {key: value for key, value in plain.items() if value is not None}
    changes |= _confirm_changes(base, options)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _confirm_changes(base: AssignmentFields, options: AssignmentOptions) -> dict[str, object]:
    """`all_must_confirm` implies `auto_submit` off: given together with `auto_submit:true`, or
    `auto_submit:true` while it stays on, is refused (the schema holds the rule too)."""
    confirm = (
        base.all_must_confirm if options.all_must_confirm is None else options.all_must_confirm
    )
    if confirm and options.auto_submit:
        raise ConfirmWithAutoSubmitError()
    # submit_once would lock the group at the first member's hand-in, before the others agree.
    if confirm and (base.submit_once if options.submit_once is None else options.submit_once):
        raise ConfirmWithSubmitOnceError()
    if options.all_must_confirm is None:
        return {}
    if options.all_must_confirm:
        return {"all_must_confirm": True, "auto_submit": False}
    return {"all_must_confirm": False}


def _name_changes(name: str) -> dict[str, object]:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 100:
        raise AssignmentNameInvalidError()
    return {"name": cleaned, "name_key": name_key(cleaned)}


def _time_changes(
    base: AssignmentFields, options: AssignmentOptions, settings: GuildSettings, now: datetime
) -> dict[str, object]:
    """Opens, closes and the late window, in order (a time not given keeps `base`'s)."""

    def when(text: str | None, option: str, fallback: datetime | None) -> datetime | None:
        if text is None:
            return fallback
        if option == "late_until" and text.strip().lower() in {"", "none", "off"}:
            return None
        return timeparse.parse_time(text, now=now, tz=settings.timezone, option=option)

    opens = when(options.opens, "opens", base.opens_at)
    closes = when(options.closes, "closes", base.closes_at)
    late = when(options.late_until, "late_until", base.late_until)
    assert opens is not None and closes is not None
    if closes <= opens:
        raise ClosesBeforeOpensError(opens=opens, closes=closes)
    if late is not None and late <= closes:
        raise LateBeforeCloseError(closes=closes, late_until=late)
    return {"opens_at": opens, "closes_at": closes, "late_until": late}


def _limit_changes(options: AssignmentOptions, upload_limit_bytes: int) -> dict[str, object]:
    changes: dict[str, object] = {}
    if options.max_group_size is not None:
        if options.max_group_size < 1:
            raise MaxGroupSizeError(value=options.max_group_size)
        changes["max_group_size"] = options.max_group_size
    if options.max_file_mb is not None:
        limit_mb = upload_limit_bytes / MIB
        if not 0 < options.max_file_mb <= limit_mb:
            raise MaxFileSizeError(value=options.max_file_mb, limit_mb=round(limit_mb, 2))
        changes["max_file_mb"] = options.max_file_mb
    return changes


def _parsed_changes(options: AssignmentOptions) -> dict[str, object]:
    """The options written as small languages: file types, reminder offsets, parts."""
    changes: dict[str, object] = {}
    if options.file_types is not None:
        changes["file_types"] = parse_file_types(options.file_types)
    if options.reminders is not None:
        changes["reminders"] = timeparse.parse_reminders(options.reminders)
    if options.parts is not None:
        changes["parts"] = parse_parts(options.parts)
    return changes


def _quota_changes(options: AssignmentOptions) -> dict[str, object]:
    # Lowering a quota below what a group already stored is allowed: it breaks no recorded
    # data, it only stops that group's further uploads.
    changes: dict[str, object] = {}
    if options.max_uploads is not None:
        if options.max_uploads < 1:
            raise MaxUploadsError(value=options.max_uploads)
        changes["max_uploads"] = options.max_uploads
    if options.max_storage_mb is not None:
        if not options.max_storage_mb > 0:
            raise MaxStorageError(value=options.max_storage_mb)
        changes["max_storage_mb"] = options.max_storage_mb
    return changes


def _check_deadline_future(closes: datetime, now: datetime) -> None:
    if closes <= now:
        raise DeadlineInPastError(when=closes)


async def _student_may_see(
    conn: Connection, assignment: Assignment, actor: Actor, now: datetime
) -> bool:
    taking_part = await group_repo.candidate(conn, assignment.id, actor.user_id) is not None
    if taking_part:
        return True
    return assignment.state(now) is not AssignmentState.CLOSED and may_take_part(
        assignment, actor.role_ids
    )


async def _closable(
    conn: Connection, guild_id: int, actor: Actor, name: str, sent_at: datetime
) -> Assignment:
    """The assignment `close_now` may close: staff asked, and some group can still hand in."""
    await require_staff(conn, guild_id, actor)
    assignment = await find_assignment_exactly(conn, guild_id, name)
    if assignment.state(sent_at) is AssignmentState.CLOSED and not await _extended(
        conn, assignment, sent_at
    ):
        raise ClosedDeadlineEditError(name=assignment.name)
    return assignment


async def _extended(conn: Connection, assignment: Assignment, now: datetime) -> bool:
    """Whether a group's own (extended) deadline is still ahead."""
    return any(
        deadlines_for(assignment, g).final > now
        for g in await group_repo.groups(conn, assignment.id)
    )


async def _counts(conn: Connection, assignment: Assignment) -> AssignmentCounts:
    assignment_id = assignment.id
    uploads = await upload_repo.upload_counts(conn, assignment_id)
    groups = await group_repo.groups(conn, assignment_id)
    submissions = 0
    for group in groups:
        current = await upload_repo.current_submission(conn, group.id, assignment.parts)
        submissions += int(current is not None and not current.empty)
    return AssignmentCounts(
        candidates=len(await group_repo.candidates(conn, assignment_id)),
        groups=len(groups),
        groups_with_uploads=len(uploads),
        submissions=submissions,
    )


async def _overview(conn: Connection, assignment: Assignment, now: datetime) -> Overview:
    members = await group_repo.members_by_group(conn, assignment.id)
    usage = await quota_repo.usage_by_group(conn, assignment.id)
    # A few queries for the whole assignment, not two per group (130 groups: the overview
    # answers within the scale benchmark's 100 ms).
    current_of = await upload_repo.current_submissions(conn, assignment.id, assignment.parts)
    uploads_of = await upload_repo.uploads_by_group(conn, assignment.id)
    handins_of = await upload_repo.handins_by_group(conn, assignment.id)
    confirmed_of = (
        await confirm_repo.confirmed_by_group(conn, assignment.id)
        if assignment.all_must_confirm
        else {}
    )
    rows: list[GroupOverview] = []
    handins = sum(len(group_handins) for group_handins in handins_of.values())
    submissions = 0
    finals: list[tuple[str, str | None, str]] = []
    for group in await group_repo.groups(conn, assignment.id):
        current = current_of.get(group.id)
        submissions += int(current is not None and not current.empty)
        finals.extend(
            _final_hashes(
                assignment,
                group,
                current,
                uploads_of.get(group.id, []),
                handins_of.get(group.id, []),
                confirmed_of.get(group.id, {}),
                members.get(group.id, []),
            )
        )
        waiting = waiting_among(
            assignment,
            members.get(group.id, []),
            uploads_of.get(group.id, []),
            confirmed_of.get(group.id, {}),
        )
        used = usage.get(group.id, NO_USAGE)
        rows.append(
            GroupOverview(
                group=group,
                members=tuple(members.get(group.id, [])),
                uploads=used.uploads,
                handed_in=group.id in handins_of,
                final_deadline=deadlines_for(assignment, group).final,
                usage=used,
                near_quota=near_quota(assignment, used),
                staff_reason=_staff_reason(current, handins_of.get(group.id, [])),
                waiting_for=tuple(m.number for m in waiting),
            )
        )
    return Overview(
        assignment=assignment,
        state=assignment.state(now),
        candidates=tuple(await group_repo.candidates(conn, assignment.id)),
        groups=tuple(rows),
        without_group=tuple(await group_repo.candidates_without_group(conn, assignment.id)),
        uploads=sum(u.uploads for u in usage.values()),
        handins=handins,
        submissions=submissions,
        undelivered=await misc_repo.undelivered(conn, assignment.id),
        disk_low_since=await quota_repo.disk_low_since(conn),
        identical=identical_files(finals),
        upload_times=tuple(await upload_repo.sent_times(conn, assignment.id)),
    )


def _staff_reason(current: Submission | None, handins: Sequence[HandIn]) -> str | None:
    """Why staff handed in the recorded final on the group's behalf (None: they did not)."""
    if current is None:
        return None
    chosen = {current.handin_id} | {p.handin_id for p in current.parts}
    return next((h.staff_reason for h in handins if h.id in chosen and h.by_staff), None)


def _final_hashes(
    assignment: Assignment,
    group: Group,
    current: Submission | None,
    uploads: Sequence[Upload],
    handins: Sequence[HandIn],
    confirmed: dict[int, set[int]],
    members: Sequence[Member],
) -> list[tuple[str, str | None, str]]:
    """(PIN, part, SHA-256) of the group's finals: recorded once finalized, else what it would
    hand in now (as the export shows it)."""
    if group.finalized_at is not None:
        if current is None:
            return []
        if not assignment.parts:
            return [] if current.upload is None else [(group.pin, None, current.upload.sha256)]
        return [(group.pin, f.part.name, f.upload.sha256) for f in current.parts if f.upload]
    agreed = agreed_among({m.user_id for m in members}, confirmed)
    choice = choose_final_among(assignment, group, uploads, handins, agreed)
    if not assignment.parts:
        return [] if choice.upload is None else [(group.pin, None, choice.upload.sha256)]
    return [(group.pin, f.part.name, f.upload.sha256) for f in choice.parts if f.upload]
