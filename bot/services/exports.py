"""Results for grading: a ZIP with results.csv, each group's final file, and names on request."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import functools
import hashlib
import io
import itertools
import logging
import os
import uuid
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from bot.domain.clock import Clock
from bot.domain.identical import identical_files, same_file_as
from bot.domain.models import (
    Actor,
    Assignment,
    AssignmentState,
    Candidate,
    Group,
    Member,
    Part,
    Person,
    Upload,
    deadlines_for,
)
from bot.domain.sanitize import UniqueNames, csv_cell, safe_filename, slug, split_extension
from bot.services.common import find_assignment_exactly, register_role_members, require_staff
from bot.services.finalization import choose_final
from bot.services.ports import StoredFiles
from storage.db import Connection, Database
from storage.private import make_private_dir, open_private
from storage.repos import assignments as assignment_repo
from storage.repos import exports as export_repo
from storage.repos import groups as group_repo
from storage.repos import uploads as upload_repo

log = logging.getLogger(__name__)

RESULTS_CSV = "results.csv"
CANDIDATES_CSV = "candidates.csv"
SNAPSHOT_TXT = "SNAPSHOT.txt"
RESULTS_HEADER = (
    "assignment",
    "group_pin",
    "group_name",
    "candidate_numbers",
    "final_file",
    "size_bytes",
    "sha256",
    "sent_at",
    "uploaded_by",
    "late",
    "handed_in_by",
    "status",
    "part",
    "same_file_as",
)
CANDIDATES_HEADER = ("candidate_number", "user_id", "display_name")
# What results.csv says in `uploaded_by` and `handed_in_by` for staff (SPEC §5b).
STAFF = "staff"
CHUNK_BYTES = 1 << 20
# Deflating what is already compressed costs CPU and saves nothing.
_STORED_EXTENSIONS = frozenset(
    {"zip", "gz", "tgz", "bz2", "xz", "7z", "rar", "zst", "jar", "epub"}
    | {"docx", "xlsx", "pptx", "odt", "ods", "odp"}
    | {"jpg", "jpeg", "png", "gif", "webp", "heic", "mp3", "mp4", "m4a", "mov", "mkv", "webm"}
)
_FILE_MODE = 0o644 << 16

Progress = Callable[[int, int], None]


class ExportStatus(StrEnum):
    SUBMITTED = "submitted"
    NO_SUBMISSION = "no submission"
    NO_GROUP = "no group"
    PENDING = "pending"
    CORRUPT = "corrupt"


@dataclass(frozen=True, slots=True)
class ExportProblem:
    """A final file whose stored bytes are missing or no longer match their SHA-256."""

    pin: str
    filename: str
    sha256: str
    reason: str  # "missing" | "mismatch"

    def __str__(self) -> str:
        return f"group {self.pin}: {self.filename} (sha256 {self.sha256[:12]}) is {self.reason}"


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    size_bytes: int
    groups: int
    files: int
    problems: tuple[ExportProblem, ...]
    snapshot: bool


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One line of results.csv, as text (empty where a value does not apply)."""

    assignment: str
    group_pin: str = ""
    group_name: str = ""
    candidate_numbers: str = ""
    final_file: str = ""
    size_bytes: str = ""
    sha256: str = ""
    sent_at: str = ""
    uploaded_by: str = ""
    late: str = ""
    handed_in_by: str = ""
    status: str = ""
    part: str = ""
    same_file_as: str = ""

    def cells(self) -> list[str]:
        return [csv_cell(getattr(self, column)) for column in RESULTS_HEADER]


