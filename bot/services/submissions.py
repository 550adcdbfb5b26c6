"""Upload, hand-in, edit lease, status and download: what a group does with its files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.clock import Clock
from bot.domain.errors import (
    DeadlinePassedError,
    DomainError,
    EmptyFileError,
    FileTooLargeError,
    FileTypeError,
    LeaseHeldError,
    NewerUploadError,
    NoLeaseError,
    NoPartsError,
    NothingToDownloadError,
    NothingToHandInError,
    NotOpenYetError,
    PartFileTypeError,
    PartRequiredError,
    RestartingError,
    StoredFileUnreadableError,
    UnknownPartError,
)
from bot.domain.models import (
    Actor,
    Assignment,
    Group,
    GroupDeadlines,
    GroupView,
    HandIn,
    Member,
    Part,
    PartFinal,
    Submission,
    Upload,
    UploadNotice,
    deadlines_for,
)
from bot.domain.rules import LEASE, file_type_allowed, mib
from bot.services.common import (
    find_assignment,
    group_view,
    own_group,
    require_group,
    require_not_submitted,
    settle_candidate,
    view_of,
)
from bot.services.diskspace import DiskSpaceGuard
from bot.services.downloads import ByteSource, DownloadPolicy, TransferSlots, download
from bot.services.finalization import (
    FinalChoice,
    FinalizationChange,
    agreed_among,
    choose_final,
    choose_final_among,
    record_final,
    waiting_among,
)
from bot.services.inflight import InFlightUploads
from bot.services.ports import Notifier, StoredFiles, Wakeups
from bot.services.quotas import check_quotas
from bot.services.upload_batch import UploadBatch, UploadHint
from storage.db import Connection, Database, GroupCommit, Later
from storage.files import DamagedFileError, ReceivedFile
from storage.repos import assignments as assignment_repo
from storage.repos import confirmations as confirm_repo
from storage.repos import groups as group_repo
from storage.repos import uploads as upload_repo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """An attachment as announced, with a way to read its bytes once the checks pass."""

    filename: str
    declared_size: int
    content_type: str | None
    read: ByteSource


@dataclass(frozen=True, slots=True)
class UploadResult:
    upload: Upload
    view: GroupView
    # Set when the upload arrived after its group was finalized and changed the final submission.
    correction: FinalizationChange | None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class HandInResult:
    handin: HandIn
    upload: Upload
    view: GroupView
    # submit_once: the hand-in was recorded as final at once.
    final: FinalizationChange | None
    # With parts: what was handed in for each part (`upload` None: nothing in that part).
    parts: tuple[PartFinal, ...] = ()
    # all_must_confirm: the members who still have to agree (empty: everyone agreed).
    waiting_for: tuple[Member, ...] = ()


@dataclass(frozen=True, slots=True)
class DownloadFile:
    """One file of a `/download` reply: the part it is for (None without parts)."""

    part: Part | None
    upload: Upload


@dataclass(frozen=True, slots=True)
class DownloadResult:
    files: tuple[DownloadFile, ...]
    final: bool
    # Parts with nothing to download (the reply names them).
    missing: tuple[Part, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusView:
    assignment: Assignment
    view: GroupView
    uploads: tuple[Upload, ...]
    handins: tuple[HandIn, ...]
    numbers: dict[int, int]
    pending: FinalChoice
    submission: Submission | None
    finalized: bool
    lease_user_id: int | None
    lease_until: datetime | None
    # all_must_confirm: the members who have not agreed to the latest upload yet.
    waiting_for: tuple[Member, ...] = ()

    @property
    def latest_not_handed_in(self) -> bool:
        """auto_submit off and the latest upload (of some part) is not handed in: the group
        must act."""
        if self.assignment.auto_submit or not self.uploads:
            return False
        handed = {h.upload_id for h in self.handins}
        if self.assignment.parts:
            return any(latest.id not in handed for latest in self.latest_by_part.values())
        return self.uploads[-1].id not in handed

    @property
    def latest_by_part(self) -> dict[int, Upload]:
        """Each part's latest upload, by part id."""
        latest: dict[int, Upload] = {}
        for upload in self.uploads:
            if upload.part_id is not None:
                latest[upload.part_id] = upload
        return latest


