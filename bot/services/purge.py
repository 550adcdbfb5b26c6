"""Keeping data no longer than needed (SPEC §9): purging a closed assignment, and retention."""

from __future__ import annotations

import asyncio
import logging
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.clock import Clock
from bot.domain.errors import AlreadyPurgedError, PurgeWhileOpenError, RetentionDaysInvalidError
from bot.domain.models import Actor, Assignment, AssignmentState
from bot.domain.sanitize import slug
from bot.services.common import find_assignment_exactly, require_manager, require_staff
from bot.services.exports import export_mark
from bot.services.ports import Notifier, StoredFiles
from storage.db import Connection, Database
from storage.repos import assignments as assignment_repo
from storage.repos import groups as group_repo
from storage.repos import purge as purge_repo

log = logging.getLogger(__name__)

MAX_RETENTION_DAYS = 3650
NOTICE_AHEAD = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class PurgeCheck:
    """What staff confirm: the assignment, and whether it was ever exported."""

    assignment: Assignment
    exported: bool


@dataclass(frozen=True, slots=True)
class PurgeResult:
    assignment: Assignment
    files_deleted: int
    purged_at: datetime
    # False when SQLite could not be compacted at once (another process held it): the rows
    # are gone, but their bytes may linger in free pages until the next compaction.
    compacted: bool = True