@dataclass(frozen=True, slots=True)
class _FileJob:
    row: int
    pin: str
    arcname: str
    # Opens the stored bytes (blocking: the archive is written in a worker thread).
    source: Callable[[], BinaryIO]
    sha256: str
    size: int
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything read from the database, so the ZIP is written without touching it."""

    assignment: Assignment
    now: datetime
    rows: tuple[ResultRow, ...]
    jobs: tuple[_FileJob, ...]
    candidates: tuple[Candidate, ...] | None
    groups: int
    snapshot: bool


@dataclass(frozen=True, slots=True)
class _Final:
    upload: Upload | None
    handin_id: int | None
    late: bool
    pending: bool


class ExportService:
    """Writes `<slug>-<UTC yyyymmddThhmmssZ>.zip` for one assignment.

    The archive holds `results.csv` (SPEC §3), `<PIN>/<sanitized file name>` per group with a
    file, `candidates.csv` when the assignment is not anonymous or names were asked for, and,
    when the assignment or any group is still open, `SNAPSHOT.txt` saying so (the file name
    keeps the SPEC pattern; open groups' rows say `pending`). A same-second second export gets
    `-2`, `-3`... before `.zip` rather than overwriting the first.

    Status: a group finalized (at its deadline, or by a `submit_once` hand-in) shows its
    recorded submission; a group whose deadline passed but that is not finalized yet (the bot
    was down) shows what finalizing will record, which is deterministic; a group before its
    deadline is `pending` with the file it would hand in now. A file whose stored bytes are
    missing or do not hash to their SHA-256 is `corrupt` and listed in `problems`: a
    mismatching file is still in the ZIP (the status warns), a missing one is not.
    `final_file` is the file's path inside the ZIP (`<PIN>/<name>`), not the name as uploaded.
    """

    def __init__(self, db: Database, files: StoredFiles, clock: Clock) -> None:
        self._db = db
        self._files = files
        self._clock = clock

    async def export(
        self,
        guild_id: int,
        actor: Actor | None,
        name: str,
        out_dir: Path,
        *,
        with_names: bool = False,
        progress: Progress | None = None,
        people: list[Person] | None = None,
    ) -> ExportResult:
        """Export `name`; `actor` None is the trusted command line, anyone else must be staff.

        `progress(done, total)` is called from a worker thread after each file.
        """
        now = self._clock.now()
        if people:
            # Role members who never acted still get their `no group` row (SPEC §1, §3).
            async with self._db.transaction() as conn:
                if actor is not None:
                    await require_staff(conn, guild_id, actor)
                found = await find_assignment_exactly(conn, guild_id, name)
                await register_role_members(conn, found, people, now)
        async with self._db.reading() as conn:
            if actor is not None:
                await require_staff(conn, guild_id, actor)
            assignment = await find_assignment_exactly(conn, guild_id, name)
            plan = await self._plan(conn, assignment, now, with_names=with_names)
        # Reading done: zipping may take minutes and must not block the bot's event loop.
        result = await asyncio.to_thread(_write_archive, plan, out_dir, progress)
        async with self._db.transaction() as conn:
            await assignment_repo.mark_exported(conn, assignment.id, now)
        log.info(
            "assignment %d exported: %d groups, %d files, %d problems",
            assignment.id,
            result.groups,
            result.files,
            len(result.problems),
        )
        return result

    async def _plan(
        self, conn: Connection, assignment: Assignment, now: datetime, *, with_names: bool
    ) -> _Plan:
        groups = await group_repo.groups(conn, assignment.id)
        members = await group_repo.members_by_group(conn, assignment.id)
        candidates = await group_repo.candidates(conn, assignment.id)
        people = _People(
            numbers={c.user_id: c.number for c in candidates},
            authors=await export_repo.handin_authors(conn, assignment.id),
            staff_handins=frozenset(await export_repo.staff_handins(conn, assignment.id)),
        )
        rows: list[ResultRow] = []
        jobs: list[_FileJob] = []
        for group in groups:
            group_members = members.get(group.id, [])
            # One row per part (one row, part empty, without parts); a group's folder holds a
            # subfolder per part.
            for part, final in await _finals_of(conn, assignment, group, now):
                job = None
                if final.upload is not None:
                    job = self._job(len(rows), group, final.upload, part)
                    jobs.append(job)
                arcname = "" if job is None else job.arcname
                row = _group_row(assignment, group, group_members, final, arcname, people)
                rows.append(row if part is None else dataclasses.replace(row, part=part.name))
        rows = _mark_same_files(rows)
        for lone in await group_repo.candidates_without_group(conn, assignment.id):
            rows.append(_no_group_row(assignment, lone))
        pending = any(row.status == ExportStatus.PENDING for row in rows)
        return _Plan(
            assignment=assignment,
            now=now,
            rows=tuple(rows),
            jobs=tuple(jobs),
            candidates=tuple(candidates) if with_names or not assignment.anonymous else None,
            groups=len(groups),
            snapshot=pending or assignment.state(now) is not AssignmentState.CLOSED,
        )

    def _job(self, row: int, group: Group, upload: Upload, part: Part | None) -> _FileJob:
        # Part names are letters, digits, `-` and `_` (the schema says so): a safe folder name.
        folder = group.pin if part is None else f"{group.pin}/{part.name}"
        # One final file per folder; UniqueNames keeps the folder rule in one place.
        name = UniqueNames().claim(safe_filename(upload.filename))
        return _FileJob(
            row=row,
            pin=group.pin,
            arcname=f"{folder}/{name}",
            source=functools.partial(self._files.open_read, upload.sha256),
            sha256=upload.sha256,
            size=upload.size,
            sent_at=upload.sent_at,
        )


# --- reading -------------------------------------------------------------------------------
async def _finals_of(
    conn: Connection, assignment: Assignment, group: Group, now: datetime
) -> list[tuple[Part | None, _Final]]:
    """The group's final per part (one entry, part None, without parts)."""
    if not assignment.parts:
        return [(None, await _final_of(conn, assignment, group, now))]
    if group.finalized_at is not None:
        recorded = await upload_repo.current_submission(conn, group.id, assignment.parts)
        finals = () if recorded is None else recorded.parts
        by_part = {f.part.id: f for f in finals}
        return [
            (part, _Final(f.upload, f.handin_id, f.late, pending=False))
            if (f := by_part.get(part.id)) is not None
            else (part, _Final(None, None, False, pending=False))
            for part in assignment.parts
        ]
    choice = await choose_final(conn, assignment, group)
    pending = deadlines_for(assignment, group).final > now
    return [(f.part, _Final(f.upload, f.handin_id, f.late, pending=pending)) for f in choice.parts]


def _mark_same_files(rows: list[ResultRow]) -> list[ResultRow]:
    """Fill `same_file_as`: the other groups whose final in the same part has this SHA-256."""
    shared = identical_files((r.group_pin, r.part, r.sha256) for r in rows if r.sha256)
    others = same_file_as(shared)
    return [
        dataclasses.replace(r, same_file_as=";".join(pins))
        if (pins := others.get((r.group_pin, r.part))) and r.sha256
        else r
        for r in rows
    ]


async def _final_of(
    conn: Connection, assignment: Assignment, group: Group, now: datetime
) -> _Final:
    if group.finalized_at is not None:
        recorded = await upload_repo.current_submission(conn, group.id)
        if recorded is None:
            return _Final(None, None, False, pending=False)
        return _Final(recorded.upload, recorded.handin_id, recorded.late, pending=False)
    choice = await choose_final(conn, assignment, group)
    pending = deadlines_for(assignment, group).final > now
    return _Final(choice.upload, choice.handin_id, choice.late, pending=pending)


@dataclass(frozen=True, slots=True)
class _People:
    """How people appear in results.csv: only as candidate numbers."""

    numbers: dict[int, int]  # user id -> candidate number
    authors: dict[int, int]  # hand-in id -> user id
    # Hand-ins staff made on a group's behalf: staff have no candidate number (SPEC §5b).
    staff_handins: frozenset[int] = frozenset()

    def number_of(self, user_id: int | None) -> str:
        number = None if user_id is None else self.numbers.get(user_id)
        return "" if number is None else str(number)

    def uploaded_by(self, upload: Upload) -> str:
        return STAFF if upload.by_staff else self.number_of(upload.user_id)

    def handed_in_by(self, handin_id: int | None) -> str:
        if handin_id in self.staff_handins:
            return STAFF
        return self.number_of(None if handin_id is None else self.authors.get(handin_id))


def _group_row(
    assignment: Assignment,
    group: Group,
    members: Sequence[Member],
    final: _Final,
    arcname: str,
    people: _People,
) -> ResultRow:
    return ResultRow(
        assignment=assignment.name,
        group_pin=group.pin,
        group_name=group.label,
        candidate_numbers=";".join(str(m.number) for m in members),
        final_file=arcname,
        status=_status(final).value,
        **_file_columns(final, people),
    )


def _status(final: _Final) -> ExportStatus:
    if final.pending:
        return ExportStatus.PENDING
    return ExportStatus.NO_SUBMISSION if final.upload is None else ExportStatus.SUBMITTED


def _file_columns(final: _Final, people: _People) -> dict[str, str]:
    upload = final.upload
    if upload is None:
        return {}
    return {
        "size_bytes": str(upload.size),
        "sha256": upload.sha256,
        "sent_at": iso_utc(upload.sent_at),
        "uploaded_by": people.uploaded_by(upload),
        "late": "yes" if final.late else "no",
        "handed_in_by": people.handed_in_by(final.handin_id),
    }


def _no_group_row(assignment: Assignment, candidate: Candidate) -> ResultRow:
    return ResultRow(
        assignment=assignment.name,
        candidate_numbers=str(candidate.number),
        status=ExportStatus.NO_GROUP.value,
    )


def iso_utc(moment: datetime) -> str:
    """`2026-11-27T12:00:00.000Z`: milliseconds, as precise as Discord's snowflake times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def export_mark(assignment: Assignment) -> bytes:
    """The ZIP comment that names whose export a file is: every server's exports share one
    folder and names by slug, so a purge deletes only the ZIPs with its assignment's mark."""
    return f"handin-export guild={assignment.guild_id} assignment={assignment.id}".encode()


# --- writing (in a worker thread) ----------------------------------------------------------
def _write_archive(plan: _Plan, out_dir: Path, progress: Progress | None) -> ExportResult:
    # A folder the admin named (`--out`) keeps its mode; one made here, and the ZIP, are
    # owner-only: the ZIP holds every group's work (and maybe their names).
    make_private_dir(out_dir, tighten_existing=False)
    stem = f"{slug(plan.assignment.name)}-{plan.now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    # Written under a hidden temporary name: the export's own name never shows a half ZIP.
    temp = out_dir / f".{stem}.{uuid.uuid4().hex}.partial"
    try:
        files, problems = _fill(temp, plan, progress)
        path = _publish(temp, out_dir, stem)
    finally:
        temp.unlink(missing_ok=True)
    return ExportResult(
        path=path,
        size_bytes=path.stat().st_size,
        groups=plan.groups,
        files=files,
        problems=tuple(problems),
        snapshot=plan.snapshot,
    )


def _fill(temp: Path, plan: _Plan, progress: Progress | None) -> tuple[int, list[ExportProblem]]:
    rows = list(plan.rows)
    problems: list[ExportProblem] = []
    files = 0
    with (
        os.fdopen(open_private(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL), "w+b") as raw,
        zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
    ):
        archive.comment = export_mark(plan.assignment)
        for done, job in enumerate(plan.jobs, start=1):
            written, problem = _copy_verified(archive, job)
            files += int(written)
            if problem is not None:
                problems.append(problem)
                log.warning("export: stored file %s is %s", job.sha256[:12], problem.reason)
                rows[job.row] = dataclasses.replace(
                    rows[job.row],
                    status=ExportStatus.CORRUPT.value,
                    final_file=job.arcname if written else "",
                )
            if progress is not None:
                progress(done, len(plan.jobs))
        _write_text(archive, RESULTS_CSV, _csv(RESULTS_HEADER, (r.cells() for r in rows)), plan)
        if plan.candidates is not None:
            _write_text(archive, CANDIDATES_CSV, _candidates_csv(plan.candidates), plan)
        if plan.snapshot:
            _write_text(archive, SNAPSHOT_TXT, _snapshot_note(plan.now), plan)
    return files, problems


def _copy_verified(archive: zipfile.ZipFile, job: _FileJob) -> tuple[bool, ExportProblem | None]:
    """Stream one stored file into the archive in 1 MiB blocks, hashing as it goes.

    Returns (whether an entry was written, the problem if the bytes are missing or wrong).
    """
    try:
        source = job.source()
    except FileNotFoundError:
        return False, ExportProblem(job.pin, job.arcname, job.sha256, "missing")
    digest = hashlib.sha256()
    size = 0
    with source:
        info = _zip_info(job.arcname, job.sent_at)
        # The real size lets zipfile pick ZIP64 up front for a file over 2 GiB (an object in a
        # bucket has no file number: its recorded size, checked below, stands in).
        info.file_size = _size_of(source, job.size)
        info.compress_type = _compression_for(job.arcname)
        with archive.open(info, "w") as target:
            while block := source.read(CHUNK_BYTES):
                digest.update(block)
                target.write(block)
                size += len(block)
    if size != job.size or digest.hexdigest() != job.sha256:
        return True, ExportProblem(job.pin, job.arcname, job.sha256, "mismatch")
    return True, None


def _size_of(source: BinaryIO, recorded: int) -> int:
    try:
        return os.fstat(source.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return recorded


def _compression_for(arcname: str) -> int:
    ext = split_extension(arcname.rsplit("/", 1)[-1])[1].lstrip(".").lower()
    return zipfile.ZIP_STORED if ext in _STORED_EXTENSIONS else zipfile.ZIP_DEFLATED


def _zip_info(arcname: str, moment: datetime) -> zipfile.ZipInfo:
    utc = moment.astimezone(UTC)
    # ZIP timestamps have no time zone and 2 s resolution; UTC keeps them comparable with
    # results.csv.
    info = zipfile.ZipInfo(arcname, date_time=utc.timetuple()[:6])
    info.external_attr = _FILE_MODE
    return info


def _write_text(archive: zipfile.ZipFile, name: str, text: str, plan: _Plan) -> None:
    info = _zip_info(name, plan.now)
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text.encode("utf-8"))


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """RFC 4180: comma-separated, CRLF line ends, quotes only where a cell needs them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _candidates_csv(candidates: Sequence[Candidate]) -> str:
    rows = (
        [csv_cell(str(c.number)), csv_cell(str(c.user_id)), csv_cell(c.display_name)]
        for c in sorted(candidates, key=lambda c: c.number)
    )
    return _csv(CANDIDATES_HEADER, rows)


def _snapshot_note(now: datetime) -> str:
    return (
        f"This export is a snapshot taken at {iso_utc(now)}, while the assignment or a group\r\n"
        "was still open. Rows with status `pending` show the file that group would hand in\r\n"
        "at that moment; it may still change. Export again after the last deadline for the\r\n"
        "final results.\r\n"
    )


def _publish(temp: Path, out_dir: Path, stem: str) -> Path:
    """Give the finished ZIP its name without ever replacing an earlier export."""
    for n in itertools.count(1):
        target = out_dir / (f"{stem}.zip" if n == 1 else f"{stem}-{n}.zip")
        try:
            os.link(temp, target)
        except FileExistsError:
            continue
        except OSError:
            # A file system without hard links: check, then rename (a race is only possible
            # between two exports in the same second).
            if target.exists():
                continue
            os.replace(temp, target)
        return target
    raise AssertionError("unreachable")