class SubmissionService:
    def __init__(
        self,
        db: Database,
        files: StoredFiles,
        clock: Clock,
        notifier: Notifier,
        *,
        disk: DiskSpaceGuard,
        wakeups: Wakeups,
        max_concurrent_downloads: int = 24,
        max_waiting_writes: int = 8,
        inflight: InFlightUploads | None = None,
        download_policy: DownloadPolicy | None = None,
    ) -> None:
        self._db = db
        self._disk = disk
        self._files = files
        self._clock = clock
        self._notifier = notifier
        self._wakeups = wakeups
        self._inflight = inflight or InFlightUploads()
        self._download_policy = download_policy or DownloadPolicy()
        # Bounded: a deadline rush must not open a thousand downloads (and files) at once, nor
        # hold their bytes in memory: 24 + 8 holds at most what 32 download slots held before
        # a finished transfer let go of its slot (issue #13; peak RSS within 150 MiB measured).
        self._transfers = TransferSlots(max_concurrent_downloads, max_waiting_writes)
        self._commits = GroupCommit(db, start_batch=UploadBatch.start, finish=files.publish_many)
        self._accepting = True
        self._running = 0
        self._none_running = asyncio.Event()
        self._none_running.set()

    async def stop(self, timeout: float) -> int:
        """Refuse new uploads ("restarting") and wait up to `timeout` seconds for those running
        to be stored and recorded; return how many were still running then."""
        self._accepting = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none_running.wait(), timeout)
        return self._running

    async def upload(
        self,
        guild_id: int,
        actor: Actor,
        name: str,
        incoming: IncomingFile,
        *,
        sent_at: datetime,
        upload_limit_bytes: int | None = None,
        interaction_id: int | None = None,
        part: str | None = None,
    ) -> UploadResult:
        """Check, store durably, then record. Returns only once bytes and row are durable.

        `part`: the part it is for, required when the assignment has parts (SPEC §6)."""
        if not self._accepting:
            raise RestartingError()
        request = _UploadRequest(
            guild_id, actor, name, incoming, sent_at, upload_limit_bytes, interaction_id, part
        )
        with self._counted():
            return await self._store_and_record(request)

    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        """Counts the uploads running, for a clean stop to wait for."""
        self._running += 1
        self._none_running.clear()
        try:
            yield
        finally:
            self._running -= 1
            if self._running == 0:
                self._none_running.set()

    async def _store_and_record(self, request: _UploadRequest) -> UploadResult:
        # A refusal raises before anything is written but the candidate's registration, which
        # a refusal may keep (SPEC §4): no savepoint needed. Ahead of the records queued: a
        # record holds nobody up, a check holds up a download.
        checked = await self._commits.run(
            lambda conn: self._check_upload(conn, request),
            expected=(DomainError,),
            hint=request.hint,
            first=True,
        )
        if isinstance(checked, UploadResult):
            return checked
        await self._disk.require_room(request.incoming.declared_size)
        # Sent before the deadline (checked above): finalization waits briefly for it to land.
        with self._inflight.track(checked.id):
            upload, view, correction = await self._download_and_record(request)
        log.info(
            "upload %d stored for group %d (%d bytes)", upload.id, upload.group_id, upload.size
        )
        await self._notify_members(view.assignment, view, upload, request.actor.user_id)
        if correction is not None and correction.receipts:
            self._wakeups.receipts_waiting()
        return UploadResult(upload, view, correction)

    async def _check_upload(
        self, conn: Connection, request: _UploadRequest
    ) -> UploadResult | Group:
        """The group the upload is for, if it may be downloaded now (a group-commit unit).

        The same interaction delivered twice is answered as the first time, whatever the
        checks would say now (in the same unit: one step of the group commit less per upload).
        """
        batch = self._commits.batch
        try:
            assignment = await batch.assignment(conn, request.guild_id, request.name)
        except DomainError:
            earlier = await self._earlier_delivery_in(conn, request.interaction_id)
            if earlier is not None:
                return earlier
            raise
        standing = await batch.standing(conn, assignment, request.hint)
        if standing.earlier_upload_id is not None:
            earlier = await self._earlier_delivery_in(conn, request.interaction_id)
            assert earlier is not None
            return earlier
        actor, incoming = request.actor, request.incoming
        if _settling_writes(standing, actor):
            # `settle_candidate` writes (registers or renames): later units of this batch must
            # not use what was read ahead for this user or their group.
            batch.touch(standing, actor.user_id)
        group = await self._upload_target(conn, assignment, actor, request.sent_at, standing)
        part = part_for(assignment, request.part)
        limit = _limit_bytes(assignment, request.upload_limit_bytes)
        check_file(incoming.filename, incoming.declared_size, limit, assignment, part)
        # Early, on the declared size: a refusal now costs no download.
        usage, recent = await batch.quota_inputs(conn, assignment, group, request.hint)
        check_quotas(assignment, usage, recent, incoming.declared_size, request.sent_at)
        return group

    async def _download_and_record(
        self, request: _UploadRequest
    ) -> tuple[Upload, GroupView, FinalizationChange | None]:
        received = await self._receive(request.incoming)
        try:
            await self._files.stage(received)
        except BaseException:
            self._files.discard(received)
            raise
        # The bytes get their final name inside the same transaction (the batch's `finish`),
        # after the row is written and before the commit: a refusal here keeps no stored
        # file, and no row ever names a missing file.
        pending = self._commits.submit(
            lambda conn: self._record(conn, request, received),
            tag=received,
            hint=request.hint,
            expected=(DomainError,),
        )
        try:
            recorded = await asyncio.shield(pending)
        finally:
            if pending.done():
                self._files.discard(received)
            else:
                # Cancelled while queued: the batch still owns the temp file until it ends.
                pending.add_done_callback(lambda _: self._files.discard(received))
        upload = replace(recorded.upload, id=recorded.upload_id.value)
        return upload, recorded.view, recorded.correction

    async def _record(
        self, conn: Connection, request: _UploadRequest, received: ReceivedFile
    ) -> _Recorded:
        """Re-check and record the row (a group-commit unit: see `_store_and_record`)."""
        now = self._clock.now()
        actor, sent_at, batch = request.actor, request.sent_at, self._commits.batch
        # Membership, hand-ins or the lease may have changed while the bytes were arriving.
        assignment = await batch.assignment(conn, request.guild_id, request.name)
        standing = await batch.standing(conn, assignment, request.hint)
        group = await self._upload_target(
            conn, assignment, actor, sent_at, standing, register=False
        )
        # Staff may have edited the parts (or their types) while the bytes were arriving.
        part = part_for(assignment, request.part)
        check_file(request.incoming.filename, received.size, received.size, assignment, part)
        # What decides: the bytes received, against what is recorded by now (other uploads of
        # the group may have landed during the download). Raises before anything is written.
        usage, recent = await batch.quota_inputs(conn, assignment, group, request.hint)
        check_quotas(assignment, usage, recent, received.size, sent_at)
        # A new upload row changes no standing but this interaction's (the user's); the lease
        # and a re-finalization change the group row: later units of the batch re-read it.
        batch.touch(
            standing,
            actor.user_id,
            group=assignment.single_editor or group.finalized_at is not None,
        )
        upload = _new_upload(request, received, group, now, deadlines_for(assignment, group))
        upload = replace(upload, part_id=None if part is None else part.id)
        # Built, not read back, and written with the batch's other uploads in one statement
        # (at the latest before the next statement of the batch): its id comes then.
        upload_id = await upload_repo.insert_upload_later(conn, upload, request.interaction_id)
        if assignment.single_editor:
            await group_repo.set_lease(conn, group.id, actor.user_id, sent_at + LEASE)
        correction = await _refinalize(conn, assignment, group, now)
        # Last: nothing after it can fail and undo the upload the batch now counts.
        batch.stored(request.hint, group.id, upload)
        # Inserting an upload, the lease and a re-finalization leave the memberships as read.
        view = view_of(assignment, group, standing.members)
        return _Recorded(upload, upload_id, view, correction)

    async def _earlier_delivery_in(
        self, conn: Connection, interaction_id: int | None
    ) -> UploadResult | None:
        if interaction_id is None:
            return None
        upload = await upload_repo.upload_by_interaction(conn, interaction_id)
        if upload is None:
            return None
        group = await group_repo.group(conn, upload.group_id)
        assert group is not None
        assignment = await assignment_repo.get(conn, group.assignment_id)
        assert assignment is not None
        return UploadResult(upload, await group_view(conn, assignment, group), None, True)

    async def _upload_target(
        self,
        conn: Connection,
        assignment: Assignment,
        actor: Actor,
        sent_at: datetime,
        standing: group_repo.Standing,
        *,
        register: bool = True,
    ) -> Group:
        """The actor's group (from `standing`, read in this transaction), if the upload or
        hand-in is allowed now.

        `register=False` for the re-check after the bytes arrived: the first check registered
        the candidate, and a membership implies the registration (a foreign key).
        """
        if register:
            # A candidate registered just now has no group yet (the same foreign key), so the
            # group read with the candidate stays current.
            await settle_candidate(conn, assignment, actor, sent_at, standing.candidate)
        group = require_group(assignment, standing.group)
        _check_window(assignment, group, sent_at)
        await require_not_submitted(conn, assignment, group)
        _check_lease(assignment, group, actor.user_id, sent_at)
        return group

    async def _receive(self, incoming: IncomingFile) -> ReceivedFile:
        # The declared size was checked against the limit: exactly that many bytes may come.
        async with self._transfers.slot() as slot:
            return await download(
                self._files,
                incoming.read,
                incoming.declared_size,
                self._download_policy,
                arrived=slot.hand_over,
            )

    async def _notify_members(
        self, assignment: Assignment, view: GroupView, upload: Upload, uploader_id: int
    ) -> None:
        uploader = next((m for m in view.members if m.user_id == uploader_id), None)
        others = tuple(m.user_id for m in view.members if m.user_id != uploader_id)
        if uploader is None or not others:
            return
        notice = UploadNotice(assignment, view.group, upload, uploader, others)
        try:
            await self._notifier.upload_notice(notice)
        except Exception:
            # A notice is a courtesy: the upload is already durable and must be acknowledged.
            log.exception("upload notice failed")

    async def handin(
        self,
        guild_id: int,
        actor: Actor,
        name: str,
        *,
        sent_at: datetime,
        upload_id: int | None = None,
    ) -> HandInResult:
        """Hand in the group's latest upload (as of the moment the command was sent).

        `upload_id` (the "Hand in this file" button) must still be that latest upload: a
        button under an older upload never hands in a newer file the member has not seen."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            standing = await group_repo.standing(conn, assignment.id, actor.user_id)
            group = await self._upload_target(conn, assignment, actor, sent_at, standing)
            handed = await _latest_per_part(conn, assignment, group, _just_after(sent_at))
            present = [(final.upload, final) for final in handed if final.upload is not None]
            if not present:
                raise NothingToHandInError()
            if upload_id is not None and upload_id not in {u.id for u, _ in present}:
                # The button's file is no longer its part's latest: name the newest upload.
                newest = max((u for u, _ in present), key=lambda u: (u.sent_at, u.id))
                raise NewerUploadError(filename=newest.filename)
            deadlines = deadlines_for(assignment, group)
            # With parts, every part's latest upload at once: one hand-in row per part.
            handin_ids = [
                await upload_repo.insert_handin(
                    conn,
                    group_id=group.id,
                    upload_id=upload.id,
                    user_id=actor.user_id,
                    sent_at=sent_at,
                    late=deadlines.is_late(sent_at),
                )
                for upload, _ in present
            ]
            upload, handin_id = present[0][0], handin_ids[0]
            waiting: tuple[Member, ...] = ()
            if assignment.all_must_confirm:
                await confirm_repo.confirm(
                    conn, group.id, actor.user_id, [u.id for u, _ in present], sent_at
                )
                waiting = waiting_among(
                    assignment,
                    standing.members,
                    await upload_repo.uploads_of(conn, group.id),
                    await confirm_repo.confirmed_by(conn, group.id),
                )
            if assignment.single_editor:
                await group_repo.set_lease(conn, group.id, actor.user_id, sent_at + LEASE)
            final = None
            if assignment.submit_once:
                final = await record_final(conn, assignment, group, now)
            else:
                final = await _refinalize(conn, assignment, group, now)
            handin = next(
                h for h in await upload_repo.handins_of(conn, group.id) if h.id == handin_id
            )
            view = view_of(assignment, group, standing.members)
        if final is not None and final.receipts:
            self._wakeups.receipts_waiting()
        parts = handed if assignment.parts else ()
        return HandInResult(handin, upload, view, final, parts, waiting)

    async def release(self, guild_id: int, actor: Actor, name: str) -> Group:
        """Give up the edit lease early (single_editor)."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            group = await own_group(conn, assignment, actor.user_id)
            held = group.lease_until is not None and group.lease_until > now
            if not assignment.single_editor or group.lease_user_id != actor.user_id or not held:
                raise NoLeaseError()
            await group_repo.set_lease(conn, group.id, None, None)
            return group

    async def status(self, guild_id: int, actor: Actor, name: str) -> StatusView:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            # Candidate, group and members in one round trip: /status runs under the
            # connection's lock, and 50 users' round trips queue there (scale benchmark).
            standing = await group_repo.standing(conn, assignment.id, actor.user_id)
            await settle_candidate(conn, assignment, actor, now, standing.candidate)
            group = require_group(assignment, standing.group)
            view = view_of(assignment, group, standing.members)
            uploads = tuple(await upload_repo.uploads_of(conn, group.id))
            handins = tuple(await upload_repo.handins_of(conn, group.id))
            # From the rows just read: the same choice as `choose_final`, without its queries.
            confirmed = (
                await confirm_repo.confirmed_by(conn, group.id)
                if assignment.all_must_confirm
                else {}
            )
            members = {m.user_id for m in view.members}
            agreed = agreed_among(members, confirmed)
            pending = choose_final_among(assignment, group, uploads, handins, agreed)
            if not assignment.parts and pending.handin_id is not None and pending.upload is None:
                pending = await choose_final(conn, assignment, group)
            # Only the uploaders' numbers are shown: the members' are in the view already, and
            # loading every candidate of the assignment per /status cost most of its time at
            # 500 candidates an assignment (profiled in the scale benchmark).
            numbers = {m.user_id: m.number for m in view.members}
            for user_id in {u.user_id for u in uploads} - numbers.keys():
                candidate = await group_repo.candidate(conn, assignment.id, user_id)
                if candidate is not None:
                    numbers[user_id] = candidate.number
            lease_held = group.lease_until is not None and group.lease_until > now
            return StatusView(
                assignment=assignment,
                view=view,
                uploads=uploads,
                handins=handins,
                numbers=numbers,
                pending=pending,
                submission=await upload_repo.current_submission(conn, group.id, assignment.parts),
                finalized=group.finalized_at is not None,
                lease_user_id=group.lease_user_id if lease_held else None,
                lease_until=group.lease_until if lease_held else None,
                waiting_for=waiting_among(assignment, view.members, uploads, confirmed),
            )

    async def download(self, guild_id: int, actor: Actor, name: str) -> tuple[Upload, bool]:
        """The group's final file once recorded, else the one that would be handed in now, else
        its latest upload. Returns (upload, is_final); `local_copy` gives its bytes. For an
        assignment in parts, see `download_files`."""
        async with self._db.reading() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            return await self._one_download(conn, assignment, actor)

    async def download_files(
        self,
        guild_id: int,
        actor: Actor,
        name: str,
        *,
        part: str | None = None,
    ) -> DownloadResult:
        """`/download`: the final file of each part (or only `part`'s), chosen per part as
        `download` chooses the one file of an assignment without parts."""
        async with self._db.reading() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            if not assignment.parts:
                if part is not None:
                    raise NoPartsError(name=assignment.name)
                chosen, final = await self._one_download(conn, assignment, actor)
                return DownloadResult((DownloadFile(None, chosen),), final)
            wanted = part_for(assignment, part) if part is not None else None
            group = await own_group(conn, assignment, actor.user_id)
            submission = await upload_repo.current_submission(conn, group.id, assignment.parts)
            final = submission is not None and group.finalized_at is not None
            if submission is not None and not submission.empty:
                finals = submission.parts
            else:
                finals = (await choose_final(conn, assignment, group)).parts
                final = False
            uploads = await upload_repo.uploads_of(conn, group.id)
        files: list[DownloadFile] = []
        missing: list[Part] = []
        for each in finals:
            if wanted is not None and each.part.id != wanted.id:
                continue
            latest = [u for u in uploads if u.part_id == each.part.id]
            chosen_upload = each.upload or (latest[-1] if latest else None)
            if chosen_upload is None:
                missing.append(each.part)
            else:
                files.append(DownloadFile(each.part, chosen_upload))
        if not files:
            raise NothingToDownloadError()
        return DownloadResult(tuple(files), final, tuple(missing))

    async def _one_download(
        self, conn: Connection, assignment: Assignment, actor: Actor
    ) -> tuple[Upload, bool]:
        group = await own_group(conn, assignment, actor.user_id)
        submission = await upload_repo.current_submission(conn, group.id)
        chosen: Upload | None
        if submission is not None and submission.upload is not None:
            chosen, final = submission.upload, group.finalized_at is not None
        else:
            pending = await choose_final(conn, assignment, group)
            uploads = await upload_repo.uploads_of(conn, group.id)
            chosen = pending.upload or (uploads[-1] if uploads else None)
            final = False
        if chosen is None:
            raise NothingToDownloadError()
        return chosen, final

    @contextlib.asynccontextmanager
    async def local_copy(self, upload: Upload) -> AsyncIterator[Path]:
        """The upload's bytes as a local file for the block, checked against its hash."""
        async with contextlib.AsyncExitStack() as stack:
            try:
                path = await stack.enter_async_context(
                    self._files.local_copy(upload.sha256, upload.size)
                )
            except (FileNotFoundError, DamagedFileError) as exc:
                log.error("stored file %s of upload %d: %s", upload.sha256[:12], upload.id, exc)
                raise StoredFileUnreadableError() from exc
            yield path

    async def part_names(self, guild_id: int, name: str, typed: str) -> list[str]:
        """Autocomplete for `/upload part:`: the assignment's parts starting with `typed`
        (none when the assignment is unknown or has no parts)."""
        async with self._db.reading() as conn:
            try:
                assignment = await find_assignment(conn, guild_id, name)
            except DomainError:
                return []
        lowered = typed.strip().lower()
        return [p.name for p in assignment.parts if p.name.lower().startswith(lowered)]


