"""Feedback back to the groups (SPEC §7): import a draft, release it, show it, deliver the DMs."""

from __future__ import annotations

import asyncio
import logging
import zipfile
import zlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from bot.domain.clock import Clock
from bot.domain.csvlines import CsvDecodeError
from bot.domain.delivery import Delivery, DmFailure, next_attempt
from bot.domain.errors import (
    CsvImportError,
    CsvTooLargeError,
    FeedbackAlreadyReleasedError,
    FeedbackNoGroupError,
    FeedbackNoneForGroupError,
    FeedbackNothingToReleaseError,
    FeedbackNotReleasedError,
    FeedbackZipBadError,
    FeedbackZipEntryError,
    FeedbackZipFileTooLargeError,
    FeedbackZipTooLargeError,
    FeedbackZipUnknownPinError,
)
from bot.domain.feedback import (
    Feedback,
    FeedbackDm,
    FeedbackDue,
    FeedbackFile,
    FeedbackRow,
    Problem,
    ReleaseResult,
    is_ignored_entry,
    read_feedback_csv,
    zip_entry_pin,
)
from bot.domain.models import Actor, Assignment
from bot.domain.rules import MIB
from bot.domain.sanitize import UniqueNames, safe_filename
from bot.services.common import find_assignment, find_assignment_exactly, require_staff
from bot.services.downloads import ByteSource, DownloadPolicy, download
from bot.services.groups import MAX_CSV_BYTES
from bot.services.ports import Notifier, StoredFiles, Wakeups
from storage.db import Connection, Database
from storage.files import ReceivedFile, StoreLimitError
from storage.repos import assignments as assignment_repo
from storage.repos import feedback as feedback_repo
from storage.repos import groups as group_repo
from storage.repos import misc as misc_repo

log = logging.getLogger(__name__)

# The ZIP as an attachment, and what it may unpack to (a small file can unpack to gigabytes).
MAX_ZIP_BYTES = 100 * MIB
MAX_UNPACKED_BYTES = 500 * MIB
MAX_ZIP_ENTRIES = 2000
ZIP_CHUNK = 256 * 1024
# What reading a damaged, encrypted or oddly compressed ZIP raises (a bad CRC, a cut deflate
# stream, a password, a method Python lacks).
UNREADABLE_ZIP = (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError)
BATCH = 100
CLAIM_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class IncomingAttachment:
    """A staff attachment: its name, what Discord declares as its size, and its bytes."""

    filename: str
    declared_size: int
    read: ByteSource

    @classmethod
    def of(cls, filename: str, data: bytes) -> IncomingAttachment:
        """Bytes at hand (the command line, tests)."""

        async def read() -> AsyncIterator[bytes]:
            yield data

        return cls(filename, len(data), read)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    assignment: Assignment
    groups: int
    files: int
    replaced: int


@dataclass(frozen=True, slots=True)
class _ZipFile:
    pin: str
    filename: str
    received: ReceivedFile