class PurgeService:
    def __init__(
        self,
        db: Database,
        files: StoredFiles,
        clock: Clock,
        notifier: Notifier,
        *,
        exports_dir: Path | None = None,
        compact: bool = True,
    ) -> None:
        self._db = db
        self._files = files
        self._clock = clock
        self._notifier = notifier
        # The exports written there hold the students' files and numbers too.
        self._exports_dir = exports_dir
        # After a purge, SQLite's file is rewritten so no deleted row lingers in a free page.
        self._compact = compact

    async def check(self, guild_id: int, actor: Actor | None, name: str) -> PurgeCheck:
        """What `purge` would refuse, refused now (before staff are asked to confirm)."""
        async with self._db.reading() as conn:
            assignment = await self._target(conn, guild_id, actor, name)
        return PurgeCheck(assignment, assignment.exported_at is not None)

    async def _target(
        self, conn: Connection, guild_id: int, actor: Actor | None, name: str
    ) -> Assignment:
        if actor is not None:
            await require_staff(conn, guild_id, actor)
        assignment = await find_assignment_exactly(conn, guild_id, name)
        done = await purge_repo.purged_at(conn, assignment.id)
        if done is not None:
            raise AlreadyPurgedError(name=assignment.name, at=done)
        now = self._clock.now()
        # Closed, and every group's final recorded (an extension may still run).
        if assignment.state(
            now
        ) is not AssignmentState.CLOSED or await group_repo.unfinalized_groups(conn, assignment.id):
            raise PurgeWhileOpenError(name=assignment.name)
        return assignment

    async def purge(self, guild_id: int, actor: Actor | None, name: str) -> PurgeResult:
        """Delete the assignment's students' data and the stored files no other assignment
        uses; its row stays, marked purged. `actor` None is the host (CLI, retention).

        The files are deleted inside the transaction, under the write lock, so no upload of
        the same bytes to another assignment is recorded between the check and the delete."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            assignment = await self._target(conn, guild_id, actor, name)
            hashes = await purge_repo.stored_hashes(conn, assignment.id)
            users = await purge_repo.users_of(conn, assignment.id)
            await purge_repo.delete_students_data(conn, assignment.id)
            await purge_repo.forget_users(conn, users)
            unused = hashes - await purge_repo.hashes_still_used(conn, hashes)
            deleted = 0
            for sha256 in sorted(unused):
                deleted += int(await self._files.delete(sha256))
            await purge_repo.mark_purged(conn, assignment.id, now, deleted)
        await asyncio.to_thread(self._delete_exports, assignment)
        compacted = await self._compact_database()
        log.info("assignment %d purged: %d stored files deleted", assignment.id, deleted)
        return PurgeResult(assignment, deleted, now, compacted)

    async def _compact_database(self) -> bool:
        if not self._compact:
            return True
        try:
            await self._db.compact()
        except Exception as exc:  # the driver's "database is locked" while another reads
            log.warning("the database could not be compacted after a purge: %s", exc)
            return False
        return True

    def _delete_exports(self, assignment: Assignment) -> None:
        if self._exports_dir is None or not self._exports_dir.is_dir():
            return
        # The export's names (bot/services/exports.py): `<slug>-<UTC stamp>[-n].zip`. Another
        # server's assignment of the same name writes the same names: its mark tells them apart.
        pattern = re.compile(re.escape(slug(assignment.name)) + r"-\d{8}T\d{6}Z(-\d+)?\.zip")
        for path in self._exports_dir.iterdir():
            if pattern.fullmatch(path.name) and _marked(path, export_mark(assignment)):
                path.unlink(missing_ok=True)

    async def purged_in(self, guild_id: int) -> dict[int, datetime]:
        """assignment id -> when it was purged, for the staff list."""
        async with self._db.reading() as conn:
            return await purge_repo.purged_in_guild(conn, guild_id)

    # --- retention -------------------------------------------------------------------------
    async def set_retention(self, guild_id: int, actor: Actor, days: int) -> int | None:
        """`/settings retention_days`: 0 turns it off. Manage Server only, like the settings."""
        require_manager(actor)
        if not 0 <= days <= MAX_RETENTION_DAYS:
            raise RetentionDaysInvalidError(value=days)
        async with self._db.transaction() as conn:
            await purge_repo.set_retention_days(conn, guild_id, days or None)
        return days or None

    async def retention(self, guild_id: int) -> int | None:
        async with self._db.reading() as conn:
            return await purge_repo.retention_days(conn, guild_id)

    async def run_retention(self) -> list[PurgeResult]:
        """Purge what is due by the guilds' retention and tell staff a week ahead, once each.
        Due is decided by the database's clock (several processes agree on it)."""
        async with self._db.reading() as conn:
            now = datetime.fromtimestamp(await purge_repo.database_now(conn), UTC)
            plans = []
            for guild_id, days in (await purge_repo.guilds_with_retention(conn)).items():
                purged = await purge_repo.purged_in_guild(conn, guild_id)
                for assignment in await assignment_repo.in_guild(conn, guild_id):
                    if (
                        assignment.id in purged
                        or assignment.state(now) is not AssignmentState.CLOSED
                    ):
                        continue
                    plans.append((assignment, closed_at(assignment) + timedelta(days=days)))
        done: list[PurgeResult] = []
        for assignment, purge_at in plans:
            try:
                if purge_at <= now:
                    done.append(await self.purge(assignment.guild_id, None, assignment.name))
                elif purge_at - NOTICE_AHEAD <= now:
                    await self._notice(assignment, purge_at, now)
            except (AlreadyPurgedError, PurgeWhileOpenError):
                continue
            except Exception:
                log.exception("retention of assignment %d failed; tried again later", assignment.id)
        return done

    async def _notice(self, assignment: Assignment, purge_at: datetime, now: datetime) -> None:
        async with self._db.transaction() as conn:
            first = await purge_repo.claim_notice(conn, assignment.id, purge_at, now)
        if first:
            # To the staff member who created it: the one sure to be staff of that course.
            await self._notifier.send_retention_notice(assignment, assignment.created_by, purge_at)


def closed_at(assignment: Assignment) -> datetime:
    """When the assignment closed: its final deadline (capped by a close by staff)."""
    return assignment.final_deadline


def _marked(path: Path, mark: bytes) -> bool:
    """The ZIP at `path` carries `mark` as its comment (an unreadable one is left alone)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.comment == mark
    except (OSError, zipfile.BadZipFile):
        return False