# --- helpers -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _UploadRequest:
    """One `/upload` as the service got it."""

    guild_id: int
    actor: Actor
    name: str
    incoming: IncomingFile
    sent_at: datetime
    upload_limit_bytes: int | None
    interaction_id: int | None
    part: str | None = None

    @property
    def hint(self) -> UploadHint:
        return UploadHint(
            self.guild_id, self.name, self.actor.user_id, self.interaction_id, self.sent_at
        )


@dataclass(frozen=True, slots=True)
class _Recorded:
    """What recording an upload gave (a group-commit unit's result): the upload's id comes
    once its batch wrote the row."""

    upload: Upload
    upload_id: Later[int]
    view: GroupView
    correction: FinalizationChange | None


def _settling_writes(standing: group_repo.Standing, actor: Actor) -> bool:
    """`settle_candidate` will register the actor, or rename them."""
    existing = standing.candidate
    return existing is None or bool(
        actor.display_name and actor.display_name != existing.display_name
    )


def _new_upload(
    request: _UploadRequest,
    received: ReceivedFile,
    group: Group,
    stored_at: datetime,
    deadlines: GroupDeadlines,
) -> Upload:
    """The upload row to insert (its id comes from the insert)."""
    return Upload(
        id=0,
        group_id=group.id,
        user_id=request.actor.user_id,
        # NUL is no character of any real file name, and PostgreSQL's text cannot hold it.
        filename=request.incoming.filename.replace("\x00", "\ufffd"),
        size=received.size,
        sha256=received.sha256,
        content_type=request.incoming.content_type,
        sent_at=request.sent_at.astimezone(UTC),
        stored_at=stored_at,
        late=deadlines.is_late(request.sent_at),
    )


