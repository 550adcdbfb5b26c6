"""The domain's value types: frozen snapshots of what the database holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class GroupMode(StrEnum):
    PREDEFINED = "predefined"
    OPEN = "open"
    PASSWORD = "password"


class AssignmentState(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a guild member as the bot layer saw them in the interaction."""

    user_id: int
    display_name: str = ""
    role_ids: frozenset[int] = frozenset()
    # The Manage Server permission; staff rights also come from the guild's staff role.
    can_manage_guild: bool = False


@dataclass(frozen=True, slots=True)
class Person:
    """A guild member as the member list knows them: what CSV imports and role lookups match."""

    user_id: int
    username: str
    global_name: str | None = None
    nick: str | None = None
    role_ids: frozenset[int] = frozenset()

    @property
    def display_name(self) -> str:
        return self.nick or self.global_name or self.username


@dataclass(frozen=True, slots=True)
class GuildSettings:
    guild_id: int
    staff_role_id: int | None = None
    timezone: str = "UTC"
    locale: str = "en"


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a hand-in in several parts (SPEC §6): its name and its own file types
    (empty: the assignment's apply)."""

    id: int
    name: str
    file_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assignment:
    id: int
    guild_id: int
    name: str
    opens_at: datetime
    closes_at: datetime
    late_until: datetime | None
    # Set by `/assignment close`: nothing sent from then on is accepted, by any group.
    closed_at: datetime | None
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
    created_by: int
    created_at: datetime
    exported_at: datetime | None
    # Per group: at most this many uploads and MiB stored (bot/domain/quotas.py).
    max_uploads: int
    max_storage_mb: float
    # When the reminder offsets were last set (None: at creation); see `reminders_since`.
    reminders_from: datetime | None = None
    # The parts of the hand-in, in order; none: one file per hand-in, as before parts existed.
    parts: tuple[Part, ...] = ()

    def part_named(self, name: str) -> Part | None:
        key = name.strip().lower()
        return next((p for p in self.parts if p.name.lower() == key), None)

    def part_by_id(self, part_id: int | None) -> Part | None:
        return next((p for p in self.parts if p.id == part_id), None)

    def types_for(self, part: Part | None) -> tuple[str, ...]:
        """The file types an upload (to `part`) may have: the part's own, else the
        assignment's."""
        return part.file_types if part is not None and part.file_types else self.file_types

    @property
    def reminders_since(self) -> datetime:
        """A reminder due before this was already past when it was set: it is skipped. One due
        after it and missed (the bot was down) is caught up."""
        return self.reminders_from or self.created_at

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_storage_bytes(self) -> int:
        return int(self.max_storage_mb * 1024 * 1024)

    @property
    def late_window(self) -> timedelta | None:
        return None if self.late_until is None else self.late_until - self.closes_at

    @property
    def final_deadline(self) -> datetime:
        """When the assignment (without extensions) stops taking uploads."""
        return _capped(self.late_until or self.closes_at, self.closed_at)

    def state(self, now: datetime) -> AssignmentState:
        if now < self.opens_at:
            return AssignmentState.SCHEDULED
        if now < self.final_deadline:
            return AssignmentState.OPEN
        return AssignmentState.CLOSED


@dataclass(frozen=True, slots=True)
class Candidate:
    assignment_id: int
    user_id: int
    number: int
    display_name: str


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    assignment_id: int
    pin: str
    name: str | None
    password: str | None
    closes_at: datetime | None
    finalized_at: datetime | None
    lease_user_id: int | None
    lease_until: datetime | None

    @property
    def label(self) -> str:
        """What graders see: the staff-given name, or the PIN for student-made groups."""
        return self.name or self.pin


@dataclass(frozen=True, slots=True)
class GroupDeadlines:
    """One group's own deadline and the end of its late window."""

    closes_at: datetime
    late_until: datetime | None
    closed_at: datetime | None = None

    @property
    def final(self) -> datetime:
        """When the group stops taking uploads: its late window's end, or its deadline, unless
        staff closed the assignment earlier."""
        return _capped(self.late_until or self.closes_at, self.closed_at)

    @property
    def locks_at(self) -> datetime:
        """When membership freezes: the group's own deadline, or staff's close if earlier."""
        return _capped(self.closes_at, self.closed_at)

    def accepts(self, sent_at: datetime) -> bool:
        return sent_at < self.final

    def is_late(self, sent_at: datetime) -> bool:
        return sent_at >= self.closes_at


def deadlines_for(assignment: Assignment, group: Group | None) -> GroupDeadlines:
    """A group's deadlines: its extension, if any, shifts the late window with it (SPEC §1)."""
    closes = group.closes_at if group is not None and group.closes_at else assignment.closes_at
    window = assignment.late_window
    late_until = None if window is None else closes + window
    return GroupDeadlines(closes_at=closes, late_until=late_until, closed_at=assignment.closed_at)


def _capped(moment: datetime, stop: datetime | None) -> datetime:
    return moment if stop is None else min(moment, stop)


@dataclass(frozen=True, slots=True)
class Member:
    """A group member with their candidate number."""

    user_id: int
    number: int
    display_name: str


@dataclass(frozen=True, slots=True)
class Upload:
    id: int
    group_id: int
    user_id: int
    filename: str
    size: int
    sha256: str
    content_type: str | None
    sent_at: datetime
    stored_at: datetime
    late: bool
    # The part it is for (assignments with parts), else None.
    part_id: int | None = None


@dataclass(frozen=True, slots=True)
class PartFinal:
    """One part's final (or would-be final) upload; `upload` None: nothing in that part."""

    part: Part
    upload: Upload | None
    handin_id: int | None
    late: bool


@dataclass(frozen=True, slots=True)
class HandIn:
    id: int
    group_id: int
    upload_id: int
    user_id: int
    sent_at: datetime
    late: bool


@dataclass(frozen=True, slots=True)
class Submission:
    """A recorded final submission (revision n of a group); `upload` None = nothing handed in."""

    group_id: int
    revision: int
    upload: Upload | None
    handin_id: int | None
    late: bool
    recorded_at: datetime
    # With parts: every part's final (the revision's own `upload` is None then).
    parts: tuple[PartFinal, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing handed in: no upload, in no part."""
        return self.upload is None and not any(p.upload for p in self.parts)


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group with its members, as shown to its members and to staff."""

    group: Group
    members: tuple[Member, ...]
    deadlines: GroupDeadlines
    assignment: Assignment


@dataclass(frozen=True, slots=True)
class Receipt:
    """One member's receipt for a recorded final submission."""

    id: int
    assignment: Assignment
    group: Group
    user_id: int
    upload: Upload
    uploader_number: int | None
    late: bool
    replaces: bool
    revision: int
    # With parts: every part's final, and the uploaders' candidate numbers by user id.
    parts: tuple[PartFinal, ...] = ()
    numbers: dict[int, int] = field(default_factory=dict)
    # The signed receipt code (SPEC §8): of the file, or with parts of each part's file by
    # part id (one code per file: each stays short enough to paste, and proves one hand-in).
    code: str | None = None
    part_codes: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Unreached:
    """A DM that could not reach a member: what it was (`receipt`, `reminder`) and why
    (a Delivery's reason, such as `closed` or `refused:50001`)."""

    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReceiptDue:
    """A pending receipt in the outbox whose next try is due."""

    id: int
    group_id: int
    revision: int
    user_id: int
    # Tries so far (failed ones: a sent receipt is no longer pending).
    attempts: int


@dataclass(frozen=True, slots=True)
class UploadNotice:
    """Tells the other members of a group who uploaded what."""

    assignment: Assignment
    group: Group
    upload: Upload
    uploader: Member
    recipients: tuple[int, ...] = field(default=())


class ReminderReason(StrEnum):
    NO_UPLOAD = "no_upload"
    # Parts: some part has no upload yet (the reminder names them).
    MISSING_PART = "missing_part"
    NOT_HANDED_IN = "not_handed_in"
    NO_GROUP = "no_group"


@dataclass(frozen=True, slots=True)
class Reminder:
    """One reminder DM: who, why, and the deadline it is about."""

    assignment: Assignment
    user_id: int
    reason: ReminderReason
    deadline: datetime
    # MISSING_PART: the names of the parts with no upload.
    parts: tuple[str, ...] = ()