class FeedbackService:
    def __init__(
        self,
        db: Database,
        files: StoredFiles,
        clock: Clock,
        wakeups: Wakeups,
        *,
        download_policy: DownloadPolicy | None = None,
    ) -> None:
        self._db = db
        self._files = files
        self._clock = clock
        self._wakeups = wakeups
        self._policy = download_policy or DownloadPolicy()

    # --- staff -----------------------------------------------------------------------------
    async def import_draft(
        self,
        guild_id: int,
        actor: Actor | None,
        name: str,
        csv_file: IncomingAttachment,
        zip_file: IncomingAttachment | None = None,
        *,
        file_limit: int,
    ) -> ImportSummary:
        """Replace the assignment's feedback draft with the CSV's rows (and the ZIP's files,
        each at most `file_limit` bytes, what `/feedback` can attach). All or nothing: every
        problem of the CSV is listed by line; nothing is stored unless all of it is good.
        `actor` None is the trusted command line."""
        async with self._db.reading() as conn:
            assignment = await self._staff_assignment(conn, guild_id, actor, name)
            await _require_draft_open(conn, assignment)
        if csv_file.declared_size > MAX_CSV_BYTES:
            raise CsvTooLargeError(limit_kib=MAX_CSV_BYTES // 1024)
        if zip_file is not None and zip_file.declared_size > MAX_ZIP_BYTES:
            raise FeedbackZipTooLargeError(limit_mb=MAX_ZIP_BYTES // MIB)
        rows = await self._read_csv(csv_file)
        async with self._db.reading() as conn:
            await _groups_of(conn, assignment, rows)
        unpacked: list[_ZipFile] = []
        try:
            if zip_file is not None:
                unpacked = await self._unpack(zip_file, {row.pin for row in rows}, file_limit)
            return await self._record(guild_id, actor, name, rows, unpacked)
        finally:
            for one in unpacked:
                self._files.discard(one.received)

    async def _staff_assignment(
        self, conn: Connection, guild_id: int, actor: Actor | None, name: str
    ) -> Assignment:
        if actor is not None:
            await require_staff(conn, guild_id, actor)
        return await find_assignment_exactly(conn, guild_id, name)

    async def _read_csv(self, csv_file: IncomingAttachment) -> list[FeedbackRow]:
        received = await download(self._files, csv_file.read, csv_file.declared_size, self._policy)
        try:
            data = await asyncio.to_thread(received.temp.read_bytes)
        finally:
            self._files.discard(received)
        try:
            rows, problems = read_feedback_csv(data)
        except CsvDecodeError as exc:
            raise CsvImportError([(exc.line, "csv.bad_encoding", {})]) from exc
        if not rows and not problems:
            problems.append((1, "csv.empty", {}))
        if problems:
            raise CsvImportError(problems)
        return rows

    async def _unpack(
        self, zip_file: IncomingAttachment, pins: set[str], file_limit: int
    ) -> list[_ZipFile]:
        """Every file of the ZIP received into the store's temp folder (not yet stored), after
        its layout and declared sizes were checked; nothing is kept when one entry fails."""
        archive = await download(self._files, zip_file.read, zip_file.declared_size, self._policy)
        unpacked: list[_ZipFile] = []
        try:
            with zipfile.ZipFile(archive.temp) as bundle:
                entries = _plan_entries(bundle, pins, file_limit)
                names: dict[str, UniqueNames] = {}
                for info, pin in entries:
                    filename = names.setdefault(pin, UniqueNames()).claim(
                        safe_filename(info.filename.rsplit("/", 1)[-1])
                    )
                    received = await self._receive_entry(bundle, info, file_limit)
                    unpacked.append(_ZipFile(pin, filename, received))
        except BaseException as exc:
            for one in unpacked:
                self._files.discard(one.received)
            if isinstance(exc, UNREADABLE_ZIP):
                raise FeedbackZipBadError() from exc
            raise
        finally:
            self._files.discard(archive)
        return unpacked

    async def _receive_entry(
        self, bundle: zipfile.ZipFile, info: zipfile.ZipInfo, file_limit: int
    ) -> ReceivedFile:
        handle = await asyncio.to_thread(bundle.open, info)

        async def chunks() -> AsyncIterator[bytes]:
            while block := await asyncio.to_thread(handle.read, ZIP_CHUNK):
                yield block

        try:
            # The declared size was checked; the bytes are held to the limit too (a ZIP can lie).
            return await self._files.receive(chunks(), max_bytes=min(info.file_size, file_limit))
        except StoreLimitError as exc:
            raise FeedbackZipBadError() from exc
        finally:
            handle.close()

    async def _record(
        self,
        guild_id: int,
        actor: Actor | None,
        name: str,
        rows: list[FeedbackRow],
        unpacked: list[_ZipFile],
    ) -> ImportSummary:
        now = self._clock.now()
        files_of: dict[str, list[FeedbackFile]] = {}
        for one in unpacked:
            files_of.setdefault(one.pin, []).append(
                FeedbackFile(one.filename, one.received.size, one.received.sha256)
            )
        # Made durable where they will live first, outside the write lock (a bucket's put).
        for one in unpacked:
            await self._files.stage(one.received)
        async with self._db.transaction() as conn:
            assignment = await self._staff_assignment(conn, guild_id, actor, name)
            await _require_draft_open(conn, assignment)
            groups = await _groups_of(conn, assignment, rows)
            replaced = await feedback_repo.draft_count(conn, assignment.id)
            drafts = [
                (groups[row.pin], row.grade, row.comment, files_of.get(row.pin, [])) for row in rows
            ]
            await feedback_repo.replace_draft(conn, assignment.id, drafts, now)
            # Inside the transaction: when a file cannot be stored, nothing is recorded.
            await self._files.publish_many([one.received for one in unpacked])
        log.info(
            "feedback draft of assignment %d: %d groups, %d files",
            assignment.id,
            len(rows),
            len(unpacked),
        )
        return ImportSummary(assignment, len(rows), len(unpacked), replaced)

    async def release(self, guild_id: int, actor: Actor | None, name: str) -> ReleaseResult:
        """Release the draft: each member of each group with feedback is queued one DM (sent
        by the bot's delivery worker, with the receipts' rules); `/feedback` shows it now."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            assignment = await self._staff_assignment(conn, guild_id, actor, name)
            await _require_draft_open(conn, assignment)
            groups = await feedback_repo.draft_count(conn, assignment.id)
            if not groups:
                raise FeedbackNothingToReleaseError(name=assignment.name)
            queued = await feedback_repo.release(
                conn, assignment.id, None if actor is None else actor.user_id, now
            )
        log.info("feedback of assignment %d released: %d DMs queued", assignment.id, queued)
        self._wakeups.receipts_waiting()
        return ReleaseResult(
            name=assignment.name, groups=groups, deliveries=queued, released_at=now
        )

    # --- students --------------------------------------------------------------------------
    async def show(self, guild_id: int, actor: Actor, name: str) -> tuple[Assignment, Feedback]:
        """The actor's own group's released feedback."""
        async with self._db.reading() as conn:
            assignment = await find_assignment(conn, guild_id, name)
            group = await group_repo.group_of(conn, assignment.id, actor.user_id)
            if group is None:
                raise FeedbackNoGroupError(name=assignment.name)
            if await feedback_repo.released_at(conn, assignment.id) is None:
                raise FeedbackNotReleasedError(name=assignment.name)
            feedback = await feedback_repo.of_group(conn, group.id)
        if feedback is None:
            raise FeedbackNoneForGroupError(name=assignment.name)
        return assignment, feedback

    def local_copy(self, file: FeedbackFile) -> AbstractAsyncContextManager[Path]:
        return self._files.local_copy(file.sha256, file.size)


async def _require_draft_open(conn: Connection, assignment: Assignment) -> None:
    if await feedback_repo.released_at(conn, assignment.id) is not None:
        raise FeedbackAlreadyReleasedError(name=assignment.name)


async def _groups_of(
    conn: Connection, assignment: Assignment, rows: list[FeedbackRow]
) -> dict[str, int]:
    """PIN -> group id for every row; CsvImportError naming each unknown PIN by line."""
    pins = {g.pin: g.id for g in await group_repo.groups(conn, assignment.id)}
    problems: list[Problem] = [
        (row.line, "feedback.csv.unknown_pin", {"pin": row.pin, "name": assignment.name})
        for row in rows
        if row.pin not in pins
    ]
    if problems:
        raise CsvImportError(problems)
    return {row.pin: pins[row.pin] for row in rows}


def _plan_entries(
    bundle: zipfile.ZipFile, pins: set[str], file_limit: int
) -> list[tuple[zipfile.ZipInfo, str]]:
    """The ZIP's files with their PIN folders, refused as a whole on the first bad entry."""
    entries: list[tuple[zipfile.ZipInfo, str]] = []
    total = 0
    for info in bundle.infolist():
        if is_ignored_entry(info.filename):
            continue
        shown = info.filename[:120]
        pin = zip_entry_pin(info.filename)
        if pin is None:
            raise FeedbackZipEntryError(entry=shown)
        if pin not in pins:
            raise FeedbackZipUnknownPinError(entry=shown, pin=pin)
        if info.file_size > file_limit:
            raise FeedbackZipFileTooLargeError(entry=shown, limit_mb=round(file_limit / MIB, 1))
        if info.file_size == 0:
            continue
        total += info.file_size
        entries.append((info, pin))
    if total > MAX_UNPACKED_BYTES or len(entries) > MAX_ZIP_ENTRIES:
        raise FeedbackZipTooLargeError(limit_mb=MAX_UNPACKED_BYTES // MIB)
    return entries


class FeedbackDispatcher:
    """Delivers the feedback DM outbox as the receipts' is delivered: claimed on the database's
    clock right before the DM, marked sent or undeliverable, passing faults tried again later,
    undeliverable ones shown to staff in the overview."""

    def __init__(
        self, db: Database, clock: Clock, notifier: Notifier, *, instance: str = "main"
    ) -> None:
        self._db = db
        self._clock = clock
        self._notifier = notifier
        self._instance = instance
        self._took_back = False
        self._running = asyncio.Lock()
        self._stopping = False

    async def stop(self) -> None:
        self._stopping = True
        async with self._running:
            pass

    async def deliver_pending(self) -> int:
        delivered = 0
        cursor = 0
        async with self._running:
            if not self._took_back:
                async with self._db.transaction() as conn:
                    await feedback_repo.release_claims_of(conn, self._instance)
                self._took_back = True
            while True:
                batch, last = await self._due_batch(cursor)
                if last == cursor:
                    return delivered
                cursor = last
                for row, dm in batch:
                    if self._stopping:
                        return delivered
                    delivered += int(await self._deliver(row, dm))

    async def _due_batch(self, after_id: int) -> tuple[list[tuple[FeedbackDue, FeedbackDm]], int]:
        async with self._db.reading() as conn:
            due = await feedback_repo.due(conn, self._clock.now(), BATCH, after_id)
            loaded = []
            for row in due:
                dm = await _load(conn, row)
                if dm is not None:
                    loaded.append((row, dm))
            return loaded, due[-1].id if due else after_id

    async def _claim(self, delivery_id: int) -> bool:
        async with self._db.transaction() as conn:
            return await feedback_repo.claim(conn, delivery_id, self._instance, CLAIM_SECONDS)

    async def _deliver(self, row: FeedbackDue, dm: FeedbackDm) -> bool:
        async def claim() -> bool:
            return await self._claim(dm.id)

        try:
            delivery = await self._notifier.send_feedback(dm, claim)
        except Exception:
            log.exception("feedback DM %d could not be sent", dm.id)
            delivery = Delivery(DmFailure.TRANSIENT)
        if delivery.withdrawn:
            return False
        now = self._clock.now()
        retry = None if delivery.sent else next_attempt(delivery, row.attempts + 1, now)
        async with self._db.transaction() as conn:
            if retry is not None:
                await feedback_repo.retry_at(conn, dm.id, retry, delivery.reason)
                return False
            status = "sent" if delivery.sent else "undeliverable"
            if not await feedback_repo.finish(conn, dm.id, status, now, delivery.reason):
                return False
            if not delivery.sent:
                log.warning("feedback DM %d undeliverable (%s)", dm.id, delivery.reason)
                await misc_repo.record_undelivered(
                    conn, dm.assignment.id, dm.user_id, "feedback", delivery.reason, now
                )
        return delivery.sent


async def _load(conn: Connection, row: FeedbackDue) -> FeedbackDm | None:
    group = await group_repo.group(conn, row.group_id)
    if group is None:
        return None
    assignment = await assignment_repo.get(conn, group.assignment_id)
    feedback = await feedback_repo.of_group(conn, group.id)
    if assignment is None or feedback is None:
        return None
    return FeedbackDm(row.id, assignment, group, row.user_id, feedback)