def _limit_bytes(assignment: Assignment, upload_limit_bytes: int | None) -> int:
    limit = assignment.max_file_bytes
    return limit if upload_limit_bytes is None else min(limit, upload_limit_bytes)


def part_for(assignment: Assignment, name: str | None) -> Part | None:
    """The part an upload names: required when the assignment has parts, refused otherwise."""
    listed = ", ".join(f"`{p.name}`" for p in assignment.parts)
    if not assignment.parts:
        if name is not None and name.strip():
            raise NoPartsError(name=assignment.name)
        return None
    if name is None or not name.strip():
        raise PartRequiredError(parts=listed)
    part = assignment.part_named(name)
    if part is None:
        raise UnknownPartError(part=name.strip(), parts=listed)
    return part


def check_file(
    filename: str,
    declared_size: int,
    limit: int,
    assignment: Assignment,
    part: Part | None = None,
) -> None:
    if declared_size <= 0:
        raise EmptyFileError()
    if declared_size > limit:
        raise FileTooLargeError(size_mb=mib(declared_size), limit_mb=mib(limit))
    allowed = assignment.types_for(part)
    if not file_type_allowed(filename, allowed):
        if part is not None and part.file_types:
            raise PartFileTypeError(filename=filename, part=part.name, allowed=", ".join(allowed))
        raise FileTypeError(filename=filename, allowed=", ".join(allowed))


