"""Staff handing in a file on a group's behalf (SPEC §5b, Inspera's "submit on behalf"): the
student whose upload failed sends the file to a TA, who stores it as the group's final."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot.domain.clock import Clock
from bot.domain.errors import GroupNotFoundError, StaffReasonError
from bot.domain.models import Actor, Assignment, Group, GroupView, Part, Upload
from bot.services.common import find_assignment_exactly, group_view, require_staff
from bot.services.diskspace import DiskSpaceGuard
from bot.services.downloads import DownloadPolicy, download
from bot.services.finalization import FinalizationChange, record_final
from bot.services.ports import StoredFiles, Wakeups
from bot.services.quotas import check_upload_quotas
from bot.services.submissions import IncomingFile, check_file, part_for
from storage.db import Connection, Database
from storage.files import ReceivedFile
from storage.repos import groups as group_repo
from storage.repos import uploads as upload_repo

log = logging.getLogger(__name__)

# The reason goes into every member's receipt (a DM embed field holds 1,024 characters).
REASON_MAX = 500


@dataclass(frozen=True, slots=True)
class StaffHandInResult:
    upload: Upload
    view: GroupView
    part: Part | None
    # The group's final as recomputed (None: it was that file already).
    change: FinalizationChange | None
    # The same interaction was delivered before: this is what it recorded then.
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class _Ask:
    """What staff asked for: which group of which assignment, and which part."""

    guild_id: int
    actor: Actor
    name: str
    pin: str
    part: str | None
    # The interaction that asked: the same one delivered twice hands in once.
    interaction_id: int | None


@dataclass(frozen=True, slots=True)
class _Target:
    assignment: Assignment
    group: Group
    part: Part | None


class StaffHandInService:
    def __init__(
        self,
        db: Database,
        files: StoredFiles,
        clock: Clock,
        *,
        disk: DiskSpaceGuard,
        wakeups: Wakeups,
        download_policy: DownloadPolicy | None = None,
    ) -> None:
        self._db = db
        self._files = files
        self._clock = clock
        self._disk = disk
        self._wakeups = wakeups
        self._policy = download_policy or DownloadPolicy()

    async def hand_in(
        self,
        guild_id: int,
        actor: Actor,
        name: str,
        pin: str,
        incoming: IncomingFile,
        reason: str,
        *,
        sent_at: datetime,
        upload_limit_bytes: int | None = None,
        part: str | None = None,
        interaction_id: int | None = None,
    ) -> StaffHandInResult:
        """Store `incoming` as the group's upload by this staff member and make it the group's
        final at once: also after the deadline (not late: staff decided) and for a group
        already finalized (the receipts are corrected). The download rules are `/upload`'s;
        nothing is recorded until the bytes are durable, and a refusal keeps nothing. The same
        interaction delivered twice is answered as the first time."""
        why = _checked_reason(reason)
        ask = _Ask(guild_id, actor, name, pin, part, interaction_id)
        async with self._db.transaction() as conn:
            earlier = await _earlier_delivery(conn, ask)
            if earlier is not None:
                return earlier
            target = await self._target(conn, ask)
            limit = _limit(target.assignment, upload_limit_bytes)
            check_file(
                incoming.filename, incoming.declared_size, limit, target.assignment, target.part
            )
            await check_upload_quotas(
                conn,
                target.assignment,
                target.group,
                actor.user_id,
                incoming.declared_size,
                sent_at,
            )
        await self._disk.require_room(incoming.declared_size)
        received = await download(self._files, incoming.read, incoming.declared_size, self._policy)
        try:
            await self._files.stage(received)
            result = await self._record(ask, incoming, received, why, sent_at)
        finally:
            self._files.discard(received)
        if result.duplicate:
            return result
        log.info("staff hand-in: upload %d for group %d", result.upload.id, result.view.group.id)
        if result.change is not None and result.change.receipts:
            self._wakeups.receipts_waiting()
        return result

    async def _record(
        self,
        ask: _Ask,
        incoming: IncomingFile,
        received: ReceivedFile,
        reason: str,
        sent_at: datetime,
    ) -> StaffHandInResult:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            # Delivered twice, both downloading at once: the first to get here records.
            earlier = await _earlier_delivery(conn, ask)
            if earlier is not None:
                return earlier
            # Staff may have edited the assignment while the bytes were arriving.
            target = await self._target(conn, ask)
            actor = ask.actor
            check_file(
                incoming.filename, received.size, received.size, target.assignment, target.part
            )
            await check_upload_quotas(
                conn, target.assignment, target.group, actor.user_id, received.size, sent_at
            )
            upload = Upload(
                id=0,
                group_id=target.group.id,
                user_id=actor.user_id,
                filename=incoming.filename.replace("\x00", "\ufffd"),
                size=received.size,
                sha256=received.sha256,
                content_type=incoming.content_type,
                sent_at=sent_at.astimezone(UTC),
                stored_at=now,
                late=False,
                part_id=None if target.part is None else target.part.id,
                by_staff=True,
            )
            upload_id = await upload_repo.insert_upload(conn, upload, ask.interaction_id)
            await upload_repo.insert_handin(
                conn,
                group_id=target.group.id,
                upload_id=upload_id,
                user_id=actor.user_id,
                sent_at=sent_at,
                late=False,
                staff_reason=reason,
            )
            change = await record_final(conn, target.assignment, target.group, now)
            view = await group_view(conn, target.assignment, target.group)
            # Last, inside the transaction: a file that cannot be stored records nothing.
            await self._files.publish_many([received])
        return StaffHandInResult(
            upload=replace(upload, id=upload_id), view=view, part=target.part, change=change
        )

    async def _target(self, conn: Connection, ask: _Ask) -> _Target:
        await require_staff(conn, ask.guild_id, ask.actor)
        assignment = await find_assignment_exactly(conn, ask.guild_id, ask.name)
        group = await group_repo.group_by_pin(conn, assignment.id, ask.pin.strip())
        if group is None:
            raise GroupNotFoundError(pin=ask.pin)
        return _Target(assignment, group, part_for(assignment, ask.part))


async def _earlier_delivery(conn: Connection, ask: _Ask) -> StaffHandInResult | None:
    if ask.interaction_id is None:
        return None
    upload = await upload_repo.upload_by_interaction(conn, ask.interaction_id)
    if upload is None:
        return None
    group = await group_repo.group(conn, upload.group_id)
    assert group is not None
    assignment = await find_assignment_exactly(conn, ask.guild_id, ask.name)
    part = next((p for p in assignment.parts if p.id == upload.part_id), None)
    view = await group_view(conn, assignment, group)
    return StaffHandInResult(upload=upload, view=view, part=part, change=None, duplicate=True)


def _checked_reason(reason: str) -> str:
    why = " ".join(reason.split())
    if not why or len(why) > REASON_MAX:
        raise StaffReasonError(max=REASON_MAX)
    return why


def _limit(assignment: Assignment, upload_limit_bytes: int | None) -> int:
    limit = assignment.max_file_bytes
    return limit if upload_limit_bytes is None else min(limit, upload_limit_bytes)