async def _latest_per_part(
    conn: Connection, assignment: Assignment, group: Group, before: datetime
) -> tuple[PartFinal, ...]:
    """What `/handin` hands in: the latest upload sent before `before`, in each part (one
    entry with no part when the assignment has none)."""
    if not assignment.parts:
        upload = await upload_repo.latest_upload_before(conn, group.id, before)
        return (PartFinal(Part(0, ""), upload, None, False),)
    uploads = await upload_repo.uploads_of(conn, group.id)
    finals = []
    for part in assignment.parts:
        mine = [u for u in uploads if u.part_id == part.id and u.sent_at < before]
        finals.append(PartFinal(part, mine[-1] if mine else None, None, False))
    return tuple(finals)


def _check_window(assignment: Assignment, group: Group, sent_at: datetime) -> None:
    if sent_at < assignment.opens_at:
        raise NotOpenYetError(opens_at=assignment.opens_at)
    deadlines = deadlines_for(assignment, group)
    if not deadlines.accepts(sent_at):
        raise DeadlinePassedError(deadline=deadlines.final)


def _check_lease(assignment: Assignment, group: Group, user_id: int, sent_at: datetime) -> None:
    if not assignment.single_editor or group.lease_user_id in (None, user_id):
        return
    if group.lease_until is not None and group.lease_until > sent_at:
        raise LeaseHeldError(holder=group.lease_user_id, until=group.lease_until)


async def _refinalize(
    conn: Connection, assignment: Assignment, group: Group, now: datetime
) -> FinalizationChange | None:
    """An upload or hand-in sent before the deadline but recorded after the group was finalized
    still counts (SPEC §1): recompute the final submission."""
    if group.finalized_at is None:
        return None
    return await record_final(conn, assignment, group, now)


def _just_after(moment: datetime) -> datetime:
    return moment + timedelta(microseconds=1)
